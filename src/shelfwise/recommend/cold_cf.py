"""Collaborative signal for new items, borrowed from their word-TF-IDF neighbours.

A new item has no events, so no collaborative model knows it; but its nearest warm neighbours by text
are known. Averaging the neighbours' ALS item factors (weighted by text similarity) gives the new item
a stand-in factor, and the user's ALS factor dotted with it says how well the item's look-alikes fit
the user's taste as learnt from co-purchases, not only from words. Neighbours come from word 1-2-gram
TF-IDF, which on short product names finds the same product in another colour or size more often than
the sentence embedding does.

What was tried beside this on the Online Retail validation window (three seeded hidden fifths) and left
out because it did not help: item-kNN scores of the neighbours (through embedding or TF-IDF
neighbours), ALS through embedding neighbours, a ridge map from text to ALS factors, and ridge maps
from text to item popularity; see docs/RECOMMEND.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..artifacts import load_array, save_arrays
from .als import ALS
from .data import Interactions
from .history import History
from .itemknn import INTEREST_WEIGHTS
from .similarity import dense_top_n, load_sparse, save_sparse

#: the features :meth:`NeighbourCF.features` returns, in this order
CF_FEATURES = ("c_nb_als_tf", "c_nb_user_tf")


def text_neighbours(vectors: sp.csr_matrix | np.ndarray, warm: np.ndarray, n: int) -> sp.csr_matrix:
    """Rows of cold items: their ``n`` most similar warm items by cosine of ``vectors`` (dense or sparse)."""
    size = len(warm)
    cold, warm_idx = np.flatnonzero(~warm), np.flatnonzero(warm)
    if len(cold) == 0 or len(warm_idx) == 0 or n <= 0:
        return sp.csr_matrix((size, size), dtype=np.float32)
    blocks = []
    for lo in range(0, len(cold), 2048):
        sim = vectors[cold[lo:lo + 2048]] @ vectors[warm_idx].T
        blocks.append(dense_top_n(sim.toarray() if sp.issparse(sim) else np.asarray(sim), n))
    top = sp.vstack(blocks).tocoo()
    return sp.csr_matrix((top.data, (cold[top.row], warm_idx[top.col])), shape=(size, size), dtype=np.float32)


def row_normalised(m: sp.csr_matrix) -> sp.csr_matrix:
    """Rows scaled to sum 1 (empty rows stay empty): a similarity-weighted mean over neighbours."""
    s = np.asarray(m.sum(axis=1)).ravel()
    return (sp.diags(np.divide(1.0, s, out=np.zeros_like(s), where=s > 0)) @ m).tocsr()


class NeighbourCF:
    """ALS seen through the text neighbours of the new items (see the module text).

    ``factors``: ALS dimensions (32: the neighbour average only needs the broad taste directions, and
    the model is refitted once per simulated fold, so it must be cheap).
    """

    def __init__(self, factors: int = 32, seed: int = 42) -> None:
        self.factors, self.seed = factors, seed

    def fit(self, data: Interactions, history: History, nb: sp.csr_matrix) -> "NeighbourCF":
        """``nb``: (items, items) rows of the new items, their warm text neighbours with similarities."""
        self.als_ = ALS(factors=self.factors, seed=self.seed).fit(data, history=history)
        self.nb_ = nb.tocsr()
        self.fac_ = np.asarray(row_normalised(nb) @ self.als_.item_factors_, dtype=np.float32)
        return self

    def bind(self, data: Interactions, history: History) -> None:
        """Attach the live data and history to the inner ALS (after loading)."""
        self.als_.data_, self.als_.history_ = data, history

    def features(self, history: History, rows: np.ndarray, user_idx: np.ndarray, user_ids: np.ndarray,
                 items: np.ndarray) -> dict[str, np.ndarray]:
        """(users, items) per feature of :data:`CF_FEATURES`, for the new ``items``."""
        bought = history.matrix(rows, INTEREST_WEIGHTS, binary=True)
        u = self.als_.user_vectors(user_idx, user_ids)
        return {"c_nb_als_tf": u @ self.fac_[items].T,  # user factor . neighbour-averaged factor
                "c_nb_user_tf": (bought @ self.nb_[items].T).toarray()}  # own purchases of the neighbours

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        save_sparse(directory, "text_neighbours", self.nb_)
        save_arrays(directory, neighbour_factors=self.fac_)
        self.als_.save_state(directory)

    @classmethod
    def load(cls, directory: Path, seed: int = 42) -> "NeighbourCF":
        fac = load_array(directory, "neighbour_factors")
        out = cls(int(fac.shape[1]), seed)
        out.nb_, out.fac_ = load_sparse(directory, "text_neighbours"), fac
        out.als_ = ALS(factors=out.factors, seed=seed)
        out.als_.load_state(directory)
        return out
