"""The world model: how a synthetic shop's users really respond to what they are shown.

Built from a :class:`~.truth.Truth`, it answers the question every offline evaluation can only guess
at: *if user u is shown these items at positions 1..n on day t, what happens?* The generator uses it
to produce the demo shop's events; the policy simulator uses it to replay new policies day by day.

The model is a position-based click model with a purchase funnel behind the click::

    preference(u, i) = f_u . g_i + w_cat log(C theta_u[cat_i]) + brand_bonus(u, i)
                       + w_pop pop_i + w_q quality_i
    appeal(u, i, t)  = sigmoid(a0 + preference - beta_u rho_i) * lifecycle_i(t)
    P(click)         = examination(position) * appeal
    P(cart | click)  = sigmoid(c0 + c_p preference + c_q quality_i - c_r beta_u rho_i)
    P(buy  | cart)   = sigmoid(b0 + b_q quality_i - b_r beta_u rho_i)

where ``rho_i = log(price_i / median price of its category)`` and ``beta_u`` is the user's price
sensitivity. ``lifecycle_i(t)`` is 0 before launch, ramps from ``launch_floor`` to 1 over the growth
phase, stays at 1 through maturity and then decays exponentially (never below ``lifecycle_floor``).
Clicks on different slots are independent given the probabilities (the position-based model).

Every method takes batches: ``users`` of shape (B,) and ``items`` of shape (B, n) (slot j is position
j + 1 unless ``positions`` is given). Ids may be the shop's string ids or integer row indices; with
indices, a negative item index marks an empty slot (probability 0). Sampling is deterministic for a
seed: the same seed and the same sequence of calls give the same outcomes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd

from ...errors import UnknownIdError
from .truth import Truth

STAGES: tuple[str, ...] = ("unlaunched", "launch", "growth", "maturity", "decline")
# how much more (or less) users visit on each weekday, Monday first; averages 1.06 (weekends are busier)
WEEKDAY_FACTOR = np.array([1.0, 0.95, 0.95, 1.0, 1.05, 1.25, 1.2])


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass
class Probabilities:
    """True probabilities for every slot of a batch of displays, each of shape (B, n)."""

    click: np.ndarray
    cart_given_click: np.ndarray
    purchase_given_cart: np.ndarray
    appeal: np.ndarray          # P(click | examined)
    examination: np.ndarray     # P(examined) at the slot's position

    @property
    def purchase(self) -> np.ndarray:
        """P(the slot leads to a purchase) = P(click) P(cart | click) P(buy | cart)."""
        return self.click * self.cart_given_click * self.purchase_given_cart


@dataclass
class Outcome:
    """Sampled responses (booleans, shape (B, n)); a cart implies a click, a purchase implies a cart."""

    click: np.ndarray
    cart: np.ndarray
    purchase: np.ndarray
    probabilities: Probabilities


class SyntheticWorld:
    """Samples and scores user responses from a synthetic shop's ground truth."""

    def __init__(self, truth: Truth, seed: int | None = None) -> None:
        self.truth = truth
        self.coef = truth.coef
        self.rng = np.random.default_rng(truth.seed + 7919 if seed is None else seed)
        it, us = truth.items, truth.users
        c = self.coef
        n_cat = len(truth.categories)
        # per-item constant part of the preference, and the user-by-category log preference table
        self._item_static = (c.popularity_weight * it.popularity + c.quality_click_weight * it.quality).astype(np.float64)
        self._log_cat = (c.category_weight * np.clip(np.log(np.maximum(us.category_pref, 1e-12) * n_cat), -5.0, 2.5)
                         ).astype(np.float32)
        self._item_pos = pd.Index(np.asarray(it.ids, dtype=object))
        self._user_pos = pd.Index(np.asarray(us.ids, dtype=object))

    # ---- ids -----------------------------------------------------------------------------------
    def item_index(self, ids: Any) -> np.ndarray:
        """Row indices of item ids (any shape); raises :class:`UnknownIdError` for an unknown id."""
        return self._index(self._item_pos, ids, "item")

    def user_index(self, ids: Any) -> np.ndarray:
        """Row indices of user ids (any shape)."""
        return self._index(self._user_pos, ids, "user")

    @staticmethod
    def _index(index: pd.Index, ids: Any, what: str) -> np.ndarray:
        arr = np.asarray(ids)
        if arr.dtype.kind in "iu":
            if arr.size and int(arr.max(initial=-1)) >= len(index):
                raise UnknownIdError(f"{what} index {int(arr.max())} is out of range (the shop has "
                                     f"{len(index)} {what}s)")
            return arr.astype(np.int64)
        flat = index.get_indexer(arr.reshape(-1).astype(object))
        if (flat < 0).any():
            bad = arr.reshape(-1)[np.flatnonzero(flat < 0)[0]]
            raise UnknownIdError(f"unknown {what} id '{bad}': the synthetic shop has no such {what}")
        return flat.reshape(arr.shape).astype(np.int64)

    def _day(self, day: Any, batch: int) -> np.ndarray:
        if isinstance(day, datetime):
            day = (day.date() - self.truth.start).days + (day.hour * 3600 + day.minute * 60 + day.second) / 86400
        elif isinstance(day, date):
            day = (day - self.truth.start).days
        d = np.asarray(day, dtype=np.float64)
        return np.broadcast_to(d.reshape(-1) if d.ndim else d, (batch,)).astype(np.float64)

    # ---- who comes, what exists ----------------------------------------------------------------
    def visit_rate(self, day: int) -> np.ndarray:
        """Expected sessions of every user on ``day`` (0 before they sign up; busier at weekends)."""
        us = self.truth.users
        weekday = (self.truth.start.weekday() + int(day)) % 7
        return us.activity * WEEKDAY_FACTOR[weekday] * (us.signup_day <= day)

    def visitors(self, day: int, rng: np.random.Generator | None = None) -> np.ndarray:
        """User indices of the sessions started on ``day``, one entry per session (Poisson per user)."""
        g = self.rng if rng is None else rng
        counts = g.poisson(self.visit_rate(day))
        return np.repeat(np.arange(self.truth.n_users), counts)

    def available_items(self, day: float) -> np.ndarray:
        """Indices of the items on sale on ``day`` (launched on or before it)."""
        return np.flatnonzero(self.truth.items.launch_day <= day)

    # ---- building blocks -----------------------------------------------------------------------
    def examination_at(self, positions: Any) -> np.ndarray:
        """P(a user examines the slot at a 1-based position); the power law continues past the table."""
        pos = np.asarray(positions, dtype=np.int64)
        table = self.truth.examination
        inside = np.clip(pos, 1, len(table)) - 1
        beyond = np.maximum(pos, 1).astype(np.float64) ** -self.coef.examination_eta
        return np.where(pos <= len(table), table[inside], beyond)

    def lifecycle(self, items: Any, day: Any) -> np.ndarray:
        """The lifecycle multiplier of items (any shape) on day(s) ``day``.

        ``day`` is a scalar, a date, an array that broadcasts against ``items``, or (for 2-D ``items``)
        one day per row.
        """
        idx = self.item_index(items)
        it, c = self.truth.items, self.coef
        safe = np.maximum(idx, 0)
        age = np.asarray(self._day_like(day, idx), dtype=np.float64) - it.launch_day[safe]
        g, m, d = it.growth_days[safe], it.maturity_days[safe], it.decline_days[safe]
        ramp = c.launch_floor + (1.0 - c.launch_floor) * np.clip(age / g, 0.0, 1.0)
        decline = np.maximum(c.lifecycle_floor, np.exp(-np.maximum(age - g - m, 0.0) / d))
        out = np.where(age < 0, 0.0, np.where(age < g, ramp, np.where(age < g + m, 1.0, decline)))
        return np.where(idx < 0, 0.0, out)

    def stage(self, items: Any, day: Any) -> np.ndarray:
        """The true lifecycle stage names (see :data:`STAGES`) of items on day(s) ``day``."""
        idx = np.maximum(self.item_index(items), 0)
        it = self.truth.items
        age = np.asarray(self._day_like(day, idx), dtype=np.float64) - it.launch_day[idx]
        g, m = it.growth_days[idx], it.maturity_days[idx]
        code = np.select([age < 0, age < self.coef.launch_days, age < g, age < g + m], [0, 1, 2, 3], 4)
        return np.asarray(STAGES, dtype=object)[code]

    def _day_like(self, day: Any, idx: np.ndarray) -> Any:
        """``day`` shaped to broadcast against ``idx``: a 1-D day array against 2-D items is one day per row."""
        if isinstance(day, (date, datetime)):
            return self._day(day, 1)[0]
        d = np.asarray(day, dtype=np.float64)
        if d.ndim == 1 and idx.ndim == 2:
            return d[:, None]
        return d

    def preference(self, users: Any, items: Any) -> np.ndarray:
        """The true preference (utility, before price and lifecycle) of each user for each slot's item."""
        u, i = self._batch(users, items)
        return self._preference(u, np.maximum(i, 0))

    def _preference(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        it, us = self.truth.items, self.truth.users
        latent = np.einsum("bk,bnk->bn", us.factors[u], it.factors[i], dtype=np.float64)
        cat = self._log_cat[u[:, None], it.category[i]]
        brand = ((us.fav_brands[u][:, None, :] == it.brand[i][:, :, None])
                 * us.fav_brand_affinity[u][:, None, :]).sum(axis=2)
        return latent + cat + brand + self._item_static[i]

    def _batch(self, users: Any, items: Any) -> tuple[np.ndarray, np.ndarray]:
        i = self.item_index(items)
        if i.ndim == 1:
            i = i[None, :]
        u = self.user_index(users).reshape(-1)
        if u.shape[0] == 1 and i.shape[0] > 1:
            u = np.repeat(u, i.shape[0])
        if u.shape[0] != i.shape[0]:
            raise ValueError(f"users has {u.shape[0]} rows but items has {i.shape[0]}: give one user per list")
        return u, i

    # ---- the model -----------------------------------------------------------------------------
    def probabilities(self, users: Any, items: Any, day: Any, positions: Any = None) -> Probabilities:
        """True click / cart / purchase probabilities of every slot (see the module docstring)."""
        u, i = self._batch(users, items)
        b, n = i.shape
        empty = i < 0
        safe = np.maximum(i, 0)
        c, it = self.coef, self.truth.items
        pos = np.broadcast_to(np.arange(1, n + 1) if positions is None else np.asarray(positions), (b, n))
        days = self._day(day, b)
        pref = self._preference(u, safe)
        price = self.truth.users.price_sensitivity[u][:, None].astype(np.float64) * it.relative_price[safe]
        quality = it.quality[safe].astype(np.float64)
        appeal = _sigmoid(c.click_intercept + pref - price) * self.lifecycle(safe, days)
        appeal = np.where(empty, 0.0, appeal)
        exam = self.examination_at(pos)
        cart = _sigmoid(c.cart_intercept + c.cart_preference_weight * pref + c.cart_quality_weight * quality
                        - c.cart_price_weight * price)
        buy = _sigmoid(c.purchase_intercept + c.purchase_quality_weight * quality - c.purchase_price_weight * price)
        return Probabilities(click=exam * appeal, cart_given_click=np.where(empty, 0.0, cart),
                             purchase_given_cart=np.where(empty, 0.0, buy), appeal=appeal, examination=exam)

    def expected(self, users: Any, items: Any, day: Any, positions: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(P(click), P(purchase)) of every slot, each of shape (B, n)."""
        p = self.probabilities(users, items, day, positions)
        return p.click, p.purchase

    def sample(self, users: Any, items: Any, day: Any, positions: Any = None,
               rng: np.random.Generator | None = None) -> Outcome:
        """Draw clicks, carts and purchases for every slot from the true probabilities.

        Uses ``rng`` when given, else the world's own generator (seeded at construction).
        """
        p = self.probabilities(users, items, day, positions)
        g = self.rng if rng is None else rng
        draws = g.random((3,) + p.click.shape)
        click = draws[0] < p.click
        cart = click & (draws[1] < p.cart_given_click)
        purchase = cart & (draws[2] < p.purchase_given_cart)
        return Outcome(click=click, cart=cart, purchase=purchase, probabilities=p)

    def return_probability(self, items: Any) -> np.ndarray:
        """P(a purchased item is sent back): worse quality and some departments return more."""
        from .vocab import DEPARTMENTS

        idx = self.item_index(items)
        it, c = self.truth.items, self.coef
        dept_bias = np.asarray([d.return_bias for d in DEPARTMENTS])[self.truth.category_department[it.category[idx]]]
        return _sigmoid(c.return_intercept - c.return_quality_weight * it.quality[idx] + dept_bias)
