"""Inventory advice from the forecast: safety stock, reorder point, order-up-to level, markdown flags.

The classic periodic-review, order-up-to policy (Silver, Pyke & Peterson, ch. 6-7), fed by the forecast:

* demand over the lead time L is the sum of the forecast means over L (fractional periods pro rata);
* its spread comes from the forecast interval: an 80 % interval is mean +- 1.28 sigma, so per-period
  sigma = (hi - lo) / (2 z_level), and periods add in variance;
* safety stock = z(service level) x sigma_L; reorder point = demand over L + safety stock;
* order-up-to level = demand over L + R (R the review period) + its own safety stock.

With current stock (the optional ``stock`` table), the advice also says how much to order, how many
weeks the stock covers and the chance of running out before a delivery lands; declining or dormant
items with too many weeks of cover are flagged for markdown or clearance, because a falling curve
will not sell that stock at full price.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import norm

from ..errors import InputError
from ..logs import get_logger


log = get_logger(__name__)

#: the longest lead time (and review period) taken, in days; a stock row beyond it, negative or not a
#: number falls back to the default lead time with a warning
MAX_LEAD_DAYS = 365.0


def valid_lead_time(value: object) -> float | None:
    """A stock row's lead time in days when it is usable (a number in 0..MAX_LEAD_DAYS), else None."""
    try:
        days = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return days if math.isfinite(days) and 0 <= days <= MAX_LEAD_DAYS else None


@dataclass(frozen=True)
class InventoryPolicy:
    """Service target and timing; lead times in the ``stock`` table override ``lead_time_days``."""

    service_level: float = 0.95
    lead_time_days: float = 14.0
    review_days: float = 7.0
    markdown_cover_weeks: float = 12.0
    clearance_cover_weeks: float = 26.0

    def check(self) -> None:
        """Each bound names its flag and the value given (nan and infinity included)."""
        if not (math.isfinite(self.service_level) and 0.5 <= self.service_level < 1.0):
            raise InputError(f"--service-level must be in [0.5, 1), not {self.service_level}", field="service_level")
        if not (math.isfinite(self.lead_time_days) and 0 <= self.lead_time_days <= MAX_LEAD_DAYS):
            raise InputError(f"--lead-time-days must be between 0 and {MAX_LEAD_DAYS:g} days, not "
                             f"{self.lead_time_days}", field="lead_time_days")
        if not (math.isfinite(self.review_days) and 0 < self.review_days <= MAX_LEAD_DAYS):
            raise InputError(f"--review-days must be more than 0 and at most {MAX_LEAD_DAYS:g} days, not "
                             f"{self.review_days}", field="review_days")
        for name in ("markdown_cover_weeks", "clearance_cover_weeks"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"{name} must be a positive number of weeks, not {value}", field=name)

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def horizon_needed(policy: InventoryPolicy, period_days: int, max_lead_days: float | None = None) -> int:
    """Forecast periods that cover the longest lead time plus one review period."""
    lead = max(policy.lead_time_days, max_lead_days or 0.0)
    return max(1, math.ceil((lead + policy.review_days) / period_days))


def _over(values: np.ndarray, periods: float) -> float:
    """Sum of the first ``periods`` values (fractional), extending the last value if too short."""
    if periods <= 0 or len(values) == 0:
        return 0.0
    whole = int(math.floor(periods))
    ext = np.concatenate([values, np.repeat(values[-1:], max(0, whole + 1 - len(values)))])
    return float(ext[:whole].sum() + (periods - whole) * ext[whole])


