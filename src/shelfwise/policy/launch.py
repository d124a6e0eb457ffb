"""Launch plans: what a new item will likely do in its first four weeks, and how to show it.

For each new item: its nearest established items (by content vector, category, brand and price),
their sales in weeks 1-4 after their own launch, a forecast for the new item's first four weeks (the
similarity-weighted mean curve, with an 80% interval from the spread of the neighbours' totals), the
users most likely to buy it (similarity-weighted purchases of the neighbours), a suggested share of
exploration exposure, a price band (the neighbours' interquartile price range) and the reasons, in
words. Plans are stored in ``launch_plans`` (one row per item, replaced when re-planned) for the
dashboard.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from ..data.attrs import non_product
from ..data.store import Store
from ..errors import InputError, UnknownIdError
from ..logs import get_logger
from .vectors import item_vectors

log = get_logger(__name__)
TABLE = "launch_plans"
WEEKS = 4
TEXT_WEIGHT, CATEGORY_WEIGHT, BRAND_WEIGHT, PRICE_WEIGHT = 0.6, 0.2, 0.1, 0.1


@dataclass
class LaunchPlan:
    item_id: str
    title: str
    launched_at: str | None
    neighbours: list[dict[str, Any]]
    weekly_forecast: list[float]
    forecast_4w: float
    forecast_low: float
    forecast_high: float
    top_users: list[dict[str, Any]]
    exposure_share: float
    price: float | None
    price_low: float | None
    price_high: float | None
    reasons: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    v, w = values[order], weights[order]
    cw = np.cumsum(w)
    if cw[-1] <= 0:
        return float(np.quantile(values, q))
    return float(np.interp(q * cw[-1], cw - w / 2, v))


def _same(column: pd.Series, i: int, others: np.ndarray) -> np.ndarray:
    """1.0 where ``others`` share item ``i``'s value; a missing (or empty) value matches nothing."""
    values = column.astype(object).where(column.notna(), None).to_numpy()
    mine = values[i]
    if mine is None or str(mine).strip() == "":
        return np.zeros(len(others))
    return (values[others] == mine).astype(float)


def similarity(vectors: np.ndarray, items: pd.DataFrame, i: int, others: np.ndarray) -> np.ndarray:
    """Blend of content cosine, same category, same brand and price closeness (all in [0, 1])."""
    text = np.clip(vectors[others] @ vectors[i], 0.0, 1.0)
    cat = _same(items["category"], i, others)
    brand = _same(items["brand"], i, others)
    p = pd.to_numeric(items["price"], errors="coerce").to_numpy(float)
    price = np.exp(-np.abs(np.log(np.maximum(p[others], 1e-6) / max(p[i], 1e-6)))) if np.isfinite(p[i]) else 0.0
    price = np.where(np.isfinite(price), price, 0.0)
    return TEXT_WEIGHT * text + CATEGORY_WEIGHT * cat + BRAND_WEIGHT * brand + PRICE_WEIGHT * price


