"""The lifecycle part of the demo: stages, weekly forecasts, inventory advice and alerts.

Works on the demo's open store (the service functions open their own by URL), keeps each result in
the same derived tables as the CLI commands so the dashboard finds them, and adds the lifecycle
sections to the demo report. The stages are also scored against the synthetic shop's true stages.
"""

from __future__ import annotations

import pandas as pd

from ...data.synth.world import SyntheticWorld
from ...lifecycle.alerts import AlertRules, all_alerts
from ...lifecycle.forecast import ForecastConfig, forecast_panel
from ...lifecycle.inventory import InventoryPolicy, advise
from ...lifecycle.prior import default_neighbours
from ...lifecycle.report import add_lifecycle_sections
from ...lifecycle.series import FREQS, default_as_of, load_panel, refresh_sales_series
from ...lifecycle.stages import classify
from ..demo import DemoContext, DemoStep
from ..lifecycle import _inventory_horizon, _item_attrs, _keep, _stock

ORDER = 10


def _lifecycle(ctx: DemoContext) -> str:
    store = ctx.require_store()
    refresh_sales_series(store)
    day = default_as_of(store)
    panel = load_panel(store, day, "W")
    category, price = _item_attrs(store)
    stages = classify(panel, categories=category)
    policy = InventoryPolicy()
    launched = [it for i, it in enumerate(panel.item_ids) if not panel.left_censored[i]]
    forecast = forecast_panel(panel, ForecastConfig(horizon=_inventory_horizon(policy, _stock(store))),
                              neighbours=default_neighbours(panel.item_ids, launched, category, price))
    advice = advise(forecast, FREQS["W"][1], 80.0, policy, stages=stages, stock=_stock(store))
    alerts = all_alerts(store, panel, AlertRules())
    for name, df in (("lifecycle_stages", stages), ("lifecycle_forecasts", forecast.assign(freq="W")),
                     ("inventory_advice", advice), ("lifecycle_alerts", alerts)):
        _keep(store, name, df, day)
    titles = {r["item_id"]: r["title"] for r in store.query(
        "SELECT item_id, any_value(title) AS title FROM all_items WHERE title IS NOT NULL GROUP BY 1").to_pylist()}
    add_lifecycle_sections(ctx.report, panel, stages, forecast, advice, alerts, max_item_rows=50, titles=titles)
    counts = stages["stage"].value_counts().to_dict()
    ctx.figures["alerts"] = len(alerts)
    ctx.state["lifecycle_as_of"] = day
    agreement = _truth_agreement(ctx, stages)
    shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
    return f"as of {day}: {shown}; {len(forecast):,} forecast rows; {len(alerts)} alerts{agreement}"


def _truth_agreement(ctx: DemoContext, stages: pd.DataFrame) -> str:
    """Share of items whose stage matches the synthetic shop's true stage on the last day.

    The true "launch" stage counts as introduction; items the model calls dormant are left out (the
    truth has no such stage: a long decline looks the same).
    """
    if ctx.truth is None or stages.empty:
        return ""
    world = SyntheticWorld(ctx.truth)
    ids = stages["item_id"].astype(str).to_numpy()
    true = world.stage(ids, float(ctx.truth.days - 1))
    rename = {"launch": "introduction"}
    pairs = [(s, rename.get(t, t)) for s, t in zip(stages["stage"], true) if s != "dormant" and t != "unlaunched"]
    if not pairs:
        return ""
    share = sum(a == b for a, b in pairs) / len(pairs)
    ctx.figures["stage agreement with truth"] = round(share, 3)
    return f"; {share:.0%} of stages agree with the true ones"


STEPS = [DemoStep("lifecycle", "lifecycle stages, weekly forecasts, inventory advice and alerts", _lifecycle)]
