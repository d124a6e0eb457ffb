"""The world model: vectorised probabilities equal a slow scalar reference, samples match them."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from shelfwise.data.synth import SynthConfig, SyntheticWorld, generate
from shelfwise.errors import UnknownIdError


@pytest.fixture(scope="module")
def truth():
    return generate(SynthConfig(items=150, users=400, days=30, seed=5)).truth


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def reference(truth, u: int, i: int, position: int, day: float) -> tuple[float, float]:
    """The model of world.py's docstring written out one pair at a time, straight from the truth."""
    it, us, c = truth.items, truth.users, truth.coef
    latent = sum(float(a) * float(b) for a, b in zip(us.factors[u], it.factors[i]))
    theta = float(us.category_pref[u][it.category[i]])
    cat = c.category_weight * min(max(math.log(max(theta, 1e-12) * len(truth.categories)), -5.0), 2.5)
    brand = sum(float(a) for b, a in zip(us.fav_brands[u], us.fav_brand_affinity[u]) if b == it.brand[i])
    q = float(it.quality[i])
    pref = latent + cat + brand + c.popularity_weight * float(it.popularity[i]) + c.quality_click_weight * q
    price = float(us.price_sensitivity[u]) * float(it.relative_price[i])
    age = day - int(it.launch_day[i])
    g, m, d = float(it.growth_days[i]), float(it.maturity_days[i]), float(it.decline_days[i])
    if age < 0:
        life = 0.0
    elif age < g:
        life = c.launch_floor + (1 - c.launch_floor) * age / g
    elif age < g + m:
        life = 1.0
    else:
        life = max(c.lifecycle_floor, math.exp(-(age - g - m) / d))
    click = position ** -c.examination_eta * _sigmoid(c.click_intercept + pref - price) * life
    cart = _sigmoid(c.cart_intercept + c.cart_preference_weight * pref + c.cart_quality_weight * q
                    - c.cart_price_weight * price)
    buy = _sigmoid(c.purchase_intercept + c.purchase_quality_weight * q - c.purchase_price_weight * price)
    return click, click * cart * buy


def test_probabilities_equal_the_scalar_reference(truth):
    world = SyntheticWorld(truth)
    rng = np.random.default_rng(0)
    users = rng.integers(0, truth.n_users, 60)
    items = rng.integers(0, truth.n_items, (60, 8))
    days = rng.uniform(-5, 40, 60)
    click, purchase = world.expected(users, items, days)
    for b in range(60):
        for j in range(8):
            rc, rp = reference(truth, int(users[b]), int(items[b, j]), j + 1, float(days[b]))
            assert click[b, j] == pytest.approx(rc, rel=1e-5, abs=1e-12)
            assert purchase[b, j] == pytest.approx(rp, rel=1e-5, abs=1e-12)


def test_string_ids_dates_and_positions_give_the_same_answer(truth):
    world = SyntheticWorld(truth)
    users, items = np.array([3, 7]), np.array([[1, 2, 3], [4, 5, 6]])
    by_index = world.expected(users, items, 12)
    by_id = world.expected(truth.users.ids[users], truth.items.ids[items], truth.start + timedelta(days=12))
    np.testing.assert_allclose(by_index[0], by_id[0])
    shifted = world.expected(users, items, 12, positions=np.array([[2, 3, 4]] * 2))
    np.testing.assert_allclose(shifted[0], by_index[0] * (np.arange(2, 5) / np.arange(1, 4)) ** -truth.coef.examination_eta)
    with pytest.raises(UnknownIdError, match="nope"):
        world.expected(["nope"], [[truth.items.ids[0]]], 0)


def test_empty_slots_and_unlaunched_items_are_never_clicked(truth):
    world = SyntheticWorld(truth)
    future = int(np.argmax(truth.items.launch_day))
    launch = int(truth.items.launch_day[future])
    click, purchase = world.expected([0], [[-1, future]], launch - 1)
    assert click.tolist() == [[0.0, 0.0]] and purchase.tolist() == [[0.0, 0.0]]
    assert world.expected([0], [[future]], launch)[0][0, 0] > 0


