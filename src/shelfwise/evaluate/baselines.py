"""Peer models that shelfwise is measured against: plain, well-known methods behind the same contract.

They are deliberately independent of :mod:`shelfwise.recommend` (which has its own, tuned versions of
some of them inside the hybrid), so that "shelfwise against popularity / buy-again / ALS / item-kNN"
compares with what a shop would get from the textbook method or the ``implicit`` library as-is:

- :class:`Popularity`: distinct buyers per item over the whole training period.
- :class:`BuyAgainPeer`: the user's own past purchases, most often bought first, ties by recency.
- :class:`ImplicitALS`: ``implicit``'s AlternatingLeastSquares on the user x item matrix.
- :class:`ImplicitBM25`: ``implicit``'s item-kNN with BM25 weighting (``BM25Recommender``).
- :class:`TfidfContent`: scikit-learn TF-IDF of item text; a user is the sum of what they touched.

None filters items the user already has (repeat purchase is real), as the evaluation never does.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ..config import get_settings
from ..recommend.base import Recommender
from ..recommend.data import Interactions

#: the weights of each event type in the peers' user x item matrix: buying says most
PEER_WEIGHTS: dict[str, float] = {"purchase": 1.0, "cart": 0.5, "favorite": 0.5, "click": 0.25, "view": 0.25}


def user_item_counts(data: Interactions, weights: dict[str, float] | None = None) -> sp.csr_matrix:
    """Known users x items, summed event weights (purchases 1, browsing less), float32."""
    m = data.matrix(weights or PEER_WEIGHTS)
    m.eliminate_zeros()
    return m.astype(np.float32)


def _purchases(data: Interactions) -> Any:
    """The training rows that count as buying (every interest event when the shop logs no purchases)."""
    ev = data.events
    bought = ev[ev["event"] == "purchase"]
    return bought if len(bought) else ev[ev["event"].isin(list(PEER_WEIGHTS))]


class Popularity(Recommender):
    """The same list for everyone: items by how many distinct users bought them.

    ``window_days``: count only the last days before the end of training (None: all of it).
    """

    name: ClassVar[str] = "popularity"

    def __init__(self, window_days: float | None = None) -> None:
        super().__init__(window_days=window_days)
        self.window_days = window_days

    def _fit(self, data: Interactions) -> None:
        ev = _purchases(data)
        if self.window_days is not None and len(ev):
            start = ev["timestamp"].max() - np.timedelta64(int(self.window_days * 86400), "s")
            ev = ev[ev["timestamp"] > start]
        pairs = ev.loc[ev["user_idx"] >= 0, ["user_idx", "item_idx"]].drop_duplicates()
        self.counts_ = np.bincount(pairs["item_idx"].to_numpy(np.int64), minlength=data.n_items).astype(np.float64)
        # anonymous purchases break ties: they are demand too, just without a user
        anon = ev.loc[ev["user_idx"] < 0, "item_idx"].to_numpy(np.int64)
        self.counts_ += 1e-6 * np.bincount(anon, minlength=data.n_items)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        s = np.where(self.counts_ > 0, self.counts_, -np.inf)
        return np.broadcast_to(s, (len(user_idx), len(s))).copy()


class BuyAgainPeer(Recommender):
    """The user's past purchases: number of purchase events, ties broken by the latest purchase."""

    name: ClassVar[str] = "buy-again"

    def _fit(self, data: Interactions) -> None:
        ev = _purchases(data)
        ev = ev[ev["user_idx"] >= 0]
        u, i = ev["user_idx"].to_numpy(np.int64), ev["item_idx"].to_numpy(np.int64)
        shape = (data.n_users, data.n_items)
        self.counts_ = sp.csr_matrix((np.ones(len(u)), (u, i)), shape=shape)
        self.counts_.sum_duplicates()
        t = ev["timestamp"].to_numpy("datetime64[s]").astype(np.int64).astype(np.float64)
        span = max(float(t.max() - t.min()), 1.0) if len(t) else 1.0
        recency = (t - (t.min() if len(t) else 0.0)) / span * 0.999  # in [0, 1): never outweighs one purchase
        frame = ev.assign(r=recency).groupby(["user_idx", "item_idx"], sort=True)["r"].max()
        rows = frame.index.get_level_values(0).to_numpy(np.int64)
        cols = frame.index.get_level_values(1).to_numpy(np.int64)
        self.recency_ = sp.csr_matrix((frame.to_numpy(), (rows, cols)), shape=shape)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        out = np.full((len(user_idx), self.data_.n_items), -np.inf)
        rows = np.flatnonzero(user_idx >= 0)
        if len(rows):
            c = self.counts_[user_idx[rows]].tocoo()
            r = self.recency_[user_idx[rows]]
            out[rows[c.row], c.col] = c.data + np.asarray(r[c.row, c.col]).ravel()
        return out


