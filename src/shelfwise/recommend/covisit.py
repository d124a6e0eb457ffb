"""Item-to-item co-visitation: items bought (or viewed) together in one basket, weighted by recency.

A basket is an order when the shop gives order ids, else a session, else one user's day. Pairs from a
basket count ``decay(age) / log2(1 + size)``, so a 500-line wholesale order does not outweigh many
small ones, and last season's pairs fade. A user's score for an item sums its co-visitation with the
user's recent items.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .history import DAY, to_seconds
from .similarity import ItemSimilarityRecommender, sparse_scores, top_n_per_row

BASKET_WEIGHTS: dict[str, float] = {"purchase": 1.0, "cart": 0.6, "favorite": 0.4, "click": 0.2, "view": 0.2}


def basket_keys(events: pd.DataFrame) -> pd.Series:
    """A basket id per event: order, else session, else user and day; None for anonymous loose events."""
    day = pd.Series(to_seconds(events["timestamp"]) // int(DAY), index=events.index).astype(str)
    user_day = ("u:" + events["user_id"].astype(str) + ":" + day).where(
        events["user_id"].notna() & (events["user_id"].astype(str) != ""))
    key = user_day
    for col, prefix in (("session_id", "s:"), ("order_id", "o:")):
        if col in events.columns:
            val = events[col]
            has = val.notna() & (val.astype(str) != "")
            key = (prefix + val.astype(str)).where(has, key)
    return key


def covisitation(events: pd.DataFrame, n_items: int, now: int, weights: dict[str, float],
                 half_life_days: float | None, max_basket: int) -> sp.csr_matrix:
    """Symmetric item x item co-visitation counts (diagonal zero)."""
    w_event = events["event"].map(weights).fillna(0.0).to_numpy()
    ev = events[w_event > 0].assign(basket=lambda d: basket_keys(d))
    ev = ev[ev["basket"].notna()]
    if ev.empty:
        return sp.csr_matrix((n_items, n_items), dtype=np.float64)
    codes, uniq = pd.factorize(ev["basket"])
    b = sp.csr_matrix((np.ones(len(ev)), (codes, ev["item_idx"].to_numpy())), shape=(len(uniq), n_items))
    b.data[:] = 1.0  # an item twice in a basket is still one pair
    size = np.diff(b.indptr)
    t = pd.Series(to_seconds(ev["timestamp"])).groupby(codes).max().reindex(range(len(uniq))).to_numpy()
    w = 1.0 / np.log2(1.0 + np.maximum(size, 1))
    if half_life_days:
        w *= np.power(0.5, np.maximum(now - t, 0) / DAY / half_life_days)
    w[(size < 2) | (size > max_basket)] = 0.0
    c = (b.T @ sp.diags(w) @ b).tocsr()
    c.setdiag(0.0)
    c.eliminate_zeros()
    return c


class CoVisit(ItemSimilarityRecommender):
    """Co-visitation neighbours (top ``neighbours`` per item), normalised like an asymmetric cosine."""

    name: ClassVar[str] = "covisit"

    def __init__(self, half_life_days: float | None = 90.0, neighbours: int = 100, max_basket: int = 1000,
                 user_half_life_days: float | None = 30.0, alpha: float = 0.5) -> None:
        super().__init__(half_life_days=half_life_days, neighbours=neighbours, max_basket=max_basket,
                         user_half_life_days=user_half_life_days, alpha=alpha)
        self.half_life_days, self.neighbours, self.max_basket = half_life_days, neighbours, max_basket
        self.user_half_life_days, self.alpha = user_half_life_days, alpha

    def _fit(self, data: Any) -> None:
        c = covisitation(data.events, data.n_items, self.history_.now, BASKET_WEIGHTS, self.half_life_days,
                         self.max_basket)
        # sim(j -> i) = c_ji / (n_j^alpha * n_i^(1-alpha)): strong pairs of popular items do not swamp all
        n = np.asarray(c.sum(axis=1)).ravel() + 1e-9
        c = sp.diags(np.power(n, -self.alpha)) @ c @ sp.diags(np.power(n, self.alpha - 1.0))
        self.sim_ = top_n_per_row(c.tocsr(), self.neighbours).astype(np.float32)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        h = self.history_.matrix(self._rows(user_idx, user_ids), BASKET_WEIGHTS, self.user_half_life_days)
        return sparse_scores(h, self.sim_)
