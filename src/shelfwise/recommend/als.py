"""Implicit-feedback matrix factorisation (ALS, from the ``implicit`` library).

Confidence grows with the log of a user's weighted events on an item. Users who arrive after training,
or whose history changed, get their factors recomputed from the fixed item factors at request time
(implicit's ``recalculate_user``), so they are personal at once without a refit. Factors are saved as
``.npy`` arrays, never pickled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ..artifacts import load_array, save_arrays
from ..config import get_settings
from .generator import HistoryRecommender
from .itemknn import INTEREST_WEIGHTS


class ALS(HistoryRecommender):
    """implicit's AlternatingLeastSquares on ``1 + alpha * log1p(weighted events)`` confidences."""

    name: ClassVar[str] = "als"

    def __init__(self, factors: int = 64, regularization: float = 0.05, iterations: int = 15, alpha: float = 1.0,
                 seed: int = 42) -> None:
        super().__init__(factors=factors, regularization=regularization, iterations=iterations, alpha=alpha,
                         seed=seed)
        self.factors, self.regularization, self.iterations = factors, regularization, iterations
        self.alpha, self.seed = alpha, seed

    def _confidence(self, rows: np.ndarray) -> sp.csr_matrix:
        m = self.history_.matrix(rows, INTEREST_WEIGHTS)
        m.data = 1.0 + self.alpha * np.log1p(m.data)
        return m.astype(np.float32)

    def _model(self) -> Any:
        """A fresh implicit model; call inside ``threadpool_limits`` (implicit checks the BLAS pool)."""
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares(factors=self.factors, regularization=self.regularization,
                                       iterations=self.iterations, random_state=self.seed,
                                       num_threads=get_settings().blas_threads)

    def _fit(self, data: Any) -> None:
        import implicit.cpu.als  # noqa: F401  (load its BLAS before limiting the thread pools)

        with threadpool_limits(get_settings().blas_threads, "blas"):
            model = self._model()  # implicit checks the BLAS thread pool when it is built
            model.fit(self._confidence(np.arange(self.history_.n_known)), show_progress=False)
        self.model_ = model
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float32)
        self.fitted_until_ = len(self.history_.user)  # events the stored user factors already saw
        self._fit_counts = np.diff(self.history_.indptr[: self.history_.n_known + 1])

    def user_vectors(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        """Factors per user: stored ones, or recomputed when the user is new or has new events."""
        rows = self._rows(user_idx, user_ids)
        out = np.zeros((len(rows), self.item_factors_.shape[1]), dtype=np.float32)
        stored = (rows >= 0) & (rows < len(self.user_factors_))
        out[stored] = self.user_factors_[rows[stored]]
        fresh = (rows >= 0) & (~stored | self._changed(rows))
        if fresh.any():
            with threadpool_limits(get_settings().blas_threads, "blas"):
                out[fresh] = self.model_.recalculate_user(np.flatnonzero(fresh), self._confidence(rows[fresh]))
        return out

    def _changed(self, rows: np.ndarray) -> np.ndarray:
        """Whether a row's history holds events the fit did not see (added by partial_fit or a request)."""
        if len(self.history_.user) == self.fitted_until_:
            return np.zeros(len(rows), dtype=bool)
        counts = np.diff(self.history_.indptr)
        fitted = np.zeros(self.history_.n_rows, dtype=np.int64)
        fitted[:len(self.fit_counts_)] = self.fit_counts_
        return counts[np.maximum(rows, 0)] != fitted[np.maximum(rows, 0)]

    @property
    def fit_counts_(self) -> np.ndarray:
        """Events per known user at fit time."""
        return self._fit_counts

    def _score(self, user_idx: np.ndarray, user_ids: np.ndarray) -> np.ndarray:
        u = self.user_vectors(user_idx, user_ids)
        s = (u @ self.item_factors_.T).astype(np.float64)
        s[~np.any(u != 0, axis=1)] = -np.inf  # no history: ALS has nothing to say
        return s

    def _item_scores(self, item_idx: np.ndarray) -> np.ndarray:
        f = self.item_factors_
        norms = np.linalg.norm(f, axis=1) + 1e-9
        return ((f[item_idx] / norms[item_idx, None]) @ (f / norms[:, None]).T).astype(np.float64)

    def save_state(self, directory: Path) -> None:
        save_arrays(directory, user_factors=self.user_factors_, item_factors=self.item_factors_,
                    fit_counts=self.fit_counts_)

    def load_state(self, directory: Path) -> None:
        self.user_factors_ = load_array(directory, "user_factors")
        self.item_factors_ = load_array(directory, "item_factors")
        self._fit_counts = load_array(directory, "fit_counts")
        self.fitted_until_ = -1  # compare per row
        import implicit.cpu.als  # noqa: F401

        with threadpool_limits(get_settings().blas_threads, "blas"):
            self.model_ = self._model()
        self.model_.user_factors = self.user_factors_
        self.model_.item_factors = self.item_factors_
