"""Long-tail re-ranking: personalised xQuAD over the head/tail split, plus a tail-share target.

Why xQuAD (Abdollahpouri, Burke, Mobasher, "Managing Popularity Bias in Recommender Systems with
Personalized Re-ranking", FLAIRS 2019): it treats "head" and "tail" as two aspects a list should cover
in the proportion the user's own history shows, so a user who already buys niche items gets more of
them and a head-only user is not flooded. We use the smooth variant: an aspect's bonus is the share
of the list so far that does *not* yet cover it.

At step t, with S the items chosen so far, every remaining candidate v gets

    (1 - lambda) rel(v) + lambda * P(c_v | u) * (1 - |S in c_v| / |S|)      (1 when S is empty)

where rel is the min-max scaled model score and c_v is v's aspect (head or tail). The target mode
then guarantees "at least X of the first k slots from the tail": the lowest-placed head items are
replaced, in place, by the best-placed tail items that did not make the list (exploration and pinned
slots are never given away).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ._ops import order_with_rest, take
from .lists import EXPLORATION, PINNED, CandidateLists, ItemContext

TAIL = 4  # source code for a slot filled by the target mode (SOURCES[4] == "tail")
PROTECTED = (EXPLORATION, PINNED)  # slots the target never gives away


@dataclass
class LongTail:
    """xQuAD re-ranker with weight ``weight`` (lambda in [0, 1]) and an optional ``min_tail_share``.

    ``user_tail_share`` maps user id -> share of their history on tail items (P(tail | u)); users not
    in it (or when it is None) get ``default_tail_share``. ``head_share`` is the share of interactions
    held by the head (None: the context's).
    """

    weight: float = 0.0
    min_tail_share: float = 0.0
    user_tail_share: Mapping[str, float] | None = None
    default_tail_share: float = 0.5
    head_share: float | None = None
    name: str = "long_tail"

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"long-tail weight must be in [0, 1], got {self.weight}")
        if not 0.0 <= self.min_tail_share <= 1.0:
            raise ValueError(f"tail share target must be in [0, 1], got {self.min_tail_share}")

    def user_preference(self, users: np.ndarray) -> np.ndarray:
        if not self.user_tail_share:
            return np.full(len(users), self.default_tail_share)
        return np.array([self.user_tail_share.get(str(u), self.default_tail_share) for u in users], dtype=np.float64)

    def rerank(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists:
        tail_items = ctx.tail(self.head_share)
        if self.weight > 0:
            lists = take(lists, order_with_rest(self._xquad(lists, tail_items, k), lists.idx.shape[1]))
        if self.min_tail_share > 0:
            lists = self._target(lists, tail_items, k)
        return lists

    def _xquad(self, lists: CandidateLists, tail_items: np.ndarray, k: int) -> np.ndarray:
        """Column positions (B, k) picked greedily; -1 where a row ran out of candidates."""
        b, n = lists.idx.shape
        rel = lists.relevance()
        valid = lists.valid
        is_tail = np.where(valid, tail_items[np.maximum(lists.idx, 0)], False)
        p_tail = self.user_preference(lists.users)[:, None]
        lam = self.weight
        taken = ~valid
        chosen = np.full((b, min(k, n)), -1, dtype=np.int64)
        n_sel = np.zeros((b, 1))
        n_tail = np.zeros((b, 1))
        rows = np.arange(b)
        for t in range(min(k, n)):
            with np.errstate(invalid="ignore", divide="ignore"):
                tail_cover = np.where(n_sel > 0, 1.0 - n_tail / np.maximum(n_sel, 1), 1.0)
                head_cover = np.where(n_sel > 0, 1.0 - (n_sel - n_tail) / np.maximum(n_sel, 1), 1.0)
            bonus = np.where(is_tail, p_tail * tail_cover, (1.0 - p_tail) * head_cover)
            obj = np.where(taken, -np.inf, (1.0 - lam) * rel + lam * bonus)
            best = np.argmax(obj, axis=1)
            ok = np.isfinite(obj[rows, best])
            chosen[ok, t] = best[ok]
            taken[rows[ok], best[ok]] = True
            n_sel[ok, 0] += 1
            n_tail[ok, 0] += is_tail[rows[ok], best[ok]]
        return chosen

    def _target(self, lists: CandidateLists, tail_items: np.ndarray, k: int) -> CandidateLists:
        """Swap in tail items until at least ``ceil(min_tail_share * filled slots)`` of the top k are tail."""
        idx, src = lists.idx.copy(), lists.source.copy()
        is_tail = np.where(idx >= 0, tail_items[np.maximum(idx, 0)], False)
        kk = min(k, idx.shape[1])
        for r in range(len(idx)):
            top_filled = int((idx[r, :kk] >= 0).sum())
            need = int(np.ceil(self.min_tail_share * top_filled - 1e-9)) - int(is_tail[r, :kk].sum())
            if need <= 0:
                continue
            heads = [j for j in range(kk - 1, -1, -1)
                     if idx[r, j] >= 0 and not is_tail[r, j] and src[r, j] not in PROTECTED]
            tails = [j for j in range(kk, idx.shape[1]) if is_tail[r, j]]
            for h, t in zip(heads[:need], tails[:need]):
                idx[r, h], idx[r, t] = idx[r, t], idx[r, h]
                src[r, h], src[r, t] = TAIL, src[r, h]
        return lists.reordered(idx, src)
