"""Demo steps of the exposure policies: launch plans for the newest items, and a short simulated A/B of
new-arrival exploration against none on the demo shop's synthetic users."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from ...evaluate.charts import bar_chart
from ...policy import PolicyParams
from ...policy.launch import plan_launches, save_plans
from ...simulate import SimConfig, Simulator
from ...simulate.compare import compare_results
from ...errors import InputError
from ...jsonsafe import bound, figure
from ..demo import DemoContext, DemoStep

ORDER = 40
SIM_DAYS = 7
EXPLORE = PolicyParams(exploration_weight=0.05, item_age_cutoff_days=14)


def _launch_plans(ctx: DemoContext) -> str:
    store = ctx.require_store()
    last = store.query("SELECT max(launched_at) AS t FROM items").to_pylist()[0]["t"]
    plans = plan_launches(store, since=last - timedelta(days=7), neighbours=10, top_users=10)
    save_plans(store, plans)
    rows = [[p.item_id, p.title[:48], f"{p.forecast_4w:.1f}", f"{p.forecast_low:.1f}-{p.forecast_high:.1f}",
             f"{p.exposure_share:.1%}", "" if p.price_low is None else f"{p.price_low:.2f}-{p.price_high:.2f}",
             p.top_users[0]["user_id"] if p.top_users else ""] for p in plans[:12]]
    ctx.report.section("Launch plans").text(
        "For each item launched in the last week: a four-week sales forecast from its most similar established "
        "items (80% interval), a suggested share of exploration exposure, a price band and the likeliest buyer. "
        "All plans are stored in the table launch_plans.").table(
        ["item", "title", "4-week forecast", "interval", "exposure", "price band", "top buyer"], rows)
    ctx.state["launch_plans"] = len(plans)
    return f"{len(plans)} launch plans stored in launch_plans"


def _simulate(ctx: DemoContext) -> str:
    days = min(SIM_DAYS, max(1, ctx.options.days - 1))
    sim = Simulator(ctx.shop_dir, SimConfig(days=days, max_sessions=1000, seed=ctx.options.seed), truth=ctx.truth)
    none = sim.run(PolicyParams(), "no exploration", keep_log=False)
    if not sum(none.days.impressions):  # a demo shop too small for visitors on its last days: no rates to compare
        raise InputError(f"no visitor came on the simulated {days} day(s) of this small demo shop")
    explore = sim.run(EXPLORE, "exploration 0.05", keep_log=False)
    cmp = compare_results(none, explore, seed=ctx.options.seed)
    d = cmp.differences
    rows: list[list[Any]] = []
    for name in ("ctr", "conversion", "revenue_per_session", "new_item_exposure_share", "tail_share"):
        m = d[name]
        rows.append([name, f"{m['a']:.4f}", f"{m['b']:.4f}", figure(m["relative"], "+.1%"),
                     f"[{bound(m['relative_low'], '+.1%')}, {bound(m['relative_high'], '+.1%')}]"])
    s = d["new_item_sales_first_window"]
    rows.append(["new-item sales, first 2 weeks", f"{s['a']:.0f}", f"{s['b']:.0f}", f"{s['diff']:+.0f}",
                 f"[{bound(s.get('diff_low'), '+.0f')}, {bound(s.get('diff_high'), '+.0f')}]"])
    ctx.report.section("Exposure policies: simulated A/B").text(
        f"The last {days} days of the shop replayed to its synthetic users twice, on the same visitors: the base "
        "recommender alone, and with 5% of slots exploring items younger than 14 days by Thompson sampling on a "
        "content prior. Clicks and purchases come from the ground-truth tastes with position-biased attention; "
        "intervals are paired bootstraps over days.").table(
        ["metric", "no exploration", "exploration", "change", "95% interval"], rows).chart(
        bar_chart(["no exploration", "exploration 0.05"], [none.metrics["new_item_exposure_share"],
                                                          explore.metrics["new_item_exposure_share"]],
                  title="share of impressions on new items"))
    ctx.figures["exploration CTR change"] = figure(d["ctr"]["relative"], "+.1%")
    return (f"{days} days: CTR {figure(d['ctr']['relative'], '+.1%')}, new-item exposure "
            f"{d['new_item_exposure_share']['a']:.3f} -> {d['new_item_exposure_share']['b']:.3f}, "
            f"new-item sales {s['a']:.0f} -> {s['b']:.0f}")


STEPS = [
    DemoStep("launch plans", "plan the newest items' launches (forecast, buyers, exposure, price band)", _launch_plans),
    DemoStep("policy simulation", "simulate new-arrival exploration against none on the synthetic users", _simulate),
]
