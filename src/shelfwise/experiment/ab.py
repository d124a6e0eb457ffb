"""A/B(/n) test analysis: per-arm means, lifts with intervals, p-values, SRM, CUPED, multiple comparisons.

Input is one row per experimental unit (a user), with the arm and one column per metric. For each
metric and each arm against the control:

- a metric whose values are all 0/1 is *binary*: two-proportion z-test with the pooled proportion (the
  same p-value as a 2x2 chi-square test without continuity correction), Wald interval for the difference;
- any other metric is *continuous*: Welch's t-test (unequal variances), interval from Welch's t;
- the relative lift ``(mean_arm - mean_control) / mean_control`` gets a delta-method interval;
- with a pre-period ``covariate``, CUPED (Deng et al., WSDM 2013) first replaces the metric with
  ``y - theta (x - mean x)``, ``theta = cov(y, x) / var(x)`` on all units pooled; the adjusted metric is
  continuous (Welch), its mean is unchanged in expectation and its variance smaller;
- p-values over all (arm, metric) comparisons are adjusted for multiple testing (Holm by default,
  Benjamini-Hochberg on request);
- the sample-ratio-mismatch check compares arm sizes with the expected split (chi-square goodness of
  fit): a tiny p-value means the assignment or the logging is broken and the lifts should not be trusted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import InputError
from ..logs import get_logger
from .tables import line_of, numeric, require

log = get_logger(__name__)

CORRECTIONS = ("holm", "bh", "none")


@dataclass
class ArmMetric:
    mean: float
    n: int
    std: float

    def as_dict(self) -> dict[str, float | int]:
        return {"mean": self.mean, "n": self.n, "std": self.std}


@dataclass
class Comparison:
    arm: str
    metric: str
    test: str                 # "z" (two proportions) or "welch"
    control_mean: float
    arm_mean: float
    lift_abs: float
    lift_rel: float
    ci_low: float             # interval of lift_abs
    ci_high: float
    rel_ci_low: float         # interval of lift_rel
    rel_ci_high: float
    p_value: float
    p_value_adjusted: float = float("nan")
    cuped: bool = False
    variance_reduction: float = 0.0   # 1 - var(adjusted) / var(raw), pooled over units


@dataclass
class ABResult:
    arm_col: str
    control: str
    metrics: list[str]
    arms: dict[str, dict[str, ArmMetric]]
    comparisons: list[Comparison]
    srm_p_value: float
    srm: dict[str, dict[str, float]]  # arm -> observed, expected
    correction: str
    level: float
    covariate: str | None = None
    binary: dict[str, bool] = field(default_factory=dict)
    rows_without_arm: int = 0

    def as_dict(self) -> dict[str, object]:
        return {"arm_col": self.arm_col, "control": self.control, "metrics": self.metrics,
                "arms": {a: {m: v.as_dict() for m, v in ms.items()} for a, ms in self.arms.items()},
                "comparisons": [asdict(c) for c in self.comparisons], "srm_p_value": self.srm_p_value,
                "srm": self.srm, "correction": self.correction, "level": self.level, "covariate": self.covariate,
                "binary": self.binary, "rows_without_arm": self.rows_without_arm}


def adjust_p_values(p: Sequence[float], method: str = "holm") -> np.ndarray:
    """Holm's step-down (family-wise error) or Benjamini-Hochberg (false discovery rate) adjusted p-values."""
    arr = np.asarray(p, dtype=np.float64)
    if method == "none" or arr.size == 0:
        return arr.copy()
    m = arr.size
    order = np.argsort(arr, kind="stable")
    ranked = arr[order]
    if method == "holm":
        adj = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == "bh":
        adj = np.minimum.accumulate((m / np.arange(m, 0, -1) * ranked[::-1]))[::-1]
    else:
        raise InputError(f"unknown correction '{method}': use one of {', '.join(CORRECTIONS)}", field="correction")
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def srm_test(counts: Sequence[int], expected_split: Sequence[float]) -> float:
    """Chi-square goodness-of-fit p-value of arm sizes against the expected split."""
    obs = np.asarray(counts, dtype=np.float64)
    split = np.asarray(expected_split, dtype=np.float64)
    exp = obs.sum() * split / split.sum()
    return float(stats.chisquare(obs, exp).pvalue)


def _rel_interval(mt: float, mc: float, vt: float, vc: float, z: float) -> tuple[float, float, float]:
    """Relative lift and its delta-method interval; ``vt``/``vc`` are the variances of the two means.

    Undefined (nan) unless the control mean is positive: with a zero control mean the ratio does not exist,
    and with a negative one (net revenue after returns) its sign would be the opposite of the lift's.
    """
    if not mc > 0:
        return float("nan"), float("nan"), float("nan")
    rel = mt / mc - 1.0
    se = np.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    return rel, rel - z * se, rel + z * se


