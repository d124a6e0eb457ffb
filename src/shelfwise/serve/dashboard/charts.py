"""Charts for the dashboard pages, drawn from what :mod:`shelfwise.service.dashboard` returns.

Each function takes that plain data and returns one inline SVG string (the report charts of
:mod:`shelfwise.evaluate.charts`, plus :func:`.svg.interval_chart`), so pages need nothing from the
network and every text in a chart is escaped by the chart code itself.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

from ...evaluate.charts import bar_chart, line_chart, stacked_area_chart
from .svg import interval_chart


def _pct_or_nan(v: float | None) -> float:
    return float("nan") if v is None else 100.0 * float(v)


def traffic(overview: dict[str, Any]) -> str:
    rows = overview["traffic"]
    per = overview["period"]
    x = [r["period"] for r in rows]
    return line_chart(x, {"visitors": [r["visitors"] for r in rows], "clicks": [r["clicks"] for r in rows],
                          "carts": [r["carts"] for r in rows], "purchases": [r["purchases"] for r in rows]},
                      title=f"Traffic per {per}", y_label="count", markers=len(x) <= 90)


def rates(overview: dict[str, Any]) -> str:
    rows = overview["traffic"]
    x = [r["period"] for r in rows]
    return line_chart(x, {"CTR (clicks per impression)": [_pct_or_nan(r["ctr"]) for r in rows],
                          "conversion (visitors who bought)": [_pct_or_nan(r["conversion"]) for r in rows]},
                      title=f"CTR and conversion per {overview['period']}", y_label="%", markers=len(x) <= 90)


def exposure(overview: dict[str, Any]) -> str:
    rows = overview["exposure"]
    x = [r["period"] for r in rows]
    return stacked_area_chart(x, {f"new (launched < {overview['new_days']} days)": [100 * r["share_new"] for r in rows],
                                  "head": [100 * r["share_head"] for r in rows],
                                  "tail": [100 * r["share_tail"] for r in rows]},
                              title=f"Share of impressions per {overview['period']}: new, head and tail items",
                              y_label="% of impressions")


def _as_date(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, str):
        try:
            return date.fromisoformat(v[:10])
        except ValueError:
            return v
    return v


def item_curve(page: dict[str, Any]) -> str:
    """Weekly net units sold, then the stored forecast with its interval (when there is one)."""
    curve = page["curve"]
    forecast = page.get("forecast") or []
    hist = {_as_date(r["week"]): float(r["net_units"]) for r in curve}
    fc = {_as_date(r["period_start"]): r for r in forecast}
    x = sorted(set(hist) | set(fc), key=str)
    series: dict[str, list[float]] = {"net units sold": [hist.get(d, float("nan")) for d in x]}
    if fc:
        level = forecast[0].get("level")
        band = f"{level:g}% " if isinstance(level, (int, float)) and math.isfinite(level) else ""
        series["forecast"] = [float(fc[d]["yhat"]) if d in fc else float("nan") for d in x]
        series[f"{band}interval low"] = [float(fc[d]["yhat_lo"]) if d in fc else float("nan") for d in x]
        series[f"{band}interval high"] = [float(fc[d]["yhat_hi"]) if d in fc else float("nan") for d in x]
    return line_chart(x, series, title="Lifecycle: net units per week" + (" and forecast" if fc else ""),
                      y_label="units")


def item_events(page: dict[str, Any]) -> str:
    order = ["impression", "view", "click", "cart", "favorite", "purchase", "return"]
    counts = page.get("events") or {}
    labels = [e for e in order if e in counts]
    return bar_chart(labels, [counts[e] for e in labels], title="Events on this item", y_label="events")


def user_activity(history: list[dict[str, Any]]) -> str:
    counts: dict[str, int] = {}
    for h in history:
        counts[h["event"]] = counts.get(h["event"], 0) + 1
    labels = [e for e in ("view", "click", "cart", "favorite", "purchase") if e in counts]
    return bar_chart(labels, [counts[e] for e in labels], title=f"This customer's last {len(history)} events",
                     y_label="events")


def experiment_lifts(exp: dict[str, Any]) -> str:
    """Relative lift of each arm over control per metric, with its interval; coloured where the test,
    corrected for the number of comparisons, rejects "no difference" at the analysis level."""
    analysis = exp.get("analysis") or {}
    level = analysis.get("level", 0.95)
    rows = [(f"{c['arm']} · {c['metric']}", c["lift_rel"], c["rel_ci_low"], c["rel_ci_high"],
             c["p_value_adjusted"] < 1 - level) for c in analysis.get("comparisons", [])]
    return interval_chart(rows, title=f"Lift over {exp['control']} with {level * 100:g}% intervals")


def alert_kinds(alerts: dict[str, Any]) -> str:
    kinds = alerts["by_kind"]
    return bar_chart([k["kind"] for k in kinds], [k["n"] for k in kinds], title="Alerts by kind", horizontal=True)
