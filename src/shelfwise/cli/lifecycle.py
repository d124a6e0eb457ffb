"""``shelfwise lifecycle | forecast | inventory | alerts | sales-series``: product lifecycle commands."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
import typer
from rich.table import Table

from ..lifecycle.inventory import InventoryPolicy
from ..service import lifecycle as svc
from .common import DbOption, EngineOption, MasterOption, console, handled, print_json

AsOfOption = typer.Option(None, "--as-of", help="Use only events strictly before this date (YYYY-MM-DD); "
                                                "default: all events (the day after the last sale).")
JsonOption = typer.Option(False, "--json", help="Print the result rows as JSON instead of a summary.")


def _n(count: int, word: str) -> str:
    """"1 item", "2 items", "1,000 items"."""
    return f"{count:,} {word}{'' if count == 1 else 's'}"


def _print_frame(df: pd.DataFrame, title: str, limit: int = 20) -> None:
    table = Table(title=title)
    for col in df.columns:
        table.add_column(str(col), justify="right" if pd.api.types.is_numeric_dtype(df[col]) else "left")
    for row in df.head(limit).itertuples(index=False):
        table.add_row(*["" if v is None or (isinstance(v, float) and pd.isna(v)) else
                        (f"{v:.4g}" if isinstance(v, float) else str(v)) for v in row])
    console.print(table)
    if len(df) > limit:
        console.print(f"... {_n(len(df) - limit, 'more row')} (use --out FILE for all)")


def _records(df: pd.DataFrame) -> list[dict[str, object]]:
    return [{k: (None if isinstance(v, float) and pd.isna(v) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def _series_on(engine: Optional[str], db: Optional[str], master: Optional[str]) -> None:
    """With --engine duckdb|spark, rebuild the stored sales series on that engine first (the stages and
    forecasts then read them as they are)."""
    from ..service import engine as engine_service

    batch = engine_service.batch_engine(engine)
    if batch is not None:
        engine_service.refresh_series(db, batch, master=master)


def lifecycle(as_of: Optional[str] = AsOfOption,
              out: Optional[Path] = typer.Option(None, "--out", help="Write every item's stage, confidence and "
                                                 "evidence to this file (.csv, .parquet, .json, .jsonl)."),
              db: Optional[str] = DbOption, as_json: bool = JsonOption,
              engine: Optional[str] = EngineOption, spark_master: Optional[str] = MasterOption) -> None:
    """Each item's lifecycle stage (introduction, growth, maturity, decline, dormant) with its evidence."""
    with handled():
        _series_on(engine, db, spark_master)
        df = svc.stages(db, as_of, out)
    if as_json:
        print_json(_records(df))
        return
    _print_frame(svc.stage_counts(df), "items per lifecycle stage", limit=50)
    if out:
        console.print(f"wrote {_n(len(df), 'item')} to {out}", highlight=False)


def forecast(freq: str = typer.Option("W", "--freq", help="Period: W (weeks, starting on the --as-of weekday: "
                                                         "ISO weeks for a Monday) or D (days)."),
             horizon: int = typer.Option(8, "--horizon", help="How many periods to forecast."),
             as_of: Optional[str] = AsOfOption,
             out: Optional[Path] = typer.Option(None, "--out", help="Write item_id,period_start,yhat,yhat_lo,yhat_hi "
                                                "to this file (.csv, .parquet, .json, .jsonl)."),
             level: float = typer.Option(80.0, "--level", help="Interval coverage in percent (yhat_lo..yhat_hi)."),
             jobs: int = typer.Option(1, "--jobs", help="Processes for the statsforecast models."),
             db: Optional[str] = DbOption, as_json: bool = JsonOption,
             engine: Optional[str] = EngineOption, spark_master: Optional[str] = MasterOption) -> None:
    """Forecast every item's net units per period, with an interval (median point forecast)."""
    with handled():
        _series_on(engine, db, spark_master)
        df = svc.forecast(db, freq, horizon, as_of, out, level, n_jobs=jobs)
    if as_json:
        print_json(_records(svc._file_view(df)))
        return
    models = df.drop_duplicates("item_id")["model"].value_counts()
    console.print(f"{_n(df['item_id'].nunique(), 'item')} forecast {_n(horizon, 'period')} from "
                  f"{df['period_start'].min() if len(df) else '-'}", highlight=False)
    _print_frame(models.rename_axis("model").reset_index(name="items"), "models chosen per item")
    if out:
        console.print(f"wrote {_n(len(df), 'row')} to {out}", highlight=False)


