"""Position bias: randomised-log estimate, PBM fitted by EM (against a plain-EM reference), IPW click weights."""

from __future__ import annotations

import numpy as np
import pytest

from shelfwise.errors import InputError
from shelfwise.experiment.bootstrap import bootstrap, cluster_sums, resampled_sums
from shelfwise.experiment.position_bias import click_weights, debiased_labels, fit_pbm, from_randomised, pbm_curve

THETA = (1.0, 0.6, 0.4, 0.25)


def _plain_em(item, pos, click, k_max, n_items, iters):
    """Textbook EM for the PBM over single rows (no pair counts, no acceleration): the slow reference."""
    theta, gamma = np.full(k_max, 0.5), np.full(n_items, click.mean() * 2)
    k = pos - 1
    for _ in range(iters):
        t, a = theta[k], gamma[item]
        e_post = np.where(click > 0, 1.0, t * (1 - a) / (1 - t * a))
        a_post = np.where(click > 0, 1.0, (1 - t) * a / (1 - t * a))
        theta = np.bincount(k, weights=e_post, minlength=k_max) / np.bincount(k, minlength=k_max)
        gamma = np.bincount(item, weights=a_post, minlength=n_items) / np.bincount(item, minlength=n_items)
    return theta / theta[0], gamma * theta[0]


def test_em_recovers_known_examination_and_attraction(synthetic):
    syn = synthetic(n_displays=30000, theta=THETA, n_items=10, seed=1)
    fit = fit_pbm(syn.logged)
    assert fit.converged
    np.testing.assert_allclose(fit.theta, THETA, atol=0.06)
    np.testing.assert_allclose(fit.gamma, syn.gamma, atol=0.03)
    # the naive CTR curve mixes attention with the logger's habit of putting good items on top
    ctr = np.bincount(syn.logged.position - 1, weights=syn.logged.reward) / np.bincount(syn.logged.position - 1)
    assert np.abs(ctr / ctr[0] - THETA).max() > 2 * np.abs(fit.theta - THETA).max()


def test_em_reaches_the_same_fixed_point_as_plain_em(synthetic):
    syn = synthetic(n_displays=400, theta=(1.0, 0.5, 0.3), n_items=5, seed=2)
    d = syn.logged
    theta_ref, gamma_ref = _plain_em(d.item, d.position, d.reward, 3, 5, iters=20000)
    fit = fit_pbm(d, tol=1e-13, max_iter=5000)
    np.testing.assert_allclose(fit.theta, theta_ref, atol=1e-4)
    np.testing.assert_allclose(fit.gamma, gamma_ref, atol=1e-4)


def test_randomised_logs_give_the_curve_with_a_covering_interval(synthetic):
    syn = synthetic(n_displays=20000, theta=THETA, n_items=10, seed=4, randomised=True)
    curve = from_randomised(syn.logged, resamples=500, seed=1)
    assert curve.positions == [1, 2, 3, 4] and curve.attention[0] == 1.0
    np.testing.assert_allclose(curve.attention, THETA, atol=0.08)
    for t, lo, hi in zip(THETA, curve.ci_low, curve.ci_high):
        assert lo <= t <= hi
    assert curve.impressions == [20000] * 4
    # the same seed gives the same interval
    again = from_randomised(syn.logged, resamples=500, seed=1)
    assert again.ci_low == curve.ci_low


def test_pbm_curve_interval_covers_truth(synthetic):
    syn = synthetic(n_displays=20000, theta=THETA, n_items=10, seed=5)
    curve = pbm_curve(syn.logged, resamples=40, seed=0)
    for t, lo, hi in zip(THETA, curve.ci_low, curve.ci_high):
        assert lo - 0.02 <= t <= hi + 0.02
    assert curve.extra["converged"]


def test_non_uniform_randomised_logs_are_reweighted(synthetic):
    syn = synthetic(n_displays=30000, theta=THETA, n_items=10, seed=6)
    k = syn.logged.position - 1
    naive = np.bincount(k, weights=syn.logged.reward) / np.bincount(k)
    curve = from_randomised(syn.logged, resamples=200)
    assert np.abs(np.array(curve.attention) - THETA).max() < np.abs(naive / naive[0] - THETA).max()


def test_debiased_labels_remove_position_bias(synthetic):
    syn = synthetic(n_displays=30000, theta=THETA, n_items=10, seed=7)
    d = syn.logged
    labels = debiased_labels(d.position, d.reward, np.array(THETA), clip=100.0)
    per_item = np.bincount(d.item, weights=labels) / np.bincount(d.item)
    naive = np.bincount(d.item, weights=d.reward) / np.bincount(d.item)
    assert np.abs(per_item - syn.gamma).mean() < 0.5 * np.abs(naive - syn.gamma).mean()


def test_click_weights():
    w = click_weights(np.array([1, 2, 3, 5]), np.array([1, 1, 0, 1]), np.array([1.0, 0.5, 0.25]), clip=3.0)
    np.testing.assert_allclose(w, [1.0, 2.0, 1.0, 3.0])  # past the curve the last value holds; capped at 3
    with pytest.raises(InputError):
        click_weights(np.array([1]), np.array([1]), np.array([0.0]))


def test_needs_two_positions_and_clicks_at_the_top(synthetic):
    syn = synthetic(n_displays=50, theta=(1.0,), seed=0)
    with pytest.raises(InputError, match="two or more positions"):
        from_randomised(syn.logged)
    syn = synthetic(n_displays=50, seed=0)
    syn.logged.reward[:] = 0
    with pytest.raises(InputError, match="no clicks at position 1"):
        fit_pbm(syn.logged)


def test_bootstrap_matches_a_plain_loop():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(50, 2))
    cluster = rng.integers(0, 20, size=50)
    sums = cluster_sums(values, cluster)
    fast = resampled_sums(sums, resamples=30, seed=9)
    ref_rng = np.random.default_rng(9)
    ref = np.array([sums[ref_rng.integers(0, sums.shape[0], size=sums.shape[0])].sum(axis=0) for _ in range(30)])
    np.testing.assert_allclose(fast, ref)


def test_bootstrap_interval_coverage_is_near_nominal():
    rng = np.random.default_rng(1)
    covered = 0
    for _ in range(200):
        x = rng.exponential(size=200)
        (iv,) = bootstrap(np.stack([x, np.ones_like(x)], axis=1), np.arange(200),
                          lambda s: (s[:, 0] / s[:, 1])[:, None], resamples=400, seed=int(rng.integers(1 << 30)))
        covered += iv.low <= 1.0 <= iv.high
    assert 0.88 <= covered / 200 <= 0.99
