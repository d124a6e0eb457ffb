"""Edge cases found in the black-box pass over exposure policies, launch plans and the simulator CLI.

Each test failed on the code before its fix (see docs/POLICIES.md, "Decisions on edge cases").
"""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.data.store import open_store
from shelfwise.errors import InputError
from shelfwise.policy import PolicyParams
from shelfwise.policy.exploration import Exploration
from shelfwise.policy.launch import similarity
from shelfwise.policy.lists import EXPLORATION, CandidateLists, ItemContext
from shelfwise.policy.vectors import item_vectors
from shelfwise.service.simulate import parse_policy


def _tiny_shop(tmp_path):
    """Ten items: six established (a-f, launched a year ago), four new (n1-n4, launched 3 days ago).
    User u1 bought n1; u2 bought nothing new. Returns the store URL."""
    from shelfwise.data.ingest import ingest

    shop = tmp_path / "shop"
    shop.mkdir()
    now = pd.Timestamp("2024-06-30")
    ids = ["a", "b", "c", "d", "e", "f", "n1", "n2", "n3", "n4"]
    launched = [now - pd.Timedelta(days=365)] * 6 + [now - pd.Timedelta(days=3)] * 4
    pd.DataFrame({"item_id": ids, "title": [f"thing {i}" for i in ids], "category": ["x", "y"] * 5,
                  "launched_at": [t.isoformat() for t in launched]}).to_csv(shop / "items.csv", index=False)
    rows = [(now - pd.Timedelta(days=d), u, i, "purchase") for d, u, i in
            [(30, "u1", "a"), (20, "u1", "b"), (10, "u2", "c"), (9, "u2", "d"), (2, "u1", "n1"), (1, "u3", "e")]]
    pd.DataFrame(rows, columns=["timestamp", "user_id", "item_id", "event"]).to_csv(shop / "events.csv", index=False)
    url = f"duckdb:///{tmp_path / 'tiny.duckdb'}"
    with open_store(url) as store:
        ingest(shop, store)
    return url


def test_exploration_never_reinjects_what_the_user_bought(tmp_path):
    """With filter_purchased, the candidates hold no bought item, but exploration drew from the whole
    catalog and put n1 back in front of u1 (who bought it two days ago)."""
    from shelfwise.service.policy import apply_policies

    url = _tiny_shop(tmp_path)
    cands = pd.DataFrame({"user_id": ["u1"] * 3 + ["u2"] * 3, "rank": [1, 2, 3] * 2,
                          "item_id": ["c", "d", "e", "a", "b", "e"], "score": [3.0, 2.0, 1.0] * 2})
    policy = {"exploration_weight": 1.0, "item_age_cutoff_days": 14}
    out = apply_policies(cands, policy, 5, db=url, exclude_purchased=True)
    u1 = out[out["user_id"] == "u1"]
    assert "n1" not in set(u1["item_id"])
    assert set(u1.loc[u1["source"] == "exploration", "item_id"]) == {"n2", "n3", "n4"}  # the other new items
    assert len(u1) == 5 and u1["rank"].tolist() == [1, 2, 3, 4, 5] and not u1["item_id"].duplicated().any()
    u2 = out[out["user_id"] == "u2"]
    assert set(u2.loc[u2["source"] == "exploration", "item_id"]) == {"n1", "n2", "n3", "n4"}
    # without the filter (the default setting) a bought new item may still be explored
    loose = apply_policies(cands, policy, 5, db=url, exclude_purchased=False)
    assert "n1" in set(loose.loc[loose["user_id"] == "u1", "item_id"])


def test_exploration_with_every_new_item_bought_explores_nothing():
    ctx = ItemContext(np.array(["a", "b", "n"], dtype=object), np.array([400.0, 400.0, 1.0]), np.array([5.0, 3.0, 0.0]),
                      np.array([0, 1, 0]), datetime(2024, 1, 1))
    lists = CandidateLists(np.array(["u"], dtype=object), np.array([[0, 1]]), np.array([[2.0, 1.0]]))
    out = Exploration(1.0, 30.0, seen={"u": [2]}).rerank(lists, ctx, 2)
    assert out.idx[0, :2].tolist() == [0, 1] and not (out.source == EXPLORATION).any()


