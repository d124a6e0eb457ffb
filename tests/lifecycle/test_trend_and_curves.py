"""The vectorised Poisson trend against a slow reference fit, and the Bass fit on known curves."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from shelfwise.lifecycle.diffusion import bass_cumulative, fit_bass
from shelfwise.lifecycle.trend import poisson_trend


def _reference_slope(c: np.ndarray) -> float:
    """The obvious way: maximise the Poisson log-likelihood of a + b t with a general optimiser."""
    t = np.arange(len(c)) - (len(c) - 1) / 2
    nll = lambda p: -(c * (p[0] + p[1] * t) - np.exp(p[0] + p[1] * t)).sum()  # noqa: E731
    return float(minimize(nll, [np.log(c.mean() + 1e-9), 0.0], method="Nelder-Mead",
                          options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000}).x[1])


def test_slopes_match_the_reference_fit() -> None:
    rng = np.random.default_rng(7)
    rows = [rng.poisson(np.exp(1.0 + b * np.arange(12))) for b in (-0.2, -0.05, 0.0, 0.1, 0.25)]
    counts = np.array(rows, dtype=float)
    slope, z = poisson_trend(counts, np.ones_like(counts, dtype=bool))
    for row, b in zip(counts, slope):
        assert b == pytest.approx(_reference_slope(row), abs=1e-4)
    assert z[0] < -2 and z[-1] > 2  # strong trends are significant, in the right direction


def test_masked_cells_and_empty_rows() -> None:
    counts = np.array([[0, 0, 1, 2, 4, 8, 16], [0, 0, 0, 0, 0, 0, 0], [5, 5, 5, 5, 5, 5, 5]], dtype=float)
    valid = np.ones_like(counts, dtype=bool)
    valid[0, :2] = False  # before launch
    slope, z = poisson_trend(counts, valid)
    assert slope[0] == pytest.approx(np.log(2), abs=1e-6)       # doubling every period
    assert (slope[1], z[1]) == (0.0, 0.0)                         # no sales: no evidence
    assert slope[2] == pytest.approx(0.0, abs=1e-9) and abs(z[2]) < 1e-6


def test_overdispersion_widens_the_standard_error() -> None:
    calm = np.array([[10, 11, 12, 13, 14, 15, 16, 17]], dtype=float)
    wild = np.array([[2, 25, 3, 27, 5, 26, 8, 30]], dtype=float)   # rising too, but very noisy
    _, z_calm = poisson_trend(calm, np.ones_like(calm, dtype=bool))
    _, z_wild = poisson_trend(wild, np.ones_like(wild, dtype=bool))
    assert z_calm[0] > 1.5 and z_wild[0] < z_calm[0]


def test_bass_recovers_a_known_curve() -> None:
    t = np.arange(0, 31, dtype=float)
    weekly = np.diff(bass_cumulative(t, 0.02, 0.4, 500.0))
    fit = fit_bass(weekly)
    assert fit is not None and fit.fits and fit.r2 > 0.99
    assert fit.q == pytest.approx(0.4, abs=0.03) and fit.m == pytest.approx(500, rel=0.05)
    true_peak = np.log(0.4 / 0.02) / 0.42
    assert fit.peak_period == pytest.approx(true_peak, abs=0.6)
    assert fit.phase(2.0) == "before_peak" and fit.phase(25.0) == "after_peak"
    assert fit.phase(true_peak) == "around_peak"


def test_bass_needs_enough_data() -> None:
    assert fit_bass(np.array([1.0, 2.0, 3.0])) is None          # too few periods
    assert fit_bass(np.array([0, 1, 0, 0, 1, 0, 0, 1.0])) is None  # too few orders
