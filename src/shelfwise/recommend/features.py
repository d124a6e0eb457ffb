"""Features for the ranker: what the item is, who the user is, and what the user did with the item.

Item features (popularity over several windows, trend, repeat rate, age, price) are computed once per
fit from all events, anonymous ones included. User and user-item features (activity, recency and
frequency of the user's own purchases of the item, category and price affinity) are read from the
:class:`History` per request batch, so they follow new events without a refit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..artifacts import load_array, save_arrays
from .history import DAY, PURCHASE, History, event_codes, to_seconds
from .itemknn import INTEREST_WEIGHTS
from .popular import demand

ITEM_FEATURES = ("i_pop7", "i_pop30", "i_pop90", "i_pop_all", "i_buyers", "i_buyers30", "i_repeat_rate", "i_trend",
                 "i_age", "i_since_sale", "i_log_price", "i_has_text")
USER_FEATURES = ("u_events", "u_purchases", "u_since_last", "u_span", "u_visit_days", "u_visit_rate", "u_items",
                 "u_repeat_share", "u_log_price")
USER_ITEM_FEATURES = ("ui_purchases", "ui_qty", "ui_decay14", "ui_decay60", "ui_interest", "ui_returns",
                      "ui_since_last", "ui_since_first", "ui_since_any", "ui_gap", "ui_overdue", "ui_share",
                      "ui_last_visit", "ui_last3", "ui_price_gap", "ui_cat_share", "ui_topcat_share")


def _log_price(items: pd.DataFrame, events: pd.DataFrame, n_items: int) -> np.ndarray:
    """log1p of the catalog price, or of the median price paid in events when the catalog has none."""
    price = pd.to_numeric(items["price"], errors="coerce").to_numpy(np.float64)
    if "price" in events.columns and np.isnan(price).any():
        paid = events[["item_idx", "price"]].dropna()
        paid = paid[paid["price"] > 0].groupby("item_idx")["price"].median()
        fill = np.full(n_items, np.nan)
        fill[paid.index.to_numpy(np.int64)] = paid.to_numpy()
        price = np.where(np.isnan(price), fill, price)
    return np.log1p(np.where(price >= 0, price, np.nan))


def _categories(items: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Codes of each item's full category path and of its top level (-1 when the item has none)."""
    cat = items["category"].astype("string").str.strip()
    top = cat.str.split(">").str[0].str.strip()
    full_codes = pd.factorize(cat, use_na_sentinel=True)[0]
    top_codes = pd.factorize(top, use_na_sentinel=True)[0]
    return full_codes.astype(np.int64), top_codes.astype(np.int64)


