"""The lifecycle part of the HTML report: stage counts, item curves with forecasts, advice and alerts.

Built on :mod:`shelfwise.evaluate.report` (one section per topic, inline SVG charts). Every item is in
the item table (stage, confidence, next weeks' forecast, inventory action); curves with their forecast
are drawn for the best sellers of each stage, since thousands of charts would make the page unusable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..evaluate.charts import bar_chart, line_chart
from ..evaluate.report import Report
from .series import SalesPanel
from .stages import STAGES


def add_lifecycle_sections(report: Report, panel: SalesPanel, stages: pd.DataFrame, forecast: pd.DataFrame,
                           advice: pd.DataFrame | None = None, alerts: pd.DataFrame | None = None,
                           curves_per_stage: int = 3, max_item_rows: int | None = None,
                           titles: Mapping[str, str] | None = None) -> int:
    """Append the lifecycle sections to ``report``; returns how many were added."""
    before = len(report.sections)
    _stages(report, stages)
    _curves(report, panel, stages, forecast, curves_per_stage, titles or {})
    _items(report, stages, forecast, advice, max_item_rows)
    if advice is not None and len(advice):
        _advice(report, advice)
    if alerts is not None:
        _alerts(report, alerts)
    return len(report.sections) - before


def _stages(report: Report, stages: pd.DataFrame) -> None:
    s = report.section("Lifecycle stages")
    counts = stages["stage"].value_counts().reindex(list(STAGES), fill_value=0)
    s.figures({k: int(v) for k, v in counts.items()})
    s.text("Stages come from each item's weekly orders: a significant rise or fall over the last 8 weeks "
           "(growth, decline), a launch less than 4 weeks ago (introduction), no sale for 8 weeks or three "
           "usual gaps (dormant), and maturity otherwise. See docs/LIFECYCLE.md.")
    s.chart(bar_chart(list(counts.index), [int(v) for v in counts.values], title="Items per stage", y_label="items"))
    cat = stages["category"] if "category" in stages else pd.Series([None] * len(stages))
    top = cat.fillna("(none)").astype(str).str.split(">").str[0].str.strip()
    table = pd.crosstab(top, stages["stage"]).reindex(columns=list(STAGES), fill_value=0)
    table = table.assign(items=table.sum(axis=1)).sort_values("items", ascending=False)
    s.table(["category", *STAGES, "items"], [[c, *[int(v) for v in row]] for c, row in table.iterrows()],
            caption="Stage counts per category")


def _curves(report: Report, panel: SalesPanel, stages: pd.DataFrame, forecast: pd.DataFrame, per_stage: int,
            titles: Mapping[str, str]) -> None:
    s = report.section("Item curves and forecasts")
    s.text("Weekly net units (purchases minus returns) with the forecast median and its 80 % range, for "
           f"the {per_stage} best-selling items of each stage over the last 8 weeks.")
    idx = panel.index()
    fc = {k: g.sort_values("period_start") for k, g in forecast.groupby("item_id")}
    for stage in STAGES:
        picks = stages[stages["stage"] == stage].sort_values("units_last_8w", ascending=False).head(per_stage)
        for item in picks["item_id"]:
            if item not in idx or item not in fc:
                continue
            i = idx[item]
            hist_x = list(panel.periods[panel.start[i]:])[-26:]
            hist_y = list(panel.net[i, panel.start[i]:])[-26:]
            g = fc[item]
            x = hist_x + list(g["period_start"])
            pad = [None] * len(hist_x)
            series: dict[str, Sequence[float | None]] = {
                "net units": [float(v) for v in hist_y] + [None] * len(g),
                "forecast": pad + [float(v) for v in g["yhat"]],
                "80% low": pad + [float(v) for v in g["yhat_lo"]],
                "80% high": pad + [float(v) for v in g["yhat_hi"]]}
            name = titles.get(item)
            s.chart(line_chart(x, series, title=f"{item}{' ' + name if name else ''} ({stage})",
                               y_label="units", y_min=None))


def _items(report: Report, stages: pd.DataFrame, forecast: pd.DataFrame, advice: pd.DataFrame | None,
           max_rows: int | None) -> None:
    s = report.section("Every item")
    nxt = forecast.groupby("item_id").agg(forecast_units=("mean", "sum"), median_week=("yhat", "median"),
                                          model=("model", "first"))
    df = stages.set_index("item_id").join(nxt, how="left")
    if advice is not None and len(advice):
        df = df.join(advice.set_index("item_id")[["action", "reorder_point"]], how="left")
    else:
        df = df.assign(action=None, reorder_point=None)
    df = df.sort_values("units_last_8w", ascending=False)
    if max_rows is not None:
        df = df.head(max_rows)
    h = int(forecast.groupby("item_id").size().max()) if len(forecast) else 0
    rows = [[item, r["stage"], round(float(r["confidence"]), 2), r["units_last_8w"],
             None if pd.isna(r["forecast_units"]) else round(float(r["forecast_units"]), 1),
             r["model"] if isinstance(r["model"], str) else None, r["action"] if isinstance(r["action"], str) else None,
             r["reason"]] for item, r in df.iterrows()]
    s.table(["item", "stage", "confidence", "units last 8 weeks", f"expected units next {h} periods", "model",
             "inventory action", "why this stage"], rows, caption=f"{len(rows):,} items, best sellers first")


def _advice(report: Report, advice: pd.DataFrame) -> None:
    s = report.section("Inventory advice")
    counts = advice["action"].value_counts()
    s.figures({k: int(v) for k, v in counts.items()})
    act = advice[advice["action"].isin(["reorder", "markdown", "clearance"])]
    act = act.sort_values(["action", "weekly_demand"], ascending=[True, False]).head(50)
    s.table(["item", "stage", "action", "stock", "reorder point", "order-up-to", "order", "weeks of cover", "why"],
            [[r.item_id, r.stage, r.action, r.stock, r.reorder_point, r.order_up_to, r.order_qty,
              None if r.weeks_of_cover is None or (isinstance(r.weeks_of_cover, float) and np.isnan(r.weeks_of_cover))
              else r.weeks_of_cover, r.reason] for r in act.itertuples()],
            caption="Items to act on (up to 50)")


def _alerts(report: Report, alerts: pd.DataFrame) -> None:
    s = report.section("Alerts")
    if alerts.empty:
        s.text("No alerts in the window.")
        return
    s.figures({k: int(v) for k, v in alerts["kind"].value_counts().items()})
    top = alerts.sort_values("severity", ascending=False).groupby("kind", sort=True).head(10)
    s.table(["kind", "item", "when", "severity", "what"],
            [[r.kind, r.item_id, str(r.when), r.severity, r.message] for r in top.itertuples()],
            caption="The 10 most severe alerts of each kind")
