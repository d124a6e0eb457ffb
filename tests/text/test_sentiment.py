"""Sentiment: language routing, store tables, item summaries (share, trend, complaint terms), file scoring."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.errors import ModelNotFound
from shelfwise.text import sentiment
from shelfwise.text.classify import ClassifierOptions, train_classifier

from .conftest import make_reviews, write_csv


@pytest.fixture()
def models(tmp_path: Path) -> sentiment.SentimentModels:
    root = tmp_path / "models"
    for lang in ("en", "zh"):
        texts, labels = make_reviews(300, lang, seed=7)
        train_classifier(texts, labels, sentiment.default_model_dir(lang, root), ClassifierOptions(method="tfidf"))
    return sentiment.SentimentModels.default(root)


def test_language_routing() -> None:
    assert sentiment.language_of("质量很好，推荐") == "zh"
    assert sentiment.language_of("great mug") == "en"
    assert sentiment.language_of("iPhone 很好用") == "zh"


def test_label_spellings() -> None:
    assert sentiment.sentiment_label("1") == "positive" and sentiment.sentiment_label(0) == "negative"
    assert sentiment.sentiment_label("NEG") == "negative" and sentiment.sentiment_label("maybe") is None


def test_score_texts_routes_and_keeps_order(models) -> None:
    df = sentiment.score_texts(["the mug is terrible", "衣服收到了，很满意", "", "this card is great"], models)
    assert df["language"].tolist() == ["en", "zh", "", "en"]
    assert df["label"].tolist() == ["negative", "positive", "", "positive"]
    assert df["probability"].iloc[0] < 0.5 < df["probability"].iloc[1]
    assert pd.isna(df["probability"].iloc[2])


def test_missing_model_says_how_to_build_it(tmp_path: Path) -> None:
    empty = sentiment.SentimentModels.default(tmp_path / "none")
    with pytest.raises(ModelNotFound, match="shelfwise sentiment train"):
        sentiment.score_texts(["good"], empty)


def test_store_tables(tmp_path: Path, store, models) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    write_csv(shop / "items.csv", ["item_id", "title"], [["A", "mug"], ["B", "lamp"], ["C", "杯子"]])
    rows = []
    # A: early reviews negative, later positive -> trend > 0; B: all negative; C: Chinese
    for i, (text, day) in enumerate([("the mug is terrible", 1), ("the mug is broken", 2),
                                     ("the mug is great", 3), ("the mug is excellent", 4)]):
        rows.append(["A", text, f"2024-01-0{day}", f"a{i}"])
    rows += [["B", "the lamp is terrible and broken", "2024-02-01", "b1"],
             ["B", "the lamp stopped working, terrible", "2024-02-02", "b2"],
             ["C", "杯子收到了，质量很差", "2024-03-01", "c1"], ["C", "杯子收到了，很满意", "2024-03-02", "c2"]]
    write_csv(shop / "reviews.csv", ["item_id", "text", "timestamp", "review_id"], rows)
    ingest(shop, store)
    summary = sentiment.score_store(store, models)
    assert summary["reviews"] == 8 and summary["by_language"] == {"en": 6, "zh": 2}
    per_review = store.read_pandas("review_sentiment").set_index("review_key")
    assert per_review.loc["b1", "label"] == "negative" and per_review.loc["c2", "label"] == "positive"
    items = store.read_pandas("item_sentiment").set_index("item_id")
    assert items.loc["A", "share_positive"] == 0.5 and items.loc["A", "trend"] == 1.0
    assert items.loc["B", "share_positive"] == 0.0 and pd.isna(items.loc["B", "trend"])
    terms = json.loads(items.loc["B", "complaint_terms"])
    assert "terrible" in terms
    assert json.loads(items.loc["C", "complaint_terms"]), "Chinese complaint terms from character n-grams"


def test_complaint_terms_skip_nested_repeats() -> None:
    weights = {"太差": 2.0, "太差了": 1.5, "退货": 1.0}
    terms = sentiment.complaint_terms(["太差了，退货", "太差"], weights, lambda t: [t[i:i + n] for n in (2, 3)
                                                                             for i in range(len(t) - n + 1)])
    assert terms == ["太差", "退货"]
