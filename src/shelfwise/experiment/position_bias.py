"""How much attention each display position gets, and how to take it out of click data.

The position-based model (PBM) says a click needs the slot to be examined and the item to attract:
``P(click | item i at position k) = theta_k * gamma_i``. Two ways to estimate the curve ``theta``:

- :func:`from_randomised`: when items were put into slots at random, every position sees the same mix of
  items, so ``CTR_k / CTR_1 = theta_k / theta_1``. When the logging policy was not uniform but logged its
  propensities, each row is reweighted to the uniform policy (self-normalised, per position).
- :func:`fit_pbm`: from ordinary (non-random) logs, by expectation-maximisation over the hidden
  "examined" and "attracted" variables (Chuklin, Markov, de Rijke, *Click Models for Web Search*, 2015).
  It works on the counts of each (item, position) pair, so its cost grows with pairs, not rows.

``theta`` is identified only up to scale (``theta * s`` and ``gamma / s`` explain clicks equally well),
so curves are reported relative to position 1 (``attention[0] == 1``). Intervals come from a cluster
bootstrap over displays (percentile for the randomised estimate; Poisson-weighted refits for EM).

:func:`click_weights` and :func:`debiased_labels` turn a curve into inverse-propensity weights for
training on clicks: a click at a rarely examined slot counts more than one at the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..logs import get_logger
from .bootstrap import DEFAULT_RESAMPLES, bootstrap, check_settings, percentile_intervals
from .logged import LoggedDisplays

log = get_logger(__name__)


@dataclass
class PositionCurve:
    """Relative attention per position (1 at position 1) with its interval and the counts behind it."""

    method: str
    positions: list[int]
    attention: list[float]
    ci_low: list[float]
    ci_high: list[float]
    impressions: list[int]
    clicks: list[int]
    ctr: list[float]
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {"method": self.method, "positions": self.positions, "attention": self.attention,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "impressions": self.impressions,
                "clicks": self.clicks, "ctr": self.ctr, **self.extra}

    def attention_at(self, positions: np.ndarray) -> np.ndarray:
        """Attention at 1-based ``positions``; past the last estimated position the last value holds."""
        att = np.asarray(self.attention, dtype=np.float64)
        idx = np.clip(np.asarray(positions, dtype=np.int64) - 1, 0, len(att) - 1)
        return att[idx]


def _counts(logged: LoggedDisplays, k_max: int) -> tuple[list[int], list[int]]:
    k = logged.position - 1
    n = np.bincount(k, minlength=k_max)[:k_max]
    c = np.bincount(k, weights=logged.reward, minlength=k_max)[:k_max]
    return [int(v) for v in n], [int(round(v)) for v in c]


def _check(logged: LoggedDisplays, max_position: int | None) -> int:
    k_max = logged.n_positions if max_position is None else int(max_position)
    if k_max < 2:
        raise InputError("position bias needs impressions at two or more positions; the selected logs have "
                         f"positions up to {logged.n_positions}" + ("" if max_position is None else
                                                                     f" and --max-position is {max_position}"))
    seen = np.bincount(logged.position[logged.position <= k_max], minlength=k_max + 1)[1:k_max + 1]
    empty = [int(k) + 1 for k in np.flatnonzero(seen == 0)]
    if empty:
        shown = ", ".join(map(str, empty[:10])) + (", ..." if len(empty) > 10 else "")
        if empty[0] > logged.n_positions:
            hint = f"lower --max-position to {logged.n_positions}"
        elif empty[0] > 2:
            hint = f"estimate the positions above the gap with --max-position {empty[0] - 1}"
        else:
            hint = "select logs with impressions at every position"
        raise InputError(f"no selected impressions at position(s) {shown} (the selected logs have positions up "
                         f"to {logged.n_positions}): attention there cannot be estimated; {hint}",
                         field="max_position")
    if not np.any(logged.reward[logged.position == 1] > 0):
        raise InputError("no clicks at position 1 in the selected logs: attention relative to position 1 "
                         "cannot be estimated; select more logs")
    return k_max


def _uniform_weights(logged: LoggedDisplays) -> np.ndarray:
    """Weights that turn the logging policy into the uniform one (1 when no propensity is logged)."""
    p = logged.propensity
    if np.all(np.isnan(p)):
        return np.ones(logged.n)
    if np.any(np.isnan(p)):
        raise InputError("some selected impressions have a propensity and some do not: select logs of one "
                         "logging policy (--where) before estimating from randomised logs")
    uniform = 1.0 / logged.actions.sum(axis=1)[logged.surface]
    w = uniform / p
    spread = np.ptp(p * logged.actions.sum(axis=1)[logged.surface])
    if spread > 0.01:
        log.warning("the selected logs are not uniformly random (propensities vary by %.3g x 1/|items|); "
                    "rows are reweighted to the uniform policy, which widens the interval", spread)
    return w


def from_randomised(logged: LoggedDisplays, *, max_position: int | None = None,
                    resamples: int = DEFAULT_RESAMPLES, seed: int = 0, level: float = 0.95) -> PositionCurve:
    """Attention per position from randomised logs: ``CTR_k / CTR_1`` with a cluster-bootstrap interval."""
    k_max = _check(logged, max_position)
    keep = logged.position <= k_max
    w = _uniform_weights(logged)[keep]
    k = logged.position[keep] - 1
    r = logged.reward[keep]
    values = np.zeros((k.shape[0], 2 * k_max))
    values[np.arange(k.shape[0]), k] = w * r
    values[np.arange(k.shape[0]), k_max + k] = w

    def stat(sums: np.ndarray) -> np.ndarray:
        ctr = sums[:, :k_max] / sums[:, k_max:]
        return np.concatenate([ctr / ctr[:, :1], ctr], axis=1)

    iv = bootstrap(values, logged.cluster[keep], stat, resamples=resamples, seed=seed, level=level)
    n, c = _counts(logged, k_max)
    return PositionCurve("randomised", list(range(1, k_max + 1)), [i.value for i in iv[:k_max]],
                         [i.low for i in iv[:k_max]], [i.high for i in iv[:k_max]], n, c,
                         [i.value for i in iv[k_max:]], {"resamples": resamples, "level": level})


@dataclass
class PBMFit:
    """A fitted position-based model: examination per position, attraction per (surface, item) group."""

    theta: np.ndarray        # (K,) examination, scaled so theta[0] == 1
    gamma: np.ndarray        # (G,) attraction = P(click | shown at position 1)
    groups: np.ndarray       # (G, 2) surface index, item index of each gamma
    iterations: int
    log_likelihood: float
    converged: bool


def _em(pair_k: np.ndarray, pair_g: np.ndarray, n: np.ndarray, c: np.ndarray, k_max: int, n_groups: int,
        max_iter: int, tol: float, prior: tuple[float, float]) -> tuple[np.ndarray, np.ndarray, int, float, bool]:
    """EM for the PBM on (position, group) pair counts: ``n`` impressions and ``c`` clicks per pair.

    Plain EM crawls here: with click rates near 1% almost every impression is a non-click, whose hidden
    state the model barely pins down, so each step moves little. Steps are therefore accelerated with
    SQUAREM (Varadhan and Roland, 2008), which extrapolates along two EM steps and falls back to plain
    EM whenever the extrapolated point does not raise the likelihood; the fixed point is the same.
    """
    eps = 1e-9
    a0, b0 = prior
    n_k = np.maximum(np.bincount(pair_k, weights=n, minlength=k_max), eps)
    n_g = np.maximum(np.bincount(pair_g, weights=n, minlength=n_groups) + a0 + b0, eps)

    def loglik(x: np.ndarray) -> float:
        p = x[:k_max][pair_k] * x[k_max:][pair_g]
        return float(np.sum(c * np.log(np.maximum(p, eps)) + (n - c) * np.log(np.maximum(1.0 - p, eps))))

    def step(x: np.ndarray) -> np.ndarray:
        t, a = x[:k_max][pair_k], x[k_max:][pair_g]
        miss = np.maximum(1.0 - t * a, eps)
        e_post = c + (n - c) * t * (1.0 - a) / miss   # expected examined impressions of the pair
        a_post = c + (n - c) * (1.0 - t) * a / miss   # expected attracted impressions of the pair
        theta = np.bincount(pair_k, weights=e_post, minlength=k_max) / n_k
        gamma = (np.bincount(pair_g, weights=a_post, minlength=n_groups) + a0) / n_g
        return np.clip(np.concatenate([theta, gamma]), eps, 1.0 - eps)

    ctr = c.sum() / max(n.sum(), eps)
    x = np.concatenate([np.full(k_max, 0.5), np.full(n_groups, min(0.5, 2 * ctr + eps))])
    ll = loglik(x)
    for it in range(1, max_iter + 1):
        x1 = step(x)
        x2 = step(x1)
        r, v = x1 - x, x2 - 2 * x1 + x
        nv = np.linalg.norm(v)
        alpha = -np.linalg.norm(r) / nv if nv > 0 else -1.0
        alpha = min(-1.0, alpha)
        cand = step(np.clip(x - 2 * alpha * r + alpha * alpha * v, eps, 1.0 - eps))
        ll_cand, ll2 = loglik(cand), loglik(x2)
        new, ll_new = (cand, ll_cand) if ll_cand >= ll2 else (x2, ll2)
        done = abs(ll_new - ll) <= tol * max(1.0, abs(ll))
        x, ll = new, ll_new
        if done:
            return x[:k_max], x[k_max:], it, ll, True
    return x[:k_max], x[k_max:], max_iter, ll, False


def _pairs(logged: LoggedDisplays, k_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(pair index per row, pair position, pair group, group (surface, item) table) for the rows at k <= k_max."""
    n_items = len(logged.item_ids)
    group_key = logged.surface * n_items + logged.item
    groups, g = np.unique(group_key, return_inverse=True)
    pair_key = g * k_max + (logged.position - 1)
    pairs, pair_of_row = np.unique(pair_key, return_inverse=True)
    return pair_of_row, pairs % k_max, pairs // k_max, np.stack([groups // n_items, groups % n_items], axis=1)


