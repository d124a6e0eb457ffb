"""Sparse item-item similarity helpers shared by co-visitation, item-kNN and the content neighbours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..artifacts import load_array, save_arrays
from .generator import HistoryRecommender


def top_n_per_row(m: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Keep the ``n`` largest entries of every row (ties broken by column), drop explicit zeros."""
    m = sp.csr_matrix(m)
    m.eliminate_zeros()
    lengths = np.diff(m.indptr)
    if lengths.max(initial=0) <= n:
        return m
    keep = np.ones(m.nnz, dtype=bool)
    for r in np.flatnonzero(lengths > n):
        lo, hi = m.indptr[r], m.indptr[r + 1]
        row = m.data[lo:hi]
        drop = np.argpartition(-row, n)[n:]
        keep[lo + drop] = False
    rows = np.repeat(np.arange(m.shape[0]), lengths)
    return sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape)


def dense_top_n(sim: np.ndarray, n: int) -> sp.csr_matrix:
    """A dense similarity block as a sparse matrix of each row's ``n`` best (positive) entries."""
    n = min(n, sim.shape[1])
    if n == 0:
        return sp.csr_matrix(sim.shape, dtype=np.float32)
    idx = np.argpartition(-sim, n - 1, axis=1)[:, :n]
    vals = np.take_along_axis(sim, idx, axis=1)
    rows = np.repeat(np.arange(sim.shape[0]), n)
    keep = vals.ravel() > 0
    return sp.csr_matrix((vals.ravel()[keep], (rows[keep], idx.ravel()[keep])), shape=sim.shape, dtype=np.float32)


def save_sparse(directory: Path, name: str, m: sp.csr_matrix) -> None:
    m = sp.csr_matrix(m)
    save_arrays(directory, **{f"{name}_data": m.data, f"{name}_indices": m.indices, f"{name}_indptr": m.indptr,
                              f"{name}_shape": np.asarray(m.shape, dtype=np.int64)})


def load_sparse(directory: Path, name: str) -> sp.csr_matrix:
    shape = tuple(int(x) for x in load_array(directory, f"{name}_shape"))
    return sp.csr_matrix((load_array(directory, f"{name}_data"), load_array(directory, f"{name}_indices"),
                          load_array(directory, f"{name}_indptr")), shape=shape)


def sparse_scores(user_items: sp.csr_matrix, sim: sp.csr_matrix) -> np.ndarray:
    """Dense ``user_items @ sim`` with -inf where nothing connects a user to an item."""
    s = (user_items @ sim).tocsr()
    out = np.full(s.shape, -np.inf)
    coo = s.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


class ItemSimilarityRecommender(HistoryRecommender):
    """A history recommender whose fitted state is one sparse item-item similarity matrix ``sim_``.

    Subclasses learn ``sim_`` in ``fit`` and score users through it; similar items, saving and
    loading then follow from the matrix alone, the same way for every such model.
    """

    sim_: sp.csr_matrix

    def _item_scores(self, item_idx: np.ndarray) -> np.ndarray:
        s = self.sim_[item_idx].toarray().astype(np.float64)
        s[s == 0] = -np.inf
        return s

    def save_state(self, directory: Path) -> None:
        save_sparse(directory, "sim", self.sim_)

    def load_state(self, directory: Path) -> None:
        self.sim_ = load_sparse(directory, "sim")
