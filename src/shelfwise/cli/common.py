"""What every command shares: the console, the --db option, error handling, JSON output."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ..errors import ShelfwiseError
from ..jsonsafe import finite

console = Console(stderr=False)
err_console = Console(stderr=True)

def existing_store(ctx: typer.Context, value: str | None) -> str | None:
    """Refuse a DuckDB file that is not there, before any work.

    DuckDB creates a missing file on connect, so a mistyped --db used to leave an empty store behind and
    end in a puzzling "no events" message. Only commands that load data (``ingest``, ``serve``, ``keys
    create``, ``experiment create``) may start a new store.
    """
    if ctx.resilient_parsing:
        return value
    from ..config import get_settings
    from ..data.store.base import normalise_url

    url = normalise_url(value or get_settings().db)
    scheme, _, rest = url.partition("://")
    path = rest[1:] if rest.startswith("/") else rest
    if scheme == "duckdb" and path not in ("", ":memory:") and not Path(path).expanduser().exists():
        raise typer.BadParameter(f"no store at {path}: load a shop into it first "
                                 f"(shelfwise ingest SHOP_DIR --db {path}), or name an existing store")
    return value


_DB_HELP = "Store URL or DuckDB file (default: SHELFWISE_DB or ./shelfwise.duckdb)."
#: --db of commands that read a store: it must exist
DbOption = typer.Option(None, "--db", help=_DB_HELP, envvar="SHELFWISE_DB", show_envvar=True,
                        callback=existing_store)
#: --db checked by the command itself (a group's --db that its subcommand may give instead)
UncheckedDbOption = typer.Option(None, "--db", help=_DB_HELP, envvar="SHELFWISE_DB", show_envvar=True)
#: --db of commands that may start a new store (loading data, serving event intake, creating keys)
NewDbOption = typer.Option(None, "--db", help=_DB_HELP + " Created when missing.", envvar="SHELFWISE_DB",
                           show_envvar=True)

EngineOption = typer.Option(None, "--engine", help="Batch engine: local (default: this machine), duckdb (the batch "
                            "pipeline in DuckDB) or spark (the same pipeline on Apache Spark; see docs/SCALE.md).",
                            envvar="SHELFWISE_ENGINE", show_envvar=True)
MasterOption = typer.Option(None, "--spark-master", help="Spark master URL (default: SHELFWISE_SPARK_MASTER or local[*]).",
                            envvar="SHELFWISE_SPARK_MASTER")

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def handled() -> Iterator[None]:
    """Turn shelfwise's own errors into one red line and exit code 2, instead of a traceback."""
    try:
        yield
    except ShelfwiseError as exc:
        message = str(exc)
        flag = _flag_for(getattr(exc, "field", None))
        if flag and flag not in message:
            message += f" (option {flag})"
        # the message is data, not markup: "[nan, 1.0]" or a file name in brackets must print as written
        err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


def _flag_for(field: str | None) -> str | None:
    """The running command's option for a service's field name (``recent_days`` -> ``--recent-days``).

    The services name their parameters, which the Python caller knows; a command-line user knows the flags.
    """
    ctx = _current_context()
    if not field or ctx is None:
        return None
    want = "--" + field.replace("_", "-")
    return want if any(want in getattr(p, "opts", ()) for p in ctx.command.params) else None


def _current_context() -> Any:
    """The running command's context, or None. Typer (0.2x) runs commands on its own copy of Click,
    whose context stack is not ``click``'s, and offers no public accessor; both are asked, and without
    either the message simply goes without the hint."""
    for name in ("typer._click.globals", "click.globals"):
        try:
            ctx = importlib.import_module(name).get_current_context(silent=True)
        except (ImportError, AttributeError):
            continue
        if ctx is not None:
            return ctx
    return None


def _default(o: object) -> object:
    if isinstance(o, (datetime, date)):
        return o.isoformat()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "item"):
        return o.item()  # numpy scalars
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def dumps(obj: Any) -> str:
    """Strict JSON (``null`` for nan and infinity), dates as ISO text, numpy scalars as numbers."""
    return json.dumps(finite(obj), default=_default, indent=2, ensure_ascii=False, allow_nan=False)


def print_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")
