"""Stages on a tiny shop whose items were built to be in each stage."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.store import open_store
from shelfwise.lifecycle.series import load_panel
from shelfwise.lifecycle.stages import STAGES, StageRules, classify, selling_record
from shelfwise.service.lifecycle import stage_counts

from .conftest import MONDAY, ts, weekly_events

WEEKS = 30


def _lines(item: str, per_week: list[int], first_week: int = 0) -> list[list[object]]:
    """``per_week[k]`` separate one-unit orders in week ``first_week + k`` (orders drive the trend)."""
    rows = []
    for k, n in enumerate(per_week):
        for j in range(n):
            rows.append([ts(first_week + k, day=j % 6, hour=8 + j % 10), f"u{j}", item, "purchase", 1, 2.0,
                         f"{item}-{k}-{j}"])
    return rows


def _shop(make_shop) -> str:
    steady = [6] * WEEKS
    rising = [2] * (WEEKS - 8) + [2, 3, 4, 6, 8, 11, 14, 18]
    falling = [12] * (WEEKS - 8) + [12, 10, 8, 6, 4, 3, 2, 1]
    stopped = [5] * (WEEKS - 12) + [0] * 12
    fading = [5] * (WEEKS - 5) + [0] * 5  # sold every week, silent for 5: fading, not yet dormant
    events = (_lines("steady", steady) + _lines("rising", rising) + _lines("falling", falling)
              + _lines("stopped", stopped) + _lines("fading", fading)
              + _lines("new", [3, 4], first_week=WEEKS - 2)
              + weekly_events("slow", [1 if k % 5 == 0 else 0 for k in range(WEEKS)]))
    items = [[it, "home>kitchen" if it in ("steady", "rising") else "garden", 2.0, None]
             for it in ("steady", "rising", "falling", "stopped", "fading", "new", "slow")]
    return make_shop(events, items=items)


def test_each_item_gets_the_stage_it_was_built_for(make_shop) -> None:
    url = _shop(make_shop)
    with open_store(url) as store:
        panel = load_panel(store, MONDAY + timedelta(weeks=WEEKS), "W")
    df = classify(panel, categories={"steady": "home>kitchen"}).set_index("item_id")
    expected = {"steady": "maturity", "rising": "growth", "falling": "decline", "stopped": "dormant",
                "fading": "decline", "new": "introduction", "slow": "maturity"}
    assert df["stage"].to_dict() == expected
    assert df.loc["steady", "category"] == "home>kitchen" and df.loc["rising", "category"] is None
    assert df["confidence"].between(0, 1).all()
    assert df.loc["stopped", "weeks_since_sale"] == 12 and df.loc["stopped", "confidence"] > 0.99
    assert df.loc["rising", "trend_z"] > 2 and df.loc["falling", "trend_z"] < -2
    assert df.loc["steady", "share_of_peak"] == 1.0
    assert df.loc["new", "launch_observed"] and not df.loc["steady", "launch_observed"]
    assert df.loc["new", "age_weeks"] < 4
    assert set(df["stage"]) <= set(STAGES)


def test_rules_are_the_thresholds(make_shop) -> None:
    url = _shop(make_shop)
    with open_store(url) as store:
        panel = load_panel(store, MONDAY + timedelta(weeks=WEEKS), "W")
    strict = classify(panel, StageRules(trend_z=50.0, dormant_periods=20), fit_curves=False).set_index("item_id")
    assert strict.loc["rising", "stage"] == "maturity"        # no trend is significant at z > 50
    assert strict.loc["stopped", "stage"] == "decline"        # 12 quiet weeks: fading, not dormant at 20
    assert strict["bass_r2"].isna().all()


def test_stage_counts_per_category() -> None:
    df = pd.DataFrame({"item_id": list("abcd"), "category": ["x>y", "x>z", None, "w"],
                       "stage": ["growth", "growth", "decline", "dormant"]})
    t = stage_counts(df).set_index("category")
    assert t.loc["x", "growth"] == 2 and t.loc["(none)", "decline"] == 1
    assert t.loc["(all)", "items"] == 4 and list(t.columns[:5]) == list(STAGES)


def test_items_that_never_sold_are_dormant_with_confidence(make_shop) -> None:
    """A catalog item past its introduction that never sold, or one with only returns, is not "selling
    without a trend" (maturity) and not dormant with confidence 0: its silence is judged at the shop's rate."""
    events = (_lines("steady", [3] * 12) + _lines("other", [2, 0] * 6)
              + [[ts(0), "u9", "returned", "return", 1, 2.0, "r1"]])
    items = [["steady", "a", 2.0, None], ["other", "a", 2.0, None], ["returned", "a", 2.0, None],
             ["never", "a", 2.0, MONDAY.isoformat()], ["fresh", "a", 2.0, (MONDAY + timedelta(weeks=5)).isoformat()]]
    url = make_shop(events, items=items)
    for weeks in (6, 12):  # shorter and longer than the 8 quiet weeks that make a selling item dormant
        with open_store(url) as store:
            panel = load_panel(store, MONDAY + timedelta(weeks=weeks), "W")
        df = classify(panel, fit_curves=False).set_index("item_id")
        assert df.loc["steady", "stage"] == "maturity"
        for item in ("returned", "never"):
            assert df.loc[item, "stage"] == "dormant", (weeks, df.loc[item].to_dict())
            assert df.loc[item, "confidence"] > 0.9 and "no sale" in df.loc[item, "reason"]
        # launched 1 week ago: too early to judge; 7 weeks without a sale since its launch: dormant
        assert df.loc["fresh", "stage"] == ("introduction" if weeks == 6 else "dormant")