_ROUNDING = 1e-12   # relative size of a floating-point rounding residue in sums of metric values


def _compare(yt: np.ndarray, yc: np.ndarray, binary: bool, level: float) -> dict[str, Any]:
    nt, nc = yt.size, yc.size
    mt, mc = float(yt.mean()), float(yc.mean())
    diff = mt - mc
    zq = float(stats.norm.ppf(0.5 + level / 2))
    if binary:
        pooled = (yt.sum() + yc.sum()) / (nt + nc)
        se0 = np.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc))
        p = float(2 * stats.norm.sf(abs(diff) / se0)) if se0 > 0 else (1.0 if diff == 0 else 0.0)
        vt, vc = mt * (1 - mt) / nt, mc * (1 - mc) / nc
        half = zq * np.sqrt(vt + vc)
        test = "z"
    else:
        vt, vc = float(yt.var(ddof=1)) / nt, float(yc.var(ddof=1)) / nc
        # differences and spreads at the size of floating-point rounding of the values are 0: all units at
        # 0.1 give means that differ in the 17th digit and a variance of 1e-34, not a "significant" lift
        rounding = _ROUNDING * max(float(np.abs(yt).max()), float(np.abs(yc).max()))
        if np.sqrt(vt + vc) <= rounding:
            vt = vc = 0.0
            if abs(diff) <= rounding:
                mt, diff = mc, 0.0
        se = np.sqrt(vt + vc)
        if se > 0:
            p = float(stats.ttest_ind(yt, yc, equal_var=False).pvalue)
            df = (vt + vc) ** 2 / (vt**2 / (nt - 1) + vc**2 / (nc - 1))
            half = float(stats.t.ppf(0.5 + level / 2, df)) * se
        else:
            p, half = (1.0 if diff == 0 else 0.0), 0.0
        test = "welch"
    rel, rlo, rhi = _rel_interval(mt, mc, vt, vc, zq)
    return {"test": test, "control_mean": mc, "arm_mean": mt, "lift_abs": diff, "lift_rel": rel,
            "ci_low": diff - half, "ci_high": diff + half, "rel_ci_low": rlo, "rel_ci_high": rhi, "p_value": p}


def _split(arms: list[str], expected_split: Mapping[str, float] | Sequence[float] | None) -> list[float]:
    if expected_split is None:
        return [1.0] * len(arms)
    if isinstance(expected_split, Mapping):
        missing = [a for a in arms if a not in expected_split]
        if missing:
            raise InputError(f"the expected split names no share for arm(s) {', '.join(missing)}",
                             field="expected_split")
        split = [float(expected_split[a]) for a in arms]
    else:
        split = [float(v) for v in expected_split]
        if len(split) != len(arms):
            raise InputError(f"the expected split has {len(split)} shares for {len(arms)} arms ({', '.join(arms)})",
                             field="expected_split")
    if any(v <= 0 for v in split):
        raise InputError("every share of the expected split must be positive", field="expected_split")
    return split


_BOOLEAN = {"true": "1", "false": "0"}


def _column_values(df: pd.DataFrame, column: str, keep: np.ndarray, what: str) -> np.ndarray:
    """The column's numbers on the ``keep`` rows; ``true``/``false`` (JSON lines, Parquet booleans) are 1/0.

    An empty, unparsable or infinite value is an input error naming the file, line and column.
    """
    raw = df[column]
    lowered = raw.map(lambda v: _BOOLEAN.get(v.strip().lower(), v) if isinstance(v, str) else v)
    view = df.assign(**{column: lowered}) if not lowered.equals(raw) else df
    view.attrs.update(df.attrs)
    vals = numeric(view, column).to_numpy()
    rows = np.flatnonzero(keep)
    kept = vals[keep]
    empty, infinite = np.isnan(kept), np.isinf(kept)
    if empty.any() or infinite.any():
        i = int(np.flatnonzero(empty | infinite)[0])
        problem = (f"{what} '{column}' is empty; give every unit a value (0 when nothing happened)" if empty[i] else
                   f"{what} '{column}' holds '{raw.iloc[rows[i]]}', which is not a finite number")
        raise InputError(problem, file=df.attrs.get("path"), line=line_of(df, int(rows[i])), field=column)
    return kept