def plan_launches(store: Store, item_ids: list[str] | None = None, since: datetime | None = None,
                  neighbours: int = 10, top_users: int = 20, now: datetime | None = None) -> list[LaunchPlan]:
    """Plans for ``item_ids`` or for every item launched at or after ``since``."""
    if (item_ids is None) == (since is None):
        raise InputError("give item ids or a --since date (exactly one)", field="item_id")
    items = store.read("all_items", columns=["item_id", "title", "category", "brand", "price", "launched_at",
                                             "description", "attrs"], order_by="item_id").to_pandas()
    goods = ~non_product(items["attrs"])  # postage and fees sell with orders, not by taste: never a neighbour
    items["launched_at"] = pd.to_datetime(items["launched_at"], errors="coerce")
    now = now or store.query("SELECT max(timestamp) AS t FROM events").to_pylist()[0]["t"] or datetime.now()
    pos = pd.Series(np.arange(len(items)), index=items["item_id"].astype(str))
    first_event = store.query("SELECT min(timestamp) AS t FROM events").to_pylist()[0]["t"]
    seen = store.query("SELECT item_id, min(timestamp) AS t FROM events GROUP BY item_id").to_pandas()
    first_seen = pd.to_datetime(pd.Series(seen["t"].to_numpy(), index=seen["item_id"].astype(str))
                                .reindex(pos.index)).reset_index(drop=True)
    if first_event is not None:
        # without a launch date the first event stands in, when it lies after the data's first week: an
        # item seen in the first week may have been on sale long before the data starts
        stand_in = items["launched_at"].isna() & (first_seen > pd.Timestamp(first_event) + timedelta(weeks=1))
        items.loc[stand_in, "launched_at"] = first_seen[stand_in]
    if item_ids is not None:
        missing = [i for i in item_ids if i not in pos.index]
        if missing:
            raise UnknownIdError(f"unknown item id(s): {', '.join(missing[:5])}; ingest them first")
        targets = pos[item_ids].to_numpy()
    else:
        targets = np.flatnonzero((items["launched_at"] >= pd.Timestamp(since)).to_numpy() & goods)
        if len(targets) == 0:
            raise InputError(f"no item launched on or after {since:%Y-%m-%d}", field="since")
    sales = store.query(
        "SELECT e.item_id, e.user_id, e.timestamp, coalesce(e.quantity, 1) AS q FROM events e "
        "WHERE e.event = 'purchase'").to_pandas()
    sales["j"] = pos.reindex(sales["item_id"].astype(str)).to_numpy()
    sales = sales.dropna(subset=["j"])
    sales["j"] = sales["j"].astype(np.int64)
    launched = items["launched_at"].to_numpy()
    age_w = (pd.to_datetime(sales["timestamp"]).to_numpy() - launched[sales["j"].to_numpy()]) / np.timedelta64(7, "D")
    sales["week"] = np.floor(age_w)
    early = sales[(sales["week"] >= 0) & (sales["week"] < WEEKS)]
    curves = np.zeros((len(items), WEEKS))
    np.add.at(curves, (early["j"].to_numpy(), early["week"].to_numpy(np.int64)), early["q"].to_numpy(float))
    horizon = pd.Timestamp(now) - timedelta(weeks=WEEKS)
    # neighbours whose first four weeks lie inside the event history (else their early sales are unknown)
    observable = ((items["launched_at"] <= horizon) & (items["launched_at"] >= pd.Timestamp(first_event))).to_numpy()
    if (observable & goods).sum() < neighbours:
        observable = (items["launched_at"] <= horizon).to_numpy()
    observable &= goods
    vectors = item_vectors(items)
    prices = pd.to_numeric(items["price"], errors="coerce").to_numpy(float)
    obs_totals = curves[observable].sum(axis=1)
    median_total = float(np.median(obs_totals)) if observable.any() else 0.0
    typical, note = "median", ""
    if median_total <= 0 and observable.any():  # most launches sell nothing early: compare with the mean
        median_total = float(np.mean(obs_totals))
        typical, note = "average", ", as most launches sold nothing then"
    plans = []
    for i in targets:
        cand = np.flatnonzero(observable & (np.arange(len(items)) != i))
        if len(cand) == 0:
            raise InputError("no established item has four weeks of sales history to compare with: items need "
                             "a launch date (launched_at) or a first event after the data's first week, at least "
                             f"{WEEKS} weeks before the last event")
        sim = similarity(vectors, items, int(i), cand)
        m = min(neighbours, len(cand))
        top = cand[np.argsort(-sim)[:m]]
        w = np.sort(sim)[::-1][:m]
        w = np.maximum(w, 1e-6)
        curve = (w[:, None] * curves[top]).sum(axis=0) / w.sum()
        totals = curves[top].sum(axis=1)
        lo, hi = _weighted_quantile(totals, w, 0.1), _weighted_quantile(totals, w, 0.9)
        buyers = sales[sales["j"].isin(top)]
        weight_of = pd.Series(w, index=top)
        buyers = buyers.assign(s=weight_of.reindex(buyers["j"]).to_numpy() * buyers["q"].to_numpy(float))
        score = buyers.dropna(subset=["user_id"]).groupby("user_id")["s"].sum().sort_values(ascending=False)
        score = score.head(top_users)
        users = [{"user_id": str(u), "score": round(float(s / score.iloc[0]), 4)} for u, s in score.items()]
        total = float(curve.sum())
        share = float(np.clip(0.05 * total / median_total, 0.01, 0.2)) if median_total > 0 else 0.05
        pw = np.where(np.isfinite(prices[top]), w, 0.0)
        p_lo = _weighted_quantile(prices[top][pw > 0], pw[pw > 0], 0.25) if (pw > 0).any() else None
        p_hi = _weighted_quantile(prices[top][pw > 0], pw[pw > 0], 0.75) if (pw > 0).any() else None
        row = items.iloc[int(i)]
        reasons = [f"most like {items['item_id'].iloc[top[0]]} ({items['title'].iloc[top[0]] or 'untitled'}), "
                   f"similarity {w[0]:.2f}",
                   f"its {m} nearest established items sold {np.mean(totals):.1f} units on average in their first "
                   f"{WEEKS} weeks (the {typical} launch: {median_total:.1f}{note})",
                   (f"{int(_same(items['category'], int(i), top).sum())} of {m} neighbours share its "
                    f"category '{row['category']}'" if _same(items["category"], int(i), np.array([int(i)]))[0]
                    else "it has no category: neighbours are by text, brand and price only")]
        if p_lo is not None and np.isfinite(prices[i]):
            where = "inside" if p_lo <= prices[i] <= p_hi else ("below" if prices[i] < p_lo else "above")
            reasons.append(f"its price {prices[i]:.2f} is {where} the neighbours' band {p_lo:.2f}-{p_hi:.2f}")
        reasons.append(f"suggested exposure {share:.0%} of exploration impressions: 5% for {typical} sales, "
                       "scaled by the forecast, kept within 1%-20%")
        own = sales[sales["j"] == int(i)]
        if len(own) and pd.Timestamp(own["timestamp"].min()) <= horizon:
            # a plan for an established item is what a launch like its neighbours' would look like
            since_day = f"{pd.Timestamp(own['timestamp'].min()):%Y-%m-%d}"
            reasons.insert(0, f"already on sale: {own['q'].sum():g} units since {since_day}, more than {WEEKS} "
                              "weeks before the last event; this plan shows what a launch like its neighbours' "
                              "looks like, `shelfwise forecast` forecasts the item itself")
            log.warning("launch plan for %s, which has sold since %s: not a new item", row["item_id"], since_day)
        plans.append(LaunchPlan(
            str(row["item_id"]), str(row["title"] or ""), None if pd.isna(row["launched_at"]) else row["launched_at"].isoformat(),
            [{"item_id": str(items["item_id"].iloc[j]), "title": str(items["title"].iloc[j] or ""),
              "similarity": round(float(s), 4), "weekly_sales": curves[j].round(2).tolist()} for j, s in zip(top, w)],
            curve.round(3).tolist(), round(total, 3), round(lo, 3), round(hi, 3), users, round(share, 4),
            None if not np.isfinite(prices[i]) else float(prices[i]),
            None if p_lo is None else round(p_lo, 2), None if p_hi is None else round(p_hi, 2), reasons))
    return plans


def save_plans(store: Store, plans: list[LaunchPlan]) -> int:
    """Upsert plans into ``launch_plans`` (lists and dicts as JSON text)."""
    if not plans:
        return 0
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    rows = []
    for p in plans:
        d = p.as_dict()
        rows.append({"item_id": d["item_id"], "created_at": now, "title": d["title"], "launched_at": d["launched_at"],
                     "forecast_4w": d["forecast_4w"], "forecast_low": d["forecast_low"],
                     "forecast_high": d["forecast_high"], "exposure_share": d["exposure_share"], "price": d["price"],
                     "price_low": d["price_low"], "price_high": d["price_high"],
                     "weekly_forecast": json.dumps(d["weekly_forecast"]), "neighbours": json.dumps(d["neighbours"]),
                     "top_users": json.dumps(d["top_users"]), "reasons": json.dumps(d["reasons"])})
    table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
    store.write(TABLE, table, mode="upsert", key=["item_id"])
    return len(rows)
