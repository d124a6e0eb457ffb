"""``shelfwise demo`` (the whole pipeline on a synthetic shop) and ``shelfwise datasets synth``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..config import get_settings
from ..service import demo as demo_service
from .common import console, handled, print_json
from .datasets import datasets_app

_D = demo_service.DemoOptions  # the defaults live in the service


def synth(out_dir: Path = typer.Argument(..., help="Folder to write the shop to (created; an earlier "
                                         "synthetic shop there is replaced)."),
          items: int = typer.Option(_D.items, "--items", min=10, help="Number of items in the catalogue."),
          users: int = typer.Option(_D.users, "--users", min=1, help="Number of customers."),
          days: int = typer.Option(_D.days, "--days", min=1, help="Length of the simulated period in days."),
          seed: int = typer.Option(_D.seed, "--seed", help="Random seed; the same seed and sizes give the same shop."),
          as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON.")) -> None:
    """Generate a synthetic shop folder (items, users, events, reviews) with its ground truth in OUT_DIR/_truth."""
    with handled():
        result = demo_service.generate_synth_shop(out_dir, items, users, days, seed)
    if as_json:
        print_json(result.as_dict())
        return
    table = Table(title=f"synthetic shop in {result.out_dir}")
    table.add_column("table")
    table.add_column("rows", justify="right")
    table.add_column("file")
    for name, rows in result.rows.items():
        table.add_row(name, f"{rows:,}", Path(result.files[name]).name)
    console.print(table)
    by_type = sorted(result.events_by_type.items(), key=lambda kv: -kv[1])
    console.print("events: " + ", ".join(f"{k} {v:,}" for k, v in by_type), highlight=False, soft_wrap=True)
    console.print(f"ground truth: {result.files['truth']}  ({sum(result.seconds.values()):.1f}s)",
                  highlight=False, soft_wrap=True)
    console.print(f"load it with: shelfwise ingest {result.out_dir}", highlight=False, soft_wrap=True)


def demo(out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: SHELFWISE_OUT_DIR/demo)."),
         items: int = typer.Option(_D.items, "--items", min=10, help="Number of items in the demo shop."),
         users: int = typer.Option(_D.users, "--users", min=1, help="Number of customers in the demo shop."),
         days: int = typer.Option(_D.days, "--days", min=1, help="Days of simulated traffic."),
         seed: int = typer.Option(_D.seed, "--seed", help="Random seed of the demo shop."),
         as_json: bool = typer.Option(False, "--json",
                                      help="Print only the final summary, as JSON, instead of the steps."),
         serve: Optional[bool] = typer.Option(None, "--serve/--no-serve",
                                              help="End by serving the demo shop's API and dashboard (no key "
                                                   "needed). Default: serve when run from a terminal."),
         host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on (with --serve)."),
         port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to serve on (with --serve).")) -> None:
    """Run the whole pipeline on a synthetic shop: generate, ingest, analyse, and write OUT/report.html."""
    out_dir = out if out is not None else get_settings().out_dir / "demo"
    options = demo_service.DemoOptions(out_dir=out_dir, items=items, users=users, days=days, seed=seed)
    show = console if not as_json else None

    def on_step(k: int, total: int, step: demo_service.DemoStep, record: demo_service.StepRecord | None) -> None:
        if show is None:
            return
        if record is None:
            show.print(f"[bold][{k}/{total}][/] {step.name}: {step.description} ...", highlight=False, soft_wrap=True)
        else:
            show.print(f"      done in {record.seconds:.1f}s: {record.summary}", highlight=False, soft_wrap=True)

    with handled():
        result = demo_service.run_demo(options, on_step)
    if as_json:
        print_json(result.as_dict())
        _serve_demo(result, serve, host, port)
        return
    console.print(f"[bold green]demo finished[/] in {result.seconds:.1f}s", highlight=False, soft_wrap=True)
    console.print("  " + ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in result.figures.items()),
                  highlight=False, soft_wrap=True)
    console.print(f"  shop:   {result.shop_dir}", highlight=False, soft_wrap=True)
    console.print(f"  store:  {result.db_path}", highlight=False, soft_wrap=True)
    console.print(f"  report: {result.report_path}", highlight=False, soft_wrap=True)
    _serve_demo(result, serve, host, port)


def _serve_demo(result: demo_service.DemoResult, serve: Optional[bool], host: str, port: int) -> None:
    """Serve the demo shop (keyless, demo mode) unless told not to; by default only at a terminal."""
    import sys

    if serve is None:
        serve = sys.stdin.isatty() and sys.stdout.isatty()
    if not serve:
        return
    from .serve import run_demo_server

    with handled():
        run_demo_server(result.db_path, result.out_dir / "models", host, port)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    datasets_app.command("synth")(synth)
