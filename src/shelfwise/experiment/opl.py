"""Off-policy learning: a display policy learned from logged clicks, weighted by inverse propensity.

The learner is the IPW classification reduction (Beygelzimer and Langford, 2009; the ``IPWLearner`` of
the Open Bandit Pipeline): maximising the IPW estimate of a policy's value, ``sum_j r_j pi(a_j|x_j,k_j) / p_j``,
is a classification of the clicked rows into their items with sample weight ``1 / p_j``. A multinomial
logistic regression on one-hot (surface, position, context values) does it; items never clicked in
training get no score. The policy mixes the classifier's choice with uniform exploration over the
surface's action set, ``pi(a) = (1 - eps) c(a) + eps / |A|``, which keeps support for evaluation. By
default ``c`` is the classifier's own probability of each item (a hedge across the items the weighted
clicks point to); ``greedy=True`` puts all of ``1 - eps`` on the best-scored item instead. With few clicks
the greedy policy is a bet on one item whose evidence may be a single heavily weighted click, and on the
Open Bandit sample it did worse than the hedge in every campaign (see docs/EXPERIMENTS.md).

Per slot, the policy chooses independently (the slot-level setting of the estimators); to serve a whole
display without repeats, rank items by :meth:`LearnedPolicy.scores` and place them with
:func:`shelfwise.experiment.placement.place`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from .. import artifacts
from ..errors import InputError
from ..logs import get_logger
from .logged import LoggedDisplays
from .ope import OPEResult, evaluate
from .targets import TargetPolicy, uniform_policy

log = get_logger(__name__)

KIND = "experiment.ipw-policy"


@dataclass
class LearnedPolicy:
    """A learned display policy over items, given surface, position and context (see the module docstring)."""

    item_ids: np.ndarray                 # (A,) str
    surfaces: list[str]
    context: list[str]
    vocab: dict[str, list[str]]          # feature block -> values (surface, position, each context column)
    coef: np.ndarray                     # (A, F); rows of items never clicked in training are -inf scores
    intercept: np.ndarray                # (A,)
    epsilon: float
    params: dict[str, float]
    greedy: bool = False                 # True: all of 1 - epsilon on the argmax, not the classifier's probabilities

    def _design(self, logged: LoggedDisplays, rows: np.ndarray) -> sp.csr_matrix:
        blocks = {"surface": np.asarray(logged.surfaces, dtype=object)[logged.surface[rows]],
                  "position": logged.position[rows].astype(str)}
        for name in self.context:
            blocks[name] = np.asarray(["" if v is None else str(v) for v in logged.context[name][rows]], dtype=object)
        return _one_hot(blocks, self.vocab, len(rows))

    def scores(self, logged: LoggedDisplays, rows: np.ndarray) -> np.ndarray:
        """(len(rows), A) scores; items outside the row's action set, or never clicked, are -inf."""
        s = np.asarray(self._design(logged, rows) @ self.coef.T) + self.intercept[None, :]
        idx = {v: i for i, v in enumerate(self.item_ids)}
        cols = np.array([idx.get(v, -1) for v in logged.item_ids])
        out = np.full((len(rows), len(logged.item_ids)), -np.inf)
        known = cols >= 0
        out[:, known] = s[:, cols[known]]
        return np.where(logged.actions[logged.surface[rows]], out, -np.inf)

    def as_target(self, logged: LoggedDisplays, name: str = "learned") -> TargetPolicy:
        """The policy's probabilities for the logged rows, one group per distinct (surface, position, context)."""
        parts = [logged.surface.astype(str), logged.position.astype(str)]
        parts += [np.asarray(["" if v is None else str(v) for v in logged.context[c]], dtype=object)
                  for c in self.context]
        key = parts[0].astype(object)
        for p in parts[1:]:
            key = key + "\x1f" + p
        _, first, group = np.unique(key.astype(str), return_index=True, return_inverse=True)
        s = self.scores(logged, first)
        allowed = logged.actions[logged.surface[first]].astype(np.float64)
        uniform = allowed / allowed.sum(axis=1, keepdims=True)
        finite = np.isfinite(s)
        has_score = finite.any(axis=1)
        if self.greedy:
            choice = np.zeros_like(s)
            choice[np.arange(len(first)), np.argmax(s, axis=1)] = 1.0
        else:
            z = np.where(finite, s - np.max(np.where(finite, s, -np.inf), axis=1, keepdims=True), -np.inf)
            e = np.where(finite, np.exp(z), 0.0)
            choice = e / np.maximum(e.sum(axis=1, keepdims=True), 1e-300)
        probs = self.epsilon * uniform + (1.0 - self.epsilon) * choice
        # where no item of the surface was ever clicked in training, the policy is uniform
        probs[~has_score] = uniform[~has_score]
        return TargetPolicy(name, group.astype(np.int64), sp.csr_matrix(probs))

    def save(self, directory: str | Path) -> None:
        artifacts.save_manifest(directory, KIND, {**self.params, "epsilon": self.epsilon, "context": self.context,
                                                 "greedy": self.greedy},
                                {"items": len(self.item_ids), "surfaces": self.surfaces})
        artifacts.save_arrays(directory, coef=self.coef, intercept=self.intercept,
                              item_ids=self.item_ids.astype(str))
        artifacts.save_json(directory, "vocab", {"vocab": self.vocab, "surfaces": self.surfaces,
                                                 "context": self.context})

    @classmethod
    def load(cls, directory: str | Path) -> "LearnedPolicy":
        manifest = artifacts.load_manifest(directory, KIND)
        v = artifacts.load_json(directory, "vocab")
        params = {k: val for k, val in manifest["params"].items() if k not in ("epsilon", "context", "greedy")}
        return cls(artifacts.load_array(directory, "item_ids"), v["surfaces"], v["context"], v["vocab"],
                   artifacts.load_array(directory, "coef"), artifacts.load_array(directory, "intercept"),
                   float(manifest["params"]["epsilon"]), params, bool(manifest["params"].get("greedy", False)))


