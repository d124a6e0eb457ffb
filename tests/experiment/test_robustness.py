"""Edge cases found by a black-box pass over the measurement commands: each test failed before its fix.

Tiny fixtures with known answers: one-click positions, positions the logs never had, weights and caps
that are not positive numbers, metrics that are infinite or true/false, control means that are 0 or
negative, JSON with nothing JSON cannot hold.
"""

from __future__ import annotations

import json
import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.errors import InputError
from shelfwise.experiment import ab, assignment
from shelfwise.experiment.bootstrap import percentile_intervals
from shelfwise.experiment.logged import LoggedDisplays
from shelfwise.experiment.ope import evaluate
from shelfwise.experiment.opl import learn_policy
from shelfwise.experiment.position_bias import from_randomised, pbm_curve
from shelfwise.experiment.tables import read_table
from shelfwise.experiment.targets import uniform_policy

runner = CliRunner()


def _two_slot_logs(n: int = 300, clicks_1: tuple[int, ...] = (0, 2), clicks_2: tuple[int, ...] = (1, 3, 5, 7, 9, 11),
                   positions: tuple[int, ...] = (1, 2)) -> LoggedDisplays:
    """``n`` displays of the given slots, one item, no propensities; clicks on the listed row indices."""
    k = len(positions)
    rew = np.zeros(k * n)
    rew[list(clicks_1) + list(clicks_2)] = 1.0
    return LoggedDisplays(item=np.zeros(k * n, dtype=np.int64), position=np.tile(np.asarray(positions), n),
                          propensity=np.full(k * n, np.nan), reward=rew, surface=np.zeros(k * n, dtype=np.int64),
                          cluster=np.repeat(np.arange(n), k), item_ids=np.array(["a"]), surfaces=["s"],
                          actions=np.ones((1, 1), dtype=bool))


def _strict_json(text: str) -> object:
    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=refuse)


# --- bootstrap and position bias ------------------------------------------------------------------------


def test_infinite_replicates_make_the_limit_infinite_not_smaller():
    # 10% of the resamples have an infinite ratio: the 97.5% percentile is infinite; dropping them
    # (the old behaviour) reported the 97.5% point of the finite 90%, a bound the resamples do not give
    reps = np.concatenate([np.linspace(1.0, 2.0, 900), np.full(100, np.inf)])[:, None]
    iv = percentile_intervals(np.array([1.5]), reps, 0.95)[0]
    assert iv.high == math.inf
    assert iv.low == pytest.approx(1.0 + 0.025 * 999 / 899)  # the 2.5% point of all 1000, infinite ones included
    # nan replicates (0/0: undefined in that resample) are still skipped, finite ones give the usual quantiles
    reps = np.array([[np.nan], [1.0], [2.0], [3.0]])
    iv = percentile_intervals(np.array([2.0]), reps, 0.5)[0]
    assert (iv.low, iv.high) == pytest.approx((1.5, 2.5))


def test_two_clicks_at_position_one_leave_the_ratio_unbounded():
    # P(no click at position 1 in a resample) = (1 - 2/300)^300 = 13%: the ratio's upper limit is infinite
    curve = from_randomised(_two_slot_logs(), resamples=2000, seed=0)
    assert curve.attention == [1.0, 3.0]
    assert curve.ci_high[1] == math.inf and 0 < curve.ci_low[1] <= 3.0
    pbm = pbm_curve(_two_slot_logs(), resamples=200, seed=0)   # one item: EM's answer is the same ratio
    assert pbm.attention == pytest.approx([1.0, 3.0], rel=1e-3)
    assert pbm.ci_high[1] == math.inf and 0 < pbm.ci_low[1] <= 3.0


