"""``shelfwise risk``: score orders for abnormality, each score with its evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..service import risk as svc
from .common import DbOption, console, handled, print_json


def risk(orders_since: Optional[str] = typer.Option(None, "--orders-since", help="Score only orders placed on or "
                                                    "after this date (YYYY-MM-DD); history before it still counts."),
         out: Optional[Path] = typer.Option(None, "--out", help="Write order_id,score,reasons to this file "
                                         "(.csv, .csv.gz, .parquet, .json, .jsonl or .jsonl.gz, by its name)."),
         threshold: float = typer.Option(0.5, "--alert-threshold", help="Orders at or above this score become alerts."),
         check: bool = typer.Option(False, "--check", help="Also report how well the score ranked the orders that "
                                    "were later returned/cancelled (vs a quantity-only baseline)."),
         db: Optional[str] = DbOption, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Order risk: bulk or odd quantities, price anomalies, new accounts with big baskets, return history."""
    with handled():
        scored = svc.score(db, orders_since, out, alert_threshold=threshold)
        result = svc.check(scored) if check else None
    top = scored.sort_values("score", ascending=False).head(15)
    if as_json:
        print_json({"orders": len(scored), "alerts": int((scored["score"] >= threshold).sum()), "check": result,
                    "top": top[["order_id", "score", "reasons"]].to_dict("records")})
        return
    table = Table(title=f"riskiest of {len(scored):,} orders")
    for col in ("order_id", "score", "reasons"):
        table.add_column(col)
    for r in top.itertuples():
        table.add_row(str(r.order_id), f"{r.score:.3f}", r.reasons)
    console.print(table)
    console.print(f"{int((scored['score'] >= threshold).sum()):,} alerts (score >= {threshold})"
                  + (f"; wrote {out}" if out else ""), highlight=False)
    if result:
        print_json(result)


def register(app: typer.Typer) -> None:
    app.command("risk")(risk)