def fit_pbm(logged: LoggedDisplays, *, max_position: int | None = None, max_iter: int = 1000, tol: float = 1e-8,
            prior_strength: float = 0.0) -> PBMFit:
    """Fit ``P(click) = theta_k * gamma_(surface, item)`` by EM on the selected logs.

    ``prior_strength`` adds that many pseudo-impressions at the overall click rate to every item's
    attraction (a Beta prior), which steadies items with few impressions; 0 is plain maximum likelihood.
    """
    k_max = _check(logged, max_position)
    keep = logged.position <= k_max
    sub = logged.subset(keep) if not keep.all() else logged
    pair_of_row, pk, pg, groups = _pairs(sub, k_max)
    n = np.bincount(pair_of_row, minlength=pk.shape[0]).astype(np.float64)
    c = np.bincount(pair_of_row, weights=sub.reward, minlength=pk.shape[0])
    ctr = c.sum() / n.sum()
    prior = (prior_strength * ctr, prior_strength * (1.0 - ctr))
    theta, gamma, it, ll, ok = _em(pk, pg, n, c, k_max, groups.shape[0], max_iter, tol, prior)
    if not ok:
        log.warning("PBM EM stopped after %d iterations without converging (tolerance %g)", it, tol)
    scale = theta[0]
    return PBMFit(theta / scale, gamma * scale, groups, it, ll, ok)