class ImplicitALS(Recommender):
    """implicit's ALS on confidences ``1 + alpha * log1p(counts)`` (Hu, Koren & Volinsky 2008)."""

    name: ClassVar[str] = "implicit-als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, iterations: int = 15, alpha: float = 2.0,
                 seed: int = 42) -> None:
        super().__init__(factors=factors, regularization=regularization, iterations=iterations, alpha=alpha,
                         seed=seed)
        self.factors, self.regularization, self.iterations, self.alpha, self.seed = (
            factors, regularization, iterations, alpha, seed)

    def _fit(self, data: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        m = user_item_counts(data)
        m.data = (1.0 + self.alpha * np.log1p(m.data)).astype(np.float32)
        threads = get_settings().blas_threads
        with threadpool_limits(threads, "blas"):
            model = AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                            iterations=self.iterations, random_state=self.seed,
                                            num_threads=threads)
            model.fit(m, show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.has_events_ = np.asarray(m.sum(axis=0)).ravel() > 0
        self.has_history_ = np.diff(m.indptr) > 0

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        out = np.full((len(user_idx), self.data_.n_items), -np.inf)
        rows = np.flatnonzero((user_idx >= 0) & self.has_history_[np.maximum(user_idx, 0)])
        if len(rows):
            s = self.user_factors_[user_idx[rows]] @ self.item_factors_.T
            s[:, ~self.has_events_] = -np.inf
            out[rows] = s
        return out


class ImplicitBM25(Recommender):
    """implicit's ``BM25Recommender``: item-item similarity of BM25-weighted columns, top ``K`` kept."""

    name: ClassVar[str] = "implicit-bm25"

    def __init__(self, K: int = 100, K1: float = 1.2, B: float = 0.75) -> None:  # noqa: N803 (implicit's names)
        super().__init__(K=K, K1=K1, B=B)
        self.K, self.K1, self.B = K, K1, B

    def _fit(self, data: Interactions) -> None:
        from implicit.nearest_neighbours import BM25Recommender, ItemItemRecommender, bm25_weight

        self.user_items_ = user_item_counts(data)
        with threadpool_limits(get_settings().blas_threads, "blas"):
            model = BM25Recommender(K=self.K, K1=self.K1, B=self.B, num_threads=get_settings().blas_threads)
            # what BM25Recommender.fit does, with the CSR conversion it would otherwise warn about
            weighted = bm25_weight(self.user_items_.T, self.K1, self.B).T.tocsr()
            ItemItemRecommender.fit(model, weighted, show_progress=False)
        self.similarity_ = sp.csr_matrix(model.similarity, dtype=np.float32)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        out = np.full((len(user_idx), self.data_.n_items), -np.inf)
        rows = np.flatnonzero(user_idx >= 0)
        if len(rows):
            s = (self.user_items_[user_idx[rows]] @ self.similarity_).toarray().astype(np.float64)
            s[s == 0] = -np.inf  # as implicit: only items reachable from the user's history are ranked
            out[rows] = s
        return out


def item_documents(data: Interactions) -> list[str]:
    """Title, category, brand and description of each item, in index order ("" when it has none)."""
    cols = [c for c in ("title", "category", "brand", "description") if c in data.items.columns]
    frame = data.items[cols].astype("string").fillna("")
    return [" ".join(part for part in row if part).strip() for row in frame.itertuples(index=False)]


class TfidfContent(Recommender):
    """Cosine between TF-IDF item vectors and the user's profile (their items' vectors, count-weighted).

    ``analyzer`` / ``ngram_range`` are scikit-learn's: word uni- and bigrams by default.
    """

    name: ClassVar[str] = "tfidf"

    def __init__(self, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 2), min_df: int = 1) -> None:
        super().__init__(analyzer=analyzer, ngram_range=ngram_range, min_df=min_df)
        self.analyzer, self.ngram_range, self.min_df = analyzer, tuple(ngram_range), min_df

    def _fit(self, data: Interactions) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        docs = item_documents(data)
        self.has_text_ = np.array([bool(d) for d in docs])
        vec = TfidfVectorizer(analyzer=self.analyzer, ngram_range=self.ngram_range, min_df=self.min_df,
                              sublinear_tf=True, lowercase=True, dtype=np.float32)
        if self.has_text_.any():
            self.item_vectors_ = sp.csr_matrix(vec.fit_transform(docs), dtype=np.float32)
        else:
            self.item_vectors_ = sp.csr_matrix((data.n_items, 1), dtype=np.float32)
        m = user_item_counts(data)
        m.data = np.log1p(m.data)
        self.profiles_ = sp.csr_matrix(m @ self.item_vectors_)

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        out = np.full((len(user_idx), self.data_.n_items), -np.inf)
        rows = np.flatnonzero(user_idx >= 0)
        if not len(rows):
            return out
        p = self.profiles_[user_idx[rows]]
        norms = np.sqrt(np.asarray(p.multiply(p).sum(axis=1)).ravel())
        s = (p @ self.item_vectors_.T).toarray().astype(np.float64)
        s = np.divide(s, norms[:, None], out=np.zeros_like(s), where=norms[:, None] > 0)
        s[:, ~self.has_text_] = -np.inf
        s[norms == 0] = -np.inf
        out[rows] = s
        return out


#: every peer by its name on the command line and in the benchmark
PEERS: dict[str, type[Recommender]] = {cls.name: cls for cls in
                                        (Popularity, BuyAgainPeer, ImplicitALS, ImplicitBM25, TfidfContent)}
