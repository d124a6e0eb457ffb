"""The global LightGBM model on tiny synthetic panels with known answers."""

from __future__ import annotations

import numpy as np

from shelfwise.lifecycle.global_model import GlobalConfig, global_forecast, panel_matrix

H = 4


def _alternating(n: int = 60, weeks: int = 30, seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Items that sell ``a`` every other week: the naive forecast is wrong half the time, a model that
    reads lag 2 is never wrong. Returns the histories and the true next ``H`` weeks."""
    rng = np.random.default_rng(seed)
    hist, future = [], []
    for _ in range(n):
        a, phase = float(rng.integers(5, 21)), int(rng.integers(0, 2))
        y = np.array([a if (t + phase) % 2 == 0 else 0.0 for t in range(weeks + H)])
        hist.append(y[:weeks])
        future.append(y[weeks:])
    return hist, np.array(future)


def test_global_model_learns_a_pattern_naive_cannot() -> None:
    hist, future = _alternating()
    # a tiny panel: small leaves, and no row or feature subsampling (it drops the one lag that matters)
    pred = global_forecast(hist, H, GlobalConfig(min_data_in_leaf=20, bagging_fraction=1.0, feature_fraction=1.0))
    assert pred.shape == (len(hist), H) and not np.isnan(pred).any()
    scale = np.array([np.mean(np.abs(np.diff(y))) for y in hist])
    naive = np.array([np.full(H, y[-1]) for y in hist])
    mase_global = float((np.abs(pred - future).mean(axis=1) / scale).mean())
    mase_naive = float((np.abs(naive - future).mean(axis=1) / scale).mean())
    assert mase_naive == 0.5
    assert mase_global < 0.1 * mase_naive, mase_global
    default = global_forecast(hist, H)  # the production settings still beat naive clearly
    assert float((np.abs(default - future).mean(axis=1) / scale).mean()) < 0.5 * mase_naive


def test_short_flat_and_too_small_panels_are_not_covered() -> None:
    hist, _ = _alternating()
    hist = hist + [np.array([3.0, 4.0, 5.0]), np.full(30, 7.0)]  # too short; never changes (scale 0)
    pred = global_forecast(hist, H)
    assert np.isnan(pred[-2]).all() and np.isnan(pred[-1]).all()
    assert not np.isnan(pred[:-2]).any()
    few = global_forecast(hist[:3], H, GlobalConfig(min_rows=1000))  # a handful of rows: no model
    assert np.isnan(few).all()


def test_panel_matrix_aligns_histories_at_the_forecast_origin() -> None:
    m = panel_matrix([np.array([1.0, 2, 3]), np.array([5.0])])
    assert np.isnan(m[1, :2]).all() and m[1, 2] == 5 and m[0].tolist() == [1, 2, 3]
