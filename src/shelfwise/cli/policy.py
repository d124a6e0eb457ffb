"""``shelfwise launch-plan`` and ``shelfwise simulate`` (exposure policies)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import InputError
from ..evaluate.split import parse_cutoff
from ..experiment.tables import check_writable
from ..jsonsafe import bound, figure
from ..service import policy as service
from ..service import simulate as sim_service
from .common import DbOption, console, dumps, handled, print_json

#: what ``--out`` may be: launch plans as one JSON array, JSON lines or a flat CSV; the simulator's report as JSON
PLAN_FORMATS = (".json", ".jsonl", ".csv")
SIM_FORMATS = (".json",)


def launch_plan(item_id: Optional[str] = typer.Argument(None, help="The new item to plan (or use --since)."),
                since: Optional[str] = typer.Option(None, "--since", help="Plan every item launched on or after DATE."),
                out: Optional[Path] = typer.Option(None, "--out", help="Write the plans here: .json (one array), .jsonl (one plan a line) or .csv (one row a plan, lists as JSON text)."),
                neighbours: int = typer.Option(10, "--neighbours", min=1, help="Established items to learn from."),
                top_users: int = typer.Option(20, "--top-users", min=1, help="Likely buyers to list."),
                db: Optional[str] = DbOption,
                as_json: bool = typer.Option(False, "--json", help="Print the plans as JSON.")) -> None:
    """Launch plan per new item: neighbours, their early sales, a 4-week forecast, likely buyers, exposure, price band."""
    with handled():
        if (item_id is None) == (since is None):
            raise InputError("give exactly one of ITEM_ID or --since DATE", field="item_id")
        when = parse_cutoff(since, "since") if since is not None else None
        check_writable(out, PLAN_FORMATS)
        plans = service.launch_plan([item_id] if item_id else None, when, db, neighbours, top_users)
    if out is not None:
        service.write_plans(plans, out)
        console.print(f"{len(plans)} launch plan(s) -> {out} (also stored in the table launch_plans)")
    if as_json:
        print_json(plans)
        return
    if out is not None:
        return
    for p in plans:
        table = Table(title=f"launch plan for {p['item_id']} {p['title']}")
        table.add_column("what")
        table.add_column("value")
        table.add_row("forecast, weeks 1-4", " / ".join(f"{v:.1f}" for v in p["weekly_forecast"]))
        table.add_row("4-week total (80% interval)", f"{p['forecast_4w']:.1f} ({p['forecast_low']:.1f}-{p['forecast_high']:.1f})")
        table.add_row("suggested exposure share", f"{p['exposure_share']:.1%}")
        if p["price_low"] is not None:
            table.add_row("price band", f"{p['price_low']:.2f}-{p['price_high']:.2f} (item: {p['price']})")
        table.add_row("nearest items", ", ".join(n["item_id"] for n in p["neighbours"][:5]))
        table.add_row("likely buyers", ", ".join(f"{u['user_id']} ({u['score']:.2f})" for u in p["top_users"][:5]))
        for r in p["reasons"]:
            table.add_row("reason", r)
        console.print(table)


def simulate(policy: str = typer.Option(..., "--policy", help="Policy B: a preset (none, explore, explore-bottom, "
                                        "longtail, diverse), optionally with :key=value,... settings."),
             vs: str = typer.Option("none", "--vs", help="Policy A, the reference (same syntax)."),
             days: int = typer.Option(14, "--days", min=1, help="Days to simulate (the last DAYS of the shop)."),
             shop: Optional[Path] = typer.Option(None, "--shop", help="Synthetic shop folder (default: OUT_DIR/demo/shop)."),
             k: int = typer.Option(10, "-k", "--k", min=1, help="Slots per list."),
             max_sessions: int = typer.Option(2000, "--max-sessions", min=1, help="Visitors simulated per day at most."),
             seed: int = typer.Option(0, "--seed", help="Random seed (both policies see the same visitors)."),
             out: Optional[Path] = typer.Option(None, "--out", help="Write the comparison as JSON here (a .json file)."),
             db: Optional[str] = typer.Option(None, "--db", help="Also log both runs' events to this store "
                                              "(table simulated_events)."),
             as_json: bool = typer.Option(False, "--json", help="Print the comparison as JSON.")) -> None:
    """Serve POLICY and VS to the demo shop's synthetic users day by day; compare CTR, sales, exposure."""
    with handled():
        check_writable(out, SIM_FORMATS)
        result = sim_service.simulate(policy, vs, days, shop, k, max_sessions, seed, db)
    report = result.as_dict()
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(dumps(report) + "\n")
    if as_json:
        print_json(report)
        return
    table = Table(title=f"{result.b.policy} (B) vs {result.a.policy} (A), {days} days, 95% intervals over days")
    for col in ("metric", "A", "B", "B - A", "interval", "relative"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    for name, d in result.differences.items():
        interval = ("" if "diff_low" not in d else "n/a" if math.isnan(d["diff_low"])
                    else f"[{bound(d['diff_low'])}, {bound(d['diff_high'])}]")
        rel = (figure(d["relative"], "+.1%") if "relative" in d else
               (figure(d["ratio"], ".2f", "x") if "ratio" in d else ""))
        table.add_row(name, figure(d["a"]), figure(d["b"]), figure(d["diff"], "+.4g"), interval, rel)
    console.print(table)
    m, days_new = result.b.metrics, result.b.new_days
    # the same visitors and items in both runs: the counts are A's and B's alike
    console.print(f"new items (launched less than {days_new} days before a simulated day, the items of the "
                  f"exposure share): {int(m['new_items']):,}; launched during the simulated days (the items whose "
                  f"sales are compared): {int(m['launched_items']):,}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("launch-plan")(launch_plan)
    app.command()(simulate)
