"""``shelfwise ask``: answer a shopper's question from the catalog and the reviews, with sources."""

from __future__ import annotations

from typing import Optional

import typer

from ..service import assistant as svc
from .common import DbOption, console, handled, print_json


def ask(question: str = typer.Argument(..., help="The shopper's question."),
        item: Optional[str] = typer.Option(None, "--item", help="Answer about this item only."),
        k: int = typer.Option(3, "-k", help="Passages to quote."),
        dense: bool = typer.Option(False, "--embeddings", help="Also match by meaning (local encoder)."),
        db: Optional[str] = DbOption, as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Answer extractively: quoted sentences, each with its item and source, or a plain 'no answer'."""
    with handled():
        res = svc.ask(db, question, item, k=k, dense=dense)
    if as_json:
        print_json(res)
        return
    console.print(res["answer"], highlight=False)
    for n, c in enumerate(res["citations"] or res["closest"], 1):
        label = "source" if res["answered"] else "closest"
        console.print(f"  [{n}] {label}: item {c['item_id']}, {c['source']} {c['ref']} (coverage {c['coverage']:.0%})",
                      highlight=False)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)
