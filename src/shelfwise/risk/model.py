"""Order risk scores: a logistic model refitted each period on what was known before that period.

Why learn at all: which anomalies matter differs by shop (a wholesaler's 1,000-unit order is normal,
a fashion shop's is not). Each period (default a calendar month) the model is refitted on the orders
placed before the period starts, labelled by returns *observed* before it starts; orders whose
return had not happened yet count as clean, exactly as the shop would have seen them. Until enough
returns are known (``min_positives``), a fixed rule-of-thumb weighting scores orders instead.

Every score comes with its reasons: the features that pushed it up most (coefficient x standardised
value), written with the evidence (e.g. "largest line 1,200 units = 25x the item's usual").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..logs import get_logger
from .features import FEATURES

log = get_logger(__name__)

#: the rule-of-thumb weights used before the shop has enough known returns (on standardised features)
PRIOR_WEIGHTS = {"max_qty_ratio": 0.6, "qty_z": 0.4, "odd_qty_share": 0.4, "price_dev": 0.4, "new_x_value": 0.5,
                 "prior_return_rate": 0.8, "log_prior_returns": 0.5, "log_value": 0.3}


@dataclass(frozen=True)
class RiskConfig:
    period: str = "MS"          # refit at each month start (pandas offset alias)
    min_positives: int = 30     # known returned orders needed before the learned model takes over
    max_reasons: int = 3
    c: float = 1.0              # inverse regularisation of the logistic model


def _standardise(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    return np.clip((x - mu) / sd, -6, 6)


def score_orders(df: pd.DataFrame, config: RiskConfig | None = None, score_from: pd.Timestamp | None = None) -> pd.DataFrame:
    """Add ``score`` (0..1, higher = more likely to be cancelled or returned), ``model`` and ``reasons``.

    ``df`` comes from :func:`.features.order_features` (all orders, so history is available); only
    orders at or after ``score_from`` are scored (default: all)."""
    from sklearn.linear_model import LogisticRegression

    cfg = config or RiskConfig()
    df = df.sort_values(["ts", "order_id"]).reset_index(drop=True)
    X = df[FEATURES].to_numpy(dtype=np.float64)
    score = np.full(len(df), np.nan)
    contrib = np.zeros_like(X)
    model_used = np.empty(len(df), dtype=object)
    ts = pd.to_datetime(df["ts"])
    starts = pd.date_range(ts.min().floor("D"), ts.max() + pd.Timedelta(days=1), freq=cfg.period)
    edges = [ts.min()] + [s for s in starts if s > ts.min()] + [ts.max() + pd.Timedelta(seconds=1)]
    for lo, hi in zip(edges[:-1], edges[1:]):
        rows = np.flatnonzero((ts >= lo) & (ts < hi))
        if score_from is not None:
            rows = rows[ts.iloc[rows] >= score_from]
        if not len(rows):
            continue
        past = np.flatnonzero(ts < lo)
        known = (df["returned_at"].iloc[past] < lo).to_numpy() if len(past) else np.zeros(0, bool)
        mu = X[past].mean(axis=0) if len(past) > 50 else X.mean(axis=0)
        sd = X[past].std(axis=0) if len(past) > 50 else X.std(axis=0)
        sd = np.where(sd > 1e-9, sd, 1.0)
        Z = _standardise(X[rows], mu, sd)
        if known.sum() >= cfg.min_positives and (~known).sum() >= cfg.min_positives:
            m = LogisticRegression(C=cfg.c, max_iter=500)
            m.fit(_standardise(X[past], mu, sd), known.astype(int))
            coef = m.coef_[0]
            score[rows] = m.predict_proba(Z)[:, 1]
            model_used[rows] = f"learned on {len(past):,} orders before {lo:%Y-%m-%d} ({int(known.sum()):,} returned)"
        else:
            coef = np.array([PRIOR_WEIGHTS.get(f, 0.0) for f in FEATURES])
            score[rows] = 1 / (1 + np.exp(-(Z @ coef - 3.0)))
            model_used[rows] = "rule-of-thumb weights (too few known returns yet)"
        contrib[rows] = Z * coef
    out = df.copy()
    out["score"] = score
    out["model"] = model_used
    out["reasons"] = [_reasons(out.iloc[i], contrib[i], cfg.max_reasons) if not np.isnan(score[i]) else ""
                      for i in range(len(out))]
    return out


def _reasons(row: pd.Series, contrib: np.ndarray, k: int) -> str:
    """Up to ``k`` distinct evidence texts of the features that pushed the score up most.

    Two features can share one piece of evidence (return rate and return count both read "return
    history: ...", new account and new account x value both "new account with a ... basket"); the text
    is given once, and the next feature that pushed the score up takes the freed place."""
    order = np.argsort(-contrib)
    texts: list[str] = []
    for j in order:
        if contrib[j] <= 0.25 or len(texts) == k:
            break
        t = _evidence(FEATURES[j], row)
        if t and t not in texts:
            texts.append(t)
    return "; ".join(texts)


def _evidence(feature: str, r: pd.Series) -> str:
    if feature == "max_qty_ratio":
        return f"bulk: largest line is {np.exp(r['max_qty_ratio']):.0f}x item {r['bulk_item']}'s usual quantity"
    if feature == "qty_z":
        return f"quantity {r['qty_z']:.1f} sd above item's history"
    if feature == "odd_qty_share":
        return f"odd quantities: {r['odd_qty_share']:.0%} of lines in a quantity never bought before"
    if feature == "price_dev":
        pct = np.expm1(r.get("price_dev_signed", 0.0) or 0.0)
        return f"price anomaly: item {r['price_item']} at {pct:+.0%} vs its usual price"
    if feature in ("new_account", "new_x_value"):
        return f"new account with a {r['value']:,.0f} basket ({int(r['lines'])} lines)" if r["new_account"] else ""
    if feature in ("prior_return_rate", "log_prior_returns"):
        return (f"return history: {int(r['prior_returns'])} returned lines vs {int(r['prior_lines'])} bought before"
                if r["prior_returns"] else "")
    # size features can raise the risk in either direction (the model decides); say which one it is
    if feature == "log_value":
        return f"order value {r['value']:,.0f}"
    if feature == "log_qty":
        return f"{r['qty']:,.0f} units in the order"
    if feature == "log_lines":
        return f"{int(r['lines'])} line(s) in the order"
    if feature == "log_prior_orders":
        return f"{int(r['prior_orders'])} earlier orders by this customer"
    if feature == "anonymous":
        return "no customer id" if r["anonymous"] else ""
    return ""


def precision_at(y: np.ndarray, s: np.ndarray, share: float = 0.01) -> float:
    """Precision among the top ``share`` of orders by score (ties broken by order position); NaN when
    there are no orders (undefined, written as null in JSON), without numpy's empty-mean warning."""
    if not len(y):
        return float("nan")
    n = max(1, int(round(len(y) * share)))
    top = np.argsort(-s, kind="stable")[:n]
    return float(y[top].mean())


def average_precision(y: np.ndarray, s: np.ndarray) -> float:
    """Average precision of ``s`` ranking the positives of ``y``; NaN when there is no positive.

    Why NaN: with no returned order there is nothing to rank, so the figure is undefined (null in
    JSON); it used to read 0.0, a "worst possible ranking" that the shop's data never showed.
    """
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, s)) if y.any() else float("nan")
