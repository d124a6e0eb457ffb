"""The demo shop's customers: countries, segments, tastes, price sensitivity and how often they come.

Segments differ in the ways merchandising cares about: bargain hunters are price sensitive, premium
customers are not, enthusiasts come often and stick to a few categories. Some customers sign up during
the period, so there are new users as well as new items.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pyarrow as pa

from .catalog import Taxonomy
from .truth import COUNTRIES, SEGMENTS, UserTruth

_COUNTRY_SHARE = np.array([0.25, 0.18, 0.14, 0.08, 0.10, 0.10, 0.05, 0.10])
# per segment, in SEGMENTS order: share, price sensitivity, activity multiplier, taste concentration
_SEGMENT_SHARE = np.array([0.30, 0.45, 0.15, 0.10])
_PRICE_SENSITIVITY = np.array([2.0, 1.0, 0.35, 0.7])
_ACTIVITY = np.array([0.8, 1.0, 0.8, 2.5])
_CONCENTRATION = np.array([0.25, 0.25, 0.25, 0.08])
_OLD_SIGNUP_DAYS = 720

assert len(_COUNTRY_SHARE) == len(COUNTRIES) and len(_SEGMENT_SHARE) == len(SEGMENTS)


def build_users(n_users: int, days: int, k: int, sessions_per_day: float, new_share: float,
                tax: Taxonomy, rng: np.random.Generator) -> UserTruth:
    """Hidden per-user traits; ``activity`` averages ``sessions_per_day`` over the population."""
    country = rng.choice(len(COUNTRIES), size=n_users, p=_COUNTRY_SHARE).astype(np.int32)
    segment = rng.choice(len(SEGMENTS), size=n_users, p=_SEGMENT_SHARE).astype(np.int32)
    beta = (_PRICE_SENSITIVITY[segment] * rng.lognormal(0.0, 0.25, n_users)).astype(np.float32)
    sigma = 0.8
    raw = _ACTIVITY[segment] * rng.lognormal(-sigma**2 / 2, sigma, n_users)
    activity = (raw * sessions_per_day / float(_ACTIVITY @ _SEGMENT_SHARE)).astype(np.float32)
    is_new = rng.random(n_users) < new_share
    signup = np.where(is_new, rng.integers(0, max(days, 1), n_users),
                      -rng.integers(1, _OLD_SIGNUP_DAYS + 1, n_users)).astype(np.int32)
    factors = rng.normal(0.0, 0.45, (n_users, k)).astype(np.float32)
    # Dirichlet tastes over categories via normalised gammas; small shape = a few favourite categories
    shape = _CONCENTRATION[segment][:, None] * tax.category_weight[None, :] * len(tax.categories)
    g = np.maximum(rng.gamma(shape), 1e-12)
    pref = (g / g.sum(axis=1, keepdims=True)).astype(np.float32)
    # two favourite brands, from departments the user likes
    n_dept = int(tax.category_department.max()) + 1
    dept_pref = np.zeros((n_users, n_dept))
    np.add.at(dept_pref.T, tax.category_department, pref.T)
    cdf = np.cumsum(dept_pref, axis=1)
    draws = rng.random((n_users, 2)) * cdf[:, -1:]
    fav_dept = np.minimum((cdf[:, None, :] <= draws[:, :, None]).sum(axis=2), n_dept - 1)
    per_dept = np.bincount(tax.brand_department, minlength=n_dept)
    first = np.concatenate([[0], np.cumsum(per_dept)[:-1]])
    fav_brand = (first[fav_dept] + rng.integers(0, 1 << 30, (n_users, 2)) % per_dept[fav_dept]).astype(np.int32)
    affinity = rng.uniform(0.4, 1.2, (n_users, 2)).astype(np.float32)
    width = len(str(n_users - 1))
    ids = np.asarray([f"u{j:0{width}d}" for j in range(n_users)], dtype=object)
    return UserTruth(ids=ids, country=country, segment=segment, price_sensitivity=beta, activity=activity,
                     signup_day=signup, factors=factors, category_pref=pref, fav_brands=fav_brand,
                     fav_brand_affinity=affinity)


def users_table(users: UserTruth, start: date) -> pa.Table:
    """The shop's ``users`` table: id, country, segment and sign-up date (hidden traits stay in the truth)."""
    signed = (np.datetime64(start, "D") + users.signup_day.astype("timedelta64[D]")).astype(str)
    return pa.table({
        "user_id": pa.array(users.ids, pa.string()),
        "country": pa.array(np.asarray(COUNTRIES, dtype=object)[users.country], pa.string()),
        "segment": pa.array(np.asarray(SEGMENTS, dtype=object)[users.segment], pa.string()),
        "signed_up_at": pa.array(signed, pa.string()),
    })
