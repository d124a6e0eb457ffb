"""Report sections for experiments: position curves, off-policy estimates, policy learning, A/B results.

Each builder takes the plain dict a :mod:`shelfwise.service.experiment` function returns and appends one
section to a :class:`shelfwise.evaluate.report.Report`, so the CLI's ``--html`` pages and any other
report (the demo's, the dashboard's) show the same figures with their intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..evaluate.charts import bar_chart, line_chart
from ..evaluate.report import Report


def _pct(v: float | None) -> str:
    """A relative lift as text; "n/a" where it is undefined (a control mean of 0 or below)."""
    if v is None or not math.isfinite(v):
        return "n/a"
    return f"{100 * v:+.2f}%"


def position_section(report: Report, curve: Mapping[str, Any], title: str = "Attention by display position") -> None:
    """The attention curve (relative to position 1) with its interval, and the counts behind it."""
    s = report.section(title)
    methods = {"randomised": "from randomised logs (CTR at each position over CTR at position 1)",
               "pbm-em": "by fitting a position-based click model with EM"}
    method = methods.get(str(curve["method"]), str(curve["method"]))
    s.text(f"Attention estimated {method} on {curve.get('rows', sum(curve['impressions'])):,} impressions "
           f"({curve.get('selection', 'all impressions')}). 1.0 is the attention of position 1; the band is the "
           f"{100 * float(curve.get('level', 0.95)):.0f}% bootstrap interval over displays.")
    pos = curve["positions"]
    s.chart(line_chart(pos, {"attention": curve["attention"], "interval low": curve["ci_low"],
                             "interval high": curve["ci_high"]},
                       title="Relative attention by position", x_label="position", y_label="attention / position 1"))
    s.table(["position", "impressions", "clicks", "CTR", "attention", "low", "high"],
            [[p, n, c, ctr, a, lo, hi] for p, n, c, ctr, a, lo, hi in
             zip(pos, curve["impressions"], curve["clicks"], curve["ctr"], curve["attention"], curve["ci_low"],
                 curve["ci_high"])], caption="By position")


def ope_section(report: Report, result: Mapping[str, Any], title: str | None = None) -> None:
    """Each estimator's value with its interval, beside the logging policy's own click rate."""
    s = report.section(title or f"Off-policy estimate of '{result['policy']}'")
    est = result["estimators"]
    d = result.get("diagnostics", {})
    s.text(f"Estimated click rate per slot of the policy '{result['policy']}' from {result['n']:,} logged "
           f"impressions in {result['n_displays']:,} displays ({result.get('selection', 'all impressions')}). "
           "IPW and SNIPW reweight what was logged by the target's probability over the logging probability; DM "
           "asks a reward model; DR corrects the model with the reweighted residuals.")
    s.figures({"logged policy CTR": f"{result['logged']['value']:.5f}",
               "effective sample size": f"{d.get('effective_sample_size', float('nan')):,.0f}",
               "max weight": f"{d.get('max_weight', float('nan')):.4g}",
               "support": f"{100 * d.get('support_share', float('nan')):.1f}%"})
    names = list(est)
    s.chart(bar_chart(names + ["logged"], [est[k]["value"] for k in names] + [result["logged"]["value"]],
                      title="Estimated click rate per slot", y_label="clicks per impression"))
    s.table(["estimator", "value", "low", "high"],
            [[k, v["value"], v["ci_low"], v["ci_high"]] for k, v in est.items()]
            + [["logged policy (on-policy)", result["logged"]["value"], result["logged"]["ci_low"],
                result["logged"]["ci_high"]]], caption="Estimates with bootstrap intervals")


def learning_section(report: Report, result: Mapping[str, Any], title: str = "Learned display policy") -> None:
    """The learned policy's estimated value on held-out displays, against the uniform and logged policies."""
    s = report.section(title)
    s.text(f"A policy learned by inverse-propensity-weighted classification on {result['train_rows']:,} logged "
           f"impressions, evaluated on {result['test_rows']:,} held-out ones (epsilon {result['epsilon']}, context "
           f"{', '.join(result['context']) or 'none'}).")
    rows = []
    for name in ("learned", "uniform"):
        for k, v in result[name]["estimators"].items():
            rows.append([name, k, v["value"], v["ci_low"], v["ci_high"]])
    lg = result["logged"]
    rows.append(["logged", "on-policy", lg["value"], lg["ci_low"], lg["ci_high"]])
    s.table(["policy", "estimator", "value", "low", "high"], rows, caption="Click rate per slot")


def ab_section(report: Report, result: Mapping[str, Any], title: str = "A/B test") -> None:
    """Per-arm means, lifts with intervals, p-values (raw and adjusted) and the sample-ratio check."""
    s = report.section(title)
    srm = float(result["srm_p_value"])
    s.text(f"Arms of '{result['arm_col']}' against the control '{result['control']}'. Sample-ratio check p = "
           f"{srm:.3g}{' (MISMATCH: check assignment and logging before trusting the lifts)' if srm < 0.001 else ''}. "
           f"p-values adjusted with {result['correction']}"
           f"{'; CUPED on ' + str(result['covariate']) if result.get('covariate') else ''}.")
    arms = list(result["arms"])
    metrics = list(result["metrics"])
    s.table(["arm"] + [f"{m} (mean)" for m in metrics] + ["units"],
            [[a] + [result["arms"][a][m]["mean"] for m in metrics] + [result["arms"][a][metrics[0]]["n"]]
             for a in arms], caption="Per arm")
    comps = result["comparisons"]
    s.table(["arm", "metric", "test", "lift", "low", "high", "relative lift", "p", "p adjusted"],
            [[c["arm"], c["metric"], c["test"], c["lift_abs"], c["ci_low"], c["ci_high"], _pct(c["lift_rel"]),
              c["p_value"], c["p_value_adjusted"]] for c in comps], caption="Against the control")
    s.chart(bar_chart([f"{c['arm']} / {c['metric']}" for c in comps], [100 * c["lift_rel"] for c in comps],
                      title="Relative lift over the control", x_label="% lift", horizontal=True))


def write(path: str | Path, title: str, builders: list[tuple[Any, Mapping[str, Any]]], subtitle: str = "") -> Path:
    """A page with one section per (builder, result) pair."""
    report = Report(title, subtitle)
    for builder, result in builders:
        builder(report, result)
    return report.write(path)
