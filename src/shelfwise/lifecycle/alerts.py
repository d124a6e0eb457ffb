"""Alerts: what in the last few weeks a merchandiser should look at, each with its evidence.

Four kinds, each a test against the item's own past so that big and small items are judged alike:

* ``spike`` / ``drop``: a recent week's net units fell outside the forecast interval made without it
  (the forecast from just before the window, at ``level`` %, and off by at least ``min_units``);
* ``bulk_purchase``: one order line far above the item's usual line size (``bulk_factor`` x its median
  and ``bulk_p99_factor`` x its 99th percentile: larger than anything it sold before), naming the
  customer and their share of the item's recent units;
* ``return_rate``: more return lines than the shop's return rate makes plausible (a one-sided Poisson
  test, p below ``return_p``, at least twice the shop rate and ``min_returns`` returns);
* ``price``: purchases at a price outside the item's own past price range (its 1st to 99th percentile)
  widened by ``price_ratio`` either way; a zero price on an item that was never free is caught too.
  (Tiered or customer-specific prices are inside that range, so they do not alert.)
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from scipy.stats import poisson

from ..data.store import Store
from ..errors import InputError
from ..jsonsafe import finite
from ..logs import get_logger
from .forecast import ForecastConfig, forecast_panel
from .series import FREQS, SalesPanel

log = get_logger(__name__)

COLUMNS = ["kind", "item_id", "when", "severity", "message", "evidence"]
#: the longest window (--days) alerts look at: three years, as far as a forecast may reach
MAX_DAYS = 3 * 365


@dataclass(frozen=True)
class AlertRules:
    """Thresholds of the four alert kinds; ``days`` is the recent window they look at."""

    days: int = 28
    level: float = 99.0
    min_units: float = 5.0
    bulk_factor: float = 10.0
    bulk_p99_factor: float = 2.0
    bulk_min_units: float = 24.0
    bulk_min_lines: int = 10
    return_p: float = 0.001
    min_returns: int = 3
    price_ratio: float = 1.5
    min_price_lines: int = 5

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    def check(self) -> None:
        """Every threshold a finite number in its range; an error names the field and the value."""
        if not (isinstance(self.days, numbers.Integral) and 7 <= self.days <= MAX_DAYS):
            raise InputError(f"--days must be between 7 (one week) and {MAX_DAYS} (three years), not {self.days}",
                             field="days")
        bounds: dict[str, tuple[float, float, bool]] = {  # field -> (low, high, low allowed)
            "level": (1.0, 100.0, True), "return_p": (0.0, 1.0, False), "min_units": (0.0, math.inf, True),
            "bulk_factor": (0.0, math.inf, True), "bulk_p99_factor": (0.0, math.inf, True),
            "bulk_min_units": (0.0, math.inf, True), "bulk_min_lines": (1.0, math.inf, True),
            "min_returns": (0.0, math.inf, True), "price_ratio": (1.0, math.inf, True),
            "min_price_lines": (1.0, math.inf, True)}
        for name, (low, high, closed) in bounds.items():
            value = getattr(self, name)
            ok = isinstance(value, numbers.Real) and math.isfinite(value) and (value >= low if closed else value > low)
            if not ok or not value < high:
                raise InputError(f"alert rule {name} must be a number {'from' if closed else 'above'} {low:g}"
                                 f"{'' if math.isinf(high) else f' and below {high:g}'}, not {value}", field=name)


def _num(value: object) -> float:
    """A count that SQL or pandas may give as None or NaN (no row in the window): 0 then."""
    if value is None:
        return 0.0
    f = float(value)  # type: ignore[arg-type]
    return 0.0 if math.isnan(f) else f


def _row(kind: str, item: str, when: object, severity: float, message: str, evidence: dict[str, object]) -> dict[str, object]:
    return {"kind": kind, "item_id": item, "when": when, "severity": round(float(severity), 3), "message": message,
            "evidence": json.dumps(finite(evidence), default=str, sort_keys=True, allow_nan=False)}


def demand_alerts(panel: SalesPanel, rules: AlertRules, cfg: ForecastConfig | None = None) -> list[dict[str, object]]:
    """Spikes and drops: the last weeks' net units against the interval forecast from before them."""
    k = max(1, rules.days // FREQS[panel.freq][1])
    if len(panel.periods) <= k + 1:
        return []
    before = panel.truncate(k)
    cfg = cfg or ForecastConfig(models=("ses", "imapa"), backtest_windows=1, global_weight=0.0)
    cfg = ForecastConfig(**{**asdict(cfg), "horizon": k, "level": rules.level})
    items = [it for i, it in enumerate(before.item_ids) if len(before.history(i)) >= cfg.min_history]
    if not items:
        return []
    fc = forecast_panel(before, cfg, items=items)
    idx = panel.index()
    n0 = len(before.periods)
    out = []
    for r in fc.itertuples(index=False):
        col = n0 + (r.period_start - before.next_period).days // FREQS[panel.freq][1]
        if col >= len(panel.periods) or panel.closed[col]:
            continue
        i = idx[r.item_id]
        actual = float(panel.net[i, col])
        bought, returned = float(panel.units[i, col]), float(panel.returned[i, col])
        evidence = {"period_start": r.period_start, "net_units": actual, "bought": bought, "returned": returned,
                    "yhat": round(r.yhat, 3), "lo": round(r.yhat_lo, 3), "hi": round(r.yhat_hi, 3),
                    "level": rules.level, "model": r.model}
        what = f"net {actual:g} units (bought {bought:g}, returned {returned:g}) in the week of {r.period_start}"
        # beyond the interval by at least min_units and by at least its own half-width: a clear break
        if actual - r.yhat_hi >= max(rules.min_units, r.yhat_hi - r.yhat):
            sev = (actual - r.yhat_hi) / max(r.yhat_hi - r.yhat, 1.0)
            out.append(_row("spike", r.item_id, r.period_start, sev,
                            f"{what}, above the {rules.level:g}% forecast range {r.yhat_lo:.0f}-{r.yhat_hi:.0f}",
                            evidence))
        elif r.yhat_lo - actual >= max(rules.min_units, r.yhat - r.yhat_lo):
            sev = (r.yhat_lo - actual) / max(r.yhat - r.yhat_lo, 1.0)
            out.append(_row("drop", r.item_id, r.period_start, sev,
                            f"{what}, below the {rules.level:g}% forecast range {r.yhat_lo:.0f}-{r.yhat_hi:.0f}",
                            evidence))
    return out


def _window(as_of: date, days: int) -> tuple[datetime, datetime]:
    end = datetime.combine(as_of, datetime.min.time())
    return end - timedelta(days=days), end


def bulk_alerts(store: Store, as_of: date, rules: AlertRules) -> list[dict[str, object]]:
    """Order lines in the window far larger than the item's usual line before the window."""
    start, end = _window(as_of, rules.days)
    rows = store.query("""
        WITH hist AS (
            SELECT item_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY quantity) AS med,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY quantity) AS p99, count(*) AS n
            FROM events WHERE event = 'purchase' AND timestamp < ? GROUP BY 1),
        recent AS (
            SELECT item_id, user_id, order_id, timestamp, coalesce(quantity, 1) AS quantity,
                   sum(coalesce(quantity, 1)) OVER (PARTITION BY item_id) AS item_units
            FROM events WHERE event = 'purchase' AND timestamp >= ? AND timestamp < ?)
        SELECT r.*, h.med, h.p99, h.n FROM recent r JOIN hist h USING (item_id)
        WHERE h.n >= ? AND r.quantity >= ? AND r.quantity >= ? * h.med AND r.quantity >= ? * h.p99
        ORDER BY r.quantity / nullif(h.med, 0) DESC, r.item_id, r.timestamp""",
                       [start, start, end, rules.bulk_min_lines, rules.bulk_min_units, rules.bulk_factor,
                        rules.bulk_p99_factor]).to_pylist()
    out = []
    for r in rows:
        who = r["user_id"] or "an anonymous customer"
        share = r["quantity"] / r["item_units"] if r["item_units"] else 1.0
        out.append(_row("bulk_purchase", r["item_id"], r["timestamp"], r["quantity"] / max(r["med"], 1e-9),
                        f"{who} bought {r['quantity']:g} units in one line ({r['quantity'] / max(r['med'], 1e-9):.0f}x "
                        f"the usual {r['med']:g}; {share:.0%} of the item's units in the last {rules.days} days)",
                        {"user_id": r["user_id"], "order_id": r["order_id"], "quantity": r["quantity"],
                         "median_line": r["med"], "p99_line": r["p99"], "lines_before": r["n"],
                         "share_of_recent_units": round(share, 4)}))
    return out


def return_alerts(store: Store, as_of: date, rules: AlertRules) -> list[dict[str, object]]:
    """Items whose return lines in the window are implausibly many at the shop's return rate."""
    start, end = _window(as_of, rules.days)
    rows = store.query("""
        SELECT item_id, count(*) FILTER (WHERE event = 'purchase') AS bought_lines,
               count(*) FILTER (WHERE event = 'return') AS return_lines,
               sum(coalesce(quantity, 1)) FILTER (WHERE event = 'purchase') AS bought_units,
               sum(coalesce(quantity, 1)) FILTER (WHERE event = 'return') AS returned_units
        FROM events WHERE event IN ('purchase', 'return') AND timestamp >= ? AND timestamp < ?
        GROUP BY 1""", [start, end]).to_pandas()
    if rows.empty or rows["bought_lines"].sum() == 0:
        return []
    shop_rate = float(rows["return_lines"].sum() / rows["bought_lines"].sum())
    out = []
    for r in rows.itertuples(index=False):
        expected = max(r.bought_lines, 1) * shop_rate
        if r.return_lines < rules.min_returns or r.return_lines < 2 * expected:
            continue
        p = float(poisson.sf(r.return_lines - 1, expected))
        if p >= rules.return_p:
            continue
        rate = r.return_lines / r.bought_lines if r.bought_lines else math.inf
        out.append(_row("return_rate", r.item_id, end.date(), -math.log10(max(p, 1e-300)),
                        f"{r.return_lines} return lines against {r.bought_lines} purchase lines in the last "
                        f"{rules.days} days (shop rate {shop_rate:.1%}; p = {p:.1e})",
                        {"return_lines": int(r.return_lines), "purchase_lines": int(r.bought_lines),
                         "returned_units": _num(r.returned_units), "bought_units": _num(r.bought_units),
                         "rate": None if math.isinf(rate) else round(rate, 4), "shop_rate": round(shop_rate, 4),
                         "p_value": p}))
    return out


def price_alerts(store: Store, as_of: date, rules: AlertRules) -> list[dict[str, object]]:
    """Purchases in the window at prices far from the item's usual price before the window."""
    start, end = _window(as_of, rules.days)
    rows = store.query("""
        WITH ref AS (
            SELECT item_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY price) AS ref,
                   percentile_cont(0.01) WITHIN GROUP (ORDER BY price) AS p01,
                   percentile_cont(0.99) WITHIN GROUP (ORDER BY price) AS p99, count(*) AS n FROM events
            WHERE event = 'purchase' AND price IS NOT NULL AND timestamp < ? GROUP BY 1)
        SELECT e.item_id, r.ref, r.p01, r.p99, r.n, count(*) AS lines, min(e.price) AS low, max(e.price) AS high,
               min(e.timestamp) AS first_seen, (array_agg(e.order_id ORDER BY e.price, e.order_id))[1] AS low_order,
               (array_agg(e.order_id ORDER BY e.price DESC, e.order_id))[1] AS high_order
        FROM events e JOIN ref r USING (item_id)
        WHERE e.event = 'purchase' AND e.price IS NOT NULL AND e.timestamp >= ? AND e.timestamp < ?
              AND r.n >= ? AND r.p01 > 0 AND (e.price * ? < r.p01 OR e.price > ? * r.p99)
        GROUP BY e.item_id, r.ref, r.p01, r.p99, r.n ORDER BY e.item_id""",
                       [start, start, end, rules.min_price_lines, rules.price_ratio, rules.price_ratio]).to_pylist()
    out = []
    for r in rows:
        above = r["high"] > rules.price_ratio * r["p99"]
        worst = r["high"] / r["p99"] if above else r["p01"] / max(r["low"], 1e-9)
        shown = f"{r['high']:g}" if above else f"{r['low']:g}"
        out.append(_row("price", r["item_id"], r["first_seen"], math.log2(max(worst, 1.0)),
                        f"{r['lines']} purchase line(s) in the last {rules.days} days, one at {shown}, outside the "
                        f"item's usual range {r['p01']:g}-{r['p99']:g} (median {r['ref']:g})",
                        {"lines": r["lines"], "low": r["low"], "high": r["high"], "usual_price": r["ref"],
                         "usual_low": r["p01"], "usual_high": r["p99"], "usual_lines": r["n"],
                         "low_order": r["low_order"], "high_order": r["high_order"]}))
    return out


def all_alerts(store: Store, panel: SalesPanel, rules: AlertRules | None = None) -> pd.DataFrame:
    """Every alert as of ``panel.as_of``, most severe first within each kind."""
    rules = rules or AlertRules()
    rules.check()
    rows = (demand_alerts(panel, rules) + bulk_alerts(store, panel.as_of, rules)
            + return_alerts(store, panel.as_of, rules) + price_alerts(store, panel.as_of, rules))
    df = pd.DataFrame(rows, columns=COLUMNS)
    if len(df):
        df = df.sort_values(["kind", "severity"], ascending=[True, False], kind="stable").reset_index(drop=True)
    log.info("alerts as of %s: %s", panel.as_of, df["kind"].value_counts().to_dict() if len(df) else {})
    return df
