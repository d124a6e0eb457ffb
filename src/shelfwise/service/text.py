"""Text operations: fine-tune a classifier, classify a file, review sentiment, behaviour-tuned item encoder."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd

from ..data.store import open_store
from ..errors import InputError
from ..experiment.tables import check_writable, write_table
from ..paths import check_folder_writable
from ..text import sentiment
from ..text.behaviour import TuneParams, tune_from_store
from ..text.classify import ClassifierOptions, TextClassifier, train_classifier
from ..text.inputs import check_labels, labelled_pairs, read_texts


def finetune_classify(train: Path, text_col: str, label_col: str, out: Path, valid: Path | None = None,
                      **options: Any) -> dict[str, Any]:
    """Train a text classifier from a labelled file (optionally a separate validation file) into ``out``.

    The options and ``out`` are checked first, so a bad flag or an ``--out`` that is a file costs nothing."""
    opts = ClassifierOptions(**{k: v for k, v in options.items() if v is not None})
    opts.validate()
    check_folder_writable(out)
    table = read_texts(train, text_col, label_col)
    texts, labels, dropped = labelled_pairs(table)
    if labels:  # (no rows with text at all is reported by training, naming that)
        check_labels(labels, where=f"{train} (column '{label_col}')")
    vt = vl = None
    if valid is not None:
        vtable = read_texts(valid, text_col, label_col)
        vt, vl, _ = labelled_pairs(vtable)
    report = train_classifier(texts, labels, out, opts, vt, vl,
                              meta={"train_file": str(train), "text_stats": table.stats.as_dict()})
    report["empty_dropped"] = dropped
    report["text_stats"] = table.stats.as_dict()
    return report


#: the file types an output may have (the same as the inputs), by name ending
OUT_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet")


def _write_rows(out: Path, columns: dict[str, list[Any]]) -> None:
    """Write the columns by ``out``'s name with the one table writer every command uses.

    A missing score is NaN here, so it is an empty CSV cell and null in JSON lines and Parquet; a text
    left unscored keeps its empty label.
    """
    check_writable(out, OUT_SUFFIXES)
    write_table(pd.DataFrame(columns), out)


def _num(v: float | None) -> float:
    """A score rounded to 6 decimals (more is noise), NaN when there is none."""
    return math.nan if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6)


def classify_file(model: Path, input: Path, text_col: str, out: Path) -> dict[str, Any]:
    """Write ``label,score`` for every input row, in input order (empty text: empty label and score)."""
    check_writable(out, OUT_SUFFIXES)
    clf = TextClassifier.load(model)
    table = read_texts(input, text_col)
    pred = clf.predict(table.texts)
    _write_rows(out, {"label": list(pred.labels), "score": [_num(s) for s in pred.scores]})
    counts: dict[str, int] = {}
    for lab in pred.labels:
        counts[lab or "(empty text)"] = counts.get(lab or "(empty text)", 0) + 1
    stats = table.stats.as_dict()
    stats["truncated_tokens"] = pred.truncated
    return {"rows": len(pred.labels), "out": str(out), "labels": counts, "seconds": pred.seconds,
            "texts_per_second": len(pred.labels) / pred.seconds if pred.seconds else None, "text_stats": stats}


def sentiment_train(langs: list[str], data_dir: Path | None = None, train: Path | None = None,
                    text_col: str | None = None, label_col: str | None = None, out: Path | None = None,
                    **overrides: Any) -> dict[str, Any]:
    """Build the default sentiment models from the shared data, or one language's from a labelled file."""
    ov = {k: v for k, v in overrides.items() if v is not None}
    unknown = [lang for lang in langs if lang not in sentiment.LANGS]
    if unknown:  # with --train this used to train a model (slowly) into sentiment/<lang>, read by nothing
        raise InputError(f"unknown language '{unknown[0]}'; choose one of {', '.join(sentiment.LANGS)}",
                         field="lang")
    if train is not None:
        if len(langs) != 1 or not text_col or not label_col:
            raise InputError("training from --train FILE needs one --lang and both --text-col and --label-col")
        return {langs[0]: sentiment.train_from_file(train, text_col, label_col, langs[0], out, ov)}
    if out is not None and len(langs) > 1:
        raise InputError("--out names one model folder: give a single --lang with it")
    return {lang: sentiment.train_default(lang, data_dir, out, ov) for lang in langs}


def sentiment_score(db: str | None = None, input: Path | None = None, text_col: str = "text",
                    out: Path | None = None, model_en: Path | None = None,
                    model_zh: Path | None = None) -> dict[str, Any]:
    """Score the store's reviews (tables review_sentiment, item_sentiment) or a file (label,probability,language)."""
    models = sentiment.SentimentModels.default(overrides={"en": model_en, "zh": model_zh})
    if input is None and out is not None:
        # the store's scores go to its tables; an --out here used to be ignored without a word
        raise InputError("--out goes with --input FILE: the store's reviews are scored into its tables "
                         "review_sentiment and item_sentiment", field="out")
    if input is not None:
        if out is None:
            raise InputError("scoring a file needs --out FILE")
        check_writable(out, OUT_SUFFIXES)
        table = read_texts(input, text_col)
        scored = sentiment.score_texts(table.texts, models)
        _write_rows(out, {"label": scored["label"].tolist(),
                          "probability": [_num(p) for p in scored["probability"]],
                          "language": scored["language"].tolist()})
        stats = table.stats.as_dict()  # what reading the file cut and repaired; the models add token cuts
        stats["truncated_tokens"] = scored.attrs.get("stats", {}).get("truncated_tokens", 0)
        n_scored = int((scored["label"] != "").sum())
        return {"rows": len(scored), "out": str(out), "scored": n_scored,
                "by_language": scored["language"].replace("", "none").value_counts().to_dict(),
                "share_positive": sentiment.share_positive(scored["label"]),
                "text_stats": stats, "unscored": scored.attrs.get("unscored", {})}
    with open_store(db) as store:
        return sentiment.score_store(store, models)


def item_sentiment(db: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The items with the lowest share of positive reviews (at least two reviews), for a quick look."""
    with open_store(db, read_only=True) as store:
        if not store.has_table("item_sentiment"):
            raise InputError("no item_sentiment table yet: run shelfwise sentiment first")
        return store.query("SELECT * FROM item_sentiment WHERE n_reviews >= 2 ORDER BY share_positive, "
                           "n_reviews DESC LIMIT ?", [limit]).to_pylist()


def tune_items(db: str | None = None, out: Path | None = None, base: str | None = None,
               **params: Any) -> dict[str, Any]:
    """Behaviour-tune the item encoder on the store's co-purchases."""
    p = TuneParams(**{k: v for k, v in params.items() if v is not None})
    p.check()  # bad settings and an --out that is a file fail before the store is read
    if out is not None:
        check_folder_writable(out)
    with open_store(db) as store:
        return tune_from_store(store, out, base, p)
