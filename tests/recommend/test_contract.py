"""One contract, every recommender: fit, batch recommend, filters, candidate restriction, partial_fit,
similar items and a save/load round trip, each checked the same way for every implementation."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from shelfwise.recommend.als import ALS
from shelfwise.recommend.buy_again import BuyAgain
from shelfwise.recommend.cold import ColdItems
from shelfwise.recommend.content import Content
from shelfwise.recommend.covisit import CoVisit
from shelfwise.recommend.itemknn import ItemKNN
from shelfwise.recommend.persist import load_component, load_data, save_component, save_data
from shelfwise.recommend.popular import Popular, Trending
from shelfwise.recommend.ranker import Hybrid

FACTORIES = {
    "buy_again": lambda emb: BuyAgain(),
    "popular": lambda emb: Popular(),
    "trending": lambda emb: Trending(),
    "covisit": lambda emb: CoVisit(),
    "itemknn": lambda emb: ItemKNN(),
    "als": lambda emb: ALS(factors=8, iterations=5),
    "content": lambda emb: Content(embeddings=emb),
    "cold": lambda emb: ColdItems(embeddings=emb, rounds=30),
    "hybrid": lambda emb: Hybrid(embeddings=emb, rounds=30),
}
COLD_ONLY = {"cold"}  # scores only items without events


@pytest.fixture(scope="module", params=sorted(FACTORIES))
def fitted(request, tiny, tiny_emb):
    return request.param, FACTORIES[request.param](tiny_emb).fit(tiny)


def _targets(name: str, data) -> list[str]:
    """Items the model is able to return (new items only, for the new-item model)."""
    return ["m_new", "s_new"] if name in COLD_ONLY else list(data.item_ids)


def test_single_and_batch_shapes(fitted, tiny):
    name, model = fitted
    ids, scores = model.recommend("u0", k=2)
    assert ids.shape == (2,) and scores.shape == (2,)
    ids, scores = model.recommend(["u0", "u1", "u2"], k=4)
    assert ids.shape == (3, 4) and scores.shape == (3, 4)
    for row_ids, row_scores in zip(ids, scores):
        finite = row_scores[np.isfinite(row_scores)]
        assert np.all(np.diff(finite) <= 1e-12), f"{name}: scores not in descending order"
        got = [i for i in row_ids if i is not None]
        assert len(got) == len(set(got)), f"{name}: an item twice in one list"
        assert set(got) <= set(_targets(name, tiny))


def test_unknown_user_gets_a_list_or_nothing_but_no_error(fitted):
    name, model = fitted
    ids, scores = model.recommend(["nobody-at-all"], k=3)
    assert ids.shape == (1, 3)
    if name in {"popular", "trending", "hybrid", "cold"}:  # these serve users without history
        assert ids[0, 0] is not None


def test_items_restricts_candidates(fitted):
    name, model = fitted
    allowed = ["m_new", "s_new"] if name in COLD_ONLY else ["m1", "s1", "l1"]
    ids, _ = model.recommend(["u0", "u1"], k=5, items=allowed)
    assert {i for i in ids.ravel() if i is not None} <= set(allowed)


def test_filter_items_and_filter_seen(fitted, tiny):
    name, model = fitted
    ids, _ = model.recommend(["u0"], k=10)
    first = ids[0, 0]
    ids2, _ = model.recommend(["u0"], k=10, filter_items=[first])
    assert first not in set(ids2.ravel())
    bought = set(tiny.events.loc[(tiny.events.user_id == "u0") & (tiny.events.event == "purchase"), "item_id"])
    ids3, _ = model.recommend(["u0"], k=10, filter_seen=True)
    assert not bought & {i for i in ids3.ravel() if i is not None}


def test_partial_fit_makes_a_new_user_personal(fitted, tiny, tiny_emb):
    name, _ = fitted
    model = FACTORIES[name](tiny_emb).fit(tiny)  # a private copy: partial_fit changes it
    now = tiny.now
    new = pd.DataFrame({"timestamp": [now + timedelta(hours=1)] * 2, "user_id": ["newbie"] * 2,
                        "item_id": ["s0", "s2"], "event": ["purchase", "purchase"], "quantity": [1.0, 1.0]})
    assert model.supports_partial_fit
    before, _ = model.recommend("newbie", k=5)
    model.partial_fit(new)
    after, scores = model.recommend("newbie", k=5)
    if name in {"buy_again", "covisit", "itemknn", "als", "content", "hybrid"}:
        got = [i for i in after if i is not None]
        assert got, f"{name}: nothing for a user with events"
        assert sum(str(i).startswith("s") for i in got[:3]) >= 2, f"{name}: {got} not about socks"
    if name == "buy_again":
        assert set(after[:2]) == {"s0", "s2"}


def test_recent_events_count_for_one_call_only(fitted):
    name, model = fitted
    ev = pd.DataFrame({"timestamp": [pd.Timestamp("2024-06-01")], "user_id": ["visitor"], "item_id": ["l3"],
                       "event": ["purchase"], "quantity": [1.0]})
    with_events, _ = model.recommend("visitor", k=3, recent_events=ev)
    if name == "buy_again":
        assert with_events[0] == "l3"
    again, _ = model.recommend("visitor", k=3)
    if name == "buy_again":
        assert again[0] is None  # the request's events did not stay


def test_save_and_load_round_trip(fitted, tiny, tmp_path):
    name, model = fitted
    save_data(tmp_path / "data", model.data_, model.history_)
    save_component(model, tmp_path / "model")
    for f in tmp_path.rglob("*.npy"):
        np.load(f, allow_pickle=False)  # never a pickled object array
    data, history = load_data(tmp_path / "data")
    loaded = load_component(tmp_path / "model", data, history)
    users = ["u0", "u1", "u5", "nobody"]
    a_ids, a_scores = model.recommend(users, k=5)
    b_ids, b_scores = loaded.recommend(users, k=5)
    assert (a_ids == b_ids).all()
    np.testing.assert_allclose(np.nan_to_num(a_scores, neginf=-1), np.nan_to_num(b_scores, neginf=-1), rtol=1e-5)


def test_similar_items_where_defined(fitted):
    name, model = fitted
    if name not in {"covisit", "itemknn", "als", "content", "hybrid"}:
        pytest.skip(f"{name} has no similar items")
    ids, scores = model.similar_items(["m0", "l0"], k=3)
    assert ids.shape == (2, 3)
    assert "m0" not in set(ids[0]) and "l0" not in set(ids[1])
    assert str(ids[0, 0]).startswith("m") and str(ids[1, 0]).startswith("l")


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_non_product_lines_are_never_recommended(name, tiny, tiny_emb):
    """A line the catalogue marks as not goods (postage) never fills a slot, not even when listed in
    ``items``, and is nobody's similar item; the other items are served as before."""
    import dataclasses

    users = list(tiny.user_ids[:6])
    plain = FACTORIES[name](tiny_emb).fit(tiny)
    ids, _ = plain.recommend(users, k=3)
    top = next(i for i in ids.ravel() if i is not None)
    items = tiny.items.copy()
    items["non_product"] = items["item_id"] == top
    model = FACTORIES[name](tiny_emb).fit(dataclasses.replace(tiny, items=items))
    ids, _ = model.recommend(users, k=5, items=_targets(name, tiny))
    got = {i for i in ids.ravel() if i is not None}
    assert top not in got and got, f"{name}: recommended the non-product line {top}"
    if hasattr(model, "_item_scores") and name not in {"popular", "trending"}:
        others = [i for i in tiny.item_ids if i != top][:5]
        try:
            sim, _ = model.similar_items(others, k=5)
        except NotImplementedError:
            return
        assert top not in set(sim.ravel()), f"{name}: {top} offered as a similar item"


def test_the_non_product_flag_survives_save_and_load(tiny, tmp_path):
    import dataclasses
    import json

    from shelfwise.recommend.history import History

    items = tiny.items.copy()
    items["non_product"] = items["item_id"] == items["item_id"].iloc[0]
    data = dataclasses.replace(tiny, items=items)
    save_data(tmp_path / "d", data, History.from_interactions(data))
    back, _ = load_data(tmp_path / "d")
    assert back.items["non_product"].tolist() == items["non_product"].tolist()
    catalog = tmp_path / "d" / "catalog.json"   # a model set written before the flag: every item is goods
    old = json.loads(catalog.read_text())
    old.pop("non_product")
    catalog.write_text(json.dumps(old))
    assert not load_data(tmp_path / "d")[0].items["non_product"].any()
