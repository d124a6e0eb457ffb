"""Stages on a tiny shop whose items were built to be in each stage."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from shelfwise.data.store import open_store
from shelfwise.lifecycle.series import load_panel
from shelfwise.lifecycle.stages import STAGES, StageRules, classify
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
