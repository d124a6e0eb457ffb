"""The reward model behind the direct-method and doubly robust estimators.

``logit q(x, a, k) = b + u[item a] + v[position k] + sum_c w_c[value of context column c]``: an L2
logistic regression on one-hot features. It is additive in the logit, so for small click rates it is a
position-based model (item appeal times slot attention) with context effects, and scoring every
candidate item for a row costs one vector add. Models are cross-fitted (each row's prediction comes
from a model that did not see its display) so DR keeps its guarantee even when the model overfits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from .logged import LoggedDisplays

_UNSEEN = -1


@dataclass
class RewardModel:
    """A fitted reward model; see the module docstring for its form."""

    intercept: float
    item: np.ndarray               # (A,)
    position: np.ndarray           # (K,) for positions 1..K (later positions use the last)
    context: dict[str, dict[str, float]]

    def _base(self, logged: LoggedDisplays, rows: np.ndarray) -> np.ndarray:
        k = np.clip(logged.position[rows] - 1, 0, len(self.position) - 1)
        base = self.intercept + self.position[k]
        for name, coef in self.context.items():
            vals = logged.context[name][rows]
            base = base + np.fromiter((coef.get(v, 0.0) if v is not None else 0.0 for v in vals),
                                      dtype=np.float64, count=len(rows))
        return base

    def predict_logged(self, logged: LoggedDisplays, rows: np.ndarray) -> np.ndarray:
        """q(x_j, a_j, k_j): the predicted reward of what was actually shown."""
        z = self._base(logged, rows) + self.item[logged.item[rows]]
        return 1.0 / (1.0 + np.exp(-z))

    def predict_all(self, logged: LoggedDisplays, rows: np.ndarray) -> np.ndarray:
        """q(x_j, a, k_j) for every item a: (len(rows), A)."""
        z = self._base(logged, rows)[:, None] + self.item[None, :]
        return 1.0 / (1.0 + np.exp(-z))


def _design(logged: LoggedDisplays, rows: np.ndarray, context: Sequence[str],
            vocab: dict[str, dict[str, int]] | None = None) -> tuple[sp.csr_matrix, dict[str, dict[str, int]]]:
    """One-hot (item, position, context values) design matrix for ``rows``; builds the vocabulary when None."""
    n_items, k_max = len(logged.item_ids), logged.n_positions
    if vocab is None:
        vocab = {}
        for name in context:
            values = sorted({v for v in logged.context[name][rows] if v is not None})
            vocab[name] = {v: i for i, v in enumerate(values)}
    cols = [logged.item[rows], n_items + logged.position[rows] - 1]
    offset = n_items + k_max
    for name in context:
        index = vocab[name]
        col = np.fromiter((index.get(v, _UNSEEN) if v is not None else _UNSEEN for v in logged.context[name][rows]),
                          dtype=np.int64, count=len(rows))
        cols.append(np.where(col >= 0, offset + col, _UNSEEN))
        offset += len(index)
    c = np.stack(cols, axis=1)
    r = np.repeat(np.arange(len(rows)), c.shape[1])
    c = c.ravel()
    keep = c >= 0
    x = sp.csr_matrix((np.ones(int(keep.sum())), (r[keep], c[keep])), shape=(len(rows), offset))
    return x, vocab


def fit_reward_model(logged: LoggedDisplays, rows: np.ndarray, context: Sequence[str] = (),
                     regularisation: float = 1.0) -> RewardModel:
    """Fit on ``rows`` of the logs; ``regularisation`` is sklearn's C (smaller = stronger L2 penalty)."""
    n_items, k_max = len(logged.item_ids), logged.n_positions
    y = logged.reward[rows] > 0
    if y.all() or not y.any():
        rate = float(np.clip(y.mean(), 1e-6, 1 - 1e-6))
        return RewardModel(float(np.log(rate / (1 - rate))), np.zeros(n_items), np.zeros(k_max),
                           {name: {} for name in context})
    x, vocab = _design(logged, rows, context)
    lr = LogisticRegression(C=regularisation, max_iter=2000, solver="lbfgs")
    lr.fit(x, y)
    w = lr.coef_[0]
    ctx: dict[str, dict[str, float]] = {}
    offset = n_items + k_max
    for name in context:
        ctx[name] = {v: float(w[offset + i]) for v, i in vocab[name].items()}
        offset += len(vocab[name])
    return RewardModel(float(lr.intercept_[0]), w[:n_items].copy(), w[n_items:n_items + k_max].copy(), ctx)


def cross_fit(logged: LoggedDisplays, context: Sequence[str] = (), folds: int = 2, seed: int = 0,
              regularisation: float = 1.0) -> list[tuple[np.ndarray, RewardModel]]:
    """``folds`` (held-out rows, model fitted on the other folds) pairs, split by display."""
    if folds < 2:
        rows = np.arange(logged.n)
        return [(rows, fit_reward_model(logged, rows, context, regularisation))]
    fold_of_cluster = np.random.default_rng(seed).integers(0, folds, size=logged.n_clusters)
    fold = fold_of_cluster[logged.cluster]
    out = []
    for f in range(folds):
        held = np.flatnonzero(fold == f)
        train = np.flatnonzero(fold != f)
        if held.size:
            out.append((held, fit_reward_model(logged, train, context, regularisation)))
    return out
