"""Item-kNN: items are alike when the same users bought them (cosine over users), top neighbours kept.

The classic neighbourhood recommender (as implicit's ``CosineRecommender``): a user's score for an item
sums its similarity to every item in the user's history. The diagonal is kept, so the user's own items
score too, which in repeat-purchase shops is most of the signal.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .similarity import ItemSimilarityRecommender, sparse_scores, top_n_per_row

INTEREST_WEIGHTS: dict[str, float] = {"purchase": 1.0, "cart": 0.5, "favorite": 0.5, "click": 0.2, "view": 0.2}


class ItemKNN(ItemSimilarityRecommender):
    """Cosine item-item similarity on the binary user x item matrix, ``neighbours`` kept per item."""

    name: ClassVar[str] = "itemknn"

    def __init__(self, neighbours: int = 200, include_self: bool = True, user_half_life_days: float | None = None,
                 shrink: float = 10.0) -> None:
        super().__init__(neighbours=neighbours, include_self=include_self, user_half_life_days=user_half_life_days,
                         shrink=shrink)
        self.neighbours, self.include_self = neighbours, include_self
        self.user_half_life_days, self.shrink = user_half_life_days, shrink

    def _fit(self, data: Any) -> None:
        x = self.history_.matrix(np.arange(self.history_.n_known), INTEREST_WEIGHTS, binary=True).tocsc()
        counts = np.asarray(x.sum(axis=0)).ravel()
        co = (x.T @ x).tocsr()
        co.sort_indices()
        rows = np.repeat(np.arange(co.shape[0]), np.diff(co.indptr))
        together = co.data.copy()
        # cosine, shrunk towards 0 for pairs seen together only a few times
        co.data = together / (np.sqrt(counts[rows] * counts[co.indices]) + 1e-9)
        if self.shrink:
            co.data *= together / (together + self.shrink)
        co.setdiag(1.0 if self.include_self else 0.0)
        co.eliminate_zeros()
        self.sim_ = top_n_per_row(co, self.neighbours).astype(np.float32)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        h = self.history_.matrix(self._rows(user_idx, user_ids), INTEREST_WEIGHTS, self.user_half_life_days,
                                 binary=self.user_half_life_days is None)
        return sparse_scores(h, self.sim_)
