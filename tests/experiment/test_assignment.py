"""Assignment: deterministic salted hashing, weighted splits, exposure log, outcome table, full A/B loop."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest
from scipy import stats

from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError, UnknownIdError
from shelfwise.experiment.assignment import (
    EXPOSURES,
    Assigner,
    Experiment,
    assign_arm,
    bucket,
    create_experiment,
    get_experiment,
    list_experiments,
    log_exposures,
    outcome_table,
    set_status,
)
from shelfwise.service import experiment as svc


def _exp(**kw):
    base = dict(name="e1", arms=("a", "b", "c"), weights=(1.0, 1.0, 2.0), control="a", salt="s1")
    base.update(kw)
    return Experiment(**base)


def test_assignment_is_deterministic_and_follows_the_weights():
    exp = _exp()
    units = [f"user{i}" for i in range(20000)]
    arms = [assign_arm(u, exp) for u in units]
    assert arms == [assign_arm(u, exp) for u in units]
    counts = [arms.count(a) for a in exp.arms]
    assert stats.chisquare(counts, np.array([0.25, 0.25, 0.5]) * len(units)).pvalue > 0.001
    # the bucket is a uniform number in [0, 1)
    b = np.array([bucket(u, "e1", "s1") for u in units])
    assert b.min() >= 0 and b.max() < 1 and stats.kstest(b, "uniform").pvalue > 0.001


def test_salt_and_name_reshuffle_independently():
    units = [f"user{i}" for i in range(5000)]
    a = np.array([assign_arm(u, _exp(arms=("x", "y"), weights=(1, 1), control="x")) == "y" for u in units])
    b = np.array([assign_arm(u, _exp(arms=("x", "y"), weights=(1, 1), control="x", salt="s2")) == "y" for u in units])
    c = np.array([assign_arm(u, _exp(name="e2", arms=("x", "y"), weights=(1, 1), control="x")) == "y" for u in units])
    for other in (b, c):
        agree = (a == other).mean()
        assert 0.46 < agree < 0.54  # independent coin flips agree half the time


def test_experiment_validation():
    with pytest.raises(InputError, match="two or more distinct arms"):
        _exp(arms=("a",), weights=(1.0,))
    with pytest.raises(InputError, match="positive weight"):
        _exp(weights=(1.0, 0.0, 1.0))
    with pytest.raises(InputError, match="control"):
        _exp(control="z")
    with pytest.raises(InputError, match="empty unit"):
        assign_arm("", _exp())


def test_store_registry_and_first_exposure_only(both_store):
    store = both_store
    exp = create_experiment(store, "ranker-test", ["current", "new"], weights=[3, 1])
    assert exp.control == "current" and len(exp.salt) == 16
    with pytest.raises(InputError, match="already exists"):
        create_experiment(store, "ranker-test", ["x", "y"])
    assert [e.name for e in list_experiments(store)] == ["ranker-test"]
    assigner = Assigner(store)
    arm = assigner.assign("u1", "ranker-test", at=datetime(2024, 1, 2))
    assert arm == assign_arm("u1", exp)
    assigner.assign("u1", "ranker-test", at=datetime(2024, 1, 5))
    rows = store.query(f"SELECT * FROM {EXPOSURES}").to_pylist()
    assert len(rows) == 1 and rows[0]["first_exposed_at"] == datetime(2024, 1, 2)
    assert log_exposures(store, "ranker-test", ["u2", "u2", "u3", "u1"], ["new", "new", "current", "new"],
                         at=[datetime(2024, 1, 3), datetime(2024, 1, 1), datetime(2024, 1, 3), datetime(2024, 1, 1)]) == 2
    u2 = store.query(f"SELECT first_exposed_at FROM {EXPOSURES} WHERE unit_id = 'u2'").to_pylist()
    assert u2 == [{"first_exposed_at": datetime(2024, 1, 1)}]
    set_status(store, "ranker-test", "stopped")
    assert get_experiment(store, "ranker-test").status == "stopped"
    assert Assigner(store).assign("u99", "ranker-test") == "current"
    assert store.count(EXPOSURES) == 3
    with pytest.raises(UnknownIdError):
        Assigner(store).assign("u1", "nope")


EVENTS = """timestamp,user_id,item_id,event,price,quantity
2024-01-01T09:00:00,u1,A,purchase,10,1
2024-01-05T09:00:00,u1,A,click,,
2024-01-05T09:01:00,u1,A,purchase,20,2
2024-01-05T09:00:00,u2,B,impression,,
2023-11-01T09:00:00,u2,B,purchase,99,1
2024-01-06T09:00:00,u3,B,click,,
2024-01-06T09:00:00,u3,B,click,,
"""


def test_outcome_table(tmp_path, both_store):
    store = both_store
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "events.csv").write_text(EVENTS)
    ingest(shop, store)
    create_experiment(store, "e", ["a", "b"], salt="x")
    log_exposures(store, "e", ["u1", "u2", "u3", "u4"], ["a", "b", "a", "b"], at=datetime(2024, 1, 2))
    rows = {r["user_id"]: r for r in outcome_table(store, "e", pre_days=28).to_pylist()}
    assert rows["u1"]["clicks"] == 1 and rows["u1"]["purchased"] == 1 and rows["u1"]["revenue"] == 40.0
    assert rows["u1"]["pre_revenue"] == 10.0 and rows["u1"]["pre_purchases"] == 1
    assert rows["u2"]["impressions"] == 1 and rows["u2"]["pre_revenue"] == 0.0  # 62 days before: outside 28
    assert rows["u3"]["clicks"] == 2 and rows["u3"]["clicked"] == 1 and rows["u3"]["arm"] == "a"
    assert rows["u4"]["clicks"] == 0 and rows["u4"]["revenue"] == 0.0
    until = {r["user_id"]: r for r in outcome_table(store, "e", until=datetime(2024, 1, 6)).to_pylist()}
    assert until["u3"]["clicks"] == 0


def test_full_loop_through_the_service(tmp_path):
    """create -> assign (exposures) -> events happen -> outcomes file -> analyze, as a shop would run it."""
    db = f"duckdb:///{tmp_path / 'shop.duckdb'}"
    svc.create_experiment(db, "e", ["control", "treat"], salt="fixed")
    units = [f"u{i}" for i in range(3000)]
    arms = svc.assign(db, "e", units)
    rng = np.random.default_rng(0)
    lines = ["timestamp,user_id,item_id,event,price"]
    for u in units:
        p = 0.3 if arms[u] == "treat" else 0.2
        if rng.random() < p:
            lines.append(f"2099-01-01T00:00:00,{u},A,purchase,{rng.uniform(5, 15):.2f}")
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "events.csv").write_text("\n".join(lines) + "\n")
    from shelfwise.service.shop import ingest_shop

    ingest_shop(shop, db)
    info = svc.outcomes(db, "e", tmp_path / "units.csv")
    assert info["units"] == 3000
    res = svc.analyze(tmp_path / "units.csv", "arm", "control", ["purchased", "revenue"], covariate="pre_revenue")
    comp = {c["metric"]: c for c in res["comparisons"]}
    assert comp["purchased"]["p_value"] < 1e-6 and comp["purchased"]["ci_low"] < 0.1 < comp["purchased"]["ci_high"]
    assert res["srm_p_value"] > 0.001
    listed = svc.list_experiments(db)
    assert listed[0]["exposed"]["control"] + listed[0]["exposed"]["treat"] == 3000
