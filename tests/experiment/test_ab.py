"""A/B analysis against SciPy and hand-computed references: tests, intervals, SRM, CUPED, corrections."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shelfwise.errors import InputError
from shelfwise.experiment.ab import adjust_p_values, analyze, srm_test


def _frame(seed=0, n=(4000, 4100, 3900)):
    rng = np.random.default_rng(seed)
    arms = np.repeat(["control", "b", "c"], n)
    pre = rng.gamma(2.0, 10.0, size=arms.size)
    lift = np.select([arms == "b", arms == "c"], [1.5, 0.0], 0.0)
    spend = 0.8 * pre + lift + rng.normal(0, 5, size=arms.size)
    p = np.select([arms == "b", arms == "c"], [0.12, 0.10], 0.10)
    bought = (rng.random(arms.size) < p).astype(int)
    df = pd.DataFrame({"arm": arms, "bought": bought.astype(str), "spend": spend.astype(str), "pre": pre.astype(str)})
    df.attrs.update(path="ab.csv", first_line=2)
    return df, {"arm": arms, "bought": bought, "spend": spend, "pre": pre}


def test_p_values_and_intervals_match_scipy():
    df, raw = _frame()
    res = analyze(df, "arm", "control", ["bought", "spend"], correction="none")
    assert res.binary == {"bought": True, "spend": False}
    assert list(res.arms) == ["control", "b", "c"]
    ctl = raw["arm"] == "control"
    for c in res.comparisons:
        t = raw["arm"] == c.arm
        y = raw[c.metric]
        if c.metric == "bought":
            table = [[y[t].sum(), (1 - y[t]).sum()], [y[ctl].sum(), (1 - y[ctl]).sum()]]
            p_ref = stats.chi2_contingency(table, correction=False)[1]
            assert c.test == "z"
            pt, pc = y[t].mean(), y[ctl].mean()
            half = stats.norm.ppf(0.975) * np.sqrt(pt * (1 - pt) / t.sum() + pc * (1 - pc) / ctl.sum())
        else:
            ref = stats.ttest_ind(y[t], y[ctl], equal_var=False)
            p_ref = ref.pvalue
            ci = ref.confidence_interval(0.95)
            half = (ci.high - ci.low) / 2
            assert c.test == "welch"
        assert c.p_value == pytest.approx(p_ref, abs=1e-9, rel=1e-7)
        assert c.lift_abs == pytest.approx(y[t].mean() - y[ctl].mean())
        assert c.ci_high - c.lift_abs == pytest.approx(half, rel=1e-7)
        assert c.lift_rel == pytest.approx(y[t].mean() / y[ctl].mean() - 1)
        assert c.rel_ci_low < c.lift_rel < c.rel_ci_high
    means = res.as_dict()["arms"]
    assert means["b"]["spend"]["mean"] == pytest.approx(raw["spend"][raw["arm"] == "b"].mean())
    assert means["c"]["bought"]["n"] == 3900


def test_cuped_reduces_variance_and_keeps_the_lift():
    df, raw = _frame(seed=1)
    plain = analyze(df, "arm", "control", ["spend"])
    cuped = analyze(df, "arm", "control", ["spend"], covariate="pre")
    x, y = raw["pre"], raw["spend"]
    theta = np.cov(y, x)[0, 1] / np.var(x, ddof=1)
    adj = y - theta * (x - x.mean())
    for p, c in zip(plain.comparisons, cuped.comparisons):
        assert c.cuped and c.test == "welch"
        assert c.variance_reduction == pytest.approx(1 - np.var(adj, ddof=1) / np.var(y, ddof=1))
        assert c.variance_reduction > 0.5
        assert (c.ci_high - c.ci_low) < 0.7 * (p.ci_high - p.ci_low)
        t, ctl = raw["arm"] == c.arm, raw["arm"] == "control"
        assert c.p_value == pytest.approx(stats.ttest_ind(adj[t], adj[ctl], equal_var=False).pvalue, rel=1e-7)
    b = next(c for c in cuped.comparisons if c.arm == "b")
    assert b.ci_low < 1.5 < b.ci_high and b.ci_low > 0


def _holm_reference(p):
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out, running = [0.0] * m, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


def test_corrections():
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = rng.random(int(rng.integers(1, 9))) ** 3
        np.testing.assert_allclose(adjust_p_values(p, "holm"), _holm_reference(list(p)))
        np.testing.assert_allclose(adjust_p_values(p, "bh"), stats.false_discovery_control(p, method="bh"))
        np.testing.assert_allclose(adjust_p_values(p, "none"), p)
    df, _ = _frame()
    res = analyze(df, "arm", "control", ["bought", "spend"], correction="holm")
    np.testing.assert_allclose([c.p_value_adjusted for c in res.comparisons],
                               _holm_reference([c.p_value for c in res.comparisons]))


def test_sample_ratio_mismatch():
    assert srm_test([5000, 5000], [1, 1]) == pytest.approx(1.0)
    assert srm_test([5000, 5300], [1, 1]) == pytest.approx(stats.chisquare([5000, 5300]).pvalue)
    assert srm_test([2000, 8000], [0.2, 0.8]) == pytest.approx(1.0)
    df, _ = _frame(n=(5000, 5000, 4000))
    assert analyze(df, "arm", "control", ["bought"]).srm_p_value < 1e-10
    ok = analyze(df, "arm", "control", ["bought"], expected_split={"control": 5, "b": 5, "c": 4})
    assert ok.srm_p_value == pytest.approx(1.0)
    assert ok.srm["c"]["expected"] == pytest.approx(4000)
    assert analyze(df, "arm", "control", ["bought"], expected_split=[5, 5, 4]).srm_p_value == pytest.approx(1.0)


def test_bad_input_names_file_line_and_column():
    df, _ = _frame()
    with pytest.raises(InputError, match="control arm 'nope' not found"):
        analyze(df, "arm", "nope", ["bought"])
    with pytest.raises(InputError, match="missing column"):
        analyze(df, "arm", "control", ["missing"])
    bad = df.copy()
    bad.attrs.update(df.attrs)
    bad.loc[7, "spend"] = "n/a"
    with pytest.raises(InputError, match=r"ab.csv, line 9: 'n/a' in column 'spend' is not a number"):
        analyze(bad, "arm", "control", ["spend"])
    with pytest.raises(InputError, match="correction"):
        analyze(df, "arm", "control", ["spend"], correction="bonferroni-ish")
    with pytest.raises(InputError, match="shares"):
        analyze(df, "arm", "control", ["spend"], expected_split=[1, 1])
    one = df[df["arm"] == "control"]
    with pytest.raises(InputError, match="only one arm"):
        analyze(one, "arm", "control", ["spend"])


def test_rows_without_arm_are_left_out():
    df, _ = _frame()
    df.loc[:9, "arm"] = None
    res = analyze(df, "arm", "control", ["bought"])
    assert res.rows_without_arm == 10 and res.arms["control"]["bought"].n == 3990
