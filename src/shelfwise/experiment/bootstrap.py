"""Seeded, vectorised cluster bootstrap for statistics that are functions of column sums.

Every estimate in this package (a CTR, an IPW mean, a self-normalised ratio, a CTR ratio between
positions) is a function of a few sums over rows. Rows of one display (cluster) are resampled
together: the per-cluster sums are computed once, then each resample adds up ``C`` clusters drawn
with replacement. Resamples are drawn in blocks so memory stays bounded (about ``block * C * m``
floats), and one seed gives the same interval every time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import InputError

DEFAULT_RESAMPLES = 2000
_BLOCK_ELEMENTS = 4_000_000  # floats gathered per block of resamples


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, float]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


def cluster_sums(values: np.ndarray, cluster: np.ndarray, n_clusters: int | None = None) -> np.ndarray:
    """Per-cluster sums of each column of ``values`` (n, m) -> (C, m)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 1:
        values = values[:, None]
    c = int(cluster.max()) + 1 if n_clusters is None else n_clusters
    out = np.empty((c, values.shape[1]))
    for j in range(values.shape[1]):
        out[:, j] = np.bincount(cluster, weights=values[:, j], minlength=c)
    return out


def resampled_sums(sums: np.ndarray, resamples: int = DEFAULT_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Column sums of ``resamples`` bootstrap resamples of the rows of ``sums`` (C, m) -> (B, m)."""
    c, m = sums.shape
    rng = np.random.default_rng(seed)
    out = np.empty((resamples, m))
    block = max(1, _BLOCK_ELEMENTS // max(1, c * m))
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        idx = rng.integers(0, c, size=(stop - start, c))
        out[start:stop] = sums[idx].sum(axis=1)
    return out


def check_settings(resamples: int, level: float) -> None:
    """Input errors for a bootstrap that cannot give an interval: no resamples, or a level outside (0, 1)."""
    if not 0.0 < level < 1.0:
        raise InputError(f"confidence level must be between 0 and 1 (for example 0.95), not {level}", field="level")
    if resamples < 1:
        raise InputError(f"the bootstrap needs at least 1 resample (2000 by default), not {resamples}",
                         field="resamples")


def _quantiles(rep: np.ndarray, qs: list[float]) -> list[float]:
    """Linear-interpolation quantiles of ``rep`` (no nan) where some values may be +-inf.

    An infinite replicate is a real outcome of the resample (a ratio over a resample with a zero
    denominator and a positive numerator), so it keeps its place in the order: a quantile that falls on
    or next to an infinite replicate is infinite (the interval is unbounded on that side), never the
    quantile of the finite replicates alone, which would claim more certainty than the resamples give.
    """
    finite = rep[np.isfinite(rep)]
    if finite.size == rep.size:
        return [float(v) for v in np.quantile(rep, qs)]
    top, bottom = (float(finite.max()), float(finite.min())) if finite.size else (0.0, 0.0)
    span = max(top - bottom, abs(top), abs(bottom), 1.0)
    # stand-ins above (below) every finite replicate keep the infinite ones in their place in the order
    stand_in = np.where(rep == np.inf, top + span, np.where(rep == -np.inf, bottom - span, rep))
    out = []
    for v in np.quantile(stand_in, qs):
        if v > top:
            out.append(float("inf"))
        elif v < bottom:
            out.append(float("-inf"))
        else:
            out.append(float(v) if finite.size else float("nan"))
    return out


def percentile_intervals(point: np.ndarray, replicates: np.ndarray, level: float = 0.95) -> list[Interval]:
    """Percentile intervals, one per statistic: ``point`` (s,), ``replicates`` (B, s).

    nan replicates (a statistic undefined in that resample, such as 0/0) are skipped; infinite ones are
    kept, so a limit can be infinite: the resamples do not bound the statistic on that side.
    """
    alpha = (1.0 - level) / 2.0
    out = []
    for k in range(point.shape[0]):
        rep = replicates[:, k]
        rep = rep[~np.isnan(rep)]
        if rep.size == 0:
            out.append(Interval(float(point[k]), float("nan"), float("nan")))
            continue
        lo, hi = _quantiles(rep, [alpha, 1.0 - alpha])
        out.append(Interval(float(point[k]), lo, hi))
    return out


def bootstrap(values: np.ndarray, cluster: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], *,
              resamples: int = DEFAULT_RESAMPLES, seed: int = 0, level: float = 0.95) -> list[Interval]:
    """Point estimates and percentile intervals of ``statistic`` (sums (B, m) -> stats (B, s)).

    ``values`` (n, m) are per-row quantities; ``statistic`` receives their column sums, one row per
    resample (the first call gets the full-sample sums as a single row).
    """
    check_settings(resamples, level)
    sums = cluster_sums(values, cluster)
    point = statistic(sums.sum(axis=0, keepdims=True))[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        reps = statistic(resampled_sums(sums, resamples, seed))
    return percentile_intervals(np.asarray(point, dtype=np.float64), np.asarray(reps, dtype=np.float64), level)
