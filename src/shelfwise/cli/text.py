"""``shelfwise finetune``, ``shelfwise classify`` and ``shelfwise sentiment``: text models."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from ..jsonsafe import figure
from ..service import text as text_service
from .common import DbOption, UncheckedDbOption, console, existing_store, handled, print_json

finetune_app = typer.Typer(help="Fine-tune text models: classifiers, and the item encoder on shop behaviour.",
                           no_args_is_help=True)
sentiment_app = typer.Typer(help="Review sentiment in English and Chinese: score the store's reviews (or a file); "
                                 "`shelfwise sentiment train` builds the default models.",
                            invoke_without_command=True)

MethodOption = typer.Option("lora", "--method", help="full | lora | linear (frozen encoder + logistic "
                            "regression) | tfidf | hybrid (tf-idf + frozen encoder) | ensemble (tfidf + lora).")


def _metrics_table(title: str, report: dict[str, Any]) -> None:
    valid = report.get("valid", {})
    table = Table(title=title)
    for col in ("method", "train rows", "valid rows", "accuracy", "macro-F1", "trainable", "seconds"):
        table.add_column(col, justify="left" if col == "method" else "right")
    share = report.get("trainable_share")
    table.add_row(report.get("method", ""), f"{report.get('train_rows', 0):,}", f"{report.get('valid_rows', 0):,}",
                  figure(valid.get("accuracy"), ".4f"), figure(valid.get("macro_f1"), ".4f"),
                  f"{share:.2%}" if share is not None else "-", f"{report.get('train_seconds', 0):.0f}")
    console.print(table)


@finetune_app.command("classify")
def finetune_classify(
        train: Path = typer.Option(..., "--train", help="Labelled file (.csv, .csv.gz, .jsonl, .parquet)."),
        text_col: str = typer.Option(..., "--text-col", help="Column holding the text."),
        label_col: str = typer.Option(..., "--label-col", help="Column holding the label (any number of labels)."),
        out: Path = typer.Option(..., "--out", help="Folder to write the model, labels.json and metrics.json to."),
        method: str = MethodOption,
        valid: Optional[Path] = typer.Option(None, "--valid", help="Validation file; default: a stratified 10% "
                                             "of --train (at most 1,000 rows)."),
        encoder: str = typer.Option("auto", "--encoder", help="Encoder name or local folder; 'auto' picks "
                                    "multilingual-e5-small for Chinese/Japanese/Korean text, the encoder setting "
                                    "otherwise."),
        max_length: int = typer.Option(128, "--max-length", help="Tokens per text; longer texts are cut (counted)."),
        epochs: int = typer.Option(2, "--epochs", help="Passes over the training rows (full, lora)."),
        batch_size: int = typer.Option(16, "--batch-size", help="Texts per training step (full, lora)."),
        learning_rate: float = typer.Option(0.0, "--lr", help="Learning rate; 0 = 5e-5 for full, 1e-3 for LoRA."),
        max_train_rows: int = typer.Option(4000, "--max-train-rows", help="Cap on training rows for full, lora and "
                                           "linear (a stratified subsample; keeps CPU runs to minutes)."),
        patience: int = typer.Option(2, "--patience", help="Early stopping: validations without improvement."),
        seed: int = typer.Option(42, "--seed", help="Seed for splits, subsamples and initialisation."),
        as_json: bool = typer.Option(False, "--json", help="Print the full metrics as JSON.")) -> None:
    """Train a text classifier (sentiment, category, any label) and save it with its metrics."""
    with handled():
        report = text_service.finetune_classify(train, text_col, label_col, out, valid, method=method,
                                                encoder=encoder, max_length=max_length, epochs=epochs,
                                                batch_size=batch_size, learning_rate=learning_rate,
                                                max_train_rows=max_train_rows, patience=patience, seed=seed)
    if as_json:
        print_json(report)
        return
    _metrics_table(f"classifier saved to {out}", report)


@finetune_app.command("items")
def finetune_items(db: Optional[str] = DbOption,
                   out: Optional[Path] = typer.Option(None, "--out", help="Folder for the tuned encoder "
                                                      "(default: <model_dir>/text/item_encoder, where the "
                                                      "recommender looks)."),
                   base: Optional[str] = typer.Option(None, "--base", help="Encoder to start from (default: "
                                                      "the encoder setting)."),
                   max_pairs: int = typer.Option(20_000, "--max-pairs", help="Most co-purchased pairs to train on."),
                   epochs: int = typer.Option(1, "--epochs", help="Passes over the pairs."),
                   as_json: bool = typer.Option(False, "--json", help="Print the report as JSON.")) -> None:
    """Contrastive tuning of the item encoder on items bought together (GISTEmbedLoss: guided in-batch negatives)."""
    with handled():
        report = text_service.tune_items(db, out, base, max_pairs=max_pairs, epochs=epochs)
    if as_json:
        print_json(report)
        return
    console.print(f"tuned on {report['pairs']:,} pairs in {report['steps']:,} steps ({report['seconds']:.0f}s); "
                  f"loss {report['first_loss']:.3f} -> {report['last_loss']:.3f}")


def classify(model: Path = typer.Option(..., "--model", help="A folder written by shelfwise finetune classify."),
             input: Path = typer.Option(..., "--input", help="File to classify (.csv, .csv.gz, .jsonl, .parquet)."),
             text_col: str = typer.Option(..., "--text-col", help="Column holding the text."),
             out: Path = typer.Option(..., "--out", help="Output file (.csv, .csv.gz, .jsonl, .jsonl.gz or .parquet): label,score per input "
                                      "row, in input order; empty text gives an empty label."),
             as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")) -> None:
    """Label every row of a file with a trained classifier."""
    with handled():
        summary = text_service.classify_file(model, input, text_col, out)
    if as_json:
        print_json(summary)
        return
    console.print(f"{summary['rows']:,} rows -> {out} ({summary['texts_per_second'] or 0:.0f} texts/s); "
                  + ", ".join(f"{k}: {v:,}" for k, v in summary["labels"].items()))


@sentiment_app.callback()
def sentiment(ctx: typer.Context, db: Optional[str] = UncheckedDbOption,
              input: Optional[Path] = typer.Option(None, "--input", help="Score this file instead of the store."),
              text_col: str = typer.Option("text", "--text-col", help="Text column of --input."),
              out: Optional[Path] = typer.Option(None, "--out", help="With --input: output file (.csv, .csv.gz, "
                                                 ".jsonl, .jsonl.gz or .parquet): label,probability,language per "
                                                 "row, in input order."),
              model_en: Optional[Path] = typer.Option(None, "--model-en", help="English model folder (default: "
                                                      "<model_dir>/sentiment/en)."),
              model_zh: Optional[Path] = typer.Option(None, "--model-zh", help="Chinese model folder (default: "
                                                      "<model_dir>/sentiment/zh)."),
              as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON.")) -> None:
    """Score reviews: per-review label and probability, per-item share positive, trend and complaint terms."""
    if ctx.invoked_subcommand is not None:
        return
    if input is None:
        existing_store(ctx, db)  # scoring the store's reviews: it must exist
    with handled():
        summary = text_service.sentiment_score(db, input, text_col, out, model_en, model_zh)
    if as_json:
        print_json(summary)
        return
    total = summary.get("reviews", summary.get("rows", 0))
    unscored = {k: v for k, v in summary.get("unscored", {}).items() if v}
    console.print(f"{summary.get('scored', total):,} of {total:,} reviews scored "
                  f"({', '.join(f'{k}: {v:,}' for k, v in summary['by_language'].items())}); "
                  f"share positive {figure(summary['share_positive'], '.1%')}"
                  + (f"; not scored: {', '.join(f'{k} {v:,}' for k, v in unscored.items())}" if unscored else ""),
                  highlight=False, markup=False)
    if input is None:
        with handled():
            worst = text_service.item_sentiment(db, limit=10)
        table = Table(title="items with the lowest share of positive reviews")
        for col in ("item", "reviews", "positive", "trend", "complaint terms"):
            table.add_column(col)
        for r in worst:
            trend = "" if r["trend"] is None else figure(r["trend"], "+.2f")
            table.add_row(str(r["item_id"]), str(r["n_reviews"]), f"{r['share_positive']:.0%}", trend,
                          r["complaint_terms"])
        console.print(table)


@sentiment_app.command("train")
def sentiment_train(
        lang: str = typer.Option("all", "--lang", help="en, zh or all."),
        data: Optional[Path] = typer.Option(None, "--data", help="Folder of the public review sets (default: "
                                            "$SHELFWISE_SHARED_DATA or ../shared/data)."),
        train: Optional[Path] = typer.Option(None, "--train", help="Train from this labelled file instead "
                                             "(labels positive/negative, 1/0 or pos/neg; needs one --lang)."),
        text_col: Optional[str] = typer.Option(None, "--text-col", help="Text column of --train."),
        label_col: Optional[str] = typer.Option(None, "--label-col", help="Label column of --train."),
        out: Optional[Path] = typer.Option(None, "--out", help="Model folder (default: <model_dir>/sentiment/<lang>)."),
        method: Optional[str] = typer.Option(None, "--method", help="Override the default method "
                                             "(en: hybrid, zh: ensemble)."),
        as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON.")) -> None:
    """Build the default sentiment models (English and Chinese) with shelfwise's own training."""
    langs = ["en", "zh"] if lang == "all" else [lang]
    with handled():
        reports = text_service.sentiment_train(langs, data, train, text_col, label_col, out, method=method)
    if as_json:
        print_json(reports)
        return
    for lg, report in reports.items():
        _metrics_table(f"{lg} sentiment model -> {report['out']}", report)


def register(app: typer.Typer) -> None:
    app.add_typer(finetune_app, name="finetune")
    app.command()(classify)
    app.add_typer(sentiment_app, name="sentiment")