def test_items_without_text_category_or_brand_are_not_each_others_neighbours():
    """Two items with no title, category or brand had content cosine ~1 (shared 'cat_'/'brand_' tokens) and
    scored +0.2 category and +0.1 brand (None == None): each was the other's nearest neighbour."""
    items = pd.DataFrame({"item_id": ["bare1", "bare2", "mug", "cup"],
                          "title": [None, None, "blue mug", "blue cup"], "description": [None] * 4,
                          "category": [None, None, "kitchen", "kitchen"], "brand": [None, None, "acme", "acme"],
                          "price": [10.0, 10.0, 10.0, 10.0]})
    vec = item_vectors(items)
    assert float(vec[0] @ vec[1]) == pytest.approx(0.0, abs=1e-6)  # no text: nothing in common
    sim = similarity(vec, items, 0, np.array([1, 2, 3]))
    assert sim.tolist() == pytest.approx([0.1, 0.1, 0.1])  # price closeness only, the same for all three
    sim_mug = similarity(vec, items, 2, np.array([0, 3]))
    assert sim_mug[1] > sim_mug[0] and sim_mug[0] == pytest.approx(0.1)  # the cup shares category and brand


def test_simulator_policy_specs_parse_booleans_and_refuse_lists():
    assert parse_policy("personal_tail=false,long_tail_weight=0.3")[1].personal_tail is False  # was the string "false"
    assert parse_policy("exclude_out_of_stock=no")[1].exclude_out_of_stock is False
    assert parse_policy("personal_tail=True")[1].personal_tail is True
    with pytest.raises(InputError, match="true or false"):
        parse_policy("personal_tail=maybe")
    for spec in ("pin=abc", "keep_where=abc", "boost=x", "exclude=a"):  # were tracebacks later in the run
        with pytest.raises(InputError, match="bad policy setting"):
            parse_policy(spec)
    with pytest.raises(InputError, match="whole number"):
        parse_policy("category_cap=2.5")
    with pytest.raises(InputError, match="prior_strength"):
        parse_policy("explore:prior_strength=0")
    with pytest.raises(InputError, match="item_age_cutoff_days"):
        parse_policy("explore:item_age_cutoff_days=nan")


def test_policy_params_refuse_nan_cutoff_and_bad_prior():
    with pytest.raises(InputError):
        PolicyParams(item_age_cutoff_days=float("nan"))
    with pytest.raises(InputError):
        PolicyParams(prior_strength=-1.0)