def inventory(as_of: Optional[str] = AsOfOption,
              out: Optional[Path] = typer.Option(None, "--out", help="Write every item's advice to this file."),
              service_level: float = typer.Option(0.95, "--service-level", help="Chance of not running out "
                                                  "during a lead time (cycle service level)."),
              lead_time_days: float = typer.Option(14.0, "--lead-time-days", help="Lead time for items the stock "
                                                   "table gives none for."),
              review_days: float = typer.Option(7.0, "--review-days", help="Days between orders (review period)."),
              db: Optional[str] = DbOption, as_json: bool = JsonOption) -> None:
    """Reorder point, safety stock, order-up-to level, order quantity and markdown / clearance flags."""
    policy = InventoryPolicy(service_level=service_level, lead_time_days=lead_time_days, review_days=review_days)
    with handled():
        df = svc.inventory(db, as_of, out, policy)
    if as_json:
        print_json(_records(df))
        return
    _print_frame(df["action"].value_counts().rename_axis("action").reset_index(name="items"), "inventory actions")
    urgent = df[df["action"].isin(["reorder", "clearance", "markdown"])]
    if len(urgent):
        _print_frame(urgent[["item_id", "stage", "action", "stock", "reorder_point", "order_qty"]], "items to act on")
    if out:
        console.print(f"wrote {_n(len(df), 'item')} to {out}", highlight=False)


def alerts(as_of: Optional[str] = AsOfOption,
           days: int = typer.Option(28, "--days", help="How many days before --as-of to look at."),
           out: Optional[Path] = typer.Option(None, "--out", help="Write every alert to this file."),
           limit: int = typer.Option(20, "--limit", min=1, help="Alerts to show per kind."),
           db: Optional[str] = DbOption, as_json: bool = JsonOption) -> None:
    """Demand spikes and drops, bulk purchases, unusual return rates and price anomalies, with evidence."""
    with handled():
        df = svc.alerts(db, as_of, days, out)
    if as_json:
        print_json(_records(df))
        return
    if df.empty:
        console.print(f"no alerts in the {days} days before the cutoff")
    for kind, g in df.groupby("kind", sort=True):
        _print_frame(g[["item_id", "when", "severity", "message"]], f"{kind}: {len(g):,}", limit=limit)
    if out:
        console.print(f"wrote {_n(len(df), 'alert')} to {out}", highlight=False)


def lifecycle_report(out: Path = typer.Option(Path("lifecycle_report.html"), "--out",
                                              help="The HTML file to write."),
                     as_of: Optional[str] = AsOfOption,
                     max_items: Optional[int] = typer.Option(None, "--max-items",
                                                             help="Rows in the every-item table (default: all)."),
                     db: Optional[str] = DbOption) -> None:
    """One HTML page: stage counts per category, item curves with forecasts, inventory advice, alerts."""
    with handled():
        path = svc.report(db, as_of, out, max_item_rows=max_items)
    console.print(f"wrote {path}", highlight=False)


def sales_series(db: Optional[str] = DbOption) -> None:
    """Rebuild the stored daily and weekly sales series (per item and category) from the events."""
    with handled():
        counts = svc.refresh_series(db)
    for table, n in counts.items():
        console.print(f"{table}: {_n(n, 'row')}", highlight=False)


def register(app: typer.Typer) -> None:
    app.command("lifecycle")(lifecycle)
    app.command("forecast")(forecast)
    app.command("inventory")(inventory)
    app.command("alerts")(alerts)
    app.command("sales-series")(sales_series)
    app.command("lifecycle-report")(lifecycle_report)
