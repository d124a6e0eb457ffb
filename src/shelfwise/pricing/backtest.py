"""Check elasticities against what happened: when an item's price changed, did its units move as predicted?

Protocol: elasticities are estimated only from events before ``split``. After it, every item-month
whose average price moved by at least ``min_change`` (log) from the month before, with at least
``min_lines`` purchase lines in both months, is a test case. The elasticity model predicts the log
change in units as elasticity x log price change; the no-elasticity baseline predicts no change.
Both are also scored "market-adjusted": the median log unit change that month of items whose price
did not change is added to both predictions (it is the same for both, so it isolates the price part).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from ..data.store import Store
from .elasticity import ElasticityConfig, categories, item_elasticities, price_cells


def monthly(store: Store, after: datetime | None = None, like_for_like: bool = False) -> pd.DataFrame:
    """Units and units-weighted price per item and month; ``like_for_like`` keeps only registered
    customers' pack-tier lines (3-24 units), so a month's price is not moved by its mix of buyers."""
    params = [after] if after is not None else None
    where = "AND timestamp >= ?" if after is not None else ""
    if like_for_like:
        where += " AND quantity BETWEEN 3 AND 24 AND user_id IS NOT NULL AND user_id <> ''"
    return store.query(f"""
        SELECT item_id, date_trunc('month', timestamp) AS month, sum(quantity) AS units,
               sum(quantity * price) / sum(quantity) AS price, count(*) AS lines
        FROM events WHERE event = 'purchase' AND price > 0 AND quantity > 0 {where}
        GROUP BY 1, 2""", params).to_pandas()


def backtest(store: Store, split: datetime, min_change: float = 0.05, min_lines: int = 3,
             config: ElasticityConfig | None = None, like_for_like: bool = False,
             elasticities: pd.DataFrame | None = None) -> dict:
    """Prediction errors of the elasticity model and the no-elasticity baseline (see module doc)."""
    el = elasticities if elasticities is not None else item_elasticities(price_cells(store, before=split),
                                                                         categories(store), config)
    m = monthly(store, after=pd.Timestamp(split) - pd.DateOffset(months=1), like_for_like=like_for_like)
    m = m.sort_values(["item_id", "month"])
    m["prev_month"] = m.groupby("item_id")["month"].shift()
    m["prev_units"] = m.groupby("item_id")["units"].shift()
    m["prev_price"] = m.groupby("item_id")["price"].shift()
    m["prev_lines"] = m.groupby("item_id")["lines"].shift()
    m = m[(m["month"] >= pd.Timestamp(split)) & (m["prev_month"] == m["month"] - pd.DateOffset(months=1))]
    m = m[(m["lines"] >= min_lines) & (m["prev_lines"] >= min_lines)].copy()
    m["dlogp"] = np.log(m["price"] / m["prev_price"])
    m["dlogq"] = np.log(m["units"] / m["prev_units"])
    market = m[m["dlogp"].abs() < 0.01].groupby("month")["dlogq"].median()
    t = m[m["dlogp"].abs() >= min_change].merge(el[["item_id", "elasticity"]], on="item_id", how="inner")
    t["market"] = t["month"].map(market).fillna(0.0)
    t["pred_elastic"] = t["elasticity"] * t["dlogp"]
    res = {"split": str(pd.Timestamp(split).date()), "like_for_like": like_for_like, "cases": int(len(t)), "items": int(t["item_id"].nunique())}
    for name, shift in (("raw", 0.0), ("market_adjusted", t["market"])):
        err_e = (t["dlogq"] - (t["pred_elastic"] + shift)).abs()
        err_b = (t["dlogq"] - (0.0 + shift)).abs()
        res[name] = {"mae_log_units_elasticity": round(float(err_e.mean()), 4),
                     "mae_log_units_no_elasticity": round(float(err_b.mean()), 4),
                     # no case: undefined (null), as the errors themselves; 0.0 read as "no better"
                     "improvement": round(float(1 - err_e.mean() / err_b.mean()), 4) if len(t) else None,
                     "cases_better": round(float((err_e < err_b).mean()), 4) if len(t) else None}
    d = t[t["dlogp"].abs() >= min_change]
    res["direction_accuracy"] = round(float((np.sign(d["dlogq"] - d["market"]) == np.sign(d["pred_elastic"])).mean()), 4) if len(d) else None
    res["elasticity_median"] = round(float(t["elasticity"].median()), 4) if len(t) else None
    return res
