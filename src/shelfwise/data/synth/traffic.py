"""Day-by-day traffic of the demo shop: sessions, ranked lists, and what users did with them.

Each day, every signed-up user starts a Poisson number of sessions (more at weekends, mostly in the
evening). A session opens one to four lists on a surface (``home``, ``category``, ``search``). The
shop's *logging policy* fills each list: it draws a candidate pool (popular and new items on ``home``,
the user's intended category elsewhere), scores it with a noisy guess of the user's taste, and samples a
ranking from the Plackett-Luce distribution of those scores (Gumbel top-n). The logged ``propensity`` of
a slot is that policy's probability of putting this item in this slot given the slots above it. A small
share of lists is shuffled uniformly at random (the ``random`` policy), the exploration traffic that
position-bias and off-policy estimators need. The world model then samples clicks, carts and purchases;
purchases check out together at the end of the session, and some come back as returns days later.

Everything is vectorised per day and per surface; each day has its own seeded generator, so the
output depends only on the seed and the sizes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...progress import task
from .truth import POLICIES, SURFACES, Truth
from .world import SyntheticWorld

EVENTS: tuple[str, ...] = ("impression", "click", "view", "cart", "purchase", "return")
IMPRESSION, CLICK, VIEW, CART, PURCHASE, RETURN = range(len(EVENTS))

SLOTS: dict[str, int] = {"home": 8, "category": 12, "search": 10}
SURFACE_SHARE = np.array([0.35, 0.40, 0.25])
POOL_FACTOR = 3                       # candidates drawn per slot shown
SHARPNESS: dict[str, float] = {"home": 1.0, "category": 0.8, "search": 1.5}
RANKER_NOISE = 1.5                    # the logging policy's error on the true taste logit (std)
HOME_POPULAR_SHARE = 0.5              # home candidates drawn from the whole shop rather than the user's tastes
NEW_IN_DAYS, NEW_IN_BOOST = 14, 2.0   # the shop promotes items in their first two weeks
EXPOSURE_POPULARITY = 0.7             # how strongly the shop's candidate pools favour popular items
EXTRA_LISTS_MEAN, MAX_LISTS = 0.6, 4
_HOURS = np.array([1, 0.6, 0.4, 0.3, 0.3, 0.5, 1, 2, 3, 3.5, 3.5, 4, 4.5, 4, 3.5, 3.5, 4, 4.5, 5.5,
                   6.5, 7, 6, 4, 2], dtype=np.float64)
_SESSION_SPAN = 1500                  # seconds: an upper bound on a session's length (lists, clicks, checkout)
_QUANTITY = (np.array([1, 2, 3]), np.array([0.86, 0.1, 0.04]))


@dataclass
class Traffic:
    """The raw result: event columns (integer codes, in time order) plus the purchases and lists behind them."""

    columns: dict[str, np.ndarray]
    purchases: dict[str, np.ndarray]   # user (true), item, ts, returned: the input of the reviews
    displays: dict[str, np.ndarray]
    sessions: int = 0


@dataclass
class _Buffer:
    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, n: int, **cols: object) -> None:
        for name, value in cols.items():
            arr = np.asarray(value)
            self.parts.setdefault(name, []).append(np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr)

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(v) for k, v in self.parts.items()}


class _Shop:
    """What the logging policy knows on one day: which items exist and how much it pushes each."""

    def __init__(self, truth: Truth, world: SyntheticWorld) -> None:
        self.truth, self.world = truth, world
        it = truth.items
        self.order = np.argsort(it.category, kind="stable")
        n_cat = len(truth.categories)
        sorted_cat = it.category[self.order]
        self.lo = np.searchsorted(sorted_cat, np.arange(n_cat), side="left")
        self.hi = np.searchsorted(sorted_cat, np.arange(n_cat), side="right")
        self.user_cdf = np.cumsum(truth.users.category_pref, axis=1)
        self.user_cdf /= self.user_cdf[:, -1:]
        self.all_items = np.arange(truth.n_items)

    def set_day(self, day: int) -> None:
        it = self.truth.items
        self.life = self.world.lifecycle(self.all_items, float(day))
        age = day - it.launch_day
        boost = np.where((age >= 0) & (age < NEW_IN_DAYS), NEW_IN_BOOST, 1.0)
        self.weight = np.exp(EXPOSURE_POPULARITY * it.popularity) * self.life * boost
        self.cum = np.concatenate([[0.0], np.cumsum(self.weight[self.order])])

    def categories(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A category per user (or per row of a user matrix) drawn from the user's tastes."""
        u = rng.random(users.shape)
        return np.minimum((self.user_cdf[users] < u[..., None]).sum(axis=-1), self.user_cdf.shape[1] - 1)

    def pool(self, users: np.ndarray, surface: str, size: int, rng: np.random.Generator) -> np.ndarray:
        """Candidate items (B, size) for each list, drawn with the shop's exposure weights; -1 = none."""
        b = len(users)
        if surface == "home":
            cat = self.categories(np.repeat(users[:, None], size, axis=1), rng)
            anywhere = rng.random((b, size)) < HOME_POPULAR_SHARE
        else:
            cat = np.repeat(self.categories(users, rng)[:, None], size, axis=1)
            anywhere = np.zeros((b, size), dtype=bool)
        lo_w, hi_w = self.cum[self.lo[cat]], self.cum[self.hi[cat]]
        anywhere |= hi_w <= lo_w
        lo_w = np.where(anywhere, 0.0, lo_w)
        hi_w = np.where(anywhere, self.cum[-1], hi_w)
        x = lo_w + rng.random((b, size)) * (hi_w - lo_w)
        pos = np.clip(np.searchsorted(self.cum, x, side="right") - 1, 0, len(self.order) - 1)
        items = self.order[pos]
        # drop unavailable items (zero weight: not launched yet) and repeats within a pool
        bad = self.weight[items] <= 0
        srt = np.argsort(items, axis=1, kind="stable")
        s_items = np.take_along_axis(items, srt, axis=1)
        dup = np.zeros_like(bad)
        np.put_along_axis(dup, srt[:, 1:], s_items[:, 1:] == s_items[:, :-1], axis=1)
        return np.where(bad | dup, -1, items)