def test_sampled_rates_match_expected_probabilities(truth):
    world = SyntheticWorld(truth, seed=1)
    rng = np.random.default_rng(2)
    users = rng.integers(0, truth.n_users, 20000)
    items = rng.integers(0, truth.n_items, (20000, 6))
    out = world.sample(users, items, 20)
    p = out.probabilities
    assert not (out.cart & ~out.click).any() and not (out.purchase & ~out.cart).any()
    for observed, expected in ((out.click, p.click), (out.purchase, p.purchase)):
        for j in range(6):
            n_obs, n_exp = observed[:, j].sum(), expected[:, j].sum()
            assert abs(n_obs - n_exp) < 4 * math.sqrt(max(n_exp, 1.0)), (j, n_obs, n_exp)
    # per user-slot calibration: group slots by expected CTR decile, observed rate follows
    flat_p, flat_c = p.click.ravel(), out.click.ravel()
    edges = np.quantile(flat_p, np.linspace(0, 1, 6))
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (flat_p >= lo) & (flat_p <= hi)
        assert abs(flat_c[sel].sum() - flat_p[sel].sum()) < 4 * math.sqrt(max(flat_p[sel].sum(), 1.0))


def test_sampling_is_deterministic_for_a_seed(truth):
    users, items = np.arange(50), np.tile(np.arange(10), (50, 1))
    a = SyntheticWorld(truth, seed=9).sample(users, items, 10)
    b = SyntheticWorld(truth, seed=9).sample(users, items, 10)
    np.testing.assert_array_equal(a.click, b.click)
    np.testing.assert_array_equal(a.purchase, b.purchase)
    c = SyntheticWorld(truth).sample(users, items, 10, rng=np.random.default_rng(9))
    d = SyntheticWorld(truth).sample(users, items, 10, rng=np.random.default_rng(9))
    np.testing.assert_array_equal(c.click, d.click)


def test_lifecycle_follows_launch_growth_maturity_decline(truth):
    world = SyntheticWorld(truth)
    it, c = truth.items, truth.coef
    j = int(np.argmin(it.maturity_days))  # one that declines soon after its growth
    launch, g, m = int(it.launch_day[j]), float(it.growth_days[j]), float(it.maturity_days[j])
    days = np.array([launch - 1, launch, launch + g / 2, launch + g + m / 2, launch + g + m + 200.0])
    life = world.lifecycle(np.full(5, j), days)
    assert life[0] == 0.0 and life[1] == pytest.approx(c.launch_floor)
    assert c.launch_floor < life[2] < 1.0 and life[3] == 1.0 and c.lifecycle_floor <= life[4] < 0.5
    assert world.stage(np.full(5, j), days).tolist() == ["unlaunched", "launch", "growth" if g / 2 >= c.launch_days
                                                         else "launch", "maturity", "decline"]
    assert isinstance(truth.start, date)


def test_visitors_come_at_their_rate_and_only_after_signing_up(truth):
    world = SyntheticWorld(truth)
    day = 10
    rate = world.visit_rate(day)
    assert (rate[truth.users.signup_day > day] == 0).all()
    draws = [world.visitors(day, np.random.default_rng(s)) for s in range(200)]
    total = sum(len(d) for d in draws)
    assert abs(total - 200 * rate.sum()) < 4 * math.sqrt(200 * rate.sum())
    assert all((truth.users.signup_day[d] <= day).all() for d in draws)
    np.testing.assert_array_equal(world.visitors(day, np.random.default_rng(1)), draws[1])
    on_sale = world.available_items(day)
    assert (truth.items.launch_day[on_sale] <= day).all()
    assert len(on_sale) == int((truth.items.launch_day <= day).sum())
