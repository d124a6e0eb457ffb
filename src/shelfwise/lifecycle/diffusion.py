"""The Bass diffusion curve, fitted to an item's cumulative orders, as evidence for its stage.

Bass (1969): adoptions at time t follow f(t) = m (p + q F(t)) (1 - F(t)) with innovation p, imitation q
and market size m; sales peak at t* = ln(q / p) / (p + q) when q > p. Fitting it says where an item
stands on its own curve (before or after its peak) and how many more orders it may still get. It only
makes sense when the launch was observed (the curve starts at t = 0), so callers skip left-censored
items. The fit is judged on weekly orders, not cumulative ones (a cumulative curve fits almost anything).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: below this share of the weekly variance explained, the curve is reported but does not "fit"
MIN_R2 = 0.3


@dataclass(frozen=True)
class BassFit:
    p: float
    q: float
    m: float
    peak_period: float  # periods after launch at which sales peak (0 when q <= p: a falling curve)
    r2: float           # share of the variance of per-period orders explained by the curve

    @property
    def fits(self) -> bool:
        return self.r2 >= MIN_R2

    def phase(self, t: float) -> str:
        """'before_peak', 'around_peak' (within 15 % of the peak time) or 'after_peak' at period ``t``."""
        if self.peak_period <= 0:
            return "after_peak"
        if abs(t - self.peak_period) <= 0.15 * self.peak_period + 0.5:
            return "around_peak"
        return "before_peak" if t < self.peak_period else "after_peak"


def bass_cumulative(t: np.ndarray, p: float, q: float, m: float) -> np.ndarray:
    """F(t) * m: cumulative adoptions by time t."""
    e = np.exp(-(p + q) * t)
    return m * (1.0 - e) / (1.0 + (q / p) * e)


_P_GRID = np.geomspace(1e-4, 0.5, 40)
_Q_GRID = np.linspace(0.0, 1.5, 61)


def fit_bass(per_period: np.ndarray, min_periods: int = 8, min_total: float = 10.0) -> BassFit | None:
    """Fit the Bass curve to per-period counts starting at the launch period; None when too little data.

    Periods are counted from the launch (the first value covers t in (0, 1]). Least squares on the
    per-period counts (Srinivasan & Mason 1986) over a grid of (p, q); for each pair the best market
    size m has a closed form (the counts are linear in m), held at or above the orders seen so far. A
    grid is coarse but fast and never fails to converge, and the fit is evidence, not a forecast.
    """
    y = np.clip(np.asarray(per_period, dtype=float), 0, None)
    n = len(y)
    total = float(y.sum())
    if n < min_periods or total < min_total:
        return None
    t = np.arange(0, n + 1, dtype=float)
    p = _P_GRID[:, None, None]
    q = _Q_GRID[None, :, None]
    e = np.exp(-(p + q) * t)
    cum = (1.0 - e) / (1.0 + (q / p) * e)          # (P, Q, n + 1): F(t) for m = 1
    f = np.diff(cum, axis=2)                        # per-period shares
    ff = np.sum(f * f, axis=2)
    m = np.where(ff > 0, np.sum(f * y, axis=2) / np.maximum(ff, 1e-300), total)
    m = np.maximum(m, total)
    sse = np.sum((m[..., None] * f - y) ** 2, axis=2)
    a, b = np.unravel_index(int(np.argmin(sse)), sse.shape)
    pp, qq, mm = float(_P_GRID[a]), float(_Q_GRID[b]), float(m[a, b])
    var = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(sse[a, b]) / var if var > 0 else 0.0
    peak = float(np.log(qq / pp) / (pp + qq)) if qq > pp else 0.0
    return BassFit(pp, qq, mm, peak, r2)