def advise(forecast: pd.DataFrame, period_days: int, level: float, policy: InventoryPolicy | None = None,
           stages: pd.DataFrame | None = None, stock: pd.DataFrame | None = None) -> pd.DataFrame:
    """One advice row per forecast item.

    ``forecast``: rows of item_id, period_start, mean, yhat_lo, yhat_hi (as from ``forecast_panel``);
    ``stages``: item_id, stage (optional); ``stock``: item_id, stock, lead_time_days, unit_cost (optional).
    """
    policy = policy or InventoryPolicy()
    policy.check()
    z_int = float(norm.ppf(0.5 + level / 200.0))
    z_sl = float(norm.ppf(policy.service_level))
    stage_of = dict(zip(stages["item_id"], stages["stage"])) if stages is not None and len(stages) else {}
    stock_of: dict[str, dict[str, float | None]] = {}
    if stock is not None and len(stock):
        for r in stock.to_dict("records"):
            stock_of[str(r["item_id"])] = r
    _report_stock_problems(stock_of, set(forecast["item_id"].astype(str)), policy)
    rows = []
    for item, g in forecast.sort_values(["item_id", "period_start"]).groupby("item_id", sort=True):
        mean = g["mean"].to_numpy(dtype=float)
        sigma = np.clip((g["yhat_hi"].to_numpy(dtype=float) - g["yhat_lo"].to_numpy(dtype=float)) / (2 * z_int), 0, None)
        st = stock_of.get(str(item), {})
        lead_days = valid_lead_time(st.get("lead_time_days"))
        lead_days = policy.lead_time_days if lead_days is None else lead_days
        L = lead_days / period_days
        LR = L + policy.review_days / period_days
        d_l, d_lr = _over(mean, L), _over(mean, LR)
        s_l = math.sqrt(_over(sigma ** 2, L))
        s_lr = math.sqrt(_over(sigma ** 2, LR))
        safety = z_sl * s_l
        rop = d_l + safety
        up_to = d_lr + z_sl * s_lr
        weekly = float(mean.mean()) * 7.0 / period_days
        stage = stage_of.get(item)
        on_hand = st.get("stock")
        on_hand = float(on_hand) if on_hand is not None and not pd.isna(on_hand) else None
        cost = st.get("unit_cost")
        cost = float(cost) if cost is not None and not pd.isna(cost) else None
        row = {"item_id": item, "stage": stage, "lead_time_days": lead_days, "weekly_demand": round(weekly, 3),
               "demand_lead_time": round(d_l, 3), "safety_stock": round(safety, 3),
               "reorder_point": math.ceil(rop - 1e-9), "order_up_to": math.ceil(up_to - 1e-9),
               "stock": on_hand, "order_qty": None, "weeks_of_cover": None, "stockout_risk": None,
               "excess_units": None, "excess_value": None}
        action, reason = _action(row, stage, on_hand, d_l, s_l, weekly, policy)
        if on_hand is not None:
            row["order_qty"] = max(0, math.ceil(up_to - on_hand - 1e-9)) if on_hand <= rop else 0
            # negative stock is a backorder (units owed): no cover, and the order makes it good
            row["weeks_of_cover"] = round(max(on_hand, 0.0) / weekly, 2) if weekly > 0 else None
            row["stockout_risk"] = round(float(1 - norm.cdf((on_hand - d_l) / s_l)) if s_l > 0
                                         else float(on_hand < d_l), 4)
            excess = max(0.0, on_hand - row["order_up_to"])
            row["excess_units"] = round(excess, 3)
            row["excess_value"] = round(excess * cost, 2) if cost is not None else None
        row["action"], row["reason"] = action, reason
        rows.append(row)
    return pd.DataFrame(rows)


def _report_stock_problems(stock_of: dict[str, dict[str, float | None]], forecast_items: set[str],
                           policy: InventoryPolicy) -> None:
    """Warn about stock rows that cannot be used as they are: a lead time that is negative, not a number
    or beyond MAX_LEAD_DAYS (the default is used instead), and items with no forecast (no sale or launch
    before the as-of date, or not in the shop at all), which get no advice."""
    bad = [(item, r.get("lead_time_days")) for item, r in stock_of.items()
           if r.get("lead_time_days") is not None and not pd.isna(r.get("lead_time_days"))
           and valid_lead_time(r.get("lead_time_days")) is None]
    if bad:
        shown = ", ".join(f"{item} ({value:g})" if isinstance(value, (int, float)) else f"{item} ({value})"
                          for item, value in bad[:5])
        log.warning("stock: %d item(s) with a lead_time_days outside 0-%g days, e.g. %s: using --lead-time-days "
                    "%g for them", len(bad), MAX_LEAD_DAYS, shown, policy.lead_time_days)
    unknown = sorted(set(stock_of) - forecast_items)
    if unknown:
        log.warning("stock: %d item(s) have stock but no sale or launch before the as-of date, so no forecast and "
                    "no advice, e.g. %s", len(unknown), ", ".join(unknown[:5]))


def _action(row: dict[str, object], stage: str | None, on_hand: float | None, d_l: float, s_l: float,
            weekly: float, policy: InventoryPolicy) -> tuple[str, str]:
    """The one thing to do about an item, and why."""
    fading = stage in ("decline", "dormant")
    if on_hand is None:
        if stage == "dormant":
            return "clearance_candidate", "no sale for weeks; check for stock to clear (no stock table)"
        if stage == "decline":
            return "markdown_candidate", "orders falling; check stock before reordering (no stock table)"
        return "no_stock_data", f"reorder when stock falls to {row['reorder_point']}"
    cover = max(on_hand, 0.0) / weekly if weekly > 0 else (math.inf if on_hand > 0 else 0.0)
    # "inf weeks of cover" says nothing to a merchandiser: say what it means
    covers = (f"{cover:.0f} weeks of cover" if weekly > 0 else
              f"no expected demand for {on_hand:g} units" if on_hand > 0 else "no stock and no expected demand")
    if stage == "dormant" and on_hand > 0:
        return "clearance", f"dormant with {on_hand:g} units on hand"
    if fading and cover > policy.clearance_cover_weeks:
        return "clearance", f"{stage} with {covers}"
    if fading and cover > policy.markdown_cover_weeks:
        return "markdown", f"{stage} with {covers}"
    if on_hand <= float(row["reorder_point"]) and not fading and float(row["order_up_to"]) > on_hand:
        return "reorder", f"stock {on_hand:g} at or below the reorder point {row['reorder_point']}"
    if on_hand <= float(row["reorder_point"]) and fading:
        return "do_not_reorder", f"{stage}: let the stock run down instead of reordering"
    if cover > policy.clearance_cover_weeks:
        return "overstock", covers
    return "ok", covers
