"""Popularity and trending: what everybody buys, and what more people buy now than a month ago.

They are the answer for a user with no history, a candidate source for the ranker, and item features
(recent popularity and trend). Anonymous traffic counts too: it is real demand even without a user id.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ..artifacts import load_array, save_arrays
from .generator import HistoryRecommender
from .history import DAY, event_codes, to_seconds, weight_vector

# A purchase is the signal; other events are weaker evidence of demand.
DEMAND_WEIGHTS: dict[str, float] = {"purchase": 1.0, "cart": 0.3, "favorite": 0.2, "click": 0.05, "view": 0.05}


def demand(item_idx: np.ndarray, ts: np.ndarray, events: np.ndarray, n_items: int, now: int,
           half_life_days: float | None = None, window_days: float | None = None) -> np.ndarray:
    """Weighted event counts per item, decayed by age and/or limited to a window ending at ``now``."""
    w = weight_vector(DEMAND_WEIGHTS)[events]
    age = (now - ts) / DAY
    if window_days is not None:
        w = np.where((age >= 0) & (age < window_days), w, 0.0)
    if half_life_days:
        w = w * np.power(0.5, np.maximum(age, 0.0) / half_life_days)
    return np.bincount(item_idx, weights=w, minlength=n_items)


def _event_arrays(data: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ev = data.events
    return ev["item_idx"].to_numpy(np.int64), to_seconds(ev["timestamp"]), event_codes(ev["event"])


class Popular(HistoryRecommender):
    """Time-decayed demand per item, the same list for everyone.

    ``half_life_days``: how fast old sales stop counting (None: all time counts alike).
    """

    name: ClassVar[str] = "popular"

    def __init__(self, half_life_days: float | None = 14.0) -> None:
        super().__init__(half_life_days=half_life_days)
        self.half_life_days = half_life_days

    def _fit(self, data: Any) -> None:
        item, ts, ev = _event_arrays(data)
        self.ref_time_ = self.history_.now
        self.counts_ = demand(item, ts, ev, data.n_items, self.ref_time_, self.half_life_days)

    def _partial_fit(self, events: Any) -> None:
        frame = pd.DataFrame(events)
        super()._partial_fit(frame)
        idx = self.data_.item_indices(frame["item_id"].astype(str).to_numpy())
        ok = idx >= 0
        self.counts_ = self.counts_ + demand(idx[ok], to_seconds(frame["timestamp"])[ok],
                                             event_codes(frame["event"])[ok], self.data_.n_items, self.ref_time_,
                                             self.half_life_days)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts_, (len(user_idx), len(self.counts_))).copy()

    def save_state(self, directory: Path) -> None:
        save_arrays(directory, counts=self.counts_, ref_time=np.array([self.ref_time_], dtype=np.int64))

    def load_state(self, directory: Path) -> None:
        self.counts_ = load_array(directory, "counts")
        self.ref_time_ = int(load_array(directory, "ref_time")[0])


class Trending(HistoryRecommender):
    """Items whose demand in the last ``window_days`` runs ahead of the ``baseline_days`` before.

    score = log1p(recent) * (recent + prior) / (baseline scaled to the window + prior): a rise counts
    only with enough recent volume, and ``prior`` keeps one sale of a dormant item from topping the list.
    """

    name: ClassVar[str] = "trending"

    def __init__(self, window_days: float = 7.0, baseline_days: float = 28.0, prior: float = 2.0) -> None:
        super().__init__(window_days=window_days, baseline_days=baseline_days, prior=prior)
        self.window_days, self.baseline_days, self.prior = window_days, baseline_days, prior

    def _fit(self, data: Any) -> None:
        item, ts, ev = _event_arrays(data)
        now = self.history_.now
        self.recent_ = demand(item, ts, ev, data.n_items, now, window_days=self.window_days)
        before = demand(item, ts, ev, data.n_items, now - int(self.window_days * DAY), window_days=self.baseline_days)
        self.baseline_ = before * (self.window_days / self.baseline_days)

    def _partial_fit(self, events: Any) -> None:
        frame = pd.DataFrame(events)
        super()._partial_fit(frame)
        idx = self.data_.item_indices(frame["item_id"].astype(str).to_numpy())
        ok = idx >= 0
        codes = event_codes(frame["event"])[ok]
        self.recent_ = self.recent_ + np.bincount(idx[ok], weights=weight_vector(DEMAND_WEIGHTS)[codes],
                                                  minlength=self.data_.n_items)

    @property
    def trend_(self) -> np.ndarray:
        """The ratio of recent to baseline demand (1 = steady)."""
        return (self.recent_ + self.prior) / (self.baseline_ + self.prior)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        s = np.log1p(self.recent_) * self.trend_
        return np.broadcast_to(s, (len(user_idx), len(s))).copy()

    def save_state(self, directory: Path) -> None:
        save_arrays(directory, recent=self.recent_, baseline=self.baseline_)

    def load_state(self, directory: Path) -> None:
        self.recent_ = load_array(directory, "recent")
        self.baseline_ = load_array(directory, "baseline")
