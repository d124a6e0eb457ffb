"""Text operations: fine-tune a classifier, classify a file, review sentiment, behaviour-tuned item encoder."""

from __future__ import annotations

import csv
import gzip
import json
import math
from pathlib import Path
from typing import Any

from ..data.store import open_store
from ..errors import InputError
from ..experiment.tables import check_writable
from ..text import sentiment
from ..text.behaviour import TuneParams, tune_from_store
from ..text.classify import ClassifierOptions, TextClassifier, train_classifier
from ..text.inputs import check_labels, labelled_pairs, read_texts


def finetune_classify(train: Path, text_col: str, label_col: str, out: Path, valid: Path | None = None,
                      **options: Any) -> dict[str, Any]:
    """Train a text classifier from a labelled file (optionally a separate validation file) into ``out``."""
    table = read_texts(train, text_col, label_col)
    texts, labels, dropped = labelled_pairs(table)
    if labels:  # (no rows with text at all is reported by training, naming that)
        check_labels(labels, where=f"{train} (column '{label_col}')")
    vt = vl = None
    if valid is not None:
        vtable = read_texts(valid, text_col, label_col)
        vt, vl, _ = labelled_pairs(vtable)
    opts = ClassifierOptions(**{k: v for k, v in options.items() if v is not None})
    report = train_classifier(texts, labels, out, opts, vt, vl,
                              meta={"train_file": str(train), "text_stats": table.stats.as_dict()})
    report["empty_dropped"] = dropped
    report["text_stats"] = table.stats.as_dict()
    return report


#: the file types an output may have (the same as the inputs), by name ending
OUT_SUFFIXES = (".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".parquet")


def _write_rows(out: Path, header: list[str], rows: list[list[Any]]) -> None:
    """CSV (empty cell for a missing value), JSON lines (null) or Parquet (null), by ``out``'s name."""
    check_writable(out, OUT_SUFFIXES)
    out.parent.mkdir(parents=True, exist_ok=True)
    name = out.name.lower()
    if name.endswith(".parquet"):
        import pyarrow as pa
        import pyarrow.parquet as pq

        cols = list(zip(*rows)) if rows else [() for _ in header]
        arrays = {h: pa.array([None if v == "" and h != "label" and h != "language" else v for v in c])
                  for h, c in zip(header, cols)}
        for h in header:  # keep the types even when every value is missing
            if arrays[h].type == pa.null():
                arrays[h] = arrays[h].cast(pa.float64() if h in ("score", "probability") else pa.string())
        pq.write_table(pa.table(arrays), out)
        return
    opener = (lambda: gzip.open(out, "wt", encoding="utf-8", newline="")) if name.endswith(".gz") else \
        (lambda: out.open("w", encoding="utf-8", newline=""))
    with opener() as fh:
        if ".jsonl" in name:
            for r in rows:
                rec = {h: (None if v == "" and h in ("score", "probability") else v) for h, v in zip(header, r)}
                fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
            return
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows([["" if v is None else (f"{v:.6f}" if isinstance(v, float) else v) for v in r] for r in rows])


def _num(v: float) -> float | str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else round(float(v), 6)


def classify_file(model: Path, input: Path, text_col: str, out: Path) -> dict[str, Any]:
    """Write ``label,score`` for every input row, in input order (empty text: empty label and score)."""
    check_writable(out, OUT_SUFFIXES)
    clf = TextClassifier.load(model)
    table = read_texts(input, text_col)
    pred = clf.predict(table.texts)
    _write_rows(out, ["label", "score"], [[lab, _num(s)] for lab, s in zip(pred.labels, pred.scores)])
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
    if input is not None:
        if out is None:
            raise InputError("scoring a file needs --out FILE")
        check_writable(out, OUT_SUFFIXES)
        table = read_texts(input, text_col)
        scored = sentiment.score_texts(table.texts, models)
        _write_rows(out, ["label", "probability", "language"],
                    [[r.label, _num(r.probability), r.language] for r in scored.itertuples(index=False)])
        stats = table.stats.as_dict()  # what reading the file cut and repaired; the models add token cuts
        stats["truncated_tokens"] = scored.attrs.get("stats", {}).get("truncated_tokens", 0)
        n_scored = int((scored["label"] != "").sum())
        return {"rows": len(scored), "out": str(out), "scored": n_scored,
                "by_language": scored["language"].replace("", "none").value_counts().to_dict(),
                "share_positive": float((scored["label"] == sentiment.POSITIVE).sum() / max(1, n_scored)),
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
    with open_store(db) as store:
        return tune_from_store(store, out, base, p)
