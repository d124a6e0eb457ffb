"""Re-rankers against slow, obvious reference loops on a tiny catalog."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shelfwise.policy.diversity import MMR, CategoryCap
from shelfwise.policy.lists import CandidateLists
from shelfwise.policy.longtail import LongTail


def _rel(scores: list[float]) -> list[float]:
    lo, hi = min(scores), max(scores)
    return [(s - lo) / (hi - lo) if hi > lo else 1.0 for s in scores]


def ref_xquad(items: list[int], scores: list[float], tail: set[int], p_tail: float, lam: float, k: int) -> list[int]:
    rel = dict(zip(items, _rel(scores)))
    chosen: list[int] = []
    left = list(items)
    while left and len(chosen) < k:
        def obj(v: int) -> float:
            n = len(chosen)
            nt = sum(1 for c in chosen if c in tail)
            if v in tail:
                bonus = p_tail * (1 - nt / n if n else 1.0)
            else:
                bonus = (1 - p_tail) * (1 - (n - nt) / n if n else 1.0)
            return (1 - lam) * rel[v] + lam * bonus
        best = max(left, key=lambda v: (obj(v), -left.index(v)))
        chosen.append(best)
        left.remove(best)
    return chosen


def ref_mmr(items: list[int], scores: list[float], vec: np.ndarray, lam: float, k: int) -> list[int]:
    rel = dict(zip(items, _rel(scores)))
    chosen: list[int] = []
    left = list(items)
    while left and len(chosen) < k:
        def obj(v: int) -> float:
            red = max((float(vec[v] @ vec[c]) for c in chosen), default=0.0)
            return lam * rel[v] - (1 - lam) * red
        best = max(left, key=lambda v: (obj(v), -left.index(v)))
        chosen.append(best)
        left.remove(best)
    return chosen


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.7, 1.0])
def test_xquad_matches_reference(ctx, lists, lam):
    tail = set(np.flatnonzero(ctx.tail()).tolist())
    prefs = {f"u{r}": p for r, p in enumerate([0.1, 0.5, 0.9, 0.3, 0.0, 1.0])}
    out = LongTail(lam, user_tail_share=prefs).rerank(lists, ctx, 10)
    for r in range(len(lists.users)):
        want = ref_xquad(lists.idx[r].tolist(), lists.scores[r].tolist(), tail, prefs[f"u{r}"], lam, 10)
        assert out.idx[r, :10].tolist() == want
        assert sorted(out.idx[r].tolist()) == sorted(lists.idx[r].tolist())  # nothing lost, nothing added


@pytest.mark.parametrize("p_tail", [0.0, 1.0])
def test_xquad_moves_tail_share_towards_the_users_preference(ctx, lists, p_tail):
    tail = ctx.tail()
    shares = [tail[LongTail(lam, default_tail_share=p_tail).rerank(lists, ctx, 10).idx[:, :10]].mean()
              for lam in (0.0, 0.5, 0.9)]
    gaps = [abs(s - p_tail) for s in shares]
    assert gaps[0] >= gaps[1] >= gaps[2] and gaps[2] < gaps[0]


@pytest.mark.parametrize("target", [0.3, 0.5, 0.8])
def test_tail_target_is_met_and_keeps_order_of_the_rest(ctx, lists, target):
    tail = ctx.tail()
    out = LongTail(0.0, min_tail_share=target).rerank(lists, ctx, 10)
    for r in range(len(lists.users)):
        top = out.idx[r, :10]
        assert tail[top].sum() >= math.ceil(target * 10) or tail[lists.idx[r]].sum() == tail[top].sum()
        kept = [i for i in lists.idx[r, :10] if i in set(top.tolist())]
        assert [i for i in top if i in set(kept)] == kept  # items that stayed keep their relative order


def test_target_swaps_only_when_needed(ctx, lists):
    out = LongTail(0.0, min_tail_share=0.0).rerank(lists, ctx, 10)
    assert np.array_equal(out.idx, lists.idx)


@pytest.mark.parametrize("lam", [0.2, 0.6, 1.0])
def test_mmr_matches_reference(ctx, lists, lam):
    out = MMR(lam, chunk=4).rerank(lists, ctx, 8)
    for r in range(len(lists.users)):
        want = ref_mmr(lists.idx[r].tolist(), lists.scores[r].tolist(), ctx.vectors, lam, 8)
        assert out.idx[r, :8].tolist() == want


def test_mmr_needs_vectors(ctx, lists):
    ctx.vectors = None
    with pytest.raises(ValueError, match="vectors"):
        MMR(0.5).rerank(lists, ctx, 5)


@pytest.mark.parametrize("cap", [1, 2, 3])
def test_category_cap_matches_reference(ctx, lists, cap):
    out = CategoryCap(cap).rerank(lists, ctx, 10)
    for r in range(len(lists.users)):
        counts: dict[int, int] = {}
        inside, over = [], []
        for i in lists.idx[r]:
            c = int(ctx.category[i])
            (inside if counts.get(c, 0) < cap else over).append(int(i))
            counts[c] = counts.get(c, 0) + 1
        assert out.idx[r].tolist() == inside + over


def test_scores_stay_decreasing_and_padding_stays_last(ctx, lists):
    idx = lists.idx.copy()
    idx[:, 15:] = -1
    short = CandidateLists(lists.users, idx, lists.scores)
    for policy in (LongTail(0.8), MMR(0.5), CategoryCap(1)):
        out = policy.rerank(short, ctx, 10)
        assert (out.idx[:, 15:] == -1).all()
        finite = out.scores[:, :15]
        assert (np.diff(finite, axis=1) <= 1e-12).all()
