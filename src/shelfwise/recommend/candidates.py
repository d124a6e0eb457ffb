"""Candidate generation and the feature matrix of (user, candidate) pairs, shared by training and serving.

Each generator scores every item for a batch of users; the union of each one's top-N (within the items
allowed) is the candidate set. Every pair then gets the generators' scores and ranks beside the user,
item and user-item features of :mod:`.features`, so the ranker learns how far to trust each source.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from .features import (ITEM_FEATURES, USER_FEATURES, USER_ITEM_FEATURES, ItemStats, user_features,
                       user_item_features)
from .generator import HistoryRecommender
from .history import History


@dataclass
class PairBatch:
    """Candidate pairs of one batch of users: batch row ``b``, item index ``i`` and their features."""

    b: np.ndarray
    i: np.ndarray
    x: np.ndarray  # (n_pairs, n_features) float32, NaN = missing


def _top_n_mask(scores: np.ndarray, n: int) -> np.ndarray:
    """Boolean mask of each row's ``n`` best finite scores."""
    mask = np.zeros(scores.shape, dtype=bool)
    n = min(n, scores.shape[1])
    if n == 0:
        return mask
    top = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    rows = np.repeat(np.arange(len(scores)), n)
    mask[rows, top.ravel()] = True
    return mask & np.isfinite(scores)


def _ranks(scores: np.ndarray, depth: int) -> np.ndarray:
    """1-based rank of each of a row's best ``depth`` finite items; 0 elsewhere."""
    depth = min(depth, scores.shape[1])
    out = np.zeros(scores.shape, dtype=np.float32)
    if depth == 0:
        return out
    top = np.argpartition(-scores, depth - 1, axis=1)[:, :depth]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    rows = np.repeat(np.arange(len(scores)), depth)
    out[rows, top.ravel()] = np.tile(np.arange(1, depth + 1, dtype=np.float32), len(scores))
    out[~np.isfinite(scores)] = 0.0
    return out


def feature_names(generators: Mapping[str, object]) -> list[str]:
    """Column names of the pair matrix, in order."""
    names = []
    for g in generators:
        names += [f"g_{g}_score", f"g_{g}_rank", f"g_{g}_rel"]
    return names + list(USER_FEATURES) + list(ITEM_FEATURES) + list(USER_ITEM_FEATURES)


def build_pairs(generators: Mapping[str, HistoryRecommender], depth: Mapping[str, int], history: History,
                stats: ItemStats, user_idx: np.ndarray, user_ids: np.ndarray, allowed: np.ndarray,
                rank_depth: int = 200, extra: np.ndarray | None = None) -> PairBatch:
    """Candidates (top ``depth[g]`` of each generator among ``allowed`` items) and their features.

    ``extra``: a boolean (users x items) mask of pairs that must be candidates (training adds the
    label items this way only to measure recall, never to train on them).
    """
    rows = history.rows(user_ids, user_idx)
    n_users = len(user_idx)
    cand = np.zeros((n_users, history.n_items), dtype=bool)
    per_gen: dict[str, np.ndarray] = {}
    for name, gen in generators.items():
        s = np.asarray(gen._score(user_idx, user_ids), dtype=np.float64)
        s[:, ~allowed] = -np.inf
        per_gen[name] = s
        if depth.get(name, 0) > 0:
            cand |= _top_n_mask(s, depth[name])
    if extra is not None:
        cand |= extra
    b, i = np.nonzero(cand)
    cols: list[np.ndarray] = []
    for name, s in per_gen.items():
        v = s[b, i]
        cols.append(np.where(np.isfinite(v), v, np.nan))
        r = _ranks(s, rank_depth)[b, i]
        cols.append(np.where(r > 0, r, np.nan))
        best = np.max(np.where(np.isfinite(s), s, -np.inf), axis=1)
        scale = np.where(np.isfinite(best) & (best > 0), best, np.nan)[b]
        cols.append(np.where(np.isfinite(v), v, np.nan) / scale)
    users = user_features(history, rows, stats)
    cols += [users[k][b] for k in USER_FEATURES]
    cols += [stats.values[k][i] for k in ITEM_FEATURES]
    pairs = user_item_features(history, rows, b, i, stats, users)
    cols += [pairs[k] for k in USER_ITEM_FEATURES]
    x = np.column_stack(cols).astype(np.float32) if len(b) else np.zeros((0, len(cols)), np.float32)
    return PairBatch(b, i, x)