@pytest.mark.parametrize("method", ["randomised", "pbm"])
def test_positions_without_impressions_are_an_error_not_a_number(method):
    logged = _two_slot_logs(n=200, clicks_1=(0, 3, 6), clicks_2=(1, 4), positions=(1, 2, 3))
    fit = (lambda **kw: from_randomised(logged, resamples=50, **kw)) if method == "randomised" else \
        (lambda **kw: pbm_curve(logged, resamples=5, **kw))
    with pytest.raises(InputError, match=r"position\(s\) 4, 5 .*up to 3.*--max-position to 3"):
        fit(max_position=5)   # was: nan (randomised) or an attention of 3e-9 with an interval (pbm)
    with pytest.raises(InputError, match="two or more positions"):
        fit(max_position=0)   # was: read as "all positions"
    gap = _two_slot_logs(n=200, clicks_1=(0, 3, 6), clicks_2=(1, 4), positions=(1, 2, 4))
    with pytest.raises(InputError, match=r"position\(s\) 3 .*--max-position 2"):
        from_randomised(gap, resamples=50)
    assert len(fit(max_position=2).attention) == 2


def test_bootstrap_settings_are_checked():
    logged = _two_slot_logs()
    with pytest.raises(InputError, match="between 0 and 1"):
        from_randomised(logged, level=1.5)       # was: a ValueError traceback from numpy
    with pytest.raises(InputError, match="at least 1 resample"):
        from_randomised(logged, resamples=0)     # was: nan intervals
    with pytest.raises(InputError, match="at least 1 resample"):
        pbm_curve(logged, resamples=0)


# --- off-policy evaluation and learning -----------------------------------------------------------------


def _uniform_logs(synthetic):
    return synthetic(n_displays=400, n_items=4, seed=3, randomised=True).logged


def test_ope_rejects_caps_and_levels_that_make_no_estimate(synthetic):
    logged = _uniform_logs(synthetic)
    target = uniform_policy(logged)
    for clip in (0.0, -1.0, float("nan")):  # was: IPW -0.07 (clip -1), SNIPW nan (clip 0)
        with pytest.raises(InputError, match="--clip"):
            evaluate(logged, target, clip=clip, resamples=20)
    with pytest.raises(InputError, match="between 0 and 1"):
        evaluate(logged, target, level=1.5, resamples=20)
    with pytest.raises(InputError, match="at least 1 resample"):
        evaluate(logged, target, resamples=0)
    # the logging policy itself: IPW and SNIPW are the logged click rate, inside their intervals
    res = evaluate(logged, target, resamples=300)
    assert res.estimators["ipw"].value == pytest.approx(logged.reward.mean())
    for iv in [*res.estimators.values(), res.logged]:
        assert iv.low <= iv.value <= iv.high


def test_support_share_counts_only_items_the_logs_showed_even_with_the_catalogue_as_action_set():
    # surface 0 showed items 0 and 1 (4 rows), surface 1 showed item 2 (2 rows); the catalogue has 3 items
    logged = LoggedDisplays(item=np.array([0, 1, 0, 1, 2, 2]), position=np.ones(6, dtype=np.int64),
                            propensity=np.full(6, 0.5), reward=np.zeros(6), surface=np.array([0, 0, 0, 0, 1, 1]),
                            cluster=np.arange(6), item_ids=np.array(["a", "b", "c"]), surfaces=["home", "pdp"],
                            actions=np.ones((2, 3), dtype=bool))   # actions="catalog"
    # uniform over 3 items: 2/3 of the mass is supported on home, 1/3 on pdp; rows 4:2 -> 5/9 (was 1.0)
    assert uniform_policy(logged).support_share(logged) == pytest.approx(5 / 9)


def test_learning_rejects_a_weight_cap_that_is_not_positive(synthetic):
    logged = _uniform_logs(synthetic)
    for cap in (0.0, -1.0):  # was: a traceback (0) or silently unweighted learning (-1)
        with pytest.raises(InputError, match="--max-weight"):
            learn_policy(logged, max_weight=cap)


# --- A/B analysis ---------------------------------------------------------------------------------------


