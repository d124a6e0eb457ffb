"""``shelfwise search``: hybrid product search over the store's catalog."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import InputError
from ..experiment.tables import check_writable
from ..service import search as svc
from .common import DbOption, console, handled, print_json


def search(query: Optional[str] = typer.Argument(None, help="What to search for (or use --queries FILE)."),
           queries: Optional[Path] = typer.Option(None, "--queries", help="CSV with query_id,query: run them all."),
           k: int = typer.Option(10, "-k", "--k", help="Results per query."),
           out: Optional[Path] = typer.Option(None, "--out", help="Write query_id,rank,item_id,score to this file "
                                            "(.csv, .csv.gz, .parquet, .json, .jsonl or .jsonl.gz, by its name)."),
           no_dense: bool = typer.Option(False, "--no-embeddings", help="Lexical and behaviour only (no encoder)."),
           encoder: Optional[str] = typer.Option(None, "--encoder", help="Encoder name or local model folder "
                                                 "(default: SHELFWISE_ENCODER; multilingual-e5-small for Chinese)."),
           no_reviews: bool = typer.Option(False, "--no-reviews", help="Index item text only, not the review text."),
           db: Optional[str] = DbOption,
           as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON.")) -> None:
    """Search products: BM25 + trigram (typos) + embeddings, fused, re-ranked by what shoppers buy."""
    with handled():
        if (query is None) == (queries is None):
            raise InputError("give either a QUERY or --queries FILE (not both, not neither)")
        if queries is not None:
            df = svc.search_file(db, queries, k, out, dense=not no_dense, encoder=encoder, with_reviews=not no_reviews)
            if as_json:
                print_json(df.to_dict("records"))
            else:
                console.print(f"{df['query_id'].nunique():,} queries, {len(df):,} rows"
                              + (f" written to {out}" if out else ""), highlight=False)
                if not out:
                    console.print(df.head(30).to_string(index=False), highlight=False)
            return
        check_writable(out)  # a wrong name or a folder fails before the index is built
        hits = svc.search(db, query, k, dense=not no_dense, encoder=encoder, with_reviews=not no_reviews)
        if out:
            import pandas as pd

            svc.write_results(pd.DataFrame([{"query_id": "q1", "rank": h["rank"], "item_id": h["item_id"],
                                             "score": h["score"]} for h in hits], columns=svc.RESULT_COLUMNS), out)
    if as_json:
        print_json(hits)
        return
    table = Table(title=f"search: {query}")
    for col in ("rank", "item_id", "score", "title", "why"):
        table.add_column(col)
    for h in hits:
        why = ", ".join(f"{n} {v:.2f}" for n, v in h["parts"].items() if v)
        table.add_row(str(h["rank"]), h["item_id"], f"{h['score']:.3f}", (h["title"] or "")[:60], why)
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("search")(search)
