"""Demo step of the text layer: score the demo shop's reviews (review_sentiment, item_sentiment).

The default sentiment models are built from the public review sets (``shelfwise sentiment train``),
which a fresh demo machine may not have. So when the default English model is missing, the step trains
a small one from the demo shop's own rated reviews (rating >= 4 positive, <= 2 negative, 3 left out):
TF-IDF n-grams + logistic regression, seconds on a CPU, checked on a seeded fifth of those reviews
that it never saw. It never downloads anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ...jsonsafe import figure  # n/a where nothing was scored (share_positive is NaN)
from ...logs import get_logger
from ...text import sentiment
from ...text.classify import ClassifierOptions, TextClassifier, evaluate, train_classifier
from ..demo import DemoContext, DemoStep

log = get_logger(__name__)

ORDER = 30
HOLDOUT_SHARE = 0.2
MIN_RATED = 40  # fewer rated reviews than this (either label under 5): no model is trained


def _train_from_ratings(ctx: DemoContext, out: Path) -> dict[str, float | int] | None:
    """Train the English model on the shop's rated reviews; None when the ratings cannot support one."""
    store = ctx.require_store()
    cols = set(store.query("SELECT * FROM reviews LIMIT 0").column_names)
    if "rating" not in cols:
        return None
    rows = store.query("SELECT text, rating FROM reviews WHERE rating IS NOT NULL AND rating <> 3 "
                       "AND text IS NOT NULL ORDER BY review_key").to_pydict()
    texts = [t for t in rows["text"]]
    labels = [sentiment.POSITIVE if r >= 4 else sentiment.NEGATIVE for r in rows["rating"]]
    if len(texts) < MIN_RATED or min(labels.count(sentiment.POSITIVE), labels.count(sentiment.NEGATIVE)) < 5:
        return None
    rng = np.random.default_rng(ctx.options.seed)
    test = rng.random(len(texts)) < HOLDOUT_SHARE
    train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
    report = train_classifier([texts[i] for i in train_idx], [labels[i] for i in train_idx], out,
                              ClassifierOptions(method="tfidf", analyzer="word", seed=ctx.options.seed),
                              meta={"task": "sentiment", "language": "en", "source": "demo shop ratings"})
    pred = TextClassifier.load(out).predict([texts[i] for i in test_idx])
    got = evaluate([labels[i] for i in test_idx], pred.labels)
    return {"train_rows": int(report.get("train_rows", len(train_idx))), "test_rows": int(len(test_idx)),
            "accuracy": got["accuracy"], "macro_f1": got["macro_f1"], "seconds": float(report.get("train_seconds", 0))}


def _sentiment(ctx: DemoContext) -> str:
    store = ctx.require_store()
    if not store.has_table("reviews") or store.count("reviews") == 0:
        return "skipped: the demo shop has no reviews"
    en_path = sentiment.default_model_dir("en")
    trained = None
    if (en_path / "manifest.json").exists():
        source = f"the default English model ({en_path})"
    else:
        en_path = ctx.out_dir / "models" / "sentiment" / "en"
        trained = _train_from_ratings(ctx, en_path)
        if trained is None:
            return ("skipped: no default sentiment model (build one with `shelfwise sentiment train`) and too few "
                    "rated reviews in the demo shop to train one")
        source = (f"a TF-IDF model trained on {trained['train_rows']:,} of the shop's rated reviews "
                  f"(held-out accuracy {trained['accuracy']:.3f}, macro-F1 {trained['macro_f1']:.3f} "
                  f"on {trained['test_rows']:,})")
    models = sentiment.SentimentModels.default(overrides={"en": en_path})
    summary = sentiment.score_store(store, models)
    worst = store.query("SELECT item_id, n_reviews, share_positive, trend, complaint_terms FROM item_sentiment "
                        "WHERE n_reviews >= 3 ORDER BY share_positive, n_reviews DESC LIMIT 10").to_pylist()
    ctx.state["sentiment"] = {"model": str(en_path), **summary}
    ctx.figures["share of positive reviews"] = f"{figure(summary['share_positive'], '.1%')}"
    sec = ctx.report.section("Review sentiment")
    sec.text(f"Every review was scored by {source}. The store now holds review_sentiment (label and "
             "probability per review) and item_sentiment (share positive, trend, complaint terms per item).")
    figures = {"reviews": summary["reviews"], "reviews scored": summary["scored"], "items": summary["items"],
               "share positive": f"{figure(summary['share_positive'], '.1%')}"}
    if trained is not None:
        figures["held-out macro-F1"] = f"{trained['macro_f1']:.3f}"
    sec.figures(figures)
    if worst:
        sec.table(["item", "reviews", "share positive", "trend", "complaint terms"],
                  [[r["item_id"], r["n_reviews"], f"{r['share_positive']:.0%}",
                    "" if r["trend"] is None else f"{r['trend']:+.2f}",
                    ", ".join(json.loads(r["complaint_terms"] or "[]"))] for r in worst],
                  caption="items with the lowest share of positive reviews (at least 3 reviews)")
    return (f"{summary['scored']:,} of {summary['reviews']:,} reviews scored, {summary['items']:,} items "
            "summarised, "
            f"{figure(summary['share_positive'], '.1%')} positive; model: {source}")


STEPS = [DemoStep("sentiment", "score the reviews: per-review sentiment and per-item summaries", _sentiment)]