def test_infinite_metric_or_covariate_names_file_and_line(tmp_path):
    path = tmp_path / "t.csv"
    pd.DataFrame({"arm": ["a", "b", "a", "b"], "rev": ["1", "inf", "2", "3"],
                  "pre": ["1", "2", "-inf", "4"]}).to_csv(path, index=False)
    df = read_table(path)
    with pytest.raises(InputError) as exc:  # was: Infinity and NaN in the result
        ab.analyze(df, "arm", "a", ["rev"])
    assert exc.value.line == 3 and "'inf'" in str(exc.value) and "t.csv" in str(exc.value)
    df = read_table(path).assign(rev=["1", "2", "2", "3"])
    df.attrs.update(read_table(path).attrs)
    with pytest.raises(InputError) as exc:
        ab.analyze(df, "arm", "a", ["rev"], covariate="pre")
    assert exc.value.line == 4 and "covariate 'pre'" in str(exc.value)


def test_true_false_metrics_are_binary(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    df = pd.DataFrame({"arm": np.repeat(["a", "b"], n // 2), "conv": rng.random(n) < 0.3})
    df.to_json(tmp_path / "t.jsonl", orient="records", lines=True)   # true / false
    df.to_parquet(tmp_path / "t.parquet")                             # booleans
    numeric = df.assign(conv=df.conv.astype(int).astype(str))
    expected = ab.analyze(numeric, "arm", "a", ["conv"]).comparisons[0]
    for name in ("t.jsonl", "t.parquet"):  # was: "'False' in column 'conv' is not a number"
        res = ab.analyze(read_table(tmp_path / name), "arm", "a", ["conv"])
        assert res.binary["conv"] and res.comparisons[0].p_value == pytest.approx(expected.p_value)


def test_relative_lift_needs_a_positive_control_mean():
    # control mean -0.5, arm mean -0.25: the arm is higher (lift +0.25) but mt / mc - 1 = -50%
    df = pd.DataFrame({"arm": ["a", "a", "b", "b"], "m": ["-1", "0", "-0.5", "0"]})
    c = ab.analyze(df, "arm", "a", ["m"]).comparisons[0]
    assert c.lift_abs == pytest.approx(0.25)
    assert math.isnan(c.lift_rel) and math.isnan(c.rel_ci_low) and math.isnan(c.rel_ci_high)
    zero = pd.DataFrame({"arm": ["a"] * 3 + ["b"] * 3, "m": ["0", "0", "0", "1", "0", "0"]})
    assert math.isnan(ab.analyze(zero, "arm", "a", ["m"]).comparisons[0].lift_rel)


@pytest.mark.parametrize("value", ["0.1", "0.3", "123.456"])
def test_a_metric_with_all_equal_values_shows_no_effect(value):
    # 7 and 13 units all at 0.1: the means differed in the 17th digit, the variance was 1e-34, and Welch
    # called the difference significant (p = 0.0018 for 0.1, 0.0047 for 0.3 and 123.456)
    df = pd.DataFrame({"arm": ["a"] * 7 + ["b"] * 13, "m": [value] * 20})
    c = ab.analyze(df, "arm", "a", ["m"]).comparisons[0]
    assert (c.lift_abs, c.ci_low, c.ci_high, c.p_value, c.lift_rel) == (0.0, 0.0, 0.0, 1.0, 0.0)
    shifted = pd.DataFrame({"arm": ["a"] * 7 + ["b"] * 13, "m": [value] * 7 + ["2"] * 13})
    assert ab.analyze(shifted, "arm", "a", ["m"]).comparisons[0].p_value == 0.0   # a real constant shift


def test_a_covariate_that_is_the_metric_is_an_error():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"arm": np.repeat(["a", "b"], 200), "m": (rng.random(400) < 0.2).astype(int).astype(str)})
    df["copy"] = df["m"]
    with pytest.raises(InputError, match="predicts metric 'm' exactly"):  # was: lift 1e-16 with p = 1e-7
        ab.analyze(df, "arm", "a", ["m"], covariate="copy")


def test_a_metric_named_twice_is_analysed_once():
    rng = np.random.default_rng(2)
    df = pd.DataFrame({"arm": np.repeat(["a", "b"], 300), "m": rng.normal(size=600).astype(str),
                       "k": rng.normal(size=600).astype(str)})
    once = ab.analyze(df, "arm", "a", ["m", "k"])
    twice = ab.analyze(df, "arm", "a", ["m", "m", "k"])   # was: 3 comparisons, Holm over 3
    assert [c.metric for c in twice.comparisons] == ["m", "k"] and twice.metrics == ["m", "k"]
    assert [c.p_value_adjusted for c in twice.comparisons] == [c.p_value_adjusted for c in once.comparisons]


def test_too_few_units_and_empty_tables_name_the_file(tmp_path):
    cases = {"one.csv": ({"arm": ["a", "a"], "m": ["1", "0"]}, "only one arm"),
             "small.csv": ({"arm": ["a", "a", "b"], "m": ["1", "0", "1"]}, r"arm 'b' \(1\) has fewer"),
             "empty.csv": ({"arm": [], "m": []}, "no rows")}
    for name, (data, message) in cases.items():
        pd.DataFrame(data).to_csv(tmp_path / name, index=False)
        with pytest.raises(InputError, match=message) as exc:
            ab.analyze(read_table(tmp_path / name), "arm", "a", ["m"])
        assert exc.value.file and exc.value.file.endswith(name)


def test_analyze_json_is_strict_json_with_null_for_undefined_figures(tmp_path):
    # no conversions in the control: the relative lift does not exist; the JSON said NaN (not JSON)
    pd.DataFrame({"arm": ["a"] * 50 + ["b"] * 50, "conv": [0] * 50 + [1] * 5 + [0] * 45}).to_csv(
        tmp_path / "t.csv", index=False)
    result = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "t.csv"), "--arm-col", "arm",
                                 "--control", "a", "--metrics", "conv", "--json", "-"])
    assert result.exit_code == 0, result.output
    data = _strict_json(result.stdout)
    comp = data["comparisons"][0]
    assert comp["lift_rel"] is None and comp["rel_ci_low"] is None and comp["lift_abs"] == pytest.approx(0.1)


