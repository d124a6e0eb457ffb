"""``shelfwise datasets list|convert``: public datasets as shop folders.

``datasets_app`` is imported by other command modules that add commands to the group (``synth``), so
its name is part of the interface.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..service import datasets as datasets_service
from .common import console, handled, print_json

datasets_app = typer.Typer(help="Public datasets: list the adapters, convert a dataset into a shop folder.",
                           no_args_is_help=True)


@datasets_app.command("list")
def list_(shared_dir: Path = typer.Option(datasets_service.DEFAULT_SHARED_DIR, "--shared-dir",
                                          help="Where the public datasets live (to show whether each is found)."),
          as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Which dataset adapters exist, what each dataset is, where it comes from and where it is expected."""
    with handled():
        rows = datasets_service.list_datasets(shared_dir)
    if as_json:
        print_json(rows)
        return
    if not shared_dir.is_dir():
        console.print(f"[yellow]note:[/] no folder at {escape(str(shared_dir))}: no dataset can be found there "
                      "(give the folder that holds the datasets with --shared-dir)", highlight=False)
    for r in rows:  # every text is data, not console markup ("[b]" in a path prints as written)
        found = "[green]found[/]" if r["found"] else "[yellow]not found[/]"
        console.print(f"[bold]{escape(r['name'])}[/]  {escape(r['title'])}", highlight=False)
        console.print(f"  {escape(r['summary'])}", highlight=False)
        console.print(f"  origin:  {escape(r['origin'])}", highlight=False)
        console.print(f"  licence: {escape(r['licence'])}", highlight=False)
        console.print(f"  source:  {escape(r['source_path'])} ({found}); SRC is {escape(r['src'])}", highlight=False)
        console.print(f"  writes:  {escape(', '.join(r['tables']))}", highlight=False)
        for opt, text in r["options"].items():
            console.print(f"  option:  --{escape(opt)}: {escape(text)}", highlight=False)
        console.print()


@datasets_app.command()
def convert(name: str = typer.Argument(..., help="Dataset adapter name (see: shelfwise datasets list)."),
            src: Path = typer.Argument(..., help="The dataset's source file or folder."),
            out_dir: Path = typer.Argument(..., help="The shop folder to write (created if missing)."),
            category: Optional[str] = typer.Option(
                None, "--category", help="amazon-2018 only: the category, e.g. Magazine_Subscriptions or Gift_Cards."),
            fmt: str = typer.Option("parquet", "--format",
                                    help="Table file format: parquet (keeps types) or csv (.csv.gz)."),
            force: bool = typer.Option(False, "--force", help="Replace shop tables already in OUT_DIR."),
            as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Convert a public dataset into a shop folder; prints what was written and what was dropped, and why."""
    with handled():
        report = datasets_service.convert_dataset(name, src, out_dir, options={"category": category},
                                                  fmt=fmt, overwrite=force)
    if as_json:
        print_json(report.as_dict())
        return
    table = Table(title=f"{report.dataset} -> {escape(report.out_dir)} ({report.seconds:.1f} s)")
    table.add_column("table")
    table.add_column("file")
    table.add_column("rows", justify="right")
    for t, n in report.written.items():
        table.add_row(t, escape(Path(report.files[t]).name), f"{n:,}")
    console.print(table)
    for f, n in report.source_rows.items():
        console.print(f"read {n:,} rows from {escape(f)}", highlight=False)
    if report.dropped:
        console.print(f"dropped {report.total_dropped:,} source rows:", highlight=False)
        for reason, n in report.dropped.items():
            console.print(f"  {n:,}  {reason}", highlight=False)
    else:
        console.print("dropped no source rows", highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(f"next: shelfwise ingest {escape(report.out_dir)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(datasets_app, name="datasets")
