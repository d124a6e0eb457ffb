"""Small row-wise array operations the policies share (compaction, taking positions, row ranks)."""

from __future__ import annotations

import numpy as np

from .lists import CandidateLists


def take(lists: CandidateLists, pos: np.ndarray) -> CandidateLists:
    """Lists made of the slots at column positions ``pos`` (B, m) of each row (-1: an empty slot)."""
    pos = np.asarray(pos, dtype=np.int64)
    safe = np.maximum(pos, 0)
    idx = np.where(pos >= 0, np.take_along_axis(lists.idx, safe, axis=1), -1)
    src = np.where(pos >= 0, np.take_along_axis(lists.source, safe, axis=1), 0).astype(np.int8)
    return lists.reordered(idx, src)


def order_with_rest(chosen: np.ndarray, width: int) -> np.ndarray:
    """Positions: the ``chosen`` columns (B, m; -1 allowed) first in their order, then the rest in order."""
    b, m = chosen.shape
    key = np.broadcast_to(width + np.arange(width, dtype=np.int64), (b, width)).copy()
    rows = np.repeat(np.arange(b), m)
    cols = np.broadcast_to(np.arange(m), (b, m)).ravel()
    flat = chosen.ravel()
    ok = flat >= 0
    key[rows[ok], flat[ok]] = cols[ok]
    return np.argsort(key, axis=1, kind="stable")


def compact(lists: CandidateLists, keep: np.ndarray) -> CandidateLists:
    """Drop the slots where ``keep`` is False, moving later slots up; the order is kept."""
    keep = keep & lists.valid
    key = np.where(keep, np.arange(keep.shape[1])[None, :], keep.shape[1] + np.arange(keep.shape[1])[None, :])
    pos = np.argsort(key, axis=1, kind="stable")
    pos = np.where(np.take_along_axis(keep, pos, axis=1), pos, -1)
    idx = np.where(pos >= 0, np.take_along_axis(lists.idx, np.maximum(pos, 0), axis=1), -1)
    scores = np.where(pos >= 0, np.take_along_axis(lists.scores, np.maximum(pos, 0), axis=1), -np.inf)
    src = np.where(pos >= 0, np.take_along_axis(lists.source, np.maximum(pos, 0), axis=1), 0).astype(np.int8)
    return CandidateLists(lists.users, idx, scores, src)