@dataclass
class ItemStats:
    """Per-item features and catalog codes, fixed at fit time."""

    values: dict[str, np.ndarray]
    cat: np.ndarray
    top_cat: np.ndarray
    has_events: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.has_events = ~np.isnan(self.values["i_age"])

    @classmethod
    def compute(cls, data: Any, history: History, has_text: np.ndarray | None = None) -> "ItemStats":
        ev, n, now = data.events, data.n_items, history.now
        item, ts, code = ev["item_idx"].to_numpy(np.int64), to_seconds(ev["timestamp"]), event_codes(ev["event"])
        v: dict[str, np.ndarray] = {}
        for days in (7, 30, 90):
            v[f"i_pop{days}"] = np.log1p(demand(item, ts, code, n, now, window_days=days))
        v["i_pop_all"] = np.log1p(demand(item, ts, code, n, now))
        before = demand(item, ts, code, n, now - 7 * int(DAY), window_days=28) / 4.0
        v["i_trend"] = (np.expm1(v["i_pop7"]) + 1.0) / (before + 1.0)
        # buyers and the share of them who bought again on another day
        p = history.code == PURCHASE
        days = pd.DataFrame({"u": history.user[p], "i": history.item[p], "d": history.ts[p] // int(DAY)})
        per_user = days.drop_duplicates().groupby(["i", "u"]).size()
        buyers = per_user.groupby(level=0).size()
        repeaters = (per_user > 1).groupby(level=0).sum()
        v["i_buyers"] = np.log1p(_dense(buyers, n))
        recent = days[days["d"] >= (now - 30 * int(DAY)) // int(DAY)].drop_duplicates(["u", "i"])
        v["i_buyers30"] = np.log1p(np.bincount(recent["i"].to_numpy(np.int64), minlength=n).astype(np.float64))
        v["i_repeat_rate"] = np.where(_dense(buyers, n) > 0, _dense(repeaters, n) / np.maximum(_dense(buyers, n), 1),
                                      np.nan)
        first = np.full(n, np.inf)
        np.minimum.at(first, item, ts.astype(np.float64))
        last_sale = np.full(n, -np.inf)
        np.maximum.at(last_sale, item[code == PURCHASE], ts[code == PURCHASE].astype(np.float64))
        v["i_age"] = np.where(np.isfinite(first), (now - first) / DAY, np.nan)
        v["i_since_sale"] = np.where(np.isfinite(last_sale), (now - last_sale) / DAY, np.nan)
        v["i_log_price"] = _log_price(data.items, ev, n)
        v["i_has_text"] = (has_text if has_text is not None else np.zeros(n, bool)).astype(np.float64)
        cat, top = _categories(data.items)
        return cls(v, cat, top)

    def save(self, directory: Path) -> None:
        save_arrays(directory, cat=self.cat, top_cat=self.top_cat, **self.values)

    @classmethod
    def load(cls, directory: Path) -> "ItemStats":
        values = {name: load_array(directory, name) for name in ITEM_FEATURES}
        return cls(values, load_array(directory, "cat"), load_array(directory, "top_cat"))


def _dense(s: pd.Series, n: int) -> np.ndarray:
    out = np.zeros(n, dtype=np.float64)
    out[s.index.to_numpy(np.int64)] = s.to_numpy(np.float64)
    return out


def _pairs(m: sp.csr_matrix, b: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Values of a sparse matrix at (b, i) pairs (0 where absent)."""
    if len(b) == 0:
        return np.zeros(0)
    return np.asarray(m[b, i]).ravel().astype(np.float64)


def user_features(history: History, rows: np.ndarray, stats: ItemStats) -> dict[str, np.ndarray]:
    """Activity, recency, frequency, repeat habit and price level of each user (rows of the history)."""
    batch, pos = history.select(rows)
    n = len(rows)
    ts, code, item = history.ts[pos], history.code[pos], history.item[pos]
    p = code == PURCHASE
    out: dict[str, np.ndarray] = {}
    out["u_events"] = np.log1p(np.bincount(batch, minlength=n))
    out["u_purchases"] = np.log1p(np.bincount(batch[p], minlength=n))
    last = np.full(n, -np.inf)
    np.maximum.at(last, batch, ts.astype(np.float64))
    first = np.full(n, np.inf)
    np.minimum.at(first, batch, ts.astype(np.float64))
    out["u_since_last"] = np.where(np.isfinite(last), (history.now - last) / DAY, np.nan)
    out["u_span"] = np.where(np.isfinite(first), (last - first) / DAY, np.nan)
    pairs = pd.DataFrame({"b": batch[p], "i": item[p], "d": ts[p] // int(DAY)})
    visit_days = pairs.drop_duplicates(["b", "d"]).groupby("b").size()
    out["u_visit_days"] = np.log1p(_dense(visit_days, n))
    out["u_visit_rate"] = _dense(visit_days, n) / (np.nan_to_num(out["u_span"]) + 30.0) * 30.0
    per_item = pairs.drop_duplicates().groupby(["b", "i"]).size()
    out["u_items"] = np.log1p(_dense(per_item.groupby(level=0).size(), n))
    repeat = (per_item > 1).groupby(level=0).mean()
    out["u_repeat_share"] = np.where(_dense(visit_days, n) > 0, _dense(repeat, n), np.nan)
    lp = stats.values["i_log_price"][item[p]]
    ok = ~np.isnan(lp)
    s = np.bincount(batch[p][ok], weights=lp[ok], minlength=n)
    c = np.bincount(batch[p][ok], minlength=n)
    out["u_log_price"] = np.where(c > 0, s / np.maximum(c, 1), np.nan)
    return out


def user_item_features(history: History, rows: np.ndarray, b: np.ndarray, i: np.ndarray,
                       stats: ItemStats, users: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Recency, frequency and affinity of user ``rows[b]`` with item ``i``, for every candidate pair."""
    out: dict[str, np.ndarray] = {}
    purchases = history.matrix(rows, {"purchase": 1.0})
    out["ui_purchases"] = _pairs(purchases, b, i)
    out["ui_qty"] = np.log1p(_pairs(history.matrix(rows, {"purchase": 1.0}, by_quantity=True), b, i))
    out["ui_decay14"] = _pairs(history.matrix(rows, {"purchase": 1.0}, 14.0), b, i)
    out["ui_decay60"] = _pairs(history.matrix(rows, {"purchase": 1.0}, 60.0), b, i)
    out["ui_interest"] = _pairs(history.matrix(rows, {k: v for k, v in INTEREST_WEIGHTS.items() if k != "purchase"}),
                                b, i)
    out["ui_returns"] = _pairs(history.matrix(rows, {"return": 1.0}), b, i)
    last = _pairs(history.days_since(rows, PURCHASE), b, i)
    first = _pairs(history.days_since(rows, PURCHASE, first=True), b, i)
    any_last = _pairs(history.days_since(rows), b, i)
    out["ui_since_last"] = np.where(last > 0, last - 1.0, np.nan)
    out["ui_since_first"] = np.where(first > 0, first - 1.0, np.nan)
    out["ui_since_any"] = np.where(any_last > 0, any_last - 1.0, np.nan)
    gap = np.where(out["ui_purchases"] > 1, (first - last) / np.maximum(out["ui_purchases"] - 1, 1), np.nan)
    out["ui_gap"] = gap
    out["ui_overdue"] = out["ui_since_last"] / (gap + 1.0)
    visits = np.expm1(users["u_visit_days"])[b]
    out["ui_share"] = out["ui_purchases"] / np.maximum(visits, 1.0)
    out["ui_last_visit"], out["ui_last3"] = _recent_visits(history, rows, b, i)
    out["ui_price_gap"] = stats.values["i_log_price"][i] - users["u_log_price"][b]
    for name, codes in (("ui_cat_share", stats.cat), ("ui_topcat_share", stats.top_cat)):
        out[name] = _category_share(history, rows, b, i, codes)
    return out


def _recent_visits(history: History, rows: np.ndarray, b: np.ndarray, i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Whether the item was bought on the user's last purchase day, and on how many of the last three."""
    batch, pos = history.select(rows)
    p = history.code[pos] == PURCHASE
    df = pd.DataFrame({"b": batch[p], "i": history.item[pos][p], "d": history.ts[pos][p] // int(DAY)})
    df = df.drop_duplicates()
    df["rk"] = df.groupby("b")["d"].rank(ascending=False, method="dense")
    shape = (len(rows), history.n_items)
    out = []
    for depth in (1, 3):
        sel = df[df["rk"] <= depth]
        m = sp.csr_matrix((np.ones(len(sel)), (sel["b"].to_numpy(), sel["i"].to_numpy())), shape=shape)
        out.append(_pairs(m, b, i))
    return out[0], out[1]


def _category_share(history: History, rows: np.ndarray, b: np.ndarray, i: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Share of the user's interest that falls in the candidate's category (NaN without categories)."""
    if codes.max(initial=-1) < 0:
        return np.full(len(b), np.nan)
    h = history.matrix(rows, INTEREST_WEIGHTS)
    has = codes >= 0
    onehot = sp.csr_matrix((np.ones(int(has.sum())), (np.flatnonzero(has), codes[has])),
                           shape=(len(codes), int(codes.max()) + 1))
    per_cat = (h @ onehot).toarray()
    total = np.asarray(h.sum(axis=1)).ravel()
    share = per_cat / np.maximum(total, 1e-9)[:, None]
    c = codes[i]
    return np.where(c >= 0, share[b, np.maximum(c, 0)], np.nan)