def _rank(world: SyntheticWorld, shop: _Shop, users: np.ndarray, pool: np.ndarray, surface: str,
          random_policy: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample the shown list (B, n; -1 = empty slot) and each slot's logging propensity."""
    valid = pool >= 0
    safe = np.maximum(pool, 0)
    it = world.truth.items
    pref = world._preference(users, safe)
    price = world.truth.users.price_sensitivity[users][:, None] * it.relative_price[safe]
    guess = (world.coef.click_intercept + pref - price + np.log(np.maximum(shop.life[safe], 1e-9))
             + rng.normal(0.0, RANKER_NOISE, pool.shape))
    z = np.where(random_policy[:, None], 0.0, SHARPNESS[surface] * guess)
    z = np.where(valid, z, -np.inf)
    key = z + rng.gumbel(size=pool.shape)
    top = np.argsort(-key, axis=1, kind="stable")[:, :n]
    zmax = np.max(np.where(valid, z, -np.inf), axis=1, keepdims=True)
    ez = np.where(valid, np.exp(z - np.where(np.isfinite(zmax), zmax, 0.0)), 0.0)
    taken = np.take_along_axis(ez, top, axis=1)
    denom = ez.sum(axis=1, keepdims=True) - np.cumsum(taken, axis=1) + taken
    shown_ok = np.take_along_axis(valid, top, axis=1)
    propensity = np.where(shown_ok, taken / np.where(denom > 0, denom, 1.0), np.nan)
    shown = np.where(shown_ok, np.take_along_axis(pool, top, axis=1), -1)
    return shown, np.clip(propensity, 1e-12, 1.0)


def simulate(truth: Truth, world: SyntheticWorld, anonymous_share: float, random_share: float) -> Traffic:
    """Run the shop for ``truth.days`` days and return every event it logged."""
    shop = _Shop(truth, world)
    t0 = start_epoch(truth.start)
    days: list[dict[str, np.ndarray]] = []
    returns: dict[int, _Buffer] = {}  # returns waiting for the day they happen on
    buys, disp = _Buffer(), _Buffer()
    hours_p = _HOURS / _HOURS.sum()
    next_session = 0
    with task("simulating shop traffic", total=truth.days) as bar:
        for day in range(truth.days):
            rng = np.random.default_rng([truth.seed, 0x7AFF1C, day])
            shop.set_day(day)
            s_user = world.visitors(day, rng)
            n_s = len(s_user)
            ev = returns.pop(day, _Buffer())
            if n_s == 0 or shop.cum[-1] <= 0:
                if ev.parts:
                    days.append(_sorted(ev.concat()))
                bar.advance()
                continue
            s_id = next_session + np.arange(n_s)
            next_session += n_s
            hour = rng.choice(24, n_s, p=hours_p)
            # sessions last under 25 minutes: the last hour's start early enough to end the same day
            s_start = (t0 + day * 86400 + hour * 3600
                       + rng.integers(0, np.where(hour == 23, 3600 - _SESSION_SPAN, 3600))).astype(np.int64)
            s_anon = rng.random(n_s) < anonymous_share
            n_lists = 1 + np.minimum(rng.poisson(EXTRA_LISTS_MEAN, n_s), MAX_LISTS - 1)
            s_checkout = s_start + (n_lists - 1) * 150 + 60 + rng.integers(120, 900, n_s)
            d_sess = np.repeat(np.arange(n_s), n_lists)
            first = np.repeat(np.cumsum(n_lists) - n_lists, n_lists)
            d_ts = s_start[d_sess] + (np.arange(len(d_sess)) - first) * 150 + rng.integers(0, 60, len(d_sess))
            d_surface = rng.choice(len(SURFACES), len(d_sess), p=SURFACE_SHARE)
            d_random = rng.random(len(d_sess)) < random_share
            for code, surface in enumerate(SURFACES):
                sel = np.flatnonzero(d_surface == code)
                if len(sel) == 0:
                    continue
                n = SLOTS[surface]
                sess = d_sess[sel]
                users = s_user[sess]
                pool = shop.pool(users, surface, n * POOL_FACTOR, rng)
                shown, prop = _rank(world, shop, users, pool, surface, d_random[sel], n, rng)
                out = world.sample(users, shown, day, rng=rng)
                logged_user = np.where(s_anon[sess], -1, users)
                _emit(ev, returns, buys, rng, shown, prop, out.click, out.cart, out.purchase, code, d_ts[sel],
                      logged_user, users, s_id[sess], s_checkout[sess], world, t0, truth.days)
                disp.add(len(sel), session=s_id[sess], user=users, day=np.full(len(sel), day, np.int32),
                         ts=d_ts[sel], surface=np.full(len(sel), code, np.int8),
                         policy=d_random[sel].astype(np.int8), shown=(shown >= 0).sum(axis=1).astype(np.int16))
            if ev.parts:
                days.append(_sorted(ev.concat()))
            bar.advance()
    return Traffic(_concat(days), buys.concat() if buys.parts else {},
                   disp.concat() if disp.parts else {}, next_session)


def _sorted(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.lexsort((cols["event"], cols["ts"]))
    return {k: v[order] for k, v in cols.items()}


def _concat(days: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """All events in time order. Each day's events (returns included) are sorted and sessions end
    before midnight, so the days only need to be put end to end."""
    if not days:
        return {}
    out = {k: np.concatenate([d[k] for d in days]) for k in days[0]}
    if (np.diff(out["ts"]) < 0).any():  # a session ran past midnight: sort the whole log instead
        out = _sorted(out)
    return out


def _emit(ev: _Buffer, returns: dict[int, _Buffer], buys: _Buffer, rng: np.random.Generator, shown: np.ndarray,
          prop: np.ndarray, click: np.ndarray, cart: np.ndarray, purchase: np.ndarray, surface: int, ts: np.ndarray,
          logged_user: np.ndarray, true_user: np.ndarray, session: np.ndarray, checkout: np.ndarray,
          world: SyntheticWorld, t0: int, n_days: int) -> None:
    """Turn one surface's lists and outcomes into event rows (returns wait for their own day)."""
    price = world.truth.items.price
    b, j = np.nonzero(shown >= 0)
    ev.add(len(b), ts=ts[b], user=logged_user[b], item=shown[b, j], event=np.int8(IMPRESSION),
           position=(j + 1).astype(np.int16), surface=np.int8(surface), propensity=prop[b, j],
           quantity=np.int16(0), price=np.nan, session=session[b], order=np.int64(-1))
    b, j = np.nonzero(click)
    items = shown[b, j]
    click_ts = ts[b] + rng.integers(3, 90, len(b))
    for code, when, pos, p in ((CLICK, click_ts, (j + 1).astype(np.int16), prop[b, j]),
                               (VIEW, click_ts + 1, np.int16(0), np.nan)):
        ev.add(len(b), ts=when, user=logged_user[b], item=items, event=np.int8(code), position=pos,
               surface=np.int8(surface), propensity=p, quantity=np.int16(0), price=np.nan,
               session=session[b], order=np.int64(-1))
    carted = cart[b, j]
    bought = purchase[b, j][carted]
    cb, ci, cts = b[carted], items[carted], click_ts[carted]
    qty = rng.choice(_QUANTITY[0], len(cb), p=_QUANTITY[1]).astype(np.int16)
    cart_ts = np.minimum(cts + rng.integers(20, 400, len(cb)), checkout[cb] - 30)
    ev.add(len(cb), ts=np.maximum(cart_ts, cts + 2), user=logged_user[cb], item=ci, event=np.int8(CART),
           position=np.int16(0), surface=np.int8(surface), propensity=np.nan, quantity=qty, price=price[ci],
           session=session[cb], order=np.int64(-1))
    pb, pi, pq = cb[bought], ci[bought], qty[bought]
    buy_ts = np.maximum(checkout[pb], cts[bought] + 30)
    ev.add(len(pb), ts=buy_ts, user=logged_user[pb], item=pi, event=np.int8(PURCHASE), position=np.int16(0),
           surface=np.int8(surface), propensity=np.nan, quantity=pq, price=price[pi], session=session[pb],
           order=session[pb])
    returned = rng.random(len(pb)) < world.return_probability(pi)
    ret_ts = buy_ts + rng.integers(2 * 86400, 20 * 86400, len(pb))
    ret_day = (ret_ts - t0) // 86400
    for d in np.unique(ret_day[returned & (ret_day < n_days)]):
        k = returned & (ret_day == d)
        returns.setdefault(int(d), _Buffer()).add(
            int(k.sum()), ts=ret_ts[k], user=logged_user[pb][k], item=pi[k], event=np.int8(RETURN),
            position=np.int16(0), surface=np.int8(-1), propensity=np.nan, quantity=pq[k], price=price[pi][k],
            session=session[pb][k], order=session[pb][k])
    buys.add(len(pb), user=true_user[pb], item=pi, ts=buy_ts, returned=returned)


def events_table(traffic: Traffic, truth: Truth) -> pa.Table:
    """The shop's ``events`` table, sorted by time, with string ids built inside Arrow (no Python loop)."""
    c = traffic.columns
    if not c:
        return pa.table({"timestamp": pa.array([], pa.timestamp("s")), "user_id": pa.array([], pa.string()),
                         "item_id": pa.array([], pa.string()), "event": pa.array([], pa.string())})
    col = c  # already in time order (see _concat)
    user_ids = pa.array(truth.users.ids, pa.string())
    item_ids = pa.array(truth.items.ids, pa.string())

    def take(values: pa.Array, idx: np.ndarray) -> pa.Array:
        return pc.take(values, pa.array(idx, pa.int64(), mask=idx < 0))

    def prefixed(prefix: str, idx: np.ndarray) -> pa.Array:
        text = pc.cast(pa.array(idx, pa.int64(), mask=idx < 0), pa.string())
        return pc.binary_join_element_wise(pa.scalar(prefix), text, "")

    no_pos = col["position"] <= 0
    return pa.table({
        "timestamp": pa.array(col["ts"].astype("datetime64[s]"), pa.timestamp("s")),
        "user_id": take(user_ids, col["user"]),
        "item_id": take(item_ids, col["item"]),
        "event": take(pa.array(EVENTS, pa.string()), col["event"].astype(np.int64)),
        "quantity": pa.array(col["quantity"].astype(np.int32), pa.int32(), mask=col["quantity"] <= 0),
        "price": pa.array(col["price"], pa.float64(), mask=np.isnan(col["price"])),
        "session_id": prefixed("s", col["session"]),
        "position": pa.array(col["position"].astype(np.int32), pa.int32(), mask=no_pos),
        "surface": take(pa.array(SURFACES, pa.string()), col["surface"].astype(np.int64)),
        "propensity": pa.array(col["propensity"], pa.float64(), mask=np.isnan(col["propensity"])),
        "order_id": prefixed("o", col["order"]),
    })


def displays_table(traffic: Traffic, truth: Truth) -> pa.Table:
    """One row per list shown (the truth's ``displays``): session, true user, day, surface, policy."""
    d = traffic.displays
    if not d:
        return pa.table({"display_id": pa.array([], pa.int64())})
    n = len(d["session"])
    return pa.table({
        "display_id": pa.array(np.arange(n), pa.int64()),
        "session_id": pc.binary_join_element_wise(pa.scalar("s"), pc.cast(pa.array(d["session"]), pa.string()), ""),
        "user_id": pc.take(pa.array(truth.users.ids, pa.string()), pa.array(d["user"], pa.int64())),
        "day": pa.array(d["day"], pa.int32()),
        "timestamp": pa.array(d["ts"].astype("datetime64[s]"), pa.timestamp("s")),
        "surface": pc.take(pa.array(SURFACES, pa.string()), pa.array(d["surface"].astype(np.int64))),
        "policy": pc.take(pa.array(POLICIES, pa.string()), pa.array(d["policy"].astype(np.int64))),
        "shown": pa.array(d["shown"], pa.int32()),
    })


def start_epoch(start: date) -> int:
    """Unix seconds of the period's first midnight (UTC)."""
    return int(datetime(start.year, start.month, start.day, tzinfo=timezone.utc).timestamp())