def analyze(df: pd.DataFrame, arm_col: str, control: str, metrics: Sequence[str], *, covariate: str | None = None,
            expected_split: Mapping[str, float] | Sequence[float] | None = None, level: float = 0.95,
            correction: str = "holm") -> ABResult:
    """Analyse an experiment table (one row per unit); see the module docstring for the methods."""
    if correction not in CORRECTIONS:
        raise InputError(f"unknown correction '{correction}': use one of {', '.join(CORRECTIONS)}", field="correction")
    if not 0 < level < 1:
        raise InputError(f"confidence level must be between 0 and 1, not {level}", field="level")
    if not metrics:
        raise InputError("name at least one metric column", field="metrics")
    if len(set(metrics)) < len(metrics):  # a metric named twice would count twice in the correction
        log.warning("metric(s) %s named more than once; each is analysed once",
                    ", ".join(sorted({m for m in metrics if list(metrics).count(m) > 1})))
        metrics = list(dict.fromkeys(metrics))
    require(df, [arm_col, *metrics] + ([covariate] if covariate else []))
    path = df.attrs.get("path")
    if len(df) == 0:
        raise InputError("the table has no rows: nothing to analyse", file=path)
    arm_values = df[arm_col]
    missing_arm = arm_values.isna().to_numpy()
    if missing_arm.any():
        log.warning("%d rows have no value in '%s' and are left out", int(missing_arm.sum()), arm_col)
    data = df.loc[~missing_arm]
    arm = data[arm_col].astype(str).to_numpy()
    arms = sorted(set(arm))
    if control not in arms:
        raise InputError(f"control arm '{control}' not found in column '{arm_col}' (arms: {', '.join(arms) or 'none'})",
                         field="control", file=path)
    if len(arms) < 2:
        raise InputError(f"column '{arm_col}' holds only one arm ({control}): nothing to compare", field=arm_col,
                         file=path)
    arms = [control] + [a for a in arms if a != control]
    small = [f"'{a}' ({int((arm == a).sum())})" for a in arms if (arm == a).sum() < 2]
    if small:
        raise InputError(f"every arm needs at least 2 units to estimate a variance; arm {', '.join(small)} has "
                         "fewer", field=arm_col, file=path)
    values = {m: _column_values(df, m, ~missing_arm, "metric") for m in metrics}
    x = _column_values(df, covariate, ~missing_arm, "covariate") if covariate else None
    binary = {m: bool(np.isin(v, (0.0, 1.0)).all()) for m, v in values.items()}
    masks = {a: arm == a for a in arms}
    table = {a: {m: ArmMetric(float(values[m][masks[a]].mean()), int(masks[a].sum()),
                              float(values[m][masks[a]].std(ddof=1)) if masks[a].sum() > 1 else float("nan"))
                 for m in metrics} for a in arms}
    comparisons = []
    for m in metrics:
        y, is_binary, reduction = values[m], binary[m], 0.0
        if x is not None:
            vx = float(np.var(x, ddof=1))
            theta = float(np.cov(y, x, ddof=1)[0, 1] / vx) if vx > 0 else 0.0
            adj = y - theta * (x - x.mean())
            reduction = 1.0 - float(np.var(adj, ddof=1) / np.var(y, ddof=1)) if np.var(y) > 0 else 0.0
            if reduction > 1.0 - 1e-9:
                raise InputError(f"covariate '{covariate}' predicts metric '{m}' exactly (it is the metric, or a "
                                 "linear function of it): CUPED would remove the effect with the noise. Use a "
                                 "covariate measured before the experiment", field=covariate,
                                 file=df.attrs.get("path"))
            y, is_binary = adj, False
        for a in arms[1:]:
            c = _compare(y[masks[a]], y[masks[control]], is_binary, level)
            comparisons.append(Comparison(arm=a, metric=m, cuped=x is not None, variance_reduction=reduction, **c))
    adjusted = adjust_p_values([c.p_value for c in comparisons], correction)
    for comp, p_adj in zip(comparisons, adjusted):
        comp.p_value_adjusted = float(p_adj)
    split = _split(arms, expected_split)
    counts = [int(masks[a].sum()) for a in arms]
    srm_p = srm_test(counts, split)
    total = sum(counts)
    srm = {a: {"observed": n, "expected": total * s / sum(split)} for a, n, s in zip(arms, counts, split)}
    if srm_p < 0.001:
        log.warning("sample ratio mismatch: arm sizes %s are unlikely under the expected split (p = %.2g)",
                    counts, srm_p)
    return ABResult(arm_col, control, list(metrics), table, comparisons, srm_p, srm, correction, level, covariate,
                    binary, int(missing_arm.sum()))