def test_launch_plan_out_formats_and_folders(tmp_path):
    from shelfwise.cli.main import app

    url = _tiny_shop(tmp_path)
    run = lambda *a: CliRunner().invoke(app, ["launch-plan", "--since", "2024-06-20", "--db", url, *a])  # noqa: E731
    r = run("--out", str(tmp_path))  # a folder: was an IsADirectoryError traceback (exit 1)
    assert r.exit_code == 2 and "is a folder" in r.output
    r = run("--out", str(tmp_path / "plans.txt"))  # was JSON written under any name
    assert r.exit_code == 2 and "unsupported file type" in r.output
    assert not (tmp_path / "plans.txt").exists()
    r = run("--out", str(tmp_path / "plans.csv"))  # was JSON inside a .csv file
    assert r.exit_code == 0, r.output
    table = pd.read_csv(tmp_path / "plans.csv")
    assert sorted(table["item_id"]) == ["n1", "n2", "n3", "n4"]
    assert len(json.loads(table["weekly_forecast"].iloc[0])) == 4
    r = run("--out", str(tmp_path / "plans.jsonl"))
    assert r.exit_code == 0, r.output
    lines = (tmp_path / "plans.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(x)["item_id"] for x in lines)
    r = run("--out", str(tmp_path / "plans.json"))
    assert r.exit_code == 0 and len(json.loads((tmp_path / "plans.json").read_text())) == 4
    r = CliRunner().invoke(app, ["launch-plan", "--since", "yesterday-ish", "--db", url])
    assert r.exit_code == 2 and "----since" not in r.output and "--since 'yesterday-ish' is not a date" in r.output
    r = CliRunner().invoke(app, ["launch-plan", "--since", "2030-01-01", "--db", url])
    assert r.exit_code == 2 and "no item launched on or after 2030-01-01" in r.output


def test_simulate_out_must_be_json(tmp_path):
    from shelfwise.cli.main import app

    r = CliRunner().invoke(app, ["simulate", "--policy", "explore", "--shop", str(tmp_path), "--out",
                                 str(tmp_path / "cmp.xyz")])
    assert r.exit_code == 2 and "unsupported file type" in r.output
    r = CliRunner().invoke(app, ["simulate", "--policy", "explore", "--shop", str(tmp_path), "--out", str(tmp_path)])
    assert r.exit_code == 2 and "is a folder" in r.output


def test_the_recommend_service_passes_its_purchase_filter_to_exploration(monkeypatch):
    from shelfwise.service import policy as policy_service
    from shelfwise.service import recommend as rec_service

    outer = rec_service.recommend
    wide = pd.DataFrame({"user_id": ["u1"], "rank": [1], "item_id": ["a"], "score": [1.0]})
    monkeypatch.setattr(rec_service, "recommend", lambda *a, **kw: wide)  # the inner, policy-free call
    seen: dict = {}

    def fake_apply(candidates, params, k, **kw):
        seen.update(kw)
        return candidates

    monkeypatch.setattr(policy_service, "apply_policies", fake_apply)
    policy = {"exploration_weight": 0.5, "item_age_cutoff_days": 14}
    outer(["u1"], 5, filter_purchased=True, model=object(), policy=policy)
    assert seen["exclude_purchased"] is True
    outer(["u1"], 5, filter_purchased=False, model=object(), policy=policy)
    assert seen["exclude_purchased"] is False


def test_the_api_never_explores_an_item_just_bought_or_excluded():
    from types import SimpleNamespace

    from shelfwise.serve.rank import apply_policy

    ctx = ItemContext(np.array(["a", "b", "n"], dtype=object), np.array([400.0, 400.0, 1.0]), np.array([5.0, 3.0, 0.0]),
                      np.array([0, 1, 0]), datetime(2024, 1, 1))
    policy = SimpleNamespace(items=ctx, user_tail_share=None)
    params = PolicyParams(exploration_weight=1.0, item_age_cutoff_days=30)
    ranked = [("a", 2.0), ("b", 1.0)]
    free = apply_policy(ranked, {}, 2, "u", policy, params)
    assert "n" in [i for i, _, _ in free]  # the new item is explored for a user who did not buy it
    blocked = apply_policy(ranked, {}, 2, "u", policy, params, never=["n", "unknown-id"])
    assert [i for i, _, _ in blocked] == ["a", "b"]


def test_launch_plan_reasons_name_the_typical_launch_they_compare_with(tmp_path):
    """The typical launch falls back to the mean when most launches sold nothing early; the reasons
    called it 'median launch' anyway."""
    from shelfwise.data.store import open_store
    from shelfwise.policy.launch import plan_launches

    with open_store(_tiny_shop(tmp_path)) as store:  # the established items sold nothing in their first weeks
        plan = plan_launches(store, ["n2"], neighbours=3)[0]
    text = " ".join(plan.reasons)
    assert "median launch" not in text
    assert "(the average launch: 0.0, as most launches sold nothing then)" in text
    assert "5% for average sales" in text


def test_launch_plans_never_take_a_non_product_line_as_neighbour(tmp_path):
    """A postage line sells with every foreign order; as the closest title it became the new item's
    neighbour and lent it postage's sales and buyers. Lines flagged non_product are not neighbours."""
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.policy.launch import plan_launches

    shop = tmp_path / "shop"
    shop.mkdir()
    now = pd.Timestamp("2024-06-30")
    old, new = (now - pd.Timedelta(days=300)).isoformat(), (now - pd.Timedelta(days=3)).isoformat()
    pd.DataFrame({"item_id": ["post", "mug", "cup", "bowl", "new"],
                  "title": ["postage box", "blue mug", "red cup", "green bowl", "postage box stamp"],
                  "launched_at": [old, old, old, old, new],
                  "non_product": ["true", "", "", "", ""]}).to_csv(shop / "items.csv", index=False)
    rows = [((now - pd.Timedelta(days=295 - 14 * d)).isoformat(), f"u{d}", i, "purchase")
            for d in range(20) for i in ("post", "mug" if d % 2 else "cup", "bowl")]
    pd.DataFrame(rows, columns=["timestamp", "user_id", "item_id", "event"]).to_csv(shop / "events.csv", index=False)
    with open_store(f"duckdb:///{tmp_path / 's.duckdb'}") as store:
        ingest(shop, store)
        plan = plan_launches(store, ["new"], neighbours=3)[0]
        assert {n["item_id"] for n in plan.neighbours} == {"mug", "cup", "bowl"}
        assert plan_launches(store, since=datetime(2024, 1, 1))[0].item_id == "new"


def test_exploration_never_shows_a_new_non_product_line():
    """A new postage line is a new item by its launch date; exploration used to give it exposure."""
    now = datetime(2024, 6, 30)
    items = pd.DataFrame({"item_id": ["old", "new-mug", "new-postage"],
                          "launched_at": [now - pd.Timedelta(days=300), now - pd.Timedelta(days=2),
                                          now - pd.Timedelta(days=2)],
                          "attrs": [None, '{"colour": "blue"}', '{"non_product": "true"}']})
    ctx = ItemContext.from_frames(items, None, now)
    pool = Exploration(weight=0.5, cutoff_days=14).pool(ctx)
    assert list(ctx.item_ids[pool]) == ["new-mug"]


def _shop_without_launch_dates(tmp_path):
    """Three mugs first sold 30 weeks before the end, one new mug 5 days before it; no launched_at."""
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store

    shop = tmp_path / "shop"
    shop.mkdir()
    end = pd.Timestamp("2024-06-30")
    pd.DataFrame({"item_id": ["a", "b", "c", "new", "day1"],
                  "title": ["blue mug", "red mug", "green mug", "yellow mug", "grey mug"]}).to_csv(
        shop / "items.csv", index=False)
    rows = [((end - pd.Timedelta(days=300)).isoformat(), "u0", "day1", "purchase")]
    rows += [((end - pd.Timedelta(days=210 - 7 * d)).isoformat(), f"u{d}", i, "purchase")
             for d in range(28) for i in ("a", "b", "c", "day1")]
    rows += [((end - pd.Timedelta(days=5)).isoformat(), "u1", "new", "purchase"), (end.isoformat(), "u2", "a", "view")]
    pd.DataFrame(rows, columns=["timestamp", "user_id", "item_id", "event"]).to_csv(shop / "events.csv", index=False)
    store = open_store(f"duckdb:///{tmp_path / 's.duckdb'}")
    ingest(shop, store)
    return store


def test_launch_plans_without_launch_dates_use_the_first_event(tmp_path):
    """Without launched_at every plan failed with 'no established item has four weeks of sales history'
    although the items had months of sales; the first event now stands in for the launch date (not in the
    data's first week: day1 may be older than the data)."""
    from shelfwise.policy.launch import plan_launches

    with _shop_without_launch_dates(tmp_path) as store:
        plan = plan_launches(store, ["new"], neighbours=3)[0]
        assert {n["item_id"] for n in plan.neighbours} == {"a", "b", "c"}
        assert plan.neighbours[0]["weekly_sales"] == [1.0, 1.0, 1.0, 1.0]
        assert [p.item_id for p in plan_launches(store, since=datetime(2024, 6, 1))] == ["new"]


def test_a_launch_plan_for_an_item_already_selling_says_so(tmp_path):
    from shelfwise.policy.launch import plan_launches

    with _shop_without_launch_dates(tmp_path) as store:
        reasons = plan_launches(store, ["a"], neighbours=2)[0].reasons
        assert reasons[0].startswith("already on sale: 28 units since 2023-12-03")
        assert not plan_launches(store, ["new"], neighbours=2)[0].reasons[0].startswith("already")
