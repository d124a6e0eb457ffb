"""Buy-again: the user's own past purchases, the more often and the more recently the better.

In many shops (groceries, supplies, wholesale) most of what a customer buys next they have bought
before, and no collaborative model predicts that as well as the customer's own record.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .generator import HistoryRecommender


class BuyAgain(HistoryRecommender):
    """Score = sum over the user's purchases of the item of 0.5 ** (age / half_life); unbought: -inf.

    ``half_life_days`` balances frequency (long half-life) against recency (short). ``event`` names
    the event that counts as buying (``purchase``; a shop without purchases may use ``cart``).
    """

    name: ClassVar[str] = "buy_again"

    def __init__(self, half_life_days: float | None = 120.0, event: str = "purchase") -> None:
        super().__init__(half_life_days=half_life_days, event=event)
        self.half_life_days = half_life_days
        self.event = event

    def _fit(self, data: Any) -> None:
        """Nothing to learn: the scores are read from the history when asked."""

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        m = self.history_.matrix(self._rows(user_idx, user_ids), {self.event: 1.0}, self.half_life_days)
        out = np.full(m.shape, -np.inf)
        coo = m.tocoo()
        out[coo.row, coo.col] = coo.data
        return out