def test_too_short_a_history_gives_no_confident_stage(make_shop) -> None:
    """Under 4 weeks of history no trend can be tested: maturity is a guess (0.5), not 0.98, and an item
    that did not sell in those weeks is not called dormant yet."""
    events = _lines("a", [3, 4, 3]) + [[ts(0, day=0), "u9", "b", "return", 1, 2.0, "r1"]]
    url = make_shop(events, items=[["a", "x", 2.0, None], ["b", "x", 2.0, None]])
    with open_store(url) as store:
        panel = load_panel(store, MONDAY + timedelta(weeks=3), "W")
    df = classify(panel, fit_curves=False).set_index("item_id")
    assert df["stage"].to_dict() == {"a": "maturity", "b": "maturity"}
    assert (df["confidence"] == 0.5).all() and df["reason"].str.startswith("too little history").all()


def test_a_single_sale_is_reported_as_one_sale_not_as_every_week(make_shop) -> None:
    """One sale then silence: the evidence counts every week since the first sale up to the as-of date
    ("sold in 1 of its 9 weeks", share 1/9, not "100% of weeks"), and the silence is judged at the shop's
    typical rate, because the one sale is why the item is in the data, not a measure of its rate."""
    events = _lines("steady", [3] * 12) + _lines("other", [2, 0] * 6) + _lines("once", [1], first_week=3)
    url = make_shop(events)
    with open_store(url) as store:
        panel = load_panel(store, MONDAY + timedelta(weeks=12), "W")
    df = classify(panel, fit_curves=False).set_index("item_id")
    once = df.loc["once"]
    assert (once["history_weeks"], once["selling_weeks"], once["weeks_since_sale"]) == (9, 1, 8)
    assert once["selling_share"] == round(1 / 9, 4)
    assert "sold in 1 of its 9 weeks" in once["reason"] and "100%" not in once["reason"]
    record = selling_record(panel)
    typical = record.typical_rate()
    # steady sold again in 11 of its 11 later weeks, other in 5 of the 10 up to its last sale
    assert typical == pytest.approx(np.median([1.0, 0.5]))
    assert once["stage"] == "dormant" and once["confidence"] == pytest.approx(1 - (1 - typical) ** 8, abs=1e-4)
    assert df.loc["other", "selling_share"] == 0.5 and df.loc["other", "history_weeks"] == 12


def test_stage_evidence_and_the_typical_rate_share_one_record(make_shop) -> None:
    """The selling share and rate are computed once per item (selling_record) and read by both the
    evidence and the shop's typical rate."""
    url = _shop(make_shop)
    with open_store(url) as store:
        panel = load_panel(store, MONDAY + timedelta(weeks=WEEKS), "W")
    record = selling_record(panel)
    df = classify(panel, fit_curves=False)
    assert df["selling_share"].tolist() == [round(float(v), 4) for v in record.share]
    assert df["weeks_since_sale"].tolist() == record.since.tolist()
    assert record.typical_rate() == float(np.nanmedian(record.rate))


def test_a_slow_mover_is_dormant_after_three_of_its_gaps(make_shop) -> None:
    """An item selling every fifth week has gaps of 5 weeks: dormant after 15 quiet weeks, fading (decline)
    before. Counting the week of its first sale as evidence made its gap look like 4.2 weeks."""
    slow = [1 if k % 5 == 0 else 0 for k in range(21)]  # weeks 0, 5, 10, 15, 20
    events = _lines("steady", [3] * 40) + _lines("slow", slow, first_week=2)
    url = make_shop(events)
    for quiet, stage in ((14, "decline"), (15, "dormant")):
        with open_store(url) as store:
            panel = load_panel(store, MONDAY + timedelta(weeks=2 + 21 + quiet), "W")
        row = classify(panel, fit_curves=False).set_index("item_id").loc["slow"]
        assert (row["weeks_since_sale"], row["stage"]) == (quiet, stage), row.to_dict()


def test_quiet_weeks_before_a_late_as_of_count(make_shop) -> None:
    """As of 10 weeks after the shop's last sale, an item that sold every week has not sold for 10 weeks
    (those weeks are not skipped as a shop closure): dormant, not mature."""
    url = make_shop(_lines("steady", [6] * 20) + _lines("other", [2] * 20))
    with open_store(url) as store:
        panel = load_panel(store, MONDAY + timedelta(weeks=30), "W")
    row = classify(panel, fit_curves=False).set_index("item_id").loc["steady"]
    assert (row["stage"], row["weeks_since_sale"], row["history_weeks"]) == ("dormant", 10, 30)
    assert row["selling_share"] == round(20 / 30, 4)


def test_no_order_in_the_trend_window_is_no_evidence_of_maturity(make_shop) -> None:
    """A slow mover between two sales has no order to test a trend on: maturity as a guess (0.5), not
    "selling without a clear trend" at 0.98."""
    slow = [1 if k % 10 == 0 else 0 for k in range(31)]  # weeks 0, 10, 20, 30
    url = make_shop(_lines("steady", [3] * 40) + _lines("slow", slow))
    with open_store(url) as store:
        panel = load_panel(store, MONDAY + timedelta(weeks=40), "W")
    row = classify(panel, fit_curves=False).set_index("item_id").loc["slow"]
    assert row["stage"] == "maturity" and row["confidence"] == 0.5
    assert row["reason"] == "no sale for 9 weeks, not unusual yet: sold in 4 of its 40 weeks"
