"""Inventory advice against hand-computed safety stock, reorder point and order-up-to level."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pandas as pd
import pytest
from scipy.stats import norm

from shelfwise.errors import InputError
from shelfwise.lifecycle.inventory import InventoryPolicy, advise, horizon_needed

Z80 = norm.ppf(0.9)


def _forecast(items: dict[str, float], sigma: float = 2.0, periods: int = 6) -> pd.DataFrame:
    rows = []
    for item, mean in items.items():
        for k in range(periods):
            rows.append({"item_id": item, "period_start": date(2024, 1, 1) + timedelta(weeks=k), "mean": mean,
                         "yhat": mean, "yhat_lo": mean - Z80 * sigma, "yhat_hi": mean + Z80 * sigma})
    return pd.DataFrame(rows)


def test_levels_match_the_textbook_formulas() -> None:
    stock = pd.DataFrame({"item_id": ["x"], "stock": [20.0], "lead_time_days": [None], "unit_cost": [3.0]})
    out = advise(_forecast({"x": 10.0}), 7, 80.0, InventoryPolicy(), stock=stock).set_index("item_id")
    z = norm.ppf(0.95)
    safety = z * 2.0 * math.sqrt(2)              # two weeks of lead time, sigma 2 a week
    assert out.loc["x", "demand_lead_time"] == pytest.approx(20.0)
    assert out.loc["x", "safety_stock"] == pytest.approx(safety, abs=1e-3)
    assert out.loc["x", "reorder_point"] == math.ceil(20 + safety)
    up_to = math.ceil(30 + z * 2.0 * math.sqrt(3))  # plus one review week
    assert out.loc["x", "order_up_to"] == up_to
    assert out.loc["x", "order_qty"] == up_to - 20 and out.loc["x", "action"] == "reorder"
    assert out.loc["x", "stockout_risk"] == pytest.approx(0.5)
    assert out.loc["x", "weeks_of_cover"] == pytest.approx(2.0)


def test_fractional_lead_time_from_the_stock_table() -> None:
    stock = pd.DataFrame({"item_id": ["x"], "stock": [100.0], "lead_time_days": [10.0], "unit_cost": [None]})
    out = advise(_forecast({"x": 7.0}), 7, 80.0, stock=stock).iloc[0]
    assert out["lead_time_days"] == 10.0
    assert out["demand_lead_time"] == pytest.approx(7.0 * 10 / 7)
    assert out["order_qty"] == 0 and out["action"] == "ok"


def test_flags_for_falling_items() -> None:
    fc = _forecast({"dec_md": 10.0, "dec_cl": 10.0, "dorm": 0.5, "grow": 10.0, "dec_nostock": 10.0})
    stages = pd.DataFrame({"item_id": ["dec_md", "dec_cl", "dorm", "grow", "dec_nostock"],
                           "stage": ["decline", "decline", "dormant", "growth", "decline"]})
    stock = pd.DataFrame({"item_id": ["dec_md", "dec_cl", "dorm", "grow"], "stock": [200.0, 400.0, 3.0, 5.0],
                          "lead_time_days": [None] * 4, "unit_cost": [2.0, 2.0, 2.0, 2.0]})
    out = advise(fc, 7, 80.0, stages=stages, stock=stock).set_index("item_id")["action"].to_dict()
    assert out == {"dec_md": "markdown", "dec_cl": "clearance", "dorm": "clearance", "grow": "reorder",
                   "dec_nostock": "markdown_candidate"}


def test_excess_value_and_policy_checks() -> None:
    stock = pd.DataFrame({"item_id": ["x"], "stock": [1000.0], "lead_time_days": [None], "unit_cost": [2.5]})
    out = advise(_forecast({"x": 10.0}), 7, 80.0, stock=stock).iloc[0]
    assert out["excess_units"] == 1000 - out["order_up_to"]
    assert out["excess_value"] == pytest.approx((1000 - out["order_up_to"]) * 2.5)
    assert out["action"] == "overstock"
    with pytest.raises(InputError):
        InventoryPolicy(service_level=1.2).check()
    assert horizon_needed(InventoryPolicy(lead_time_days=30), 7) == 6
    assert horizon_needed(InventoryPolicy(), 7, max_lead_days=60) == 10
