"""The common base of shelfwise's recommenders: the contract of :mod:`.base` plus a live user history.

Every model here reads a user's events from a :class:`History` at scoring time rather than from a
matrix frozen at fit time. That is what lets ``partial_fit`` take new events (new users too) without a
refit, lets a request bring the user's latest events along (:meth:`HistoryRecommender.recommend` with
``recent_events``), and lets ``filter_seen`` see purchases made after training. Models also save and
load their fitted state without pickle (``save_state`` / ``load_state``, used by :mod:`.persist`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from .base import Recommender, _top_k
from .data import Interactions
from .history import History

#: every recommender class by its ``name``, so a saved model can be rebuilt from its manifest
REGISTRY: dict[str, type["HistoryRecommender"]] = {}


class HistoryRecommender(Recommender):
    """A :class:`Recommender` whose personal scores come from a (shared, updatable) :class:`History`."""

    supports_partial_fit: ClassVar[bool] = True
    name: ClassVar[str] = "history"

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if "name" in cls.__dict__:
            REGISTRY[cls.name] = cls

    def fit(self, data: Interactions, history: History | None = None) -> "HistoryRecommender":
        """Learn from ``data``. ``history`` lets several models share one event log (and its updates)."""
        self.history_ = history if history is not None else History.from_interactions(data)
        super().fit(data)
        return self

    def _partial_fit(self, events: Any) -> None:
        self.history_.add(pd.DataFrame(events), self.data_._item_index)
        self._after_new_events()

    def _after_new_events(self) -> None:
        """Hook for models that keep derived state (counts, factors) in step with the history."""

    # --- the contract, with a per-user seen filter and request-time events ----------------------
    def recommend(self, users: "str | Sequence[str] | np.ndarray", k: int = 10,
                  filter_items: Sequence[str] | None = None, items: Sequence[str] | None = None,
                  filter_seen: bool = False, recent_events: pd.DataFrame | None = None,
                  ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` ids and scores, as in :meth:`Recommender.recommend`.

        ``recent_events``: events (SHOP_FORMAT columns) that count for this call only, so a live
        request can personalise with what the user did seconds ago without changing the model.
        """
        self._check_fitted()
        single = isinstance(users, str)
        user_list = np.asarray([users] if single else list(users), dtype=object)
        with self.history_.overlay(recent_events, self.data_._item_index):
            uidx = self.data_.user_indices(user_list)
            allowed = self._allowed(items)
            scores = np.asarray(self._score_within(uidx, user_list, allowed), dtype=np.float64)
            if scores.shape != (len(user_list), self.data_.n_items):
                raise AssertionError(f"{type(self).__name__} scored {scores.shape}, expected "
                                     f"{(len(user_list), self.data_.n_items)}")
            scores = self._apply_filters(scores, uidx, filter_items, None, False)
            if allowed is not None:
                scores[:, ~allowed] = -np.inf
            if filter_seen:
                rows = self.history_.rows(user_list, uidx)
                bought = self.history_.matrix(rows, {"purchase": 1.0}).tocoo()
                scores[bought.row, bought.col] = -np.inf
            scores = self._limit(scores, k, allowed)
        ids, top = _top_k(scores, self.data_.item_ids, k)
        return (ids[0], top[0]) if single else (ids, top)

    def _allowed(self, items: Sequence[str] | None) -> np.ndarray | None:
        if items is None:
            return None
        mask = np.zeros(self.data_.n_items, dtype=bool)
        idx = self.data_.item_indices(list(items))
        mask[idx[idx >= 0]] = True
        return mask

    def _score_within(self, user_idx: np.ndarray, user_ids: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        """Scores when only ``allowed`` items may be returned; models that pick candidates override it."""
        return self._score(user_idx, user_ids)

    def _limit(self, scores: np.ndarray, k: int, allowed: np.ndarray | None) -> np.ndarray:
        """The final scores of a ``k``-slot list, after every filter: a hook for rules about the list as a
        whole (the hybrid caps the slots of new items). ``allowed``: as in :meth:`_score_within`."""
        return scores

    def _rows(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        return self.history_.rows(user_ids, user_idx)

    # --- similar items --------------------------------------------------------------------------
    def similar_items(self, item_ids: Sequence[str], k: int = 10) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most like each of ``item_ids`` (never the item itself): ids and scores."""
        self._check_fitted()
        idx = self.data_.item_indices(list(item_ids))
        scores = np.full((len(idx), self.data_.n_items), -np.inf)
        known = idx >= 0
        if known.any():
            scores[known] = self._item_scores(idx[known])
        scores[np.arange(len(idx))[known], idx[known]] = -np.inf
        never = self._non_product()
        if never is not None:  # "customers also bought: postage" says nothing about the item
            scores[:, never] = -np.inf
        return _top_k(scores, self.data_.item_ids, k)

    def _item_scores(self, item_idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} has no notion of similar items")

    # --- persistence ----------------------------------------------------------------------------
    def save_state(self, directory: Path) -> None:
        """Write the fitted state (not the data or history, which :mod:`.persist` saves once)."""

    def load_state(self, directory: Path) -> None:
        """Read what :meth:`save_state` wrote."""


def rank_scores(scores: np.ndarray) -> np.ndarray:
    """Scores turned into 1-based ranks per row (ties by position); -inf entries rank last."""
    order = np.argsort(-scores, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :].repeat(len(scores), 0), axis=1)
    return ranks
