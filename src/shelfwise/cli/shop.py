"""``shelfwise ingest`` and ``shelfwise info``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
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
    table = Table(title=f"load {result.load_id} from {escape(result.source)}")
    for col in ("table", "file", "read", "loaded", "rejected", "new"):
        table.add_column(col, justify="left" if col in ("table", "file") else "right")
    for t in result.tables:
        table.add_row(t.table, escape(Path(t.file).name), f"{t.read:,}", f"{t.loaded:,}", f"{t.rejected:,}",
                      f"{t.new:,}")
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
    if summary["first_event"] is None:
        console.print("no events yet: load a shop with shelfwise ingest SHOP_DIR")
    else:
        console.print(f"events from {summary['first_event']:%Y-%m-%d %H:%M:%S} to "
                      f"{summary['last_event']:%Y-%m-%d %H:%M:%S} (UTC)", highlight=False)


def rejects(db: Optional[str] = DbOption,
            limit: int = typer.Option(20, help="Rows to show, those of the latest load first (0: all)."),
            as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """The rows that were not loaded, with file, line and reason."""
    with handled():
        rows = shop_service.list_rejects(db, limit)
        total = shop_service.count_rejects(db) if not as_json else len(rows)
    if as_json:
        print_json(rows)
        return
    if not rows:
        console.print("no rejected rows: every row read so far was loaded")
        return
    table = Table(title="rejected rows")
    for col in ("table", "file", "line", "reason"):
        table.add_column(col)
    for r in rows:
        # values and file names are data, not Rich markup ('[/]' in a value would stop the command)
        table.add_row(r["table_name"], escape(Path(r["source_file"]).name), str(r["source_line"]),
                      escape(r["reason"]))
    console.print(table)
    if total > len(rows):
        console.print(f"showing {len(rows):,} of {total:,} rejected rows "
                      "(--limit 0 shows all; --json prints the raw rows)")


def register(app: typer.Typer) -> None:
    app.command()(ingest)
    app.command()(info)
    app.command()(rejects)
