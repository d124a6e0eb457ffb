"""New-arrival exploration: Thompson sampling over young items, on a content prior, in a share of slots.

The knobs are the ones shops know from Amazon Personalize: ``exploration_weight`` in [0, 1] (0: never
explore, 1: every slot explores) and ``item_age_cutoff_days`` (items younger than this count as new).
Each list gets ``weight * k`` exploration slots (the fraction decided by a seeded coin, so the expected
share is exact), spread evenly down the list. They are filled, per user, with the new items of highest
sampled rate ``theta ~ Beta(alpha0 + successes, beta0 + failures)``, where the prior comes from similar
established items (:mod:`.prior`) and successes / impressions are the live exploration statistics
(:mod:`.stats`). A new item the recommender itself ranked for this user has its draw raised by its
relevance, and every draw is multiplied by ``exp(personal * (cos - 1))`` where ``cos`` is the item's
cosine with the user's content profile (the relevance-weighted mean vector of their candidates), so
exploration prefers new items that fit the user. The other slots keep the recommender's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .lists import EXPLORATION, CandidateLists, ItemContext
from .prior import content_prior, success_counts


def explore_slots(n_explore: int, k: int, placement: str = "spread") -> np.ndarray:
    """0-based positions of ``n_explore`` exploration slots: spread evenly over ``k`` or at the bottom."""
    if placement == "bottom":
        return np.arange(k - n_explore, k, dtype=np.int64)
    return np.floor((np.arange(n_explore) + 0.5) * k / max(n_explore, 1)).astype(np.int64)


@dataclass
class Exploration:
    """Thompson-sampling exploration of items younger than ``cutoff_days``."""

    weight: float = 0.0
    cutoff_days: float = 30.0
    prior_strength: float = 20.0
    neighbours: int = 10
    seed: int = 0
    allowed: np.ndarray | None = None  # catalog mask of items exploration may show (filters, --items)
    personal: float = 3.0  # how strongly a draw follows the user's content profile (0: not at all)
    placement: str = "spread"  # where exploration slots go: "spread" evenly, or at the "bottom" of the list
    seen: Mapping[str, Sequence[int]] | None = None  # user id -> catalog indices never to explore for them (bought)
    name: str = "exploration"

    def __post_init__(self) -> None:
        if not 0.0 <= self.weight <= 1.0:
            raise ValueError(f"exploration weight must be in [0, 1], got {self.weight}")
        if self.placement not in ("spread", "bottom"):
            raise ValueError(f"exploration placement must be 'spread' or 'bottom', got '{self.placement}'")
        if self.cutoff_days < 0:
            raise ValueError(f"item age cutoff must be at least 0 days, got {self.cutoff_days}")

    def pool(self, ctx: ItemContext) -> np.ndarray:
        """Catalog indices of the items exploration may show."""
        ok = ctx.new(self.cutoff_days)
        if ctx.in_stock is not None:
            ok &= ctx.in_stock
        if self.allowed is not None:
            ok &= self.allowed
        return np.flatnonzero(ok)

    def posterior(self, ctx: ItemContext, pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Beta parameters of each pool item's success rate: content prior plus its own feedback."""
        established = ~ctx.new(self.cutoff_days)
        a0, b0 = content_prior(ctx, pool, established, self.prior_strength, self.neighbours)
        succ = success_counts(ctx)[pool]
        imp = np.maximum(np.asarray(ctx.impressions, dtype=np.float64)[pool], succ)
        return a0 + succ, b0 + (imp - succ)

    def _affinity(self, lists: CandidateLists, ctx: ItemContext, pool: np.ndarray) -> np.ndarray:
        """Cosine of each pool item with the user's profile: the relevance-weighted mean content vector of
        the recommender's candidates for the user (what the model thinks the user is after)."""
        vec = ctx.vectors
        w = lists.relevance() + 1e-3 * lists.valid
        profile = np.einsum("bn,bnd->bd", w, vec[np.maximum(lists.idx, 0)] * lists.valid[:, :, None])
        norm = np.linalg.norm(profile, axis=1, keepdims=True)
        profile = profile / np.where(norm > 0, norm, 1.0)
        return profile @ vec[pool].T

    def rerank(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists:
        if self.weight <= 0 or k <= 0:
            return lists
        pool = self.pool(ctx)
        if len(pool) == 0:
            return lists
        b, n = lists.idx.shape
        rng = np.random.default_rng(self.seed)
        alpha, beta = self.posterior(ctx, pool)
        theta = rng.beta(np.broadcast_to(alpha, (b, len(pool))), np.broadcast_to(beta, (b, len(pool))))
        if ctx.vectors is not None and self.personal > 0:
            theta *= np.exp(self.personal * (self._affinity(lists, ctx, pool) - 1.0))
        # a new item the model ranked for this user: its draw scaled up by its relevance
        where = {int(j): p for p, j in enumerate(pool)}
        rel = lists.relevance()
        r, c = np.nonzero(np.isin(lists.idx, pool))
        if len(r):
            cols = np.fromiter((where[int(j)] for j in lists.idx[r, c]), dtype=np.int64, count=len(r))
            theta[r, cols] *= 1.0 + rel[r, c]
        if self.seen:  # items the user already bought (with filter_purchased) are never explored for them
            for row, user in enumerate(lists.users):
                gone = [where[int(j)] for j in self.seen.get(str(user), ()) if int(j) in where]
                if gone:
                    theta[row, gone] = -np.inf
        share = self.weight * k
        n_explore = np.floor(share).astype(int) + (rng.random(b) < share - np.floor(share))
        n_explore = np.minimum(n_explore, np.minimum(k, np.isfinite(theta).sum(axis=1)))
        order = np.argsort(-theta, axis=1)[:, : min(k, len(pool))]
        width = n + min(k, len(pool))
        idx = np.full((b, width), -1, dtype=np.int64)
        src = np.zeros((b, width), dtype=np.int8)
        for row in range(b):
            m = int(n_explore[row])
            picks = pool[order[row, :m]]
            picked = set(picks.tolist())
            rest = [(int(i), int(s)) for i, s in zip(lists.idx[row], lists.source[row])
                    if i >= 0 and int(i) not in picked]
            slots = explore_slots(m, k, self.placement)
            merged: list[tuple[int, int]] = []
            it = iter(rest)
            e = 0
            for pos in range(max(k, 0)):
                if e < m and pos == slots[e]:
                    merged.append((int(picks[e]), EXPLORATION))
                    e += 1
                else:
                    nxt = next(it, None)
                    if nxt is None:
                        break
                    merged.append(nxt)
            merged.extend((int(picks[q]), EXPLORATION) for q in range(e, m))
            merged.extend(it)
            idx[row, : len(merged)] = [i for i, _ in merged]
            src[row, : len(merged)] = [s for _, s in merged]
        return lists.reordered(idx, src)