def _one_hot(blocks: dict[str, np.ndarray], vocab: dict[str, list[str]], n: int) -> sp.csr_matrix:
    rows, cols, offset = [], [], 0
    for name, values in vocab.items():
        index = {v: i for i, v in enumerate(values)}
        col = np.fromiter((index.get(v, -1) for v in blocks[name]), dtype=np.int64, count=n)
        ok = col >= 0
        rows.append(np.flatnonzero(ok))
        cols.append(offset + col[ok])
        offset += len(values)
    r, c = np.concatenate(rows), np.concatenate(cols)
    return sp.csr_matrix((np.ones(r.size), (r, c)), shape=(n, offset))


def learn_policy(logged: LoggedDisplays, rows: np.ndarray | None = None, *, context: Sequence[str] = (),
                 epsilon: float = 0.1, regularisation: float = 1.0, max_weight: float | None = None,
                 greedy: bool = False) -> LearnedPolicy:
    """Fit the IPW policy on ``rows`` of the logs (default all). ``max_weight`` caps ``1 / p``."""
    logged.require_propensity()
    if not 0.0 <= epsilon <= 1.0:
        raise InputError(f"epsilon must be in [0, 1], not {epsilon}", field="epsilon")
    if max_weight is not None and not (np.isfinite(max_weight) and max_weight > 0):
        raise InputError(f"the weight cap (--max-weight) must be a positive number, not {max_weight}",
                         field="max_weight")
    rows = np.arange(logged.n) if rows is None else rows
    clicked = rows[logged.reward[rows] > 0]
    if clicked.size == 0:
        raise InputError("no clicks in the logs used for learning: a policy cannot be learned from them")
    context = list(context)
    vocab: dict[str, list[str]] = {"surface": list(logged.surfaces),
                                   "position": [str(k) for k in range(1, logged.n_positions + 1)]}
    for name in context:
        vocab[name] = sorted({"" if v is None else str(v) for v in logged.context[name][rows]})
    base = LearnedPolicy(logged.item_ids, list(logged.surfaces), context, vocab, np.zeros((0, 0)), np.zeros(0),
                         epsilon, {"regularisation": regularisation, "max_weight": max_weight or 0.0}, greedy)
    x = base._design(logged, clicked)
    weight = 1.0 / logged.propensity[clicked]
    if max_weight is not None:
        weight = np.minimum(weight, max_weight)
    weight = weight / weight.mean()
    y = logged.item[clicked]
    n_items = len(logged.item_ids)
    coef = np.zeros((n_items, x.shape[1]))
    intercept = np.full(n_items, -np.inf)
    classes = np.unique(y)
    if classes.size == 1:
        intercept[classes[0]] = 0.0
    else:
        lr = LogisticRegression(C=regularisation, max_iter=2000)
        with warnings.catch_warnings():  # few clicks over many items: sklearn warns that y looks continuous
            warnings.simplefilter("ignore", UserWarning)
            lr.fit(x, y, sample_weight=weight)
        if classes.size == 2:  # sklearn keeps one row for two classes: score the second against the first
            coef[classes[1]], intercept[classes[1]] = lr.coef_[0], lr.intercept_[0]
            intercept[classes[0]] = 0.0
        else:
            coef[lr.classes_], intercept[lr.classes_] = lr.coef_, lr.intercept_
    base.coef, base.intercept = coef, intercept
    log.info("learned an IPW policy from %d clicks on %d items (%d features)", clicked.size, classes.size, x.shape[1])
    return base


