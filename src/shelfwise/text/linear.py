"""TF-IDF n-grams (optionally joined by dense sentence vectors) + logistic regression, saved without pickle.

This is the fast, strong classifier for review sentiment on a CPU: word n-grams for languages written
with spaces, character n-grams for Chinese and Japanese (no word segmenter needed). When dense
vectors are given (a frozen sentence encoder's embeddings), they are appended to the sparse n-gram
features, scaled by ``dense_weight``, and one logistic regression learns from both: n-grams bring the
shop's own vocabulary, the encoder brings meaning for words the training set never saw.

Saved as plain files: the vocabulary (JSON list, index order), ``idf.npy``, ``coef.npy``,
``intercept.npy`` and the classes, and rebuilt on load; no pickle, no joblib.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..artifacts import load_array, load_json, save_arrays, save_json
from ..errors import NotFittedError
from ..logs import get_logger

log = get_logger(__name__)

_CJK_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x3040, 0x30FF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF))


def cjk_share(text: str) -> float:
    """The share of a text's non-space characters that are CJK ideographs, kana or hangul."""
    chars = [c for c in text if not c.isspace()]
    if not chars:
        return 0.0
    n = sum(1 for c in chars if any(lo <= ord(c) <= hi for lo, hi in _CJK_RANGES))
    return n / len(chars)