def _two_slot_store(tmp_path, store_of_events) -> str:
    """The logs of _two_slot_logs as an ingested shop: 300 displays of 2 slots, 2 clicks at position 1, 6 at
    position 2 (the upper limit of position 2's attention is unbounded)."""
    logged = _two_slot_logs()
    rows = ["timestamp,user_id,session_id,item_id,event,position,surface"]
    for j in range(logged.n):
        ts = f"2024-03-01T00:{j // 2 // 60:02d}:{j // 2 % 60:02d}+02:00"
        row = f"{ts},u{j // 2},s{j // 2},a,EVENT,{logged.position[j]},home"
        rows.append(row.replace("EVENT", "impression"))
        if logged.reward[j]:
            rows.append(row.replace("EVENT", "click"))
    return store_of_events(tmp_path, rows)


def test_position_bias_json_writes_an_unbounded_limit_as_null(tmp_path, store_of_events):
    url = _two_slot_store(tmp_path, store_of_events)
    result = runner.invoke(app, ["position-bias", "--db", url, "--json", "-"])
    assert result.exit_code == 0, result.output
    data = _strict_json(result.stdout)   # was: a finite upper limit (8.0)
    assert data["clicks"] == [2, 6] and data["attention"] == [1.0, 3.0] and data["ci_high"] == [1.0, None]


