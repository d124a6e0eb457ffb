"""Off-policy evaluation: what would a policy's click rate have been, estimated from another policy's logs.

Each logged row ``j`` is one slot of one display: item ``a_j`` at position ``k_j`` in context ``x_j``,
shown with probability ``p_j`` by the logging policy, with reward ``r_j``. The target policy ``pi``
states ``pi(a | x, k)``. With ``w_j = pi(a_j | x_j, k_j) / p_j`` and a cross-fitted reward model ``q``
(:mod:`.reward`), the slot-level estimators of the target's mean reward per slot are
(Saito et al., *Open Bandit Dataset and Pipeline*, 2021; Dudik, Langford, Li, 2011):

- ``ipw``   = mean(w r)                                  unbiased, high variance
- ``snipw`` = sum(w r) / sum(w)                          self-normalised: slight bias, much less variance
- ``dm``    = mean(sum_a pi(a | x, k) q(x, a, k))         low variance, biased by the model
- ``dr``    = dm + mean(w (r - q(x, a, k)))               unbiased when either the propensities or q are right

Every estimate comes with a percentile interval from a cluster bootstrap over displays (seeded). The
DM and DR intervals hold the reward model fixed, so they do not include its fitting noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..logs import get_logger
from .bootstrap import DEFAULT_RESAMPLES, Interval, bootstrap, check_settings
from .logged import LoggedDisplays
from .reward import cross_fit
from .targets import TargetPolicy

log = get_logger(__name__)

ESTIMATORS = ("ipw", "snipw", "dm", "dr")
_CHUNK_CELLS = 2_000_000  # rows x items scored at once for the direct method


@dataclass
class OPEResult:
    """Estimates of one target policy's value from one set of logs."""

    policy: str
    estimators: dict[str, Interval]
    logged: Interval                      # the logging policy's own mean reward (on-policy)
    n: int
    n_displays: int
    diagnostics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"policy": self.policy, "estimators": {k: v.as_dict() for k, v in self.estimators.items()},
                "logged": self.logged.as_dict(), "n": self.n, "n_displays": self.n_displays,
                "diagnostics": self.diagnostics}


def _dm_terms(logged: LoggedDisplays, target: TargetPolicy, context: Sequence[str], folds: int, seed: int,
              regularisation: float) -> tuple[np.ndarray, np.ndarray]:
    """(q of the logged action, expected q under the target) per row, from cross-fitted reward models."""
    q_logged = np.empty(logged.n)
    q_target = np.empty(logged.n)
    chunk = max(1, _CHUNK_CELLS // max(1, len(logged.item_ids)))
    for held, model in cross_fit(logged, context, folds, seed, regularisation):
        q_logged[held] = model.predict_logged(logged, held)
        for start in range(0, held.size, chunk):
            rows = held[start:start + chunk]
            q_all = model.predict_all(logged, rows)
            q_target[rows] = np.asarray(target.probs[target.group[rows]].multiply(q_all).sum(axis=1)).ravel()
    return q_logged, q_target


def evaluate(logged: LoggedDisplays, target: TargetPolicy, *, context: Sequence[str] = (), folds: int = 2,
             regularisation: float = 1.0, clip: float | None = None, resamples: int = DEFAULT_RESAMPLES,
             seed: int = 0, level: float = 0.95) -> OPEResult:
    """IPW, SNIPW, DM and DR estimates of ``target``'s mean reward per slot, with bootstrap intervals.

    ``context`` names the logged context columns the reward model uses; ``clip`` caps the importance
    weights (trading a little bias for variance; None keeps them as they are).
    """
    check_settings(resamples, level)
    if clip is not None and not (np.isfinite(clip) and clip > 0):
        raise InputError(f"the weight cap (--clip) must be a positive number, not {clip}", field="clip")
    logged.require_propensity()
    if target.group.shape[0] != logged.n:
        raise InputError(f"the target policy covers {target.group.shape[0]:,} rows but the logs have {logged.n:,}")
    pi = target.prob_of_logged(logged)
    w = pi / logged.propensity
    if clip is not None:
        w = np.minimum(w, clip)
    r = logged.reward
    q_logged, q_target = _dm_terms(logged, target, context, folds, seed, regularisation)
    values = np.stack([w * r, w, q_target, q_target + w * (r - q_logged), np.ones(logged.n), r], axis=1)

    def stat(s: np.ndarray) -> np.ndarray:
        n = s[:, 4]
        # SNIPW is 0 / 0 where the target gives the logged rows no weight at all: undefined (nan; null in JSON)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.stack([s[:, 0] / n, s[:, 0] / s[:, 1], s[:, 2] / n, s[:, 3] / n, s[:, 5] / n], axis=1)

    iv = bootstrap(values, logged.cluster, stat, resamples=resamples, seed=seed, level=level)
    ess = float(w.sum() ** 2 / max((w * w).sum(), 1e-300))
    diagnostics = {"mean_weight": float(w.mean()), "max_weight": float(w.max()), "effective_sample_size": ess,
                   "support_share": target.support_share(logged), "resamples": float(resamples), "level": level}
    if abs(diagnostics["mean_weight"] - 1.0) > 0.2:
        log.warning("mean importance weight is %.3f (expected near 1): the logged propensities and the target "
                    "may not fit together (support, or propensities that are not per slot)", diagnostics["mean_weight"])
    return OPEResult(target.name, dict(zip(ESTIMATORS, iv[:4])), iv[4], logged.n, logged.n_clusters, diagnostics)
