"""The day loop: who visits, what the recommender proposes, what the policy shows, what users do.

The synthetic shop's :class:`~shelfwise.data.synth.world.SyntheticWorld` knows every user's true taste
and the true position bias, so a list shown at day ``t`` gets clicks and purchases drawn from the truth.
Each simulated day:

1. the visitors of the day arrive (Poisson per user, as in the shop's own traffic);
2. a cheap base recommender, retrained every morning on everything logged so far, scores the items on
   sale: ``log(1 + recent demand of the item) + log(affinity of the user for the item's category)``;
   new items launch into the catalog on their launch day with no history, the cold start that
   exploration is for;
3. the policy chain (:mod:`shelfwise.policy`) re-ranks each visitor's candidates and shows ``k``;
4. the world samples clicks and purchases with position-biased attention; every slot is logged as
   an impression (with position, propensity and policy name), clicks and purchases as their own
   events, and the live exploration statistics are updated, so Thompson sampling learns within the day
   after.

Random streams are split by purpose (visits, policy, outcomes) and seeded per day, so two policies
simulated with one seed see the same visitors and the same coin flips where they show the same item:
their difference is the policies', not the dice's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data.synth import SyntheticWorld, Truth, load_truth
from ..errors import InputError
from ..logs import get_logger
from ..policy import CandidateLists, ItemContext, PolicyParams, build_chain
from ..policy.lists import SOURCES, is_new
from ..policy.vectors import item_vectors
from ..progress import task

log = get_logger(__name__)

LOG_COLUMNS = ("day", "user_id", "item_id", "event", "position", "propensity", "policy", "source")


@dataclass(frozen=True)
class SimConfig:
    """How long and how much: ``days`` simulated from ``start_day`` (None: the last ``days`` of the shop).

    ``max_sessions`` caps the visitors per day (a seeded subsample) to keep a run cheap;
    ``demand_half_life`` is the base recommender's memory; ``new_days`` says what a "new" item is: one
    launched less than ``new_days`` before (:func:`~shelfwise.policy.lists.is_new`, the policies' test),
    for the new-item exposure share, the ``new_items`` count and the new items' first-window sales.
    """

    days: int = 14
    start_day: int | None = None
    k: int = 10
    candidates: int = 50
    max_sessions: int = 2000
    demand_half_life: float = 7.0
    new_days: int = 14
    seed: int = 0


@dataclass
class DayLog:
    """Per-day sums of one run (the unit the confidence intervals resample)."""

    impressions: list[int] = field(default_factory=list)
    clicks: list[int] = field(default_factory=list)
    purchases: list[int] = field(default_factory=list)
    revenue: list[float] = field(default_factory=list)
    new_impressions: list[int] = field(default_factory=list)
    tail_impressions: list[int] = field(default_factory=list)
    sessions: list[int] = field(default_factory=list)

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: np.asarray(v, dtype=np.float64) for k, v in self.__dict__.items()}


@dataclass
class SimResult:
    """One policy's run: the daily sums, the new items' sales, the logged events and headline metrics."""

    policy: str
    params: dict[str, Any]
    days: DayLog
    new_items: pd.DataFrame  # the items launched during the run (item_id, launch_day, sales_first_window,
    #                          first_sale_day): the ``launched_items`` of the metrics
    log: pd.DataFrame
    metrics: dict[str, float]
    new_days: int = 14       # the config's new_days: what "new" meant in the metrics


def definitions(new_days: int) -> dict[str, str]:
    """What each new-item figure counts, for the output: a reader who sees ``new_items`` beside the exposure
    share should not have to guess that both count the same items (they once did not)."""
    new = f"launched less than {new_days} days before"
    return {
        "new_items": f"items new on at least one simulated day ({new} that day)",
        "new_item_exposure_share": f"share of impressions on items {new} they were shown",
        "launched_items": "items launched during the simulated days: the new items whose first days the "
                          "simulation sees whole, so their sales can be compared",
        "new_item_sales_first_window": f"purchases of the launched items while new ({new} the sale)",
        "new_items_sold_share": "share of the launched items sold at least once during the run",
        "days_to_first_sale": "mean days from launch to first sale over the launched items that sold",
    }


def _metrics(days: DayLog, new_items: pd.DataFrame, ever_new: int) -> dict[str, float]:
    a = days.arrays()
    imp = max(a["impressions"].sum(), 1.0)
    sold = new_items["first_sale_day"].notna()
    return {
        "sessions": float(a["sessions"].sum()), "impressions": float(a["impressions"].sum()),
        "ctr": float(a["clicks"].sum() / imp), "conversion": float(a["purchases"].sum() / imp),
        "revenue": float(a["revenue"].sum()),
        "revenue_per_session": float(a["revenue"].sum() / max(a["sessions"].sum(), 1.0)),
        "new_item_exposure_share": float(a["new_impressions"].sum() / imp),
        "tail_share": float(a["tail_impressions"].sum() / imp),
        "new_items": float(ever_new),
        "launched_items": float(len(new_items)),
        "new_item_sales_first_window": float(new_items["sales_first_window"].sum()),
        "new_items_sold_share": float(sold.mean()) if len(new_items) else float("nan"),
        "days_to_first_sale": float((new_items.loc[sold, "first_sale_day"] - new_items.loc[sold, "launch_day"]).mean())
        if sold.any() else float("nan"),
    }


class Simulator:
    """Runs policies against one synthetic shop (its folder, with ``_truth/``)."""

    def __init__(self, shop_dir: str | Path, config: SimConfig | None = None, truth: Truth | None = None) -> None:
        self.shop_dir = Path(shop_dir)
        self.config = config or SimConfig()
        self.truth = truth or load_truth(self.shop_dir)
        t = self.truth
        c = self.config
        self.start = c.start_day if c.start_day is not None else t.days - c.days
        if self.start < 1:
            if c.start_day is not None:
                raise InputError(f"the simulation must start on day 1 or later (got start day {c.start_day}): "
                                 "the days before it are the history it learns from", field="start_day")
            raise InputError(f"the shop has {t.days} days of traffic and at least its first day is history, so "
                             f"--days can be at most {t.days - 1} (got {c.days}); generate a longer shop for more",
                             field="days")
        self.item_ids = np.asarray(t.items.ids, dtype=object)
        self.user_ids = np.asarray(t.users.ids, dtype=object)
        items = pd.read_csv(self.shop_dir / "items.csv", dtype={"item_id": str})
        items = items.set_index("item_id").reindex(self.item_ids.astype(str)).reset_index()
        self.vectors = item_vectors(items)
        self.price = t.items.price.astype(np.float64)
        self.category = t.items.category.astype(np.int64)
        self._history = self._read_history()

    def _read_history(self) -> dict[str, np.ndarray]:
        """The shop's logged events before the start day, as (day, user, item, event) index arrays."""
        path = self.shop_dir / "events.parquet"
        if not path.exists():
            raise InputError(f"no events.parquet in {self.shop_dir}: give a synthetic shop folder", file=str(path))
        ev = pd.read_parquet(path, columns=["timestamp", "user_id", "item_id", "event"])
        t0 = pd.Timestamp(self.truth.start)
        day = ((pd.to_datetime(ev["timestamp"]) - t0).dt.total_seconds() / 86400.0).to_numpy()
        keep = (day < self.start) & ev["event"].isin(["impression", "click", "purchase"]).to_numpy()
        ev = ev[keep]
        upos = pd.Index(self.user_ids.astype(str)).get_indexer(ev["user_id"].astype(str))
        ipos = pd.Index(self.item_ids.astype(str)).get_indexer(ev["item_id"].astype(str))
        code = ev["event"].map({"impression": 0, "click": 1, "purchase": 2}).to_numpy(np.int8)
        return {"day": day[keep], "user": upos, "item": ipos, "code": code}

    # ---- the base recommender ------------------------------------------------------------------
    def _base_scores(self, state: "_State", users: np.ndarray, day: int, available: np.ndarray) -> np.ndarray:
        demand = state.demand
        n_cat = int(self.category.max()) + 1
        aff = state.user_cat[users] + 1.0 / n_cat
        aff = aff / aff.sum(axis=1, keepdims=True)
        scores = np.log1p(demand)[None, :] + np.log(aff[:, self.category])
        scores[:, ~available] = -np.inf
        return scores

    # ---- the loop --------------------------------------------------------------------------------
    def run(self, params: PolicyParams, name: str = "policy", keep_log: bool = True) -> SimResult:
        """Simulate ``config.days`` days under the policy ``params``."""
        c, t = self.config, self.truth
        world = SyntheticWorld(t, seed=c.seed)
        state = _State.from_history(self._history, len(self.item_ids), len(self.user_ids),
                                    int(self.category.max()) + 1, self.category, self.start, c.demand_half_life)
        tail = _tail_from(state.interactions, 0.8)
        launch = t.items.launch_day.astype(np.float64)
        window_items = np.flatnonzero((launch >= self.start) & (launch < self.start + c.days))
        first_sale = np.full(len(self.item_ids), np.nan)
        sales_window = np.zeros(len(self.item_ids))
        ever_new = np.zeros(len(self.item_ids), dtype=bool)
        days = DayLog()
        logs: list[pd.DataFrame] = []
        with task(f"simulating {name}", total=c.days) as bar:
            for d in range(self.start, self.start + c.days):
                state.decay(d, c.demand_half_life)
                visit_rng = np.random.default_rng([c.seed, d, 1])
                users = world.visitors(d, visit_rng)
                if len(users) > c.max_sessions:
                    users = np.sort(visit_rng.choice(users, c.max_sessions, replace=False))
                available = t.items.launch_day <= d
                age = np.where(available, d + 0.5 - launch, np.nan)
                new_today = is_new(age, c.new_days)  # the one test of "new": exposure, sales, the count
                ever_new |= new_today
                if len(users) == 0:
                    for key in days.__dict__:
                        getattr(days, key).append(0)
                    bar.advance(1)
                    continue
                scores = self._base_scores(state, users, d, available)
                n = min(c.candidates, int(available.sum()))
                part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
                order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
                cand = np.take_along_axis(part, order, axis=1)
                lists = CandidateLists(self.user_ids[users], cand, np.take_along_axis(scores, cand, axis=1))
                ctx = ItemContext(self.item_ids, age, state.interactions,
                                  self.category, t.start, vectors=self.vectors, in_stock=available,
                                  price=self.price, impressions=state.impressions.copy(), clicks=state.clicks.copy(),
                                  purchases=state.purchases.copy())
                chain = build_chain(PolicyParams(**{**params.as_dict(), "seed": int(c.seed * 100003 + d)}), ctx)
                shown = chain.apply(lists, ctx, c.k)
                idx = shown.idx
                outcome = world.sample(users, idx, d + 0.5, rng=np.random.default_rng([c.seed, d, 2]))
                filled = idx >= 0
                click = outcome.click & filled
                buy = outcome.purchase & filled
                it = np.where(filled, idx, 0)
                new_now = filled & new_today[it]
                days.sessions.append(len(users))
                days.impressions.append(int(filled.sum()))
                days.clicks.append(int(click.sum()))
                days.purchases.append(int(buy.sum()))
                days.revenue.append(float(self.price[it][buy].sum()))
                days.new_impressions.append(int(new_now.sum()))
                days.tail_impressions.append(int((filled & tail[it]).sum()))
                bought = it[buy]
                np.add.at(sales_window, bought[new_today[bought]], 1.0)
                first = np.isnan(first_sale[bought])
                first_sale[bought[first]] = d
                state.add(users, it, filled, click, buy)
                if keep_log:
                    logs.append(_day_log(d, self.user_ids[users], self.item_ids, it, filled, click, buy, shown,
                                         params, name))
                bar.advance(1)
        new_items = pd.DataFrame({"item_id": self.item_ids[window_items], "launch_day": launch[window_items],
                                  "sales_first_window": sales_window[window_items],
                                  "first_sale_day": first_sale[window_items]})
        frame = pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(columns=list(LOG_COLUMNS))
        return SimResult(name, params.as_dict(), days, new_items, frame,
                         _metrics(days, new_items, int(ever_new.sum())), c.new_days)


def _tail_from(interactions: np.ndarray, head_share: float) -> np.ndarray:
    from ..evaluate.metrics import tail_mask

    return tail_mask(interactions, head_share)


def _day_log(day: int, users: np.ndarray, item_ids: np.ndarray, it: np.ndarray, filled: np.ndarray,
             click: np.ndarray, buy: np.ndarray, shown: CandidateLists, params: PolicyParams, name: str) -> pd.DataFrame:
    """Impressions, clicks and purchases of one day, each with its slot's position and propensity.

    The propensity is the probability the policy gave this slot to an exploration pick
    (``exploration_weight``) for exploration slots, and 1 for the deterministic ones.
    """
    r, col = np.nonzero(filled)
    src = shown.source[r, col]
    prop = np.where(src == 1, params.exploration_weight, 1.0)
    base = pd.DataFrame({"day": day, "user_id": users[r], "item_id": item_ids[it[r, col]], "position": col + 1,
                         "propensity": prop, "policy": name,
                         "source": np.asarray(SOURCES, dtype=object)[src]})
    parts = [base.assign(event="impression")]
    for mask, event in ((click, "click"), (buy, "purchase")):
        hit = mask[r, col]
        if hit.any():
            parts.append(base[hit].assign(event=event))
    return pd.concat(parts, ignore_index=True)[list(LOG_COLUMNS)]


@dataclass
class _State:
    """What the base recommender and the policies know, updated as events are logged."""

    demand: np.ndarray        # decayed clicks + 3 x purchases per item
    interactions: np.ndarray  # all clicks and purchases per item (head / tail)
    user_cat: np.ndarray      # (users, categories) clicks + purchases
    impressions: np.ndarray
    clicks: np.ndarray
    purchases: np.ndarray
    category: np.ndarray
    day: int

    @classmethod
    def from_history(cls, h: dict[str, np.ndarray], n_items: int, n_users: int, n_cat: int, category: np.ndarray,
                     start: int, half_life: float) -> "_State":
        ok = (h["item"] >= 0)
        item, code, day, user = h["item"][ok], h["code"][ok], h["day"][ok], h["user"][ok]
        weight = np.where(code == 1, 1.0, np.where(code == 2, 3.0, 0.0))
        decay = np.power(0.5, (start - day) / half_life)
        # float even when there is no history (np.bincount of nothing is int64 whatever the weights)
        demand = np.bincount(item, weights=weight * decay, minlength=n_items).astype(np.float64)
        inter = np.bincount(item, weights=(code > 0).astype(float), minlength=n_items).astype(np.float64)
        user_cat = np.zeros((n_users, n_cat))
        known = (user >= 0) & (code > 0)
        np.add.at(user_cat, (user[known], category[item[known]]), 1.0)
        count = lambda k: np.bincount(item[code == k], minlength=n_items).astype(float)  # noqa: E731
        return cls(demand, inter, user_cat, count(0), count(1), count(2), category, start)

    def decay(self, day: int, half_life: float) -> None:
        self.demand *= np.power(0.5, (day - self.day) / half_life)
        self.day = day

    def add(self, users: np.ndarray, items: np.ndarray, filled: np.ndarray, click: np.ndarray, buy: np.ndarray) -> None:
        """Log one day (the "retrain": counts are the base model's whole state)."""
        n = len(self.demand)
        self.impressions += np.bincount(items[filled], minlength=n)
        self.clicks += np.bincount(items[click], minlength=n)
        self.purchases += np.bincount(items[buy], minlength=n)
        self.demand += np.bincount(items[click], minlength=n) + 3.0 * np.bincount(items[buy], minlength=n)
        self.interactions += np.bincount(items[click], minlength=n) + np.bincount(items[buy], minlength=n)
        rows = np.repeat(users[:, None], items.shape[1], axis=1)
        hit = click | buy
        np.add.at(self.user_cat, (rows[hit], self.category[items[hit]]), 1.0)