def test_position_bias_table_shows_an_unbounded_limit_as_unbounded(tmp_path, store_of_events):
    # the JSON says null for the infinite upper limit; the table printed "inf"
    result = runner.invoke(app, ["position-bias", "--db", _two_slot_store(tmp_path, store_of_events)])
    assert result.exit_code == 0, result.output
    assert "inf" not in result.stdout and "unbounded" in result.stdout


def test_analyze_table_shows_an_undefined_relative_lift_as_n_a(tmp_path):
    # no conversions in the control: the JSON says null for the relative lift; the table printed "+nan%"
    pd.DataFrame({"arm": ["a"] * 50 + ["b"] * 50, "conv": [0] * 50 + [1] * 5 + [0] * 45}).to_csv(
        tmp_path / "t.csv", index=False)
    result = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "t.csv"), "--arm-col", "arm",
                                 "--control", "a", "--metrics", "conv"])
    assert result.exit_code == 0, result.output
    assert "nan" not in result.stdout.lower() and "inf" not in result.stdout and "n/a" in result.stdout


# --- running experiments --------------------------------------------------------------------------------


def test_weights_must_be_finite_and_a_bad_stored_row_blocks_nothing(tmp_path):
    with pytest.raises(InputError, match="finite"):  # was: created, with a split of nan% and 0%
        assignment.Experiment("e", ("a", "b"), (float("inf"), 1.0), "a", "s")
    url = f"duckdb:///{tmp_path / 'x.duckdb'}"
    with open_store(url) as store:
        assignment.create_experiment(store, "good", ["a", "b"], salt="s")
        # a row written before weights were checked
        store.execute(f"INSERT INTO {assignment.EXPERIMENTS} VALUES (?, ?, ?, ?, ?, ?, ?, now())",
                      ["old", '["a", "b"]', "[Infinity, 1.0]", "a", "s", "running", ""])
        assert [e.name for e in assignment.list_experiments(store)] == ["good"]
        assert assignment.get_experiment(store, "good").name == "good"
        with pytest.raises(InputError, match="finite"):
            assignment.get_experiment(store, "old")
        with pytest.raises(InputError, match="names stay taken"):
            assignment.create_experiment(store, "good", ["a", "b"])
        assignment.log_exposures(store, "good", ["u1"], ["a"])
        with pytest.raises(InputError, match="pre-period"):  # was: pre_* columns silently 0
            assignment.outcome_table(store, "good", pre_days=-1)


def test_revenue_of_a_purchase_without_price_uses_the_catalogue_price(tmp_path, both_store):
    # zoned timestamps, ids with leading zeros, commas and non-ASCII; two purchases carry no price
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "items.csv").write_text('item_id,price\n00123,10\n"a,b",5\ncafé,2.5\n')
    (shop / "events.csv").write_text(
        "timestamp,user_id,item_id,event,quantity,price\n"
        "2024-03-02T12:00:00+02:00,00123,00123,purchase,2,\n"      # 2 x 10 from the catalogue
        '2024-03-02T10:00:00Z,00123,"a,b",purchase,1,4\n'          # the event's own price wins
        "2024-03-02T10:00:00Z,Zoë,café,purchase,,\n"               # 1 x 2.5
        "2024-03-02T10:00:00Z,Zoë,zzz,purchase,1,\n"               # no price anywhere: 0
        "2024-02-20T10:00:00Z,Zoë,café,purchase,3,\n")             # pre-period: 3 x 2.5
    ingest(shop, both_store)
    assignment.create_experiment(both_store, "e", ["a", "b"], salt="x")
    assignment.log_exposures(both_store, "e", ["00123", "Zoë"], ["a", "b"], at=datetime(2024, 3, 1))
    rows = {r["user_id"]: r for r in assignment.outcome_table(both_store, "e").to_pylist()}
    assert rows["00123"]["revenue"] == pytest.approx(24.0)   # was 4.0
    assert rows["Zoë"]["revenue"] == pytest.approx(2.5) and rows["Zoë"]["purchases"] == 2
    assert rows["Zoë"]["pre_revenue"] == pytest.approx(7.5)


