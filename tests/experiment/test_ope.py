"""Off-policy evaluation: estimators against known truth and a plain reference, target files, the service."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.experiment.ope import _dm_terms, evaluate
from shelfwise.experiment.targets import policy_from_table, policy_table, uniform_policy
from shelfwise.service import experiment as svc


@pytest.fixture(scope="module")
def logs():
    from .conftest import make_logs  # noqa: PLC0415  (module-scoped: built once)

    return make_logs(n_displays=6000, theta=(1.0, 0.6, 0.4), n_items=8, sharpness=1.5, seed=11)


def test_uniform_target_estimates_cover_the_truth(logs):
    d = logs.logged
    truth = logs.value(np.full((3, 8), 1 / 8))
    logged_truth = logs.value(logs.logging)
    res = evaluate(d, uniform_policy(d), resamples=500, seed=0)
    for name in ("ipw", "snipw", "dr"):
        iv = res.estimators[name]
        assert iv.low <= truth <= iv.high, (name, iv, truth)
        assert abs(iv.value / truth - 1) < 0.15, (name, iv.value, truth)
    assert abs(res.estimators["dm"].value / truth - 1) < 0.2
    assert abs(res.logged.value / logged_truth - 1) < 0.1
    # the logging policy favours good items, so the uniform policy is worse, and the estimates see it
    assert truth < logged_truth and res.estimators["snipw"].high < res.logged.value * 1.05
    assert res.diagnostics["mean_weight"] == pytest.approx(1.0, abs=0.1)
    assert res.diagnostics["support_share"] == pytest.approx(1.0)


def test_ipw_and_snipw_match_a_plain_loop(logs):
    d = logs.logged
    res = evaluate(d, uniform_policy(d), resamples=50)
    num = den = 0.0
    for j in range(d.n):
        w = (1 / 8) / d.propensity[j]
        num += w * d.reward[j]
        den += w
    assert res.estimators["ipw"].value == pytest.approx(num / d.n, rel=1e-12)
    assert res.estimators["snipw"].value == pytest.approx(num / den, rel=1e-12)


def test_dr_is_dm_plus_weighted_residuals(logs):
    d = logs.logged
    target = uniform_policy(d)
    res = evaluate(d, target, resamples=50, seed=3)
    q_logged, q_target = _dm_terms(d, target, (), 2, 3, 1.0)
    w = target.prob_of_logged(d) / d.propensity
    assert res.estimators["dm"].value == pytest.approx(q_target.mean(), rel=1e-12)
    assert res.estimators["dr"].value == pytest.approx(q_target.mean() + np.mean(w * (d.reward - q_logged)), rel=1e-12)


def test_clipping_caps_weights(logs):
    d = logs.logged
    res = evaluate(d, uniform_policy(d), clip=2.0, resamples=50)
    assert res.diagnostics["max_weight"] <= 2.0


def test_file_policy_per_position(logs):
    d = logs.logged
    # a target that shows the three best items, best at the top, with a little exploration
    best = np.argsort(-logs.gamma)[:3]
    probs = np.full((3, 8), 0.1 / 8)
    probs[np.arange(3), best] += 0.9
    table = pd.DataFrame([{"position": str(k + 1), "item_id": d.item_ids[a], "probability": str(probs[k, a])}
                          for k in range(3) for a in range(8)])
    target = policy_from_table(table, d, name="best")
    res = evaluate(d, target, resamples=500)
    truth = logs.value(probs)
    assert res.estimators["snipw"].low <= truth <= res.estimators["snipw"].high
    assert res.estimators["dr"].low <= truth <= res.estimators["dr"].high
    assert truth > logs.value(logs.logging)
    # a file that spells out the uniform policy gives exactly the built-in uniform estimates
    flat = pd.DataFrame({"item_id": d.item_ids, "probability": [str(1 / 8)] * 8})
    a = evaluate(d, policy_from_table(flat, d), resamples=50)
    b = evaluate(d, uniform_policy(d), resamples=50)
    assert a.estimators["ipw"].value == pytest.approx(b.estimators["ipw"].value)
    # and the table written back from a target reads in as the same probabilities
    again = policy_from_table(policy_table(target, d, ["position"]), d)
    np.testing.assert_allclose(again.prob_of_logged(d), target.prob_of_logged(d))


def test_file_policy_errors(logs):
    d = logs.logged
    ids = list(d.item_ids)

    def table(rows, cols=("item_id", "probability")):
        df = pd.DataFrame(rows, columns=list(cols))
        df.attrs.update(path="target.csv", first_line=2)
        return df

    with pytest.raises(InputError, match=r"target.csv, line 3: probability 1.5"):
        policy_from_table(table([[ids[0], "0.5"], [ids[1], "1.5"]]), d)
    with pytest.raises(InputError, match="add up to"):
        policy_from_table(table([[ids[0], "0.6"], [ids[1], "0.6"]]), d)
    with pytest.raises(InputError, match="never shown"):
        policy_from_table(table([["nope", "1.0"]]), d)
    with pytest.raises(InputError, match="appears twice"):
        policy_from_table(table([[ids[0], "0.5"], [ids[0], "0.5"]]), d)
    with pytest.raises(InputError, match="does not cover"):
        policy_from_table(table([["1", ids[0], "1.0"]], ("position", "item_id", "probability")), d)
    with pytest.raises(InputError, match="not a number"):
        policy_from_table(table([[ids[0], "half"]]), d)
    with pytest.raises(InputError, match="was not read"):
        policy_from_table(table([["x", ids[0], "1.0"]], ("segment", "item_id", "probability")), d)


def test_service_reads_the_store_and_a_target_file(tmp_path, store, shop_writer):
    from .conftest import make_logs  # noqa: PLC0415

    syn = make_logs(n_displays=1500, n_items=6, seed=5)
    ingest(shop_writer(tmp_path / "shop", syn.logged), store)
    url = store.url
    store.close()
    out = svc.ope(url, "uniform", resamples=200)
    assert set(out["estimators"]) == {"ipw", "snipw", "dm", "dr"}
    for v in out["estimators"].values():
        assert v["ci_low"] <= v["value"] <= v["ci_high"]
    direct = evaluate(syn.logged, uniform_policy(syn.logged), resamples=200)
    assert out["estimators"]["ipw"]["value"] == pytest.approx(direct.estimators["ipw"].value)
    json.dumps(out)  # plain data
    target = tmp_path / "target.csv"
    pd.DataFrame({"surface": "home", "item_id": syn.logged.item_ids, "probability": 1 / 6}).to_csv(target, index=False)
    by_file = svc.ope(url, str(target), resamples=200)
    assert by_file["estimators"]["ipw"]["value"] == pytest.approx(out["estimators"]["ipw"]["value"])
    with pytest.raises(InputError, match="neither a built-in"):
        svc.ope(url, str(tmp_path / "missing.csv"))