def is_cjk_corpus(texts: list[str], sample: int = 2000) -> bool:
    """Whether most of a corpus is written in CJK script (then character n-grams are used)."""
    step = max(1, len(texts) // sample)
    shares = [cjk_share(t) for t in texts[::step] if t]
    return bool(shares) and float(np.mean(shares)) >= 0.3


def _has_segmenter() -> bool:
    import importlib.util

    return importlib.util.find_spec("jieba") is not None


class CjkAnalyzer:
    """Features for Chinese text: character n-grams plus segmented words and word pairs (jieba).

    Characters need no segmenter and catch short phrases ("不错", "太差了"); words from jieba add the
    units a reader sees ("性价比", "不推荐") and pairs of them. Word features carry a ``w:`` prefix so
    a one-character word and the character stay apart. Lower-cased, as the other analyzers are.
    """

    def __init__(self, ngram_min: int = 1, ngram_max: int = 3) -> None:
        self.ngram_min, self.ngram_max = ngram_min, ngram_max
        import jieba

        jieba.setLogLevel(60)
        self._cut = jieba.lcut

    def __call__(self, text: str) -> list[str]:
        t = text.lower()
        out = [t[i:i + n] for n in range(self.ngram_min, self.ngram_max + 1) for i in range(len(t) - n + 1)
               if not t[i:i + n].isspace()]
        words = [w for w in self._cut(t) if w.strip()]
        out += ["w:" + w for w in words]
        out += ["w:" + a + " " + b for a, b in zip(words, words[1:])]
        return out


@dataclass
class LinearParams:
    """How the n-gram features are built and how strongly the regression is regularised."""

    # 'word', 'char', 'cjk' (characters + segmented words), 'auto' ('cjk' for CJK text, 'word' otherwise),
    # 'none' (dense vectors only)
    analyzer: str = "auto"
    ngram_min: int = 1
    ngram_max: int = 0  # 0: 2 for words, 3 for characters
    min_df: int = 2
    max_features: int = 300_000
    C: float = 4.0
    class_weight: str | None = None  # 'balanced' for skewed labels
    dense_weight: float = 1.0
    max_iter: int = 2000

    def resolved(self, texts: list[str]) -> "LinearParams":
        """Concrete analyzer and n-gram range for this corpus."""
        p = LinearParams(**asdict(self))
        if p.analyzer == "none":
            return p
        if p.analyzer == "auto":
            p.analyzer = ("cjk" if _has_segmenter() else "char") if is_cjk_corpus(texts) else "word"
        if p.ngram_max <= 0:
            p.ngram_max = 3 if p.analyzer in ("char", "cjk") else 2
        return p


class LinearTextModel:
    """N-gram TF-IDF (+ optional dense vectors) and a logistic regression over any number of labels."""

    def __init__(self, params: LinearParams | None = None) -> None:
        self.params = params or LinearParams()
        self.vectorizer_: Any = None
        self.coef_: np.ndarray | None = None
        self.intercept_: np.ndarray | None = None
        self.classes_: list[str] = []
        self.dense_dim_: int = 0

    # --- features ---------------------------------------------------------------------------
    def _vectorizer(self, vocabulary: dict[str, int] | None = None) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer

        p = self.params
        analyzer: Any = p.analyzer
        if analyzer == "cjk":
            analyzer = CjkAnalyzer(p.ngram_min, p.ngram_max)
        ngrams = (1, 1) if callable(analyzer) else (p.ngram_min, p.ngram_max)  # the callable does its own
        return TfidfVectorizer(analyzer=analyzer, ngram_range=ngrams,
                               min_df=1 if vocabulary is not None else p.min_df,
                               max_features=None if vocabulary is not None else p.max_features,
                               sublinear_tf=True, lowercase=True, dtype=np.float32, vocabulary=vocabulary)

    def _features(self, texts: list[str], dense: np.ndarray | None) -> sp.csr_matrix:
        x = (self.vectorizer_.transform(texts) if self.vectorizer_ is not None
             else sp.csr_matrix((len(texts), 0), dtype=np.float32))
        if self.dense_dim_:
            if dense is None or dense.shape != (len(texts), self.dense_dim_):
                got = None if dense is None else dense.shape
                raise ValueError(f"this model needs dense vectors of shape ({len(texts)}, {self.dense_dim_}), got {got}")
            x = sp.hstack([x, sp.csr_matrix(dense.astype(np.float32) * self.params.dense_weight)], format="csr")
        return x

    # --- fit / predict ----------------------------------------------------------------------
    def fit(self, texts: list[str], labels: list[str], dense: np.ndarray | None = None) -> "LinearTextModel":
        return self.fit_grid(texts, labels, dense, c_grid=(self.params.C,))

    def fit_grid(self, texts: list[str], labels: list[str], dense: np.ndarray | None = None,
                 c_grid: tuple[float, ...] = (4.0,), valid: tuple[list[str], list[str]] | None = None,
                 valid_dense: np.ndarray | None = None, score: Any = None) -> "LinearTextModel":
        """Build the features once, fit one regression per C and keep the best on ``valid`` by ``score``.

        ``score(y_true, y_pred) -> float``; with one C (or no validation) that C is used.
        """
        from sklearn.linear_model import LogisticRegression

        self.params = self.params.resolved(texts)
        self.dense_dim_ = 0 if dense is None else int(dense.shape[1])
        if self.params.analyzer == "none":
            if not self.dense_dim_:
                raise ValueError("a dense-only linear model needs dense vectors")
            self.vectorizer_ = None
        else:
            self.vectorizer_ = self._vectorizer()
            self.vectorizer_.fit(texts)
        x = self._features(texts, dense)
        xv = self._features(valid[0], valid_dense) if valid is not None and len(c_grid) > 1 else None
        self.trials_: list[dict[str, float]] = []
        best = -np.inf
        for c in c_grid:
            clf = LogisticRegression(C=c, class_weight=self.params.class_weight, max_iter=self.params.max_iter)
            clf.fit(x, labels)
            value = float(score(valid[1], clf.predict(xv))) if xv is not None and valid is not None else 0.0
            self.trials_.append({"C": c, "valid_score": value})
            log.info("C=%g: validation score %.4f", c, value)
            if value > best:
                best = value
                self.params.C = c
                self.classes_ = [str(k) for k in clf.classes_]
                self.coef_ = clf.coef_.astype(np.float32)
                self.intercept_ = clf.intercept_.astype(np.float32)
        log.info("linear text model: %d n-gram features (%s %d-%d) + %d dense, %d classes, C=%g",
                 len(self.vocabulary), self.params.analyzer, self.params.ngram_min,
                 self.params.ngram_max, self.dense_dim_, len(self.classes_), self.params.C)
        return self

    def decision(self, texts: list[str], dense: np.ndarray | None = None) -> np.ndarray:
        """Raw class scores (logits), shape (n, n_classes)."""
        if self.coef_ is None or self.intercept_ is None:
            raise NotFittedError("the linear text model is not fitted")
        z = np.asarray(self._features(texts, dense) @ self.coef_.T) + self.intercept_
        if len(self.classes_) == 2:  # scikit-learn keeps one row of weights for two classes
            z = np.column_stack([-z[:, 0] / 2, z[:, 0] / 2])
        return z

    def predict_proba(self, texts: list[str], dense: np.ndarray | None = None) -> np.ndarray:
        z = self.decision(texts, dense)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    @property
    def n_parameters(self) -> int:
        return 0 if self.coef_ is None else int(self.coef_.size + self.intercept_.size)  # type: ignore[union-attr]

    def term_weights(self, cls: str) -> dict[str, float]:
        """Each n-gram's weight toward ``cls`` (positive pushes toward it): used to name complaint terms."""
        if self.coef_ is None:
            raise NotFittedError("the linear text model is not fitted")
        k = self.classes_.index(cls)
        if len(self.classes_) == 2:
            row = self.coef_[0] * (1 if k == 1 else -1)
        else:
            row = self.coef_[k]
        return {t: float(row[i]) for t, i in self.vocabulary.items()}

    @property
    def vocabulary(self) -> dict[str, int]:
        return {} if self.vectorizer_ is None else dict(self.vectorizer_.vocabulary_)

    # --- persistence --------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        if self.coef_ is None:
            raise NotFittedError("the linear text model is not fitted")
        vocab = self.vocabulary
        terms = [""] * len(vocab)
        for t, i in vocab.items():
            terms[i] = t
        idf = self.vectorizer_.idf_ if self.vectorizer_ is not None else np.zeros(0)
        save_json(directory, "linear_params", asdict(self.params))
        save_json(directory, "linear_vocabulary", terms)
        save_json(directory, "linear_classes", {"classes": self.classes_, "dense_dim": self.dense_dim_})
        save_arrays(directory, linear_idf=idf.astype(np.float32), linear_coef=self.coef_,
                    linear_intercept=self.intercept_)

    @classmethod
    def load(cls, directory: str | Path) -> "LinearTextModel":
        m = cls(LinearParams(**load_json(directory, "linear_params")))
        terms = load_json(directory, "linear_vocabulary")
        if m.params.analyzer != "none":
            m.vectorizer_ = m._vectorizer({t: i for i, t in enumerate(terms)})
            m.vectorizer_.idf_ = load_array(directory, "linear_idf").astype(np.float64)
        meta = load_json(directory, "linear_classes")
        m.classes_ = list(meta["classes"])
        m.dense_dim_ = int(meta["dense_dim"])
        m.coef_ = load_array(directory, "linear_coef")
        m.intercept_ = load_array(directory, "linear_intercept")
        return m
