"""Reading logged displays from the store: reward join, selection, action sets, clusters."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.experiment.logged import Selection, load_displays

EVENTS = """timestamp,user_id,session_id,item_id,event,position,surface,propensity,policy,segment
2024-01-01T10:00:00,u1,s1,A,impression,1,home,0.5,random,x
2024-01-01T10:00:00,u1,s1,B,impression,2,home,0.5,random,x
2024-01-01T10:00:30,u1,s1,B,click,2,home,,random,x
2024-01-01T11:00:00,u2,s2,A,impression,1,home,0.25,ranker,y
2024-01-01T11:00:00,u2,s2,C,impression,2,home,0.75,ranker,y
2024-01-01T12:30:00,u2,s2,C,click,,,,ranker,y
2024-01-01T11:00:00,u3,s3,A,impression,1,home,0.25,ranker,y
2024-01-01T11:00:10,u3,s9,A,click,1,home,,ranker,y
2024-01-01T11:00:00,,,B,impression,1,search,0.5,ranker,z
2024-01-01T11:00:00,,,B,click,1,search,,ranker,z
2024-01-01T11:00:00,,,C,impression,2,search,,ranker,z
2024-01-01T11:00:00,u4,s4,A,impression,1,home,0.5,ranker,y
2024-01-01T11:00:20,u4,s4,A,click,,home,,ranker,y
"""


@pytest.fixture
def tiny(tmp_path, both_store):
    store = both_store
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "events.csv").write_text(EVENTS)
    (shop / "items.csv").write_text("item_id\nA\nB\nC\nD\n")
    ingest(shop, store)
    return store


def _by_key(d):
    return {(d.item_ids[d.item[j]], int(d.position[j]), int(d.cluster[j])): d.reward[j] for j in range(d.n)}


def test_rewards_join_clicks_to_their_impression(tiny):
    d = load_displays(tiny)
    assert d.n == 8  # impressions with a position
    rewards = {}
    for j in range(d.n):
        key = d.item_ids[d.item[j]] + str(d.position[j]) + d.surfaces[d.surface[j]]
        rewards.setdefault(key, []).append(d.reward[j])
    assert rewards["B2home"] == [1.0]           # same session, item, position, within the window
    # s2: no click; s3: the click is in another session; s4: a click without position still counts
    assert sorted(rewards["A1home"]) == [0.0, 0.0, 0.0, 1.0]
    assert rewards["C2home"] == [0.0]           # the click came 90 minutes later, outside the 30-minute window
    assert rewards["B1search"] == [1.0]         # anonymous: matched on the same timestamp
    assert rewards["C2search"] == [0.0]


def test_wider_window_and_other_reward_event(tiny):
    d = load_displays(tiny, Selection(window=timedelta(hours=2)))
    assert d.reward.sum() == 4
    d = load_displays(tiny, Selection(reward_event="purchase"))
    assert d.reward.sum() == 0
    with pytest.raises(InputError, match="reward event"):
        load_displays(tiny, Selection(reward_event="impression"))


def test_selection_by_surface_extra_column_and_time(tiny):
    assert load_displays(tiny, Selection(surfaces=("search",))).n == 2
    d = load_displays(tiny, Selection(where={"policy": "random"}))
    assert d.n == 2 and d.reward.sum() == 1
    assert load_displays(tiny, Selection(where={"segment": "y", "user_id": "u4"})).n == 1
    assert load_displays(tiny, Selection(since=datetime(2024, 1, 1, 10, 30))).n == 6
    with pytest.raises(InputError, match="no impressions"):
        load_displays(tiny, Selection(where={"policy": "nope"}))


def test_clusters_actions_context_and_propensity(tiny):
    d = load_displays(tiny, context=["segment", "policy"])
    # displays: s1 (2 rows), s2 (2), s3, s4, and the anonymous rows keyed by their own timestamp (one display)
    assert d.n_clusters == 5
    assert set(d.context["segment"]) == {"x", "y", "z"}
    home = d.surfaces.index("home")
    assert sorted(d.item_ids[d.actions[home]]) == ["A", "B", "C"]
    assert np.isnan(d.propensity).sum() == 1
    with pytest.raises(InputError, match="no propensity"):
        d.require_propensity()
    d.subset(~np.isnan(d.propensity)).require_propensity()
    cat = load_displays(tiny, actions="catalog")
    assert list(cat.item_ids) == ["A", "B", "C", "D"] and cat.actions.all()


def test_roundtrip_through_a_shop_folder(tmp_path, store, synthetic, shop_writer):
    syn = synthetic(n_displays=300, seed=3)
    ingest(shop_writer(tmp_path / "shop", syn.logged), store)
    d = load_displays(store)
    assert d.n == syn.logged.n and d.n_clusters == 300
    assert d.reward.sum() == syn.logged.reward.sum()
    np.testing.assert_allclose(np.sort(d.propensity), np.sort(syn.logged.propensity))
