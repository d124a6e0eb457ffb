"""Log-linear Poisson trends of many short count series at once, with an overdispersion correction.

Stages rest on one question: are an item's orders rising or falling, beyond what chance explains? A
log-linear Poisson regression ``log E[c_t] = a + b t`` over the last weeks answers it with a slope (the
weekly growth rate, ``exp(b) - 1``) and a z-score for that slope. Counts of orders are noisier than
Poisson (a shop has good and bad weeks), so the standard error is inflated by the Pearson dispersion
(quasi-Poisson). Counting orders (purchase lines) rather than units keeps one bulk buyer from looking
like a trend.
"""

from __future__ import annotations

import numpy as np

#: fewer valid periods than this give no trend test (slope 0, z 0)
MIN_PERIODS = 4


def poisson_trend(counts: np.ndarray, valid: np.ndarray, iters: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """Slope ``b`` and its z-score for each row of ``counts`` (items x periods), using cells where ``valid``.

    Rows with fewer than 4 valid periods or no counts at all get slope 0 and z 0 (no evidence).
    Newton-Raphson on the Poisson log-likelihood, all rows together.
    """
    c = np.where(valid, np.clip(counts, 0, None), 0.0).astype(float)
    w = valid.astype(float)
    n = w.sum(axis=1)
    tot = c.sum(axis=1)
    ok = (n >= MIN_PERIODS) & (tot > 0)
    pos = np.cumsum(w, axis=1) - 1.0
    tbar = np.where(n > 0, (pos * w).sum(axis=1) / np.maximum(n, 1), 0.0)
    t = (pos - tbar[:, None]) * w
    b0 = np.log(np.maximum(tot, 1e-9) / np.maximum(n, 1))
    b1 = np.zeros(len(c))
    for _ in range(iters):
        mu = np.exp(np.clip(b0[:, None] + b1[:, None] * t, -50, 50)) * w
        g0 = (c - mu).sum(axis=1)
        g1 = ((c - mu) * t).sum(axis=1)
        h00 = mu.sum(axis=1)
        h01 = (mu * t).sum(axis=1)
        h11 = (mu * t * t).sum(axis=1)
        det = h00 * h11 - h01 * h01
        good = ok & (det > 1e-12)
        d0 = np.where(good, (h11 * g0 - h01 * g1) / np.where(good, det, 1.0), 0.0)
        d1 = np.where(good, (h00 * g1 - h01 * g0) / np.where(good, det, 1.0), 0.0)
        # damped steps keep series that drop to zero (slope -> -inf) from overflowing
        d1 = np.clip(d1, -1.0, 1.0)
        b0 = b0 + d0
        b1 = np.clip(b1 + d1, -5.0, 5.0)
        if not good.any() or float(np.max(np.abs(d1[good]))) < 1e-8:
            break
    mu = np.exp(np.clip(b0[:, None] + b1[:, None] * t, -50, 50)) * w
    h00 = mu.sum(axis=1)
    h01 = (mu * t).sum(axis=1)
    h11 = (mu * t * t).sum(axis=1)
    info = h11 - np.where(h00 > 0, h01 * h01 / np.maximum(h00, 1e-12), 0.0)
    pearson = np.where(valid, (c - mu) ** 2 / np.maximum(mu, 1e-9), 0.0).sum(axis=1)
    phi = np.maximum(1.0, pearson / np.maximum(n - 2, 1))
    se = np.sqrt(phi / np.maximum(info, 1e-12))
    z = np.where(ok & (info > 1e-12), b1 / se, 0.0)
    return np.where(ok, b1, 0.0), z
