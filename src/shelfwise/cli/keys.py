"""``shelfwise keys create|list|revoke``: API keys for the service, stored hashed in the store."""

from __future__ import annotations

from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..service import keys as key_service
from .common import DbOption, NewDbOption, console, handled, print_json

keys_app = typer.Typer(help="API keys for `shelfwise serve` (read and write scopes).", no_args_is_help=True)


@keys_app.command("create")
def create(scope: str = typer.Option(..., "--scope", help="read (recommendations, items, reports) or write "
                                     "(also events and retraining)."),
           name: str = typer.Option("", "--name", help="A label to recognise the key by (who uses it)."),
           db: Optional[str] = NewDbOption) -> None:
    """Create a key and print it ONCE, as the last word of the output (only its hash is stored).

    With a DuckDB store, create keys while the service is stopped (one process holds a DuckDB file).
    """
    with handled():
        info, key = key_service.create(db, scope, name)
    typer.echo(f"created {info.scope} key {info.key_id}; it is shown only now, store it safely: {key}")


@keys_app.command("list")
def list_keys(db: Optional[str] = DbOption,
              as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Keys by id, scope and state (never the keys themselves)."""
    with handled():
        keys = key_service.list_all(db)
    if as_json:
        print_json([k.as_dict() for k in keys])
        return
    table = Table(title="API keys")
    for col in ("key id", "name", "scope", "created", "revoked"):
        table.add_column(col)
    for k in keys:
        table.add_row(k.key_id, escape(k.name), k.scope, str(k.created_at)[:19], str(k.revoked_at or "")[:19])
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: str = typer.Argument(..., help="The key id (the part after 'sw_' up to the next '_'), or the "
                                        "whole key."),
           db: Optional[str] = DbOption) -> None:
    """Revoke a key; a running service stops accepting it within a minute."""
    with handled():
        done = key_service.revoke_id(db, key_id)
    info = done.info
    if done.already:
        typer.echo(f"key {info.key_id} ({info.scope}) was already revoked on {str(info.revoked_at)[:19]}")
        return
    typer.echo(f"revoked key {info.key_id} ({info.scope})")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")