def test_outcomes_suggests_the_experiments_own_split_for_the_sample_ratio_check(tmp_path):
    # weights 3:1: the suggested analyze command used the default equal split and flagged a mismatch
    db = f"duckdb:///{tmp_path / 'x.duckdb'}"
    ok = runner.invoke(app, ["experiment", "create", "uneq", "--arms", "new,old", "--weights", "3,1", "--control",
                             "old", "--salt", "q", "--db", db])
    assert ok.exit_code == 0, ok.output
    units = [f"u{i:04d}" for i in range(400)]
    assert runner.invoke(app, ["experiment", "assign", "uneq", *units, "--db", db]).exit_code == 0
    out = tmp_path / "units.csv"
    result = runner.invoke(app, ["experiment", "outcomes", "uneq", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    hint = result.stdout.split("next: shelfwise ", 1)[1].split()
    assert hint[hint.index("--expected-split") + 1] == "0.25,0.75"   # control first
    analysis = runner.invoke(app, [*hint[:hint.index("--covariate")], "--metrics", "clicked",
                                   "--expected-split", "0.25,0.75", "--json", "-"])
    assert analysis.exit_code == 0, analysis.output
    data = _strict_json(analysis.stdout)
    assert data["srm"]["new"]["observed"] + data["srm"]["old"]["observed"] == 400 and data["srm_p_value"] > 0.001


def test_a_context_column_the_logs_do_not_have_is_an_error(tmp_path, synthetic):
    # a misspelt --context was silently no context at all (every value None)
    from shelfwise.service import experiment as svc  # noqa: PLC0415

    from .conftest import write_shop  # noqa: PLC0415

    url = f"duckdb:///{tmp_path / 'x.duckdb'}"
    with open_store(url) as store:
        ingest(write_shop(tmp_path / "shop", synthetic(n_displays=200, n_items=4, seed=5).logged), store)
    with pytest.raises(InputError, match="context column 'user_featur_0' has no value"):
        svc.ope(url, "uniform", context=["user_featur_0"], resamples=20)
    pd.DataFrame({"segment": ["x"], "item_id": ["i00"], "probability": [1.0]}).to_csv(tmp_path / "p.csv", index=False)
    with pytest.raises(InputError, match="policy file's context column 'segment'") as exc:
        svc.ope(url, str(tmp_path / "p.csv"), resamples=20)
    assert exc.value.file.endswith("p.csv")
    assert svc.ope(url, "uniform", context=["policy"], resamples=20)["n"] == 600   # an extra column that exists


def test_a_unit_logged_twice_is_one_row_of_the_outcome_table(both_store):
    # two live requests for a new unit can both pass "not yet exposed" and insert; the outcome table then
    # had two rows for that unit (counted twice in analyze), in two arms when the rows disagreed
    assignment.create_experiment(both_store, "e", ["a", "b"], salt="x")
    assignment.log_exposures(both_store, "e", ["u1", "u2"], ["a", "b"], at=datetime(2024, 3, 1))
    both_store.execute(f"INSERT INTO {assignment.EXPOSURES} VALUES (?, ?, ?, ?, ?)",
                       ["e", "u1", "b", datetime(2024, 3, 2), None])
    rows = assignment.outcome_table(both_store, "e").to_pylist()
    assert sorted((r["user_id"], r["arm"]) for r in rows) == [("u1", "a"), ("u2", "b")]
    assert rows[0]["first_exposed_at"] == datetime(2024, 3, 1)


def test_the_report_shows_an_undefined_relative_lift_as_n_a() -> None:
    from shelfwise.service.experiment_report import _pct

    assert _pct(0.0123) == "+1.23%"
    assert _pct(float("nan")) == "n/a" and _pct(None) == "n/a" and _pct(float("inf")) == "n/a"
