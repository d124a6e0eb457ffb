"""The one contract every recommender follows, in the manner of implicit's ``RecommenderBase``.

``__init__`` stores parameters and does nothing else; ``fit`` learns from :class:`Interactions` and
sets fitted state in attributes ending in ``_``; ``recommend`` returns item ids and scores for one
user (1-D arrays) or a batch (2-D arrays, one row per user, padded with ``None`` / ``-inf`` when fewer
than ``k`` items qualify). Subclasses write only :meth:`_fit` and :meth:`_score`; filtering, candidate
restriction, top-k selection and id mapping live here once.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from ..errors import NotFittedError
from .data import Interactions

UserArg = "str | Sequence[str] | np.ndarray"


class Recommender(abc.ABC):
    """Base of all candidate generators and of the hybrid ranker."""

    #: whether :meth:`partial_fit` can absorb new events without a refit
    supports_partial_fit: ClassVar[bool] = False
    #: a short name used in features, reports and saved model folders
    name: ClassVar[str] = "base"

    def __init__(self, **params: Any) -> None:
        self.params = params

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    # --- to implement -------------------------------------------------------------------------
    @abc.abstractmethod
    def _fit(self, data: Interactions) -> None:
        """Learn from ``data``; set fitted attributes (ending in ``_``)."""

    @abc.abstractmethod
    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        """Scores of every catalog item for each user: shape (len(user_idx), n_items).

        ``user_idx`` is -1 for users unknown at fit time (``user_ids`` still carries their ids, for
        models that keep live state per user). Use ``-inf`` for items the model cannot score.
        """

    def _partial_fit(self, events: Any) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not support partial_fit")

    # --- the contract -------------------------------------------------------------------------
    def fit(self, data: Interactions) -> "Recommender":
        self.data_ = data
        self._fit(data)
        return self

    def partial_fit(self, events: Any) -> "Recommender":
        """Absorb new events (a DataFrame with SHOP_FORMAT event columns) without a full refit."""
        self._check_fitted()
        if not self.supports_partial_fit:
            raise NotImplementedError(f"{type(self).__name__} does not support partial_fit; call fit")
        self._partial_fit(events)
        return self

    def recommend(self, users: "str | Sequence[str] | np.ndarray", k: int = 10,
                  filter_items: Sequence[str] | None = None, items: Sequence[str] | None = None,
                  filter_seen: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item ids and scores for one user or a batch.

        ``filter_items``: ids never to return. ``items``: return only these ids (candidate
        restriction). ``filter_seen``: drop items the user bought before (off by default, since
        repeat purchases are real).
        """
        self._check_fitted()
        single = isinstance(users, str)
        user_list = np.asarray([users] if single else list(users), dtype=object)
        data: Interactions = self.data_
        uidx = data.user_indices(user_list)
        scores = np.asarray(self._score(uidx, user_list), dtype=np.float64)
        if scores.shape != (len(user_list), data.n_items):
            raise AssertionError(f"{type(self).__name__}._score returned {scores.shape}, "
                                 f"expected {(len(user_list), data.n_items)}")
        scores = self._apply_filters(scores, uidx, filter_items, items, filter_seen)
        ids, top = _top_k(scores, data.item_ids, k)
        return (ids[0], top[0]) if single else (ids, top)

    def _apply_filters(self, scores: np.ndarray, uidx: np.ndarray, filter_items: Sequence[str] | None,
                       items: Sequence[str] | None, filter_seen: bool) -> np.ndarray:
        data: Interactions = self.data_
        scores = scores.copy()
        never = self._non_product()
        if never is not None:
            scores[:, never] = -np.inf
        if items is not None:
            allowed = np.zeros(data.n_items, dtype=bool)
            idx = data.item_indices(list(items))
            allowed[idx[idx >= 0]] = True
            scores[:, ~allowed] = -np.inf
        if filter_items is not None:
            idx = data.item_indices(list(filter_items))
            scores[:, idx[idx >= 0]] = -np.inf
        if filter_seen:
            bought = self._purchased_matrix()
            rows = np.flatnonzero(uidx >= 0)
            if len(rows):
                sub = bought[uidx[rows]].tocoo()
                scores[rows[sub.row], sub.col] = -np.inf
        return scores

    def _non_product(self) -> np.ndarray | None:
        """Columns of lines the catalogue marks as not goods (postage, fees): never in a list, even when
        listed in ``items``. On Online Retail the hybrid put POSTAGE in 116 of 1,399 users' top 10 (it is
        bought with most foreign orders), a slot no shop wants to fill with a delivery charge."""
        flags = self.data_.items.get("non_product")
        if flags is None:
            return None
        mask = flags.to_numpy(dtype=bool)
        return mask if mask.any() else None

    def _purchased_matrix(self) -> Any:
        cached = getattr(self, "purchased_", None)
        if cached is None:
            cached = self.data_.matrix({"purchase": 1.0})
            self.purchased_ = cached
        return cached

    def _check_fitted(self) -> None:
        if not hasattr(self, "data_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted: call fit first")


def _top_k(scores: np.ndarray, item_ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k of a dense score matrix; -inf entries never make the list.

    Equal scores go to the item earlier in the catalogue (the lower column), a total order like the
    batch engines' ties by id. ``argpartition`` alone picks among items tied at the k-th score by the
    rest of the row, so the same item could make or miss a list depending on unrelated items.
    """
    n_users, n_items = scores.shape
    k_eff = min(k, n_items)
    ids = np.full((n_users, k), None, dtype=object)
    out = np.full((n_users, k), -np.inf)
    if k_eff == 0 or n_users == 0:
        return ids, out
    part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
    part_scores = np.take_along_axis(scores, part, axis=1)
    kth = part_scores.min(axis=1)
    tied_in = (part_scores == kth[:, None]).sum(axis=1)
    tied_all = (scores == kth[:, None]).sum(axis=1)
    for r in np.flatnonzero((tied_all > tied_in) & np.isfinite(kth)):  # rare: re-pick the tied ones by column
        above = np.flatnonzero(scores[r] > kth[r])
        part[r] = np.concatenate([above, np.flatnonzero(scores[r] == kth[r])[: k_eff - len(above)]])
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    best = np.take_along_axis(part, order, axis=1)
    best_scores = np.take_along_axis(part_scores, order, axis=1)
    valid = np.isfinite(best_scores)
    ids[:, :k_eff] = np.where(valid, item_ids[best], None)
    out[:, :k_eff] = np.where(valid, best_scores, -np.inf)
    return ids, out
