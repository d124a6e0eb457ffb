"""The simulator on a small synthetic shop, the comparison's intervals, the policy spec parser, launch plans."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.store import open_store
from shelfwise.errors import InputError
from shelfwise.policy import PolicyParams
from shelfwise.policy.launch import plan_launches, save_plans
from shelfwise.service.simulate import parse_policy
from shelfwise.simulate import SimConfig, Simulator
from shelfwise.simulate.compare import compare_results, paired_day_bootstrap


@pytest.fixture(scope="module")
def shop_dir(small_shop):
    return small_shop[0]


def test_simulator_logs_and_exploration_shows_new_items(shop_dir):
    sim = Simulator(shop_dir, SimConfig(days=6, k=8, seed=1))
    base = sim.run(PolicyParams(), "none")
    explore = sim.run(PolicyParams(exploration_weight=0.25, item_age_cutoff_days=14), "explore")
    again = sim.run(PolicyParams(), "none")
    assert base.days.arrays().keys() == again.days.arrays().keys()
    for key, v in base.days.arrays().items():  # seeded: the same policy gives the same run
        assert np.array_equal(v, again.days.arrays()[key])
    assert base.days.sessions == explore.days.sessions  # the same visitors for both policies
    assert explore.metrics["new_item_exposure_share"] > base.metrics["new_item_exposure_share"] + 0.15
    log = explore.log
    assert set(log["event"]) <= {"impression", "click", "purchase"}
    imp = log[log["event"] == "impression"]
    assert imp["position"].between(1, 8).all()
    assert len(imp) == explore.metrics["impressions"]
    assert (imp.loc[imp["source"] == "exploration", "propensity"] == 0.25).all()
    clicks = log[log["event"] == "click"]
    assert len(clicks) / len(imp) == pytest.approx(explore.metrics["ctr"])
    cmp = compare_results(base, explore)
    d = cmp.differences["new_item_exposure_share"]
    assert d["diff_low"] <= d["diff"] <= d["diff_high"] and d["diff_low"] > 0


def test_new_items_and_their_exposure_count_the_same_items(shop_dir):
    # new_items counted only the items launched during the simulated days, while the exposure share counted
    # every item launched less than new_days before it was shown (some launched before the first day)
    config = SimConfig(days=6, k=8, seed=1)
    sim = Simulator(shop_dir, config)
    run = sim.run(PolicyParams(exploration_weight=0.25, item_age_cutoff_days=14), "explore")
    launch = sim.truth.items.launch_day.astype(float)
    ever_new = np.zeros(len(launch), dtype=bool)
    for d in range(sim.start, sim.start + config.days):
        age = d + 0.5 - launch   # the policies' own test of "new" (ItemContext.new), day by day
        ever_new |= (age >= 0) & (age < config.new_days)
    launched = (launch >= sim.start) & (launch < sim.start + config.days)
    assert (ever_new & ~launched).any()   # the shop has items launched in the days before the first one
    assert run.metrics["new_items"] == ever_new.sum()
    assert run.metrics["launched_items"] == launched.sum() == len(run.new_items)
    imp = run.log[run.log["event"] == "impression"]
    day_of = imp["day"].to_numpy(float)
    idx = pd.Index(sim.item_ids.astype(str)).get_indexer(imp["item_id"].astype(str))
    age = day_of + 0.5 - launch[idx]
    counted = (age >= 0) & (age < config.new_days)
    assert ever_new[idx[counted]].all()   # every impression counted as new is of one of the new items
    assert run.metrics["new_item_exposure_share"] == pytest.approx(counted.sum() / len(imp))
    assert set(compare_results(run, run).as_dict()["definitions"]) >= {"new_items", "launched_items",
                                                                      "new_item_exposure_share"}


def test_paired_day_bootstrap_interval_covers_a_known_difference():
    rng = np.random.default_rng(0)
    imp = rng.integers(900, 1100, 30).astype(float)
    a = {"c": rng.binomial(imp.astype(int), 0.10).astype(float), "i": imp}
    b = {"c": rng.binomial(imp.astype(int), 0.12).astype(float), "i": imp}
    d = paired_day_bootstrap(a, b, "c", "i", resamples=1000)
    assert d["diff_low"] < 0.02 < d["diff_high"]
    assert d["diff_low"] > 0


def test_policy_specs():
    name, p = parse_policy("explore:exploration_weight=0.3")
    assert p.exploration_weight == 0.3 and p.item_age_cutoff_days == 14
    assert parse_policy("long_tail_weight=0.4")[1].long_tail_weight == 0.4
    with pytest.raises(InputError, match="unknown policy"):
        parse_policy("bogus")
    with pytest.raises(InputError, match="bad policy setting"):
        parse_policy("explore:colour=red")


def test_launch_plans_are_stored(small_shop):
    with open_store(small_shop[1]) as store:
        plans = plan_launches(store, since=datetime(2025, 1, 30), neighbours=5, top_users=4)
        assert plans
        p = plans[0]
        assert len(p.weekly_forecast) == 4 and p.forecast_low <= p.forecast_high
        assert p.forecast_4w == pytest.approx(sum(p.weekly_forecast), abs=1e-2)
        assert len(p.neighbours) == 5 and all(n["item_id"] != p.item_id for n in p.neighbours)
        assert 0.01 <= p.exposure_share <= 0.2 and len(p.top_users) <= 4 and p.reasons
        assert save_plans(store, plans) == len(plans)
        stored = store.count("launch_plans")
        assert stored >= len(plans)
        save_plans(store, plans[:1])  # re-planning replaces, never duplicates
        assert store.count("launch_plans") == stored
        with pytest.raises(InputError):
            plan_launches(store)


def test_cli_simulate_and_launch_plan(small_shop, tmp_path):
    import json

    from typer.testing import CliRunner

    from shelfwise.cli.main import app

    shop, url = small_shop
    out = tmp_path / "cmp.json"
    r = CliRunner().invoke(app, ["simulate", "--policy", "explore:exploration_weight=0.2", "--vs", "none", "--days", "3",
                                 "--shop", str(shop), "--out", str(out), "--db", url])
    assert r.exit_code == 0, r.output
    with open_store(url, read_only=True) as store:
        logged = store.read_pandas("simulated_events")
    assert set(logged["policy"]) == {"none", "explore:exploration_weight=0.2"}
    assert {"position", "propensity", "source", "event"} <= set(logged.columns)
    report = json.loads(out.read_text())
    assert report["b"]["params"]["exploration_weight"] == 0.2
    assert report["differences"]["new_item_exposure_share"]["diff"] > 0
    r = CliRunner().invoke(app, ["simulate", "--policy", "nonsense", "--shop", str(shop)])
    assert r.exit_code == 2 and "unknown policy" in r.output
    plans = tmp_path / "plans.json"
    r = CliRunner().invoke(app, ["launch-plan", "--since", "2025-01-30", "--db", url, "--out", str(plans)])
    assert r.exit_code == 0, r.output
    assert json.loads(plans.read_text())[0]["reasons"]
    r = CliRunner().invoke(app, ["launch-plan", "--db", url])
    assert r.exit_code == 2
