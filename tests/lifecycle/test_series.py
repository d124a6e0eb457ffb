"""Sales series: net of returns, zero-filled, weekly on Mondays, as-of strictly before, stored = computed."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import numpy as np
import pytest

from shelfwise.data.store import open_store
from shelfwise.errors import InputError
from shelfwise.lifecycle.series import daily_sales, load_panel, period_start, refresh_sales_series, stored_series_fresh

from .conftest import MONDAY, ts


def _events() -> list[list[object]]:
    return [
        [ts(0, 0), "u1", "A", "purchase", 5, 2.0, "o1"],
        [ts(0, 2), "u2", "A", "purchase", 3, 2.0, "o2"],
        [ts(0, 3), "u2", "A", "return", 1, 2.0, "c1"],
        [ts(2, 1), "u1", "A", "purchase", 4, 2.0, "o3"],     # week 1 has no sale: a zero week
        [ts(1, 4), "u3", "B", "purchase", 10, 1.0, "o4"],
        [ts(3, 0), "u3", "B", "view", 1, None, None],        # not a sale
        [ts(3, 2), "u1", "A", "purchase", 2, 2.0, "o5"],
        [ts(3, 2), "u1", "C", "purchase", 1, 9.0, "o5"],
    ]


def test_refresh_writes_zero_filled_net_series(make_shop) -> None:
    url = make_shop(_events(), items=[["A", "toys>cars", 2.0, None], ["B", "toys>dolls", 1.0, None]])
    with open_store(url) as store:
        counts = refresh_sales_series(store)
        weekly = {(r["item_id"], r["period_start"]): r for r in store.read("sales_weekly").to_pylist()}
        daily = store.read("sales_daily", where="item_id = 'A'").to_pylist()
        cats = {r["category"]: r for r in store.read("sales_category_weekly").to_pylist()
                if r["period_start"] == MONDAY}
        assert stored_series_fresh(store)
    assert counts["sales_weekly"] == len(weekly)
    a0 = weekly[("A", MONDAY)]
    assert (a0["units"], a0["returned"], a0["net_units"]) == (8, 1, 7)
    assert weekly[("A", MONDAY + timedelta(weeks=1))]["net_units"] == 0  # the gap is a zero row
    assert weekly[("A", MONDAY + timedelta(weeks=2))]["net_units"] == 4
    assert ("B", MONDAY) not in weekly                     # B starts with its first sale
    assert weekly[("B", MONDAY + timedelta(weeks=1))]["net_units"] == 10
    days = [r["day"] for r in daily]
    assert days == [MONDAY + timedelta(days=k) for k in range(len(days))]  # every day, no holes
    assert days[-1] == MONDAY + timedelta(weeks=3, days=2)                 # up to the last event day
    assert cats["toys>cars"]["net_units"] == 7 and "(none)" not in cats      # C has no catalog row


def test_stored_and_computed_daily_sales_agree(make_shop) -> None:
    url = make_shop(_events(), refresh=True)
    with open_store(url) as store:
        stored = sorted(daily_sales(store, MONDAY + timedelta(weeks=3)).to_pylist(), key=lambda r: (r["item_id"], r["day"]))
        store.execute("DELETE FROM sales_series_meta")  # no longer fresh: aggregated from events
        assert not stored_series_fresh(store)
        computed = sorted(daily_sales(store, MONDAY + timedelta(weeks=3)).to_pylist(), key=lambda r: (r["item_id"], r["day"]))
    assert stored == computed and len(stored) == 5


def test_panel_uses_only_events_before_as_of_in_whole_weeks(make_shop) -> None:
    url = make_shop(_events())
    with open_store(url) as store:
        p = load_panel(store, MONDAY + timedelta(weeks=3), "W")
    assert p.periods == [MONDAY + timedelta(weeks=k) for k in range(3)]
    assert p.next_period == MONDAY + timedelta(weeks=3)
    a = p.index()["A"]
    assert p.net[a].tolist() == [7, 0, 4]
    assert p.lines[a].tolist() == [2, 0, 1]
    assert "C" not in p.index()  # its only sale is after the cut-off


def test_weeks_are_anchored_at_a_mid_week_as_of(make_shop) -> None:
    url = make_shop(_events())
    thursday = MONDAY + timedelta(weeks=3, days=3)
    with open_store(url) as store:
        p = load_panel(store, thursday, "W")
        p_wed = load_panel(store, thursday - timedelta(days=1), "W")
    # Thursday-to-Wednesday weeks ending the day before as_of; the store's first Monday-Wednesday is cut
    assert p.periods == [thursday - timedelta(weeks=k) for k in (3, 2, 1)] and p.next_period == thursday
    assert p.net[p.index()["A"]].tolist() == [-1, 4, 2]
    assert p.history(p.index()["C"]).tolist() == [1]   # sold on the Wednesday before as_of
    assert "C" not in p_wed.index()                      # strictly before: the Wednesday itself is out


def test_first_partial_week_and_closed_weeks(make_shop) -> None:
    events = [[ts(0, 3), "u", "A", "purchase", 1, 1.0, "o0"],   # data starts on a Thursday
              [ts(1, 1), "u", "A", "purchase", 2, 1.0, "o1"],
              [ts(3, 1), "u", "A", "purchase", 3, 1.0, "o3"]]   # week 2: the shop sold nothing
    url = make_shop(events)
    with open_store(url) as store:
        p = load_panel(store, MONDAY + timedelta(weeks=4), "W")
    assert p.periods[0] == MONDAY + timedelta(weeks=1)
    assert p.closed.tolist() == [False, True, False]
    assert p.history(0).tolist() == [2, 3] and p.history(0, skip_closed=False).tolist() == [2, 0, 3]
    assert p.left_censored[0]  # first seen in the store's first days: launch not observed


def test_period_start_and_bad_as_of(make_shop) -> None:
    assert period_start(date(2024, 1, 10), "W") == date(2024, 1, 8)
    assert period_start(date(2024, 1, 10), "d") == date(2024, 1, 10)
    with pytest.raises(InputError, match="unknown frequency"):
        period_start(date(2024, 1, 10), "M")
    url = make_shop(_events())
    with open_store(url) as store, pytest.raises(InputError, match="no complete week"):
        load_panel(store, MONDAY + timedelta(days=3), "W")


def test_truncate_is_the_panel_of_an_earlier_date(make_shop) -> None:
    url = make_shop(_events())
    with open_store(url) as store:
        full = load_panel(store, MONDAY + timedelta(weeks=4), "W")
        early = load_panel(store, MONDAY + timedelta(weeks=2), "W")
    cut = full.truncate(2)
    assert cut.periods == early.periods and cut.next_period == early.next_period
    for it in early.item_ids:
        np.testing.assert_array_equal(cut.net[cut.index()[it]], early.net[early.index()[it]])


def _steady_then_quiet(weeks: int = 6) -> list[list[object]]:
    """Items A and B sell every week for ``weeks`` weeks; the shop sells nothing after that."""
    return [[ts(k, 0), "u", it, "purchase", 3, 1.0, f"o{it}{k}"] for k in range(weeks) for it in ("A", "B")]


def test_quiet_weeks_after_the_last_sale_count_as_zeros(make_shop) -> None:
    """A shop looked at as of today whose last sale was weeks ago sees those weeks as zeros, daily and
    weekly alike; only a silence between two selling weeks is a closure the weekly models skip."""
    events = _steady_then_quiet() + [[ts(8, 1), "u", "A", "purchase", 3, 1.0, "late"]]  # weeks 6-7: closed
    url = make_shop(events)
    as_of = MONDAY + timedelta(weeks=12)  # weeks 9, 10 and 11 are quiet: the shop's last sale is in week 8
    with open_store(url) as store:
        weekly = load_panel(store, as_of, "W")
        daily = load_panel(store, as_of, "D")
    assert weekly.closed.tolist() == [False] * 6 + [True, True] + [False] * 4
    a = weekly.index()["A"]
    assert weekly.history(a).tolist() == [3.0] * 6 + [3.0, 0, 0, 0]
    assert weekly.history(a).sum() == daily.history(daily.index()["A"], skip_closed=False).sum()
    assert not daily.closed[-21:].any()
    # one step back the week-8 sale is gone and weeks 6-7 are the shop's last quiet weeks, not a closure
    assert not weekly.truncate(4).closed.any()


def test_an_as_of_far_past_the_data_warns_then_refuses(make_shop) -> None:
    url = make_shop(_steady_then_quiet())  # six weeks of sales, the last on the Monday of week 5
    last = MONDAY + timedelta(weeks=5)
    # listen on the module's own logger: the CLI's log setup stops shelfwise records reaching the root
    warnings: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = warnings.append  # type: ignore[method-assign]
    logger = logging.getLogger("shelfwise.lifecycle.series")
    logger.addHandler(handler)
    try:
        with open_store(url) as store:
            load_panel(store, last + timedelta(days=1), "W")
            assert not warnings  # as of the day after the last sale: nothing to say
            load_panel(store, last + timedelta(weeks=3), "W")
            message = warnings[0].getMessage()
            assert "count as zero sales" in message and str(last) in message
            load_panel(store, last + timedelta(weeks=3), "W")  # a report reads the panel for each part:
            load_panel(store, last + timedelta(weeks=3), "D")  # the warning is said once (was repeated)
            assert len(warnings) == 1
            with pytest.raises(InputError, match="more than the 36 days of sales"):
                load_panel(store, last + timedelta(days=38), "D")  # 37 quiet days after 36 days of data
            load_panel(store, last + timedelta(days=37), "D")      # 36 quiet days: still a shop, with a warning
    finally:
        logger.removeHandler(handler)


def test_opens_with_sale(make_shop) -> None:
    """The first period of a history is "opened by a sale" only when nothing came first: not a launch date,
    a return, or a sale in the partial week before the panel's first whole week (A: the data starts on a
    Tuesday, so the first whole week is the next Monday's)."""
    events = [[ts(0, 1), "u", "A", "purchase", 1, 1.0, "o1"], [ts(1, 2), "u", "A", "purchase", 1, 1.0, "o5"],
              [ts(2, 1), "u", "B", "purchase", 1, 1.0, "o2"],
              [ts(2, 1), "u", "C", "return", 1, 1.0, "r1"], [ts(3, 1), "u", "C", "purchase", 1, 1.0, "o3"],
              [ts(3, 1), "u", "D", "purchase", 1, 1.0, "o4"]]
    items = [["D", "x", 1.0, (MONDAY + timedelta(weeks=1)).isoformat()]]
    with open_store(make_shop(events, items=items)) as store:
        p = load_panel(store, MONDAY + timedelta(weeks=4), "W")
    opens = {it: bool(p.opens_with_sale[i]) for it, i in p.index().items()}
    assert opens == {"A": False, "B": True, "C": False, "D": False}


def test_revenue_of_a_purchase_without_price_uses_the_catalogue_price(make_shop) -> None:
    # A's row has no price: its catalogue price (2.5) counts; Z is in no catalogue: its revenue is 0
    url = make_shop([[ts(0, 0, 9), "u1", "A", "purchase", 4, None, "o1"],
                     [ts(0, 0, 10), "u2", "A", "purchase", 1, 3.0, "o2"],
                     [ts(0, 0, 10), "u2", "Z", "purchase", 2, None, "o2"]],
                    items=[["A", "toys", 2.5, None]])
    with open_store(url) as store:
        refresh_sales_series(store)
        daily = {r["item_id"]: r for r in store.read("sales_daily").to_pylist()}
    assert daily["A"]["revenue"] == 4 * 2.5 + 1 * 3.0
    assert daily["Z"]["revenue"] == 0 and daily["Z"]["units"] == 2