def pbm_curve(logged: LoggedDisplays, *, max_position: int | None = None, resamples: int = 200, seed: int = 0,
              level: float = 0.95, prior_strength: float = 0.0, max_iter: int = 1000) -> PositionCurve:
    """The PBM examination curve with a Poisson cluster-bootstrap interval (each resample refits EM)."""
    check_settings(resamples, level)
    k_max = _check(logged, max_position)
    keep = logged.position <= k_max
    sub = logged.subset(keep) if not keep.all() else logged
    fit = fit_pbm(sub, max_position=k_max, prior_strength=prior_strength, max_iter=max_iter)
    pair_of_row, pk, pg, groups = _pairs(sub, k_max)
    n_pairs = pk.shape[0]
    ctr = sub.reward.mean()
    prior = (prior_strength * ctr, prior_strength * (1.0 - ctr))
    rng = np.random.default_rng(seed)
    reps = np.full((resamples, k_max), np.nan)
    for b in range(resamples):
        wc = rng.poisson(1.0, size=sub.n_clusters).astype(np.float64)[sub.cluster]
        n = np.bincount(pair_of_row, weights=wc, minlength=n_pairs)
        c = np.bincount(pair_of_row, weights=wc * sub.reward, minlength=n_pairs)
        if not np.any(c[pk == 0] > 0):
            # no click at position 1 in this resample: theta_1 -> 0, so every position with a click has an
            # unbounded ratio (kept, as in the randomised estimate); positions without one are undefined
            clicked = np.bincount(pk, weights=c, minlength=k_max) > 0
            reps[b] = np.where(clicked, np.inf, np.nan)
            reps[b, 0] = 1.0
            continue
        theta, *_ = _em(pk, pg, n, c, k_max, groups.shape[0], max_iter, 1e-7, prior)
        reps[b] = theta / theta[0]
    iv = percentile_intervals(fit.theta, reps, level)
    counts_n, counts_c = _counts(sub, k_max)
    return PositionCurve("pbm-em", list(range(1, k_max + 1)), [float(v) for v in fit.theta],
                         [i.low for i in iv], [i.high for i in iv], counts_n, counts_c,
                         [cc / nn if nn else float("nan") for nn, cc in zip(counts_n, counts_c)],
                         {"resamples": resamples, "level": level, "iterations": fit.iterations,
                          "converged": fit.converged, "log_likelihood": fit.log_likelihood,
                          "prior_strength": prior_strength})


def click_weights(position: np.ndarray, clicked: np.ndarray, curve: PositionCurve | np.ndarray,
                  clip: float = 10.0) -> np.ndarray:
    """Inverse-propensity sample weights for click training: ``1 / attention(position)`` on clicks, 1 elsewhere.

    A click where few users look is evidence of a stronger item than a click at the top; weighting it
    by the inverse attention removes the position's share. Weights are capped at ``clip`` to bound variance.
    """
    att = curve.attention_at(position) if isinstance(curve, PositionCurve) else \
        np.asarray(curve, dtype=np.float64)[np.clip(np.asarray(position) - 1, 0, len(curve) - 1)]
    if np.any(att <= 0):
        raise InputError("attention must be positive at every position to weight clicks by its inverse")
    w = np.minimum(1.0 / att, clip)
    return np.where(np.asarray(clicked) > 0, w, 1.0)


def debiased_labels(position: np.ndarray, clicked: np.ndarray, curve: PositionCurve | np.ndarray,
                    clip: float = 10.0) -> np.ndarray:
    """``click / attention(position)``: an unbiased (up to clipping) label of relevance under the PBM."""
    w = click_weights(position, clicked, curve, clip)
    return np.where(np.asarray(clicked) > 0, w * np.asarray(clicked, dtype=np.float64), 0.0)
