"""Quality floors on the real review and retail sets in ../shared/data (one per capability; slow)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelfwise.text import sentiment
from shelfwise.text.classify import ClassifierOptions, TextClassifier, evaluate, train_classifier
from shelfwise.text.inputs import clean_texts


def _split(texts: list[str], labels: list[str], n_test: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    keep = [i for i, t in enumerate(texts) if t]
    order = rng.permutation(keep)
    te, tr = order[:n_test], order[n_test:]
    return ([texts[i] for i in tr], [labels[i] for i in tr]), ([texts[i] for i in te], [labels[i] for i in te])


@pytest.mark.slow
def test_lora_fine_tuning_on_amazon_reviews(shared_data: Path, tmp_path: Path) -> None:
    """LoRA on 1,500 English reviews (one epoch): skewed labels, so macro-F1 is the measure."""
    raw, labels = sentiment.load_amazon(shared_data)
    texts, _ = clean_texts(raw)
    train, test = _split(texts, labels, 1000)
    opts = ClassifierOptions(method="lora", encoder="all-MiniLM-L6-v2", max_train_rows=1500, epochs=1,
                             max_length=96, class_weight="balanced")
    report = train_classifier(*train, tmp_path, opts)
    assert report["trainable_share"] < 0.05
    got = evaluate(test[1], TextClassifier.load(tmp_path).predict(test[0]).labels)
    assert got["accuracy"] >= 0.90 and got["macro_f1"] >= 0.70, got


@pytest.mark.slow
def test_sentiment_models_in_both_languages(shared_data: Path, tmp_path: Path) -> None:
    """The default recipes, capped for CI: Chinese ensemble (e5 LoRA on 800 rows), English hybrid."""
    zh_raw, zh_labels, _ = sentiment.load_chinese(shared_data)
    zh_texts, _ = clean_texts(zh_raw)
    train, test = _split(zh_texts, zh_labels, 1000, seed=1)
    opts = ClassifierOptions(**{**sentiment.DEFAULT_OPTIONS["zh"], "max_train_rows": 800, "max_linear_rows": 20000})
    train_classifier(*train, tmp_path / "zh", opts)
    zh = evaluate(test[1], TextClassifier.load(tmp_path / "zh").predict(test[0]).labels)
    assert zh["accuracy"] >= 0.90, zh
    en_raw, en_labels = sentiment.load_amazon(shared_data)
    en_texts, _ = clean_texts(en_raw)
    train, test = _split(en_texts, en_labels, 1200, seed=2)
    train_classifier(*train, tmp_path / "en", ClassifierOptions(**sentiment.DEFAULT_OPTIONS["en"]))
    en = evaluate(test[1], TextClassifier.load(tmp_path / "en").predict(test[0]).labels)
    assert en["macro_f1"] >= 0.75, en
