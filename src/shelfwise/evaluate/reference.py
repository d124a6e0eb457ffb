"""Slow, obvious implementations of every metric in :mod:`.metrics`, used only by the tests.

Each works on one user at a time with Python lists and sets, written straight from the textbook
definition, so that a vectorised shortcut in :mod:`.metrics` that drifts from the definition is caught.
``lists`` is a list of per-user lists of item indices (no padding); ``relevant`` a list of sets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _dedupe(items: Sequence[int]) -> list[int]:
    seen: set[int] = set()
    out = []
    for i in items:
        if i >= 0 and i not in seen:
            seen.add(i)
            out.append(i)
    return out


def _hits(items: Sequence[int], rel: set[int]) -> list[int]:
    """1/0 per slot, a repeated item counting only the first time, empty slots (-1) never."""
    seen: set[int] = set()
    out = []
    for i in items:
        out.append(1 if (i >= 0 and i not in seen and i in rel) else 0)
        if i >= 0:
            seen.add(i)
    return out


def ndcg_at_k(items: Sequence[int], rel: set[int], k: int) -> float:
    hits = _hits(list(items)[:k], rel)
    dcg = sum(h / math.log2(pos + 2) for pos, h in enumerate(hits))
    idcg = sum(1 / math.log2(pos + 2) for pos in range(min(len(rel), k)))
    return dcg / idcg if idcg else 0.0


def recall_at_k(items: Sequence[int], rel: set[int], k: int) -> float:
    return sum(_hits(list(items)[:k], rel)) / len(rel) if rel else 0.0


def precision_at_k(items: Sequence[int], rel: set[int], k: int) -> float:
    return sum(_hits(list(items)[:k], rel)) / k


def mrr_at_k(items: Sequence[int], rel: set[int], k: int) -> float:
    for pos, h in enumerate(_hits(list(items)[:k], rel)):
        if h:
            return 1.0 / (pos + 1)
    return 0.0


def hit_at_k(items: Sequence[int], rel: set[int], k: int) -> float:
    return 1.0 if any(_hits(list(items)[:k], rel)) else 0.0


def mean_over_users(metric, lists: Sequence[Sequence[int]], relevant: Sequence[set[int]], k: int) -> float:
    """The metric averaged over users with at least one relevant item."""
    vals = [metric(items, rel, k) for items, rel in zip(lists, relevant) if rel]
    return sum(vals) / len(vals) if vals else float("nan")


def coverage(lists: Sequence[Sequence[int]], n_items: int, candidates: set[int] | None = None) -> float:
    shown = {i for items in lists for i in items if i >= 0}
    if candidates is not None:
        return len(shown & candidates) / len(candidates) if candidates else float("nan")
    return len(shown) / n_items


def exposure(lists: Sequence[Sequence[int]], n_items: int) -> list[int]:
    counts = [0] * n_items
    for items in lists:
        for i in _dedupe(items):
            counts[i] += 1
    return counts


def gini(values: Sequence[float]) -> float:
    """Half the relative mean absolute difference: sum_i sum_j |x_i - x_j| / (2 n^2 mean)."""
    n = len(values)
    total = sum(values)
    if n == 0 or total == 0:
        return float("nan")
    diff = sum(abs(a - b) for a in values for b in values)
    return diff / (2 * n * total)


def tail_items(popularity: Sequence[float], head_share: float = 0.8) -> set[int]:
    """Walk items from most to least popular (ties: lower index first) until the head holds the share."""
    total = sum(popularity)
    if total <= 0:
        return set(range(len(popularity)))
    order = sorted(range(len(popularity)), key=lambda i: (-popularity[i], i))
    head: set[int] = set()
    acc = 0.0
    for i in order:
        head.add(i)
        acc += popularity[i]
        if acc >= head_share * total - 1e-9 * total:
            break
    return set(range(len(popularity))) - head


def aplt(lists: Sequence[Sequence[int]], tail: set[int]) -> float:
    shares = []
    for items in lists:
        items = _dedupe(items)
        if items:
            shares.append(sum(1 for i in items if i in tail) / len(items))
    return sum(shares) / len(shares) if shares else float("nan")


def novelty(lists: Sequence[Sequence[int]], degree: Sequence[int], n_users: int) -> float:
    per_user = []
    for items in lists:
        items = _dedupe(items)
        if items:
            per_user.append(sum(-math.log2((degree[i] + 1) / (n_users + 1)) for i in items) / len(items))
    return sum(per_user) / len(per_user) if per_user else float("nan")


def cold_recall(lists: Sequence[Sequence[int]], relevant: Sequence[set[int]], cold: set[int], k: int,
                ) -> tuple[float, int]:
    vals = []
    for items, rel in zip(lists, relevant):
        rel_cold = rel & cold
        if rel_cold:
            vals.append(recall_at_k(items, rel_cold, k))
    return (sum(vals) / len(vals) if vals else float("nan")), len(vals)
