"""``shelfwise evaluate`` (fit and score models on a temporal split) and ``shelfwise evaluate score``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from ..errors import InputError
from ..experiment.tables import check_writable
from ..jsonsafe import figure
from ..service import evaluate as evaluate_service
from .common import UncheckedDbOption, console, dumps, err_console, existing_store, handled

evaluate_app = typer.Typer(help="Offline evaluation on a global time split: train before --cutoff, test on the "
                                "purchases after it by users seen before, ranking over the whole catalog.",
                           invoke_without_command=True)

CutoffOption = typer.Option(None, "--cutoff", help="Split date (ISO 8601, e.g. 2011-11-09): events before it "
                                                    "train, purchases at or after it test.")
WindowOption = typer.Option(None, "--window-days", help="Only purchases within this many days after the cutoff "
                                                        "are tested (default: all after it).")
ItemsOption = typer.Option(None, "--items", help="File of item ids, one per line: only these may be recommended "
                                                 "and only their purchases are tested (cold-start checks).")
JsonOption = typer.Option(None, "--json", help="Also write the full result as JSON to this file.")

_SHOWN = ("ndcg", "recall", "mrr", "hit_rate", "precision", "coverage", "gini", "aplt", "novelty", "cold_recall")


def _fmt(v: Any) -> str:
    """A metric as table text: "n/a" where the JSON has null, as in every other table."""
    return figure(v, ".4f") if isinstance(v, float) else str(v)


def _columns(k: int) -> list[str]:
    return [f"{m}@{k}" if m in ("ndcg", "recall", "mrr", "hit_rate", "precision", "cold_recall") else m
            for m in _SHOWN]


def _check_json_out(path: Optional[Path]) -> Optional[Path]:
    """Refuse a --json path that cannot be written, before any work: a folder, another suffix, or a
    path under an existing file. Missing folders are fine (they are made when writing)."""
    return check_writable(path, (".json",), field="json")


def _write_json(path: Optional[Path], result: dict[str, Any]) -> None:
    if path is not None:
        with handled():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(dumps(result) + "\n", encoding="utf-8")
            except OSError as exc:
                raise InputError(f"cannot write the result: {exc.strerror or exc}", file=str(path),
                                 field="json") from exc
        console.print(f"written: {escape(str(path))}", highlight=False)


def _print_split(summary: dict[str, Any]) -> None:
    end = f" to {summary['end']:%Y-%m-%d %H:%M}" if summary["end"] else ""
    console.print(f"train before {summary['cutoff']:%Y-%m-%d %H:%M}: {summary['train_events']:,} events, "
                  f"{summary['train_users']:,} users; test from the cutoff{end}: {summary['test_users']:,} users, "
                  f"{summary['test_pairs']:,} (user, item) purchases; catalog {summary['catalog_items']:,} "
                  f"items ({summary['cold_items']:,} without training events), "
                  f"{summary['candidate_items']:,} candidates")


@evaluate_app.callback()
def evaluate(ctx: typer.Context, db: Optional[str] = UncheckedDbOption, cutoff: Optional[str] = CutoffOption,
             window_days: Optional[float] = WindowOption,
             k: int = typer.Option(10, "-k", help="Length of each recommendation list (metrics are @K)."),
             models: str = typer.Option(",".join(evaluate_service.DEFAULT_MODELS), "--models",
                                        help="Comma-separated models: shelfwise, shelfwise:<generator> (e.g. "
                                             "shelfwise:als), and the peers popularity, buy-again, implicit-als, "
                                             "implicit-bm25, tfidf."),
             items: Optional[Path] = ItemsOption, json_out: Optional[Path] = JsonOption) -> None:
    """Fit the chosen models on the events before --cutoff and print their metrics on the purchases after it."""
    if ctx.invoked_subcommand is not None:
        ctx.obj = {"db": db}  # 'shelfwise evaluate --db X score' means the store X, as written
        return
    if cutoff is None:
        console.print(ctx.get_help())
        err_console.print("[bold red]error:[/] give --cutoff DATE to evaluate models, or use "
                          "'shelfwise evaluate score' to score a recommendations file")
        raise typer.Exit(2)
    existing_store(ctx, db)
    with handled():
        json_out = _check_json_out(json_out)
        result = evaluate_service.evaluate_models(db, cutoff, window_days, k, models.split(","), items)
    _print_split(result["split"])
    _print_models(result, k)
    _write_json(json_out, result)


def _print_models(result: dict[str, Any], k: int) -> None:
    """One column per model: a handful of models fit a terminal, a dozen metrics would not. A model that
    could not be evaluated keeps its column, marked failed, and its reason follows the table."""
    table = Table(title=f"evaluation @{k} ({result['split']['test_users']:,} test users)")
    table.add_column("metric")
    runs, failed = result["models"], result.get("failed", {})
    for name in [*runs, *failed]:
        table.add_column(name, justify="right")
    blank = [""] * len(failed)
    for i, c in enumerate(_columns(k)):
        table.add_row(c, *(_fmt(r[c]) for r in runs.values()), *(["failed"] * len(failed) if i == 0 else blank))
    table.add_row("fit seconds", *(f"{r['fit_s']:.1f}" for r in runs.values()), *blank)
    table.add_row("recommend seconds", *(f"{r['recommend_s']:.1f}" for r in runs.values()), *blank)
    console.print(table)
    for name, reason in failed.items():
        err_console.print(f"[bold yellow]warning:[/] model '{escape(name)}' was not evaluated: {escape(reason)} "
                          f"(a later --cutoff gives it more data)", highlight=False, soft_wrap=True)


@evaluate_app.command("score")
def score(ctx: typer.Context,
          recs: Path = typer.Option(..., "--recs", help="Recommendations CSV: user_id,rank,item_id,score (as "
                                                       "written by shelfwise recommend --out)."),
          db: Optional[str] = UncheckedDbOption,
          cutoff: str = typer.Option(..., "--cutoff", help="Split date (ISO 8601): the purchases at or after it "
                                                           "are the test; events before it define seen users, "
                                                           "popularity and cold items."),
          window_days: Optional[float] = WindowOption,
          k: Optional[int] = typer.Option(None, "-k", help="Score only the first K ranks (default: the longest "
                                                           "list in the file)."),
          items: Optional[Path] = ItemsOption, json_out: Optional[Path] = JsonOption) -> None:
    """Score any recommendations CSV against the store's purchases after --cutoff (an independent scorer)."""
    db = existing_store(ctx, db or (ctx.obj or {}).get("db"))
    with handled():
        json_out = _check_json_out(json_out)
        result = evaluate_service.score_recommendations(recs, db, cutoff, window_days, k, items)
    _print_split(result["split"])
    info = result["coverage_of_file"]
    console.print(f"{escape(str(recs))}: {info['rows']:,} rows for {info['users_in_file']:,} users; "
                  f"{info['test_users_without_recs']:,} test users have no list (scored as empty), "
                  f"{info['users_not_tested']:,} listed users bought nothing in the test, "
                  f"{info['items_not_in_catalog']:,} listed items are not in the catalog")
    m = result["metrics"]
    table = Table(title=f"{escape(recs.name)} @{result['k']}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for c in _columns(result["k"]):
        table.add_row(c, _fmt(m[c]))
    table.add_row("users", _fmt(m["users"]))
    console.print(table)
    _write_json(json_out, result)


def register(app: typer.Typer) -> None:
    app.add_typer(evaluate_app, name="evaluate")
