"""Diversity: maximal marginal relevance over content vectors, and caps per category.

MMR (Carbonell & Goldstein, SIGIR 1998) picks, at each step, the candidate with the best
``lambda * rel(v) - (1 - lambda) * max_{s in S} cos(v, s)``: relevance traded against redundancy with
what the list already holds. A category cap is a hard rule instead: at most ``cap`` items of one
category in the list; items over the cap move behind every item within it (never dropped, so a
short list is still filled when nothing else is left).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._ops import order_with_rest, take
from .lists import CandidateLists, ItemContext


@dataclass
class MMR:
    """MMR with relevance weight ``relevance`` (1: no diversification). Needs ``ctx.vectors``."""

    relevance: float = 0.7
    chunk: int = 512
    name: str = "mmr"

    def __post_init__(self) -> None:
        if not 0.0 <= self.relevance <= 1.0:
            raise ValueError(f"MMR relevance weight must be in [0, 1], got {self.relevance}")

    def rerank(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists:
        if ctx.vectors is None:
            raise ValueError("MMR needs item content vectors in the context (ItemContext.vectors)")
        b, n = lists.idx.shape
        chosen = np.full((b, min(k, n)), -1, dtype=np.int64)
        for lo in range(0, b, self.chunk):
            chosen[lo:lo + self.chunk] = self._rows(lists, ctx.vectors, lo, min(b, lo + self.chunk), k)
        return take(lists, order_with_rest(chosen, n))

    def _rows(self, lists: CandidateLists, vectors: np.ndarray, lo: int, hi: int, k: int) -> np.ndarray:
        idx = lists.idx[lo:hi]
        valid = idx >= 0
        rel = lists.relevance()[lo:hi]
        vec = np.where(valid[:, :, None], vectors[np.maximum(idx, 0)], 0.0).astype(np.float32)
        b, n = idx.shape
        rows = np.arange(b)
        redundancy = np.full((b, n), -np.inf)
        taken = ~valid
        out = np.full((b, min(k, n)), -1, dtype=np.int64)
        for t in range(min(k, n)):
            red = np.where(np.isfinite(redundancy), redundancy, 0.0)
            obj = np.where(taken, -np.inf, self.relevance * rel - (1.0 - self.relevance) * red)
            best = np.argmax(obj, axis=1)
            ok = np.isfinite(obj[rows, best])
            out[ok, t] = best[ok]
            taken[rows[ok], best[ok]] = True
            sim = np.einsum("bnd,bd->bn", vec, vec[rows, best])
            redundancy = np.where(ok[:, None], np.maximum(redundancy, sim), redundancy)
        return out


@dataclass
class CategoryCap:
    """At most ``cap`` items per category among the first slots; unknown categories are not capped."""

    cap: int = 3
    name: str = "category_cap"

    def __post_init__(self) -> None:
        if self.cap < 1:
            raise ValueError(f"a category cap must be at least 1, got {self.cap}")

    def rerank(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists:
        b, n = lists.idx.shape
        if b == 0 or n == 0:
            return lists
        cat = np.where(lists.valid, ctx.category[np.maximum(lists.idx, 0)], -2)
        frame = pd.DataFrame({"row": np.repeat(np.arange(b), n), "cat": cat.ravel()})
        seen_before = frame.groupby(["row", "cat"], sort=False).cumcount().to_numpy().reshape(b, n)
        over = (cat >= 0) & (seen_before >= self.cap)
        key = np.where(over | ~lists.valid, n + np.arange(n)[None, :], np.arange(n)[None, :])
        key = np.where(~lists.valid, 2 * n + np.arange(n)[None, :], key)
        return take(lists, np.argsort(key, axis=1, kind="stable"))
