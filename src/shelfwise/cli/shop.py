"""``shelfwise ingest`` and ``shelfwise info``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..service import shop as shop_service
from .common import DbOption, NewDbOption, EngineOption, MasterOption, console, handled, print_json


def ingest(shop_dir: Path = typer.Argument(..., help="A shop folder (items, events, users, reviews tables)."),
           db: Optional[str] = NewDbOption,
           as_json: bool = typer.Option(False, "--json", help="Print the counts as JSON."),
           engine: Optional[str] = EngineOption, spark_master: Optional[str] = MasterOption) -> None:
    """Validate and load a shop folder; rejected rows are kept with file, line and reason."""
    from ..service import engine as engine_service

    with handled():
        if engine_service.batch_engine(engine) == "spark":  # read and validate on Spark, Parquet + store
            result = engine_service.ingest(shop_dir, db, master=spark_master)
        else:
            result = shop_service.ingest_shop(shop_dir, db)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(title=f"load {result.load_id} from {result.source}")
    for col in ("table", "file", "read", "loaded", "rejected", "new"):
        table.add_column(col, justify="left" if col in ("table", "file") else "right")
    for t in result.tables:
        table.add_row(t.table, Path(t.file).name, f"{t.read:,}", f"{t.loaded:,}", f"{t.rejected:,}", f"{t.new:,}")
    console.print(table)
    rejected = sum(t.rejected for t in result.tables)
    if rejected:
        console.print(f"{rejected:,} rows rejected; see them with: shelfwise rejects")


def info(db: Optional[str] = DbOption,
         as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """What the store holds: rows per table and events per type."""
    with handled():
        summary = shop_service.store_summary(db)
    if as_json:
        print_json(summary)
        return
    table = Table(title="store")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for k, v in summary["counts"].items():
        table.add_row(k, f"{v:,}")
    console.print(table)
    for k, v in summary["events_by_type"].items():
        console.print(f"  {k}: {v:,}")


def rejects(db: Optional[str] = DbOption, limit: int = typer.Option(20, help="Rows to show."),
            as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The rows that were not loaded, with file, line and reason."""
    with handled():
        rows = shop_service.list_rejects(db, limit)
    if as_json:
        print_json(rows)
        return
    table = Table(title="rejected rows")
    for col in ("table", "file", "line", "reason"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["table_name"], Path(r["source_file"]).name, str(r["source_line"]), r["reason"])
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(info)
    app.command()(rejects)