@dataclass
class LearningResult:
    """A policy learned on one part of the logs and evaluated on the other, beside the policies it competes with."""

    policy: LearnedPolicy
    learned: OPEResult       # the learned policy on the held-out displays
    uniform: OPEResult       # the uniform policy on the same displays
    train_rows: int
    test_rows: int

    def as_dict(self) -> dict[str, object]:
        logged = self.learned.logged.as_dict()
        return {"learned": self.learned.as_dict(), "uniform": self.uniform.as_dict(), "logged": logged,
                "train_rows": self.train_rows, "test_rows": self.test_rows, "epsilon": self.policy.epsilon,
                "greedy": self.policy.greedy,
                "context": self.policy.context}


def learn_and_evaluate(logged: LoggedDisplays, *, context: Sequence[str] = (), epsilon: float = 0.1,
                       regularisation: float = 1.0, max_weight: float | None = None, greedy: bool = False,
                       test_share: float = 0.5,
                       resamples: int = 2000, seed: int = 0) -> LearningResult:
    """Learn on a random share of the displays, then estimate the learned policy's value on the rest.

    Evaluating on displays the learner never saw keeps the estimate honest: on its own training rows an
    IPW-trained policy looks better than it is. The logging policy's value on the same held-out rows is
    its plain mean reward, so the three figures (learned, uniform, logged) are directly comparable.
    """
    if not 0.0 < test_share < 1.0:
        raise InputError(f"test share must be between 0 and 1, not {test_share}", field="test_share")
    test_cluster = np.random.default_rng(seed).random(logged.n_clusters) < test_share
    test = test_cluster[logged.cluster]
    policy = learn_policy(logged, np.flatnonzero(~test), context=context, epsilon=epsilon,
                          regularisation=regularisation, max_weight=max_weight, greedy=greedy)
    held = logged.subset(test)
    learned = evaluate(held, policy.as_target(held), context=context, resamples=resamples, seed=seed)
    uniform = evaluate(held, uniform_policy(held), context=context, resamples=resamples, seed=seed)
    return LearningResult(policy, learned, uniform, int((~test).sum()), int(test.sum()))
