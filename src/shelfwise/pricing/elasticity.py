"""Price elasticity per item and per category from the shop's own price variation.

Why cells and controls: a line's price in a shop like Online Retail depends on who buys (registered
wholesalers pay less than anonymous retail customers) and how much (bulk tiers are cheaper), and
demand moves with the season. Regressing units on price naively would read "bulk buyers pay less"
as "lower prices sell more". So purchase lines are grouped into cells (item x week x customer type x
quantity tier) and, per item, log(units per cell) is regressed on log(price) with controls: a time
trend, a Q4 (holiday season) dummy, customer type (anonymous vs registered) and the buyer's quantity
tier (single, pack or bulk buyer: the customer's median line is 1-2, 3-24 or more units). The tier
is the *buyer's* habit, not the line's own quantity: splitting cells by the line's quantity would
condition on the outcome and bias every elasticity towards zero.

Per-item estimates are noisy, so each is shrunk towards its category's (precision-weighted mean of
the category's items, with the between-item variance estimated by the method of moments): the
posterior mean and sd give the item's elasticity and a 90% interval. Categories come from the items'
``category`` (top two levels); a catalog without categories (Online Retail) gets the last word of the
title as a stand-in ("MUG", "BAG", "HOLDER"), which groups products of a kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from ..data.store import Store
from ..errors import InputError

CONTROLS = ["time trend (years)", "Q4 season", "customer type (anonymous vs registered)",
            "buyer's quantity tier (single / pack / bulk buyer)"]
Z90 = 1.645


@dataclass(frozen=True)
class ElasticityConfig:
    min_cells: int = 8            # cells an item needs for its own regression
    min_price_sd: float = 0.02    # sd of log price across its cells (below: no variation to learn from)
    prior_sd: float = 1.5         # when a category has one item, the prior's sd around -1
    min_se: float = 0.02          # a smaller standard error means price is collinear with a control
    max_abs: float = 10.0         # |elasticity| beyond this is a fit to noise, not a demand curve


def price_cells(store: Store, before: datetime | None = None, after: datetime | None = None) -> pd.DataFrame:
    """Purchase lines with a positive price, grouped by item, week, customer type and quantity tier."""
    if not store.has_table("events"):
        raise InputError("the store has no events table: load a shop first (shelfwise ingest SHOP_FOLDER)")
    conds, params = ["event = 'purchase'", "price > 0", "quantity > 0"], []
    if before is not None:
        conds.append("timestamp < ?")
        params.append(before)
    if after is not None:
        conds.append("timestamp >= ?")
        params.append(after)
    df = store.query(f"""
        WITH lines AS (SELECT * FROM events WHERE {' AND '.join(conds)}),
        buyer AS (SELECT user_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY quantity) AS mq FROM events
                  WHERE event = 'purchase' AND quantity > 0 AND user_id IS NOT NULL AND user_id <> '' GROUP BY 1)
        SELECT l.item_id, date_trunc('week', l.timestamp) AS week,
               (l.user_id IS NULL OR l.user_id = '') AS anonymous,
               CASE WHEN b.mq IS NULL THEN 'unknown' WHEN b.mq <= 2 THEN 'single' WHEN b.mq <= 24 THEN 'pack'
                    ELSE 'bulk' END AS tier,
               sum(l.quantity) AS units, sum(l.quantity * l.price) / sum(l.quantity) AS price, count(*) AS lines
        FROM lines l LEFT JOIN buyer b USING (user_id) GROUP BY 1, 2, 3, 4""", params or None).to_pandas()
    return df


def categories(store: Store) -> dict[str, str]:
    """item_id -> category used for pooling (see the module docstring)."""
    items = store.query("SELECT item_id, title, category FROM items").to_pandas()
    out = {}
    for r in items.itertuples(index=False):
        if isinstance(r.category, str) and r.category.strip():
            out[r.item_id] = " > ".join(p.strip() for p in r.category.split(">")[:2])
        else:
            out[r.item_id] = _title_kind(r.title)
    return out


def _title_kind(title: object) -> str:
    """The title's last word that names something: "PINK TEA TOWELS SET OF 2" -> "SET", not "2".

    Counts and sizes without letters ("2", "12") and linking words ("OF", "AND") end many titles but say
    nothing of the kind of product, and pooling every "... OF 2" together mixed unrelated goods.
    """
    if not isinstance(title, str):
        return "(none)"
    words = [w.strip(".,;:()[]\"'!?-/") for w in title.split()]
    words = [w for w in words if any(ch.isalpha() for ch in w) and w.upper() not in _LINKING]
    return words[-1].upper() if words else "(none)"


# Words that end a title without naming the product ("BOX OF 2", "SET OF 3", "PACK OF 12").
_LINKING = {"OF", "AND", "WITH", "FOR", "IN", "THE", "A", "AN"}


def _design(g: pd.DataFrame, t0: pd.Timestamp) -> tuple[np.ndarray, np.ndarray]:
    week = pd.to_datetime(g["week"])
    X = np.column_stack([
        np.ones(len(g)), np.log(g["price"].to_numpy(float)),
        ((week - t0).dt.days / 365.25).to_numpy(float), (week.dt.quarter == 4).to_numpy(float),
        g["anonymous"].to_numpy(float), (g["tier"] == "pack").to_numpy(float), (g["tier"] == "bulk").to_numpy(float),
        (g["tier"] == "single").to_numpy(float)])
    keep = X.std(axis=0) > 0
    keep[:2] = True
    return X[:, keep], np.log(g["units"].to_numpy(float))


def item_elasticities(cells: pd.DataFrame, cats: dict[str, str], config: ElasticityConfig | None = None) -> pd.DataFrame:
    """Per item: raw OLS elasticity and se, the shrunk (posterior) elasticity with a 90% interval."""
    cfg = config or ElasticityConfig()
    if cells.empty:
        return pd.DataFrame(columns=["item_id", "category", "cells", "raw", "raw_se", "elasticity", "lo90", "hi90", "source"])
    t0 = pd.to_datetime(cells["week"]).min()
    rows = []
    for item, g in cells.groupby("item_id", sort=True):
        lp = np.log(g["price"].to_numpy(float))
        raw = se = np.nan
        if len(g) >= cfg.min_cells and lp.std() >= cfg.min_price_sd:
            X, y = _design(g, t0)
            if len(g) > X.shape[1] + 2:
                beta, *_ = np.linalg.lstsq(X, y, rcond=None)
                resid = y - X @ beta
                s2 = resid @ resid / (len(y) - X.shape[1])
                cov = s2 * np.linalg.pinv(X.T @ X)
                raw, se = float(beta[1]), float(np.sqrt(max(cov[1, 1], 1e-12)))
                if not (cfg.min_se <= se and abs(raw) <= cfg.max_abs):  # collinear design or a wild fit
                    raw = se = np.nan
        rows.append((item, cats.get(item, "(none)"), len(g), raw, se))
    df = pd.DataFrame(rows, columns=["item_id", "category", "cells", "raw", "raw_se"])
    return shrink(df, cfg)


def shrink(df: pd.DataFrame, cfg: ElasticityConfig) -> pd.DataFrame:
    """Empirical-Bayes shrinkage of item estimates towards their category (and the category to all)."""
    est = df[df["raw"].notna()]
    w_all = 1 / est["raw_se"] ** 2
    overall = float((est["raw"] * w_all).sum() / w_all.sum()) if len(est) else -1.0
    tau2_all = _tau2(est["raw"], est["raw_se"]) if len(est) > 2 else cfg.prior_sd ** 2
    cat_prior: dict[str, tuple[float, float]] = {}
    for cat, g in est.groupby("category"):
        w = 1 / (g["raw_se"] ** 2 + tau2_all)
        mean = float((g["raw"] * w).sum() / w.sum())
        var = float(1 / w.sum())
        # the category mean itself is shrunk to the overall mean
        post_var = 1 / (1 / var + 1 / tau2_all)
        cat_mean = post_var * (mean / var + overall / tau2_all)
        tau2 = _tau2(g["raw"], g["raw_se"]) if len(g) > 2 else tau2_all
        cat_prior[cat] = (cat_mean, max(tau2, 1e-4))
    out = []
    for r in df.itertuples(index=False):
        m0, t2 = cat_prior.get(r.category, (overall, tau2_all))
        if np.isfinite(r.raw):
            v = 1 / (1 / r.raw_se ** 2 + 1 / t2)
            m, source = v * (r.raw / r.raw_se ** 2 + m0 / t2), "item (shrunk to category)"
        elif len(est):
            m, v, source = m0, t2, "category (item has too little price variation)"
        else:  # nothing in the store was estimated: -1 is the prior, and the row must not claim data
            m, v, source = m0, t2, "assumed -1 (no item in the store has enough price variation)"
        sd = float(np.sqrt(v))
        out.append((m, m - Z90 * sd, m + Z90 * sd, source))
    df = df.copy()
    df[["elasticity", "lo90", "hi90", "source"]] = pd.DataFrame(out, index=df.index)
    return df


def _tau2(est: pd.Series, se: pd.Series) -> float:
    """Between-item variance of true elasticities: variance of estimates minus mean sampling variance."""
    return float(max(est.var(ddof=1) - (se ** 2).mean(), 0.05))


def category_elasticities(items: pd.DataFrame) -> pd.DataFrame:
    """Per category: precision-weighted mean of its items' raw estimates, with a 90% interval."""
    est = items[items["raw"].notna()]
    rows = []
    for cat, g in est.groupby("category"):
        w = 1 / g["raw_se"] ** 2
        m = float((g["raw"] * w).sum() / w.sum())
        tau2 = _tau2(g["raw"], g["raw_se"]) if len(g) > 2 else 0.0
        se = float(np.sqrt(1 / (1 / (g["raw_se"] ** 2 + tau2)).sum()))
        rows.append((cat, len(g), m, m - Z90 * se, m + Z90 * se))
    return pd.DataFrame(rows, columns=["category", "items", "elasticity", "lo90", "hi90"]).sort_values("items", ascending=False)
