"""The n-gram linear model: known answers, a check against scikit-learn, pickle-free round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shelfwise.text.linear import LinearParams, LinearTextModel, cjk_share, is_cjk_corpus


def test_cjk_share() -> None:
    assert cjk_share("质量很好") == 1.0
    assert cjk_share("good") == 0.0
    assert cjk_share("") == 0.0
    assert 0.4 < cjk_share("ok 很好") < 0.6
    assert is_cjk_corpus(["很好", "太差了", "ok"]) and not is_cjk_corpus(["good", "bad"])


def test_analyzer_follows_the_script(en_reviews, zh_reviews) -> None:
    assert LinearTextModel().fit(*en_reviews).params.analyzer == "word"
    zh = LinearTextModel().fit(*zh_reviews)
    assert zh.params.analyzer == "cjk" and zh.params.ngram_max == 3
    assert "w:质量" in zh.vocabulary and "很差" in zh.vocabulary  # jieba words and character bigrams
    assert LinearTextModel(LinearParams(analyzer="char")).fit(*zh_reviews).params.ngram_max == 3


def test_learns_the_sentiment_phrase(en_reviews) -> None:
    texts, labels = en_reviews
    m = LinearTextModel().fit(texts[:200], labels[:200])
    pred = np.asarray(m.classes_)[m.predict_proba(texts[200:]).argmax(1)]
    assert (pred == np.asarray(labels[200:])).mean() == 1.0
    w = m.term_weights("negative")
    assert w["terrible"] > 0 > w["great"]


def test_matches_scikit_learn(en_reviews) -> None:
    """Our hand-written probabilities equal LogisticRegression.predict_proba on the same features."""
    from sklearn.linear_model import LogisticRegression

    texts, labels = en_reviews
    m = LinearTextModel(LinearParams(C=2.0)).fit(texts, labels)
    x = m.vectorizer_.transform(texts)
    ref = LogisticRegression(C=2.0, max_iter=2000).fit(x, labels)
    assert np.allclose(m.predict_proba(texts), ref.predict_proba(x), atol=1e-4)


def test_multiclass_and_dense_features(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    texts = [f"item {i}" for i in range(90)]
    labels = [["a", "b", "c"][i % 3] for i in range(90)]
    dense = np.eye(3)[[i % 3 for i in range(90)]] + rng.normal(0, 0.05, (90, 3))
    m = LinearTextModel(LinearParams(min_df=1)).fit(texts, labels, dense)
    assert m.classes_ == ["a", "b", "c"]
    p = m.predict_proba(texts, dense)
    assert p.shape == (90, 3) and np.allclose(p.sum(1), 1)
    assert (np.asarray(m.classes_)[p.argmax(1)] == np.asarray(labels)).mean() == 1.0
    m.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    back = LinearTextModel.load(tmp_path)
    assert np.allclose(back.predict_proba(texts, dense), p, atol=1e-6)


def test_round_trip_without_pickle(tmp_path: Path, zh_reviews) -> None:
    texts, labels = zh_reviews
    m = LinearTextModel().fit(texts, labels)
    m.save(tmp_path)
    back = LinearTextModel.load(tmp_path)
    assert np.allclose(back.predict_proba(texts), m.predict_proba(texts), atol=1e-6)
    for f in tmp_path.glob("*.npy"):
        np.load(f, allow_pickle=False)
