"""``shelfwise train``, ``shelfwise recommend`` and ``shelfwise similar``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..errors import InputError
from ..service import recommend as service
from .common import DbOption, EngineOption, MasterOption, console, handled, print_json

ModelDirOption = typer.Option(None, "--model-dir", help="Where model sets are saved (default: SHELFWISE_MODEL_DIR).",
                              envvar="SHELFWISE_MODEL_DIR")
VersionOption = typer.Option(None, "--version", help="Model set version to use (default: the current one).")


def train(db: Optional[str] = DbOption, model_dir: Optional[Path] = ModelDirOption,
          encoder: Optional[str] = typer.Option(None, "--encoder",
                                                help="Text encoder: all-MiniLM-L6-v2 (default) or a local model folder."),
          label_days: int = typer.Option(28, "--label-days", min=1,
                                         help="Days at the end of the data whose purchases teach the ranker."),
          as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
          engine: Optional[str] = EngineOption, spark_master: Optional[str] = MasterOption,
          until: Optional[str] = typer.Option(None, "--until", help="With --engine duckdb|spark: learn only from "
                                              "events before this date (ISO 8601), e.g. to evaluate.")) -> None:
    """Fit every recommender and the ranker on the store's events; save them as a new model set version."""
    from ..service import engine as engine_service

    with handled():
        batch = engine_service.batch_engine(engine)
        if batch is not None:  # the batch pipeline: aggregates + ALS on the chosen engine
            report = engine_service.train(db, batch, until, model_dir=model_dir, master=spark_master)
            if as_json:
                print_json(report)
            else:
                console.print(f"trained ALS on {batch} in {report['seconds_total']:.1f}s: {report['als']['users']:,} "
                              f"users, {report['als']['items']:,} items -> {report['model']}; aggregates in the "
                              f"store as {', '.join(report['stored'])}", highlight=False)
            return
        result = service.train(db, model_dir, encoder, label_days)
    if as_json:
        print_json(result.as_dict())
        return
    console.print(f"trained model set [bold]{result.version}[/] in {result.seconds:.1f}s: {result.users:,} users, "
                  f"{result.items:,} items, {result.events:,} events -> {result.path}")
    ranker = result.report.get("ranker", {})
    if ranker:
        console.print(f"ranker: {ranker.get('train_users')} users, candidate recall "
                      f"{ranker.get('candidate_recall', 0):.2f}, validation NDCG@10 {ranker.get('valid_ndcg@10') or 0:.3f}")


def recommend(db: Optional[str] = DbOption,
              user: Optional[str] = typer.Option(None, "--user", help="One user id."),
              users: Optional[Path] = typer.Option(None, "--users", help="File of user ids (CSV with user_id, or one per line)."),
              k: int = typer.Option(10, "-k", "--k", min=1, help="Items per user."),
              items: Optional[Path] = typer.Option(None, "--items",
                                                   help="File of item ids (CSV with item_id, or one per line): recommend only these."),
              out: Optional[Path] = typer.Option(None, "--out", help="Write CSV here (default: standard output)."),
              filter_purchased: Optional[bool] = typer.Option(
                  None, "--filter-purchased/--no-filter-purchased",
                  help="Drop items the user already bought (default: SHELFWISE_FILTER_PURCHASED, off)."),
              model_dir: Optional[Path] = ModelDirOption, version: Optional[str] = VersionOption,
              exploration_weight: Optional[float] = typer.Option(
                  None, "--exploration-weight", min=0.0, max=1.0,
                  help="Share of slots that explore new items by Thompson sampling (default: SHELFWISE_EXPLORATION_WEIGHT)."),
              item_age_cutoff_days: Optional[float] = typer.Option(
                  None, "--item-age-cutoff-days", min=0.0,
                  help="Items younger than this count as new (default: SHELFWISE_ITEM_AGE_CUTOFF_DAYS, 30)."),
              long_tail_weight: Optional[float] = typer.Option(
                  None, "--long-tail-weight", min=0.0, max=1.0,
                  help="xQuAD weight lambda for long-tail items (default: SHELFWISE_LONG_TAIL_WEIGHT, 0)."),
              tail_share: Optional[float] = typer.Option(
                  None, "--tail-share", min=0.0, max=1.0, help="At least this share of each list from the long tail."),
              category_cap: Optional[int] = typer.Option(None, "--category-cap", min=1, help="At most this many items per category."),
              diversity: Optional[float] = typer.Option(
                  None, "--diversity", min=0.0, max=1.0, help="MMR diversification strength (0: none, 1: only diversity)."),
              engine: Optional[str] = EngineOption, spark_master: Optional[str] = MasterOption,
              all_users: bool = typer.Option(False, "--all-users", help="With --engine duckdb|spark: every known "
                                             "user (also kept in the store as engine_recommendations)."),
              ) -> None:
    """Top-k items per user as CSV: user_id,rank,item_id,score (rank from 1); with policies also source."""
    from ..service import engine as engine_service

    with handled():
        batch = engine_service.batch_engine(engine)
        if batch is not None:  # batch scoring of all users on the chosen engine (see service/engine.py)
            engine_service.recommend_cli(batch, db, user, users, all_users, k, out, model_dir, spark_master)
            return
        if all_users:
            raise InputError("--all-users needs a batch engine: add --engine duckdb or --engine spark", field="engine")
        if (user is None) == (users is None):
            raise InputError("give exactly one of --user ID or --users FILE", field="user")
        ids = [user] if user is not None else service.read_ids(users, "user_id")
        allowed = service.read_ids(items, "item_id") if items is not None else None
        policy = {"exploration_weight": exploration_weight, "item_age_cutoff_days": item_age_cutoff_days,
                  "long_tail_weight": long_tail_weight, "tail_share_target": tail_share, "category_cap": category_cap,
                  "mmr_relevance": None if diversity is None else 1.0 - diversity}
        recs = service.recommend(ids, k, allowed, filter_purchased, db, model_dir, version, policy=policy)
    if out is None:
        recs.to_csv(sys.stdout, index=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        recs.to_csv(out, index=False)
        console.print(f"{len(recs):,} recommendations for {recs['user_id'].nunique():,} users -> {out}")


def similar(item_id: str = typer.Argument(..., help="The item to find neighbours of."),
            k: int = typer.Option(10, "-k", "--k", min=1, help="How many similar items."),
            model_dir: Optional[Path] = ModelDirOption, version: Optional[str] = VersionOption,
            as_csv: bool = typer.Option(False, "--csv", help="Print CSV instead of a table.")) -> None:
    """Items most like ITEM_ID (bought together, liked by the same users, or described alike)."""
    with handled():
        recs = service.similar([item_id], k, model_dir, version)
    if as_csv:
        recs.to_csv(sys.stdout, index=False)
        return
    table = Table(title=f"items similar to {item_id}")
    for col in ("rank", "similar_item_id", "score"):
        table.add_column(col, justify="right" if col != "similar_item_id" else "left")
    for r in recs.itertuples():
        table.add_row(str(r.rank), str(r.similar_item_id), f"{r.score:.4f}")
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command()(train)
    app.command()(recommend)
    app.command()(similar)
