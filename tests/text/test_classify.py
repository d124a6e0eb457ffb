"""Classifier training for every method on tiny fixtures: saved folder, known answers, reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shelfwise.errors import InputError, ModelNotFound
from shelfwise.text.classify import (ClassifierOptions, TextClassifier, split_valid, stratified_subsample,
                                     train_classifier)

from .conftest import make_reviews

FAST = dict(epochs=1, batch_size=16, max_length=32, max_train_rows=200, patience=1)


def _check_folder(out: Path, method: str) -> None:
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "text-classifier" and manifest["params"]["method"] == method
    assert manifest["shelfwise_version"]
    assert json.loads((out / "labels.json").read_text()) == ["negative", "positive"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"accuracy", "macro_f1"} <= set(metrics["valid"])
    assert not list(out.rglob("*.pkl")) and not list(out.rglob("*.bin"))


def test_subsample_and_split_keep_every_label() -> None:
    labels = ["a"] * 90 + ["b"] * 9 + ["c"]
    idx = stratified_subsample(labels, 20, seed=0)
    got = [labels[i] for i in idx]
    assert {"a", "b", "c"} <= set(got) and len(idx) <= 22
    tr, va = split_valid(labels, 0.1, 1000, seed=0)
    assert set(tr) | set(va) == set(range(100)) and not set(tr) & set(va)
    assert "c" not in {labels[i] for i in va}  # a single-row label stays in training
    assert {labels[i] for i in va} == {"a", "b"}


@pytest.mark.parametrize("method", ["tfidf"])
def test_tfidf_classifier(tmp_path: Path, en_reviews, method: str) -> None:
    texts, labels = en_reviews
    report = train_classifier(texts[:200], labels[:200], tmp_path, ClassifierOptions(method=method))
    _check_folder(tmp_path, method)
    assert report["valid"]["accuracy"] == 1.0
    clf = TextClassifier.load(tmp_path)
    pred = clf.predict(texts[200:] + ["", "   "])
    assert pred.labels[:40] == labels[200:]
    assert pred.labels[40:] == ["", ""] and np.isnan(pred.scores[40:]).all()


def test_linear_and_hybrid_use_the_encoder(tmp_path: Path, en_reviews) -> None:
    texts, labels = en_reviews
    for method in ("linear", "hybrid"):
        out = tmp_path / method
        report = train_classifier(texts[:200], labels[:200], out, ClassifierOptions(method=method, **FAST))
        _check_folder(out, method)
        assert report["valid"]["accuracy"] >= 0.9
        assert 0 < report["trainable_share"] < 0.05
        pred = TextClassifier.load(out).predict(texts[200:])
        assert np.mean(np.asarray(pred.labels) == np.asarray(labels[200:])) >= 0.9


@pytest.mark.parametrize("method", ["full", "lora"])
def test_transformer_fine_tuning(tmp_path: Path, method: str) -> None:
    texts, labels = make_reviews(160, "en", seed=3)
    opts = ClassifierOptions(method=method, encoder="all-MiniLM-L6-v2", epochs=2, batch_size=16, max_length=32,
                             learning_rate=5e-4 if method == "full" else 3e-3, patience=4)
    report = train_classifier(texts[:140], labels[:140], tmp_path, opts)
    _check_folder(tmp_path, method)
    assert (tmp_path / ("encoder" if method == "full" else "adapter")).is_dir()
    assert (tmp_path / "head.safetensors").exists()
    share = report["trainable_share"]
    assert (share > 0.5) if method == "full" else (share < 0.05)
    assert report["valid"]["accuracy"] >= 0.85, report
    pred = TextClassifier.load(tmp_path).predict(texts[140:])
    assert np.mean(np.asarray(pred.labels) == np.asarray(labels[140:])) >= 0.85
    assert np.allclose(np.nansum(pred.proba, axis=1), 1, atol=1e-5)


def test_ensemble_mixes_tfidf_and_lora(tmp_path: Path) -> None:
    texts, labels = make_reviews(160, "en", seed=4)
    opts = ClassifierOptions(method="ensemble", encoder="all-MiniLM-L6-v2", epochs=1, batch_size=16, max_length=32,
                             learning_rate=3e-3)
    report = train_classifier(texts[:140], labels[:140], tmp_path, opts)
    _check_folder(tmp_path, "ensemble")
    assert 0.0 <= report["ensemble_weight"] <= 1.0
    assert (tmp_path / "tfidf" / "linear_coef.npy").exists() and (tmp_path / "second" / "adapter").is_dir()
    clf = TextClassifier.load(tmp_path)
    assert clf.linear_part is not None
    pred = clf.predict(texts[140:])
    assert np.mean(np.asarray(pred.labels) == np.asarray(labels[140:])) >= 0.9


def test_single_class_and_unseen_validation_labels(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="single class"):
        train_classifier(["good", "fine", "ok"], ["positive"] * 3, tmp_path, ClassifierOptions(method="tfidf"))
    with pytest.raises(InputError, match="training data lacks"):
        train_classifier(["good", "bad"] * 5, ["positive", "negative"] * 5, tmp_path,
                         ClassifierOptions(method="tfidf"), ["meh"], ["neutral"])


def test_all_empty_text_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        train_classifier(["", "  "] * 5, ["a", "b"] * 5, tmp_path, ClassifierOptions(method="tfidf"))


def test_unknown_method_and_missing_model(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown method"):
        ClassifierOptions(method="magic").validate()
    with pytest.raises(ModelNotFound):
        TextClassifier.load(tmp_path / "nothing")
