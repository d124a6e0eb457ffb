"""``shelfwise pricing``: price elasticities with intervals, and margin-maximising price suggestions."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..evaluate.split import parse_cutoff
from ..pricing.optimize import PriceBounds
from ..service import pricing as svc
from .common import DbOption, console, handled, print_json


def pricing(out: Optional[Path] = typer.Option(None, "--out", help="Write the price suggestions to this file "
                                        "(.csv, .csv.gz, .parquet, .json, .jsonl or .jsonl.gz, by its name)."),
            max_up: float = typer.Option(0.10, "--max-up", help="Largest price rise allowed (0.10 = +10%)."),
            max_down: float = typer.Option(0.10, "--max-down", help="Largest price cut allowed (0.10 = -10%)."),
            cost_share: float = typer.Option(0.6, "--cost-share", help="Cost as a share of price, for items "
                                             "without a 'cost' attribute."),
            min_margin: float = typer.Option(0.0, "--min-margin", help="Never price below cost x (1 + this)."),
            recent_days: int = typer.Option(90, "--recent-days", help="Days of recent sales that anchor demand."),
            backtest_split: Optional[str] = typer.Option(None, "--check", help="Also backtest: estimate before this "
                                                         "date (YYYY-MM-DD), predict unit changes after price changes."),
            db: Optional[str] = DbOption, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Elasticity per item and category (with 90% intervals and the controls used) and price suggestions."""
    with handled():
        if backtest_split:
            parse_cutoff(backtest_split, "check")  # a bad date fails before the suggestions are stored
        res = svc.suggestions(db, PriceBounds(max_up=max_up, max_down=max_down, cost_share=cost_share,
                                              min_margin=min_margin), out, recent_days)
        check = svc.check(db, backtest_split) if backtest_split else None
    sug, cats = res["suggestions"], res["categories"]
    moved = sug[sug["price_change"].abs() > 1e-9] if len(sug) else sug
    summary = {"controls": res["controls"], "items_with_elasticity": int(len(res["items"])),
               "items_with_own_estimate": int(res["items"]["raw"].notna().sum()),
               # the median of estimates; with none (every item took the assumed prior) it is undefined
               "median_elasticity": (float(res["items"]["elasticity"].median())
                                     if len(res["items"]) and res["items"]["raw"].notna().any() else None),
               "suggestions": int(len(sug)), "price_changes_suggested": int(len(moved)),
               "expected_revenue_change_median": float(moved["revenue_change"].median()) if len(moved) else 0.0,
               "check": check}
    if as_json:
        print_json(summary | {"categories": cats.head(20).to_dict("records")})
        return
    console.print(f"controls: {', '.join(res['controls'])}", highlight=False)
    if len(cats):
        console.print(cats.head(15).to_string(index=False), highlight=False)
    else:  # pandas would print "Empty DataFrame / Columns: [] / Index: []"
        console.print("no category has an estimate: no item's price varied enough to learn from", highlight=False)
    cols = ["item_id", "price", "suggested_price", "elasticity", "lo90", "hi90", "units_change", "revenue_change", "reason"]
    if len(moved):
        console.print(moved.sort_values("revenue_change", ascending=False)[cols].head(15).to_string(index=False), highlight=False)
    console.print(f"{len(moved):,} of {len(sug):,} items get a new price" + (f"; wrote {out}" if out else ""), highlight=False)
    if check:
        print_json(check)


def register(app: typer.Typer) -> None:
    app.command("pricing")(pricing)
