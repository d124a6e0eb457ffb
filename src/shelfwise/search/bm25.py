"""A compact Okapi BM25 over a scipy sparse matrix: one sparse-vector product scores every document.

The document-term weights are computed once at build time (idf x saturated term frequency with length
normalisation), so a query is the sum of the weights of its terms: ``W @ q``. This is the "Lucene"
variant of BM25 (idf = log(1 + (N - df + 0.5) / (df + 0.5)), never negative).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp


class BM25:
    """BM25 over token lists. ``tokenizer`` turns a text into terms (see :mod:`.tokenize`)."""

    def __init__(self, tokenizer: Callable[[object], list[str]], k1: float = 1.2, b: float = 0.75) -> None:
        self.tokenizer = tokenizer
        self.k1 = k1
        self.b = b
        self.vocab: dict[str, int] = {}
        self.weights: sp.csc_matrix | None = None
        self.n_docs = 0

    def fit(self, texts: Sequence[object]) -> "BM25":
        rows: list[int] = []
        cols: list[int] = []
        for d, text in enumerate(texts):
            for tok in self.tokenizer(text):
                j = self.vocab.setdefault(tok, len(self.vocab))
                rows.append(d)
                cols.append(j)
        n, v = len(texts), max(len(self.vocab), 1)
        tf = sp.coo_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n, v)).tocsr()
        tf.sum_duplicates()
        dl = np.asarray(tf.sum(axis=1)).ravel()
        avgdl = float(dl.mean()) if n and dl.mean() > 0 else 1.0
        df = np.bincount(tf.indices, minlength=v).astype(np.float64)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        norm = (self.k1 * (1 - self.b + self.b * dl / avgdl)).astype(np.float32)
        tf = tf.tocoo()
        data = idf[tf.col] * tf.data * (self.k1 + 1) / (tf.data + norm[tf.row])
        self.weights = sp.csc_matrix((data.astype(np.float32), (tf.row, tf.col)), shape=(n, v))
        self.idf = idf
        self.n_docs = n
        return self

    def query_vector(self, text: object) -> sp.csr_matrix:
        """The query as a term-count vector over this index's vocabulary (unknown terms are dropped)."""
        counts: dict[int, float] = {}
        for tok in self.tokenizer(text):
            j = self.vocab.get(tok)
            if j is not None:
                counts[j] = counts.get(j, 0.0) + 1.0
        v = max(len(self.vocab), 1)
        if not counts:
            return sp.csr_matrix((1, v), dtype=np.float32)
        idx = np.fromiter(counts.keys(), dtype=np.int64)
        return sp.csr_matrix((np.fromiter(counts.values(), dtype=np.float32), (np.zeros(len(idx), dtype=np.int64), idx)),
                             shape=(1, v))

    def scores(self, queries: Sequence[object]) -> np.ndarray:
        """A dense (n_queries, n_docs) score matrix; fine for catalogs up to ~10^5 items per batch."""
        if self.weights is None:
            raise RuntimeError("BM25.fit must run before scores")
        if not len(queries):
            return np.zeros((0, self.n_docs), dtype=np.float32)
        q = sp.vstack([self.query_vector(t) for t in queries]).tocsr()
        return np.asarray((q @ self.weights.T).todense(), dtype=np.float32)

    def coverage(self, queries: Sequence[object]) -> np.ndarray:
        """How much of each query this index understands: the idf mass of its known terms over the idf
        mass of all its terms, an unknown term counting as the rarest known one. A typo'd word, or a
        word every document shares, leaves coverage low, which tells fusion to trust this view less."""
        top = float(self.idf.max()) if self.n_docs and len(self.idf) else 1.0
        out = np.zeros(len(queries), dtype=np.float32)
        for i, text in enumerate(queries):
            toks = self.tokenizer(text)
            if not toks:
                continue
            known = sum(float(self.idf[self.vocab[t]]) for t in toks if t in self.vocab)
            unknown = sum(top for t in toks if t not in self.vocab)
            total = known + unknown
            out[i] = known / total if total > 0 else 0.0
        return out
