"""Exploration (Thompson sampling on a content prior), business rules, the chain and live statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfwise.errors import InputError
from shelfwise.policy import PolicyParams, build_chain
from shelfwise.policy.exploration import Exploration, explore_slots
from shelfwise.policy.lists import EXPLORATION, PINNED, CandidateLists, ItemContext
from shelfwise.policy.prior import content_prior
from shelfwise.policy.rules import BoostBury, Filter, Pin
from shelfwise.policy.stats import load_stats, record_feedback


def test_weight_zero_changes_nothing(ctx, lists):
    out = Exploration(0.0).rerank(lists, ctx, 10)
    assert np.array_equal(out.idx, lists.idx)


@pytest.mark.parametrize("weight,expected", [(0.1, 1), (0.3, 3), (1.0, 5)])
def test_exploration_slots_hold_only_new_items(ctx, lists, weight, expected):
    out = Exploration(weight, cutoff_days=30, seed=3).rerank(lists, ctx, 10)
    new = ctx.new(30)
    top, src = out.idx[:, :10], out.source[:, :10]
    assert ((src == EXPLORATION).sum(axis=1) == expected).all()  # 5 new items exist: weight 1 caps at 5
    assert new[top[src == EXPLORATION]].all()
    assert not (ctx.age_days[top[src == EXPLORATION]] >= 30).any()
    if expected < 5:
        slots = explore_slots(expected, 10)
        assert (src[:, slots] == EXPLORATION).all()
    for r in range(len(top)):
        assert len(set(top[r].tolist())) == 10  # no duplicates
        rest = [i for i, s in zip(top[r], src[r]) if s != EXPLORATION]
        assert rest == [i for i in lists.idx[r] if i not in set(top[r][src[r] == EXPLORATION])][: len(rest)]


def test_fractional_weight_gives_the_expected_share(ctx, lists):
    many = CandidateLists(np.arange(4000).astype(str), np.tile(lists.idx[:1], (4000, 1)), np.tile(lists.scores[:1], (4000, 1)))
    out = Exploration(0.25, seed=1).rerank(many, ctx, 10)
    share = (out.source[:, :10] == EXPLORATION).mean()
    assert abs(share - 0.25) < 0.01


def test_thompson_prefers_items_with_good_feedback(ctx, lists):
    imp = np.zeros(ctx.n_items)
    clicks = np.zeros(ctx.n_items)
    imp[24:29] = 1000
    clicks[24:29] = [10, 10, 300, 10, 10]  # item 26 converts far better
    c2 = ctx.with_stats(imp, clicks, np.zeros(ctx.n_items))
    many = CandidateLists(np.arange(500).astype(str), np.tile(lists.idx[:1], (500, 1)), np.tile(lists.scores[:1], (500, 1)))
    out = Exploration(0.1, seed=2, personal=0.0).rerank(many, c2, 10)
    picked = out.idx[:, :10][out.source[:, :10] == EXPLORATION]
    assert (picked == 26).mean() > 0.95
    # without feedback every new item gets a chance
    out0 = Exploration(0.1, seed=2, personal=0.0).rerank(many, ctx, 10)
    picked0 = out0.idx[:, :10][out0.source[:, :10] == EXPLORATION]
    assert len(set(picked0.tolist())) == 5


def test_personal_profile_steers_exploration(ctx, lists):
    # a user whose candidates all look like item 27 gets item 27 explored far more often than chance
    c2 = ItemContext(ctx.item_ids, ctx.age_days, ctx.interactions, ctx.category, ctx.now, vectors=ctx.vectors.copy())
    c2.vectors[:24] = c2.vectors[27]
    many = CandidateLists(np.arange(400).astype(str), np.tile(lists.idx[:1], (400, 1)), np.tile(lists.scores[:1], (400, 1)))
    out = Exploration(0.1, seed=5, personal=3.0).rerank(many, c2, 10)
    picked = out.idx[:, :10][out.source[:, :10] == EXPLORATION]
    assert (picked == 27).mean() > 0.5
    flat = Exploration(0.1, seed=5, personal=0.0).rerank(many, c2, 10)
    assert (flat.idx[:, :10][flat.source[:, :10] == EXPLORATION] == 27).mean() < 0.35


def test_content_prior_follows_the_nearest_established_items(ctx):
    imp = np.full(ctx.n_items, 1000.0)
    clicks = np.full(ctx.n_items, 10.0)
    c2 = ctx.with_stats(imp, clicks, np.zeros(ctx.n_items))
    # make item 25's content identical to item 3, and item 3 a hit
    c2.vectors = c2.vectors.copy()
    c2.vectors[25] = c2.vectors[3]
    c2.clicks[3] = 500
    established = ~c2.new(30)
    a, b = content_prior(c2, np.array([24, 25]), established, strength=20, neighbours=1)
    assert a[1] / (a[1] + b[1]) > 3 * a[0] / (a[0] + b[0])
    assert np.allclose(a + b, 20)


def test_filter_rules(ctx, lists):
    ctx.in_stock = np.ones(ctx.n_items, dtype=bool)
    ctx.in_stock[lists.idx[0, 0]] = False
    ctx.attributes = pd.DataFrame({"brand": ["a" if j % 2 else "b" for j in range(ctx.n_items)]})
    out = Filter(keep_where={"brand": ["a"]}).rerank(lists, ctx, 10)
    assert not (out.idx[out.valid] == lists.idx[0, 0]).any()
    assert (out.idx[out.valid] % 2 == 1).all()
    for r in range(len(lists.users)):
        want = [i for i in lists.idx[r] if i % 2 == 1 and ctx.in_stock[i]]
        assert out.idx[r][out.valid[r]].tolist() == want
    with pytest.raises(ValueError, match="colour"):
        Filter(keep_where={"colour": ["red"]}).rerank(lists, ctx, 10)


def test_pin_boost_bury(ctx, lists):
    target = ctx.item_ids[lists.idx[0, 0]]
    out = BoostBury(bury=[target]).rerank(lists, ctx, 10)
    assert out.idx[0, -1] == lists.idx[0, 0]
    last = ctx.item_ids[lists.idx[0, -1]]
    out = BoostBury(boost={last: 2.0}).rerank(lists, ctx, 10)
    assert out.idx[0, 0] == lists.idx[0, -1]
    out = Pin({"i29": 2, "i0": 1}).rerank(lists, ctx, 10)
    assert (out.idx[:, 0] == 0).all() and (out.idx[:, 1] == 29).all()
    assert (out.source[:, :2] == PINNED).all()
    assert all((out.idx[r] == 0).sum() == 1 for r in range(len(out.idx)))
    with pytest.raises(ValueError, match="unknown"):
        Pin({"nope": 1}).rerank(lists, ctx, 10)


def test_chain_from_params(ctx, lists):
    params = PolicyParams(exploration_weight=0.2, long_tail_weight=0.5, tail_share_target=0.5, category_cap=3,
                          mmr_relevance=0.8, pin={"i1": 1}, seed=4)
    chain = build_chain(params, ctx)
    assert chain.names == ["filter", "long_tail", "category_cap", "mmr", "exploration", "tail_target", "pin"]
    out = chain.apply(lists, ctx, 10)
    assert out.idx.shape == (len(lists.users), 10)
    assert (out.idx[:, 0] == 1).all()
    # the promises survive the whole chain: 2 exploration slots and at least half the slots from the tail
    tail = ctx.tail()
    unpinned = build_chain(PolicyParams(exploration_weight=0.2, tail_share_target=0.5, category_cap=2,
                                        mmr_relevance=0.5, long_tail_weight=0.3, seed=4), ctx).apply(lists, ctx, 10)
    assert ((unpinned.source == EXPLORATION).sum(axis=1) == 2).all()
    assert (tail[unpinned.idx].sum(axis=1) >= 5).all()
    assert PolicyParams().reranks is False
    with pytest.raises(InputError, match="exploration_weight"):
        PolicyParams(exploration_weight=1.5)


def test_record_feedback_accumulates(store):
    ev = pd.DataFrame({"item_id": ["a", "a", "a", "b", "b"],
                       "event": ["impression", "impression", "click", "impression", "purchase"]})
    assert record_feedback(store, ev) == 2
    record_feedback(store, ev.iloc[:3])
    imp, clicks, buys = load_stats(store, ["a", "b", "c"])
    assert imp.tolist() == [4, 1, 0] and clicks.tolist() == [2, 0, 0] and buys.tolist() == [0, 1, 0]
    assert record_feedback(store, pd.DataFrame({"item_id": ["x"], "event": ["view"]})) == 0


def test_promising_tail(ctx):
    from shelfwise.policy.promising import promising_tail

    views = np.full(ctx.n_items, 50.0)
    buys = np.full(ctx.n_items, 1.0)
    buys[10] = 20.0  # a tail item that converts
    ratings = pd.DataFrame({"item_id": ["i12"] * 6 + ["i13"] * 6 + ["i1"] * 6,
                            "rating": [5] * 6 + [2] * 6 + [4] * 6})
    out = promising_tail(ctx, views, buys, ratings, min_reviews=3)
    assert out.loc[out["item_id"] == "i10", "reason"].item() == "conversion per view"
    assert out.loc[out["item_id"] == "i12", "reason"].item() == "reviews"
    assert "i13" not in set(out["item_id"]) and "i1" not in set(out["item_id"])  # poor reviews; head item
