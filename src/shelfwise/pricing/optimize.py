"""Price suggestions that maximise expected margin within the bounds the shop sets.

Demand is the constant-elasticity curve through the item's recent units and price,
q(p) = q0 (p / p0)^e, and margin is (p - c) q(p). Cost c is the item's ``cost`` attribute when the
catalog has one, else ``cost_share`` x the current price (the shop's typical cost ratio; say so in
the output). The best price is searched on a fine grid inside [p0 (1 - max_down), p0 (1 + max_up)].

Why only confident items move: a suggestion is made only when the item's whole 90% interval of
elasticity is negative (demand surely falls as price rises); otherwise the price is kept and the
row says why. The expected change in units, revenue and margin is reported at the point estimate and
at both interval ends, so the shop sees the range of outcomes, not one number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from shelfwise.errors import InputError


@dataclass(frozen=True)
class PriceBounds:
    max_up: float = 0.10        # at most +10%
    max_down: float = 0.10      # at most -10%
    cost_share: float = 0.6     # cost as a share of the current price when items have no cost
    min_margin: float = 0.0     # never suggest a price below cost x (1 + min_margin)
    grid: int = 81

    def check(self) -> None:
        """Refuse bounds that make no price: finite numbers, ``0 <= max_down < 1``, ``max_up >= 0``,
        ``cost_share >= 0`` and a grid of at least 2 prices.

        Why each: a NaN cost share made every margin NaN, so the optimiser took the first grid price and
        cut every price by ``max_down`` as "maximising margin"; an infinite ``max_up`` kept every price
        without a word; a negative cost share is no cost. Checked by :func:`suggest` itself, so a caller
        of the library is protected as well as the command line.
        """
        values = {"max_up": self.max_up, "max_down": self.max_down, "cost_share": self.cost_share,
                  "min_margin": self.min_margin}
        bad = [f"{k} = {v}" for k, v in values.items() if not math.isfinite(v)]
        if bad:
            raise InputError(f"price bounds must be finite numbers (got {', '.join(bad)})",
                             field=bad[0].split(" ")[0])
        if not (0 <= self.max_down < 1 and self.max_up >= 0):
            raise InputError(f"price bounds must be 0 <= max_down < 1 and max_up >= 0 (got max_down = "
                             f"{self.max_down}, max_up = {self.max_up})",
                             field="max_down" if not 0 <= self.max_down < 1 else "max_up")
        if self.cost_share < 0:
            raise InputError(f"cost_share is cost as a share of price, so at least 0 (got {self.cost_share})",
                             field="cost_share")
        if int(self.grid) != self.grid or self.grid < 2:
            raise InputError(f"grid must be a whole number of prices, at least 2 (got {self.grid})", field="grid")


def _response(p: np.ndarray, p0: float, q0: float, e: float) -> np.ndarray:
    return q0 * (p / p0) ** e


def suggest(el: pd.DataFrame, base: pd.DataFrame, bounds: PriceBounds | None = None) -> pd.DataFrame:
    """One row per item in ``base`` (item_id, price, units[, cost]) joined to elasticities ``el``."""
    b = bounds or PriceBounds()
    b.check()
    df = base.merge(el[["item_id", "category", "elasticity", "lo90", "hi90", "source"]], on="item_id", how="inner")
    rows = []
    for r in df.itertuples(index=False):
        p0, q0, e = float(r.price), float(r.units), float(r.elasticity)
        cost = float(getattr(r, "cost", np.nan)) if "cost" in df.columns else np.nan
        if np.isfinite(cost) and cost >= 0:
            c, cost_from = cost, "item cost"
        else:  # a negative cost is a data error, not a subsidy to price against: the share stands in
            c = b.cost_share * p0
            cost_from = f"{b.cost_share:.0%} of price (assumed" + (f"; item cost {cost:g} is negative)" if cost < 0
                                                                   else ")")
        lo_p = max(p0 * (1 - b.max_down), c * (1 + b.min_margin))
        hi_p = p0 * (1 + b.max_up)
        if not r.hi90 < 0:
            best, why = p0, "kept: elasticity interval includes 0 or is positive"
        elif lo_p > hi_p:
            best, why = p0, "kept: no price in bounds covers cost"
        else:
            grid = np.linspace(lo_p, hi_p, int(b.grid))
            margin = (grid - c) * _response(grid, p0, q0, e)
            best = float(grid[int(np.argmax(margin))])
            why = "maximises expected margin within bounds"
        q1 = float(_response(np.array([best]), p0, q0, e)[0])
        ch = {f"units_change_{k}": _response(np.array([best]), p0, 1.0, x)[0] - 1
              for k, x in (("lo", r.lo90), ("hi", r.hi90))}
        rows.append({"item_id": r.item_id, "category": r.category, "price": p0, "suggested_price": best,
                     "price_change": best / p0 - 1, "elasticity": e, "lo90": r.lo90, "hi90": r.hi90,
                     "units": q0, "expected_units": q1, "units_change": q1 / q0 - 1 if q0 else 0.0,
                     "units_change_range": f"{min(ch.values()):+.1%} .. {max(ch.values()):+.1%}",
                     "revenue_change": (best * q1) / (p0 * q0) - 1 if q0 else 0.0,
                     "margin_change": ((best - c) * q1) / ((p0 - c) * q0) - 1 if q0 and p0 > c else np.nan,
                     "cost_basis": cost_from, "reason": why, "elasticity_source": r.source})
    return pd.DataFrame(rows)
