"""The lifecycle commands on odd input, as a shop's developer would meet it: bad dates, bounds, paths,
broken stock rows, stores with nothing but returns. Each case is a defect that was found and fixed."""

from __future__ import annotations

import json
import logging
import math
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.errors import InputError
from shelfwise.lifecycle.alerts import AlertRules, return_alerts
from shelfwise.lifecycle.forecast import ForecastConfig
from shelfwise.lifecycle.inventory import InventoryPolicy, advise
from shelfwise.service import lifecycle as svc

from .conftest import MONDAY, ts, weekly_events
from .test_inventory import Z80, _forecast

runner = CliRunner()


@pytest.fixture()
def shop_db(make_shop) -> str:
    events = (weekly_events("a", [5, 6, 5, 7, 6, 5, 6, 7, 6, 5, 6, 6])
              + weekly_events("b", [0, 0, 9, 0, 0, 0, 12, 0, 0, 0, 8, 0]))
    return make_shop(events, items=[["a", "x", 3.0, None], ["b", "x", 1.0, None]])


@pytest.fixture()
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening the store counts as starting the work: a refusal must come before it."""
    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the store was opened: the input was not checked before the work")

    monkeypatch.setattr(svc, "open_store", refuse)




# --- --as-of -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["2024-05-15xyz", "2024-05-15T10:00", "2024-05-15 23:59:59",
                                   "2024-05-15T00:00:00+02:00"])
def test_as_of_with_trailing_text_or_a_time_of_day_is_refused(value: str) -> None:
    """"2024-05-15xyz" used to be read as 2024-05-15 and a time of day silently dropped (events before
    10:00 on the 15th were left out though the user asked for them)."""
    with pytest.raises(InputError) as exc:
        svc.parse_as_of(value)
    assert "--as-of" in str(exc.value) and value.strip() in str(exc.value)


@pytest.mark.parametrize("value", ["2024-05-15", " 2024-05-15 ", "2024-05-15T00:00", "2024-05-15 00:00:00",
                                   "2024-05-15T00:00:00Z"])
def test_as_of_midnight_is_the_same_day(value: str) -> None:
    assert svc.parse_as_of(value) == date(2024, 5, 15)


# --- forecast bounds -------------------------------------------------------------------------------------

@pytest.mark.parametrize("freq, horizon", [("W", 1_000_000), ("W", 157), ("D", 1096)])
def test_a_horizon_beyond_three_years_is_refused_before_any_work(no_work: None, freq: str, horizon: int) -> None:
    """--horizon 1000000 used to compute for minutes and end in an OverflowError traceback."""
    with pytest.raises(InputError) as exc:
        svc.forecast("duckdb:///unused.duckdb", freq, horizon)
    assert "--horizon" in str(exc.value) and str(horizon) in str(exc.value)


@pytest.mark.parametrize("jobs", [0, -2])
def test_jobs_must_be_positive_or_minus_one(jobs: int) -> None:
    """--jobs 0 used to end in numpy's "number sections must be larger than 0" traceback."""
    with pytest.raises(InputError) as exc:
        ForecastConfig(n_jobs=jobs).check()
    assert "--jobs" in str(exc.value) and str(jobs) in str(exc.value)
    ForecastConfig(n_jobs=-1).check()  # all cores, as joblib reads it


def test_a_level_given_as_a_fraction_is_refused_with_a_hint(no_work: None) -> None:
    """--level 0.8 (the --service-level habit) used to give a 0.8 % interval without a word."""
    with pytest.raises(InputError) as exc:
        svc.forecast("duckdb:///unused.duckdb", "W", 4, level=0.8)
    assert "--level" in str(exc.value) and "80" in str(exc.value)


def test_unknown_frequency_message_names_the_flag_and_the_week_anchor() -> None:
    """The message used to promise weeks "starting Monday"; they start on the --as-of weekday."""
    from shelfwise.lifecycle.series import check_freq

    with pytest.raises(InputError) as exc:
        check_freq("M")
    msg = str(exc.value)
    assert "--freq" in msg and "'M'" in msg and "starting Monday" not in msg and "--as-of weekday" in msg


# --- inventory bounds and the stock table ----------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("lead_time_days", math.nan), ("lead_time_days", math.inf),
                                          ("lead_time_days", 366.0), ("review_days", math.nan),
                                          ("review_days", math.inf), ("review_days", 0.0),
                                          ("service_level", math.nan)])
def test_inventory_policy_bounds_name_the_flag_and_value(no_work: None, field: str, value: float) -> None:
    """nan or inf lead / review days used to end in a traceback (math.ceil of nan) after loading."""
    policy = InventoryPolicy(**{field: value})
    with pytest.raises(InputError) as exc:
        svc.inventory("duckdb:///unused.duckdb", policy=policy)
    flag = "--" + field.replace("_", "-")
    assert flag in str(exc.value) and str(value) in str(exc.value)


INVENTORY_LOG = "shelfwise.lifecycle.inventory"


def test_broken_stock_lead_times_fall_back_to_the_default_with_a_warning(log_records) -> None:
    """A negative lead time in the stock table used to be taken as it is: reorder point 0 for an item
    selling 10 a week with 5 on hand ("ok"); an absurd one stretched the forecast for centuries."""
    stock = pd.DataFrame({"item_id": ["x", "y"], "stock": [5.0, 5.0], "lead_time_days": [-3.0, 100000.0],
                          "unit_cost": [1.0, 1.0]})
    with log_records(INVENTORY_LOG) as records:
        out = advise(_forecast({"x": 10.0, "y": 10.0}), 7, 80.0, InventoryPolicy(), stock=stock).set_index("item_id")
    assert out.loc["x", "lead_time_days"] == 14.0 and out.loc["y", "lead_time_days"] == 14.0
    assert out.loc["x", "demand_lead_time"] == pytest.approx(20.0) and out.loc["x", "action"] == "reorder"
    messages = " ".join(r.getMessage() for r in records)
    assert "lead_time_days" in messages and "-3" in messages and "x" in messages


def test_negative_stock_is_a_backorder_with_no_cover() -> None:
    """Stock -5 used to read "-0.5 weeks of cover"; it is 5 units owed: no cover, order them too."""
    stock = pd.DataFrame({"item_id": ["x"], "stock": [-5.0], "lead_time_days": [None], "unit_cost": [1.0]})
    out = advise(_forecast({"x": 10.0}), 7, 80.0, InventoryPolicy(), stock=stock).set_index("item_id")
    assert out.loc["x", "weeks_of_cover"] == 0.0
    assert out.loc["x", "order_qty"] == out.loc["x", "order_up_to"] + 5 and out.loc["x", "action"] == "reorder"
    assert out.loc["x", "stockout_risk"] == 1.0


def test_stock_rows_of_items_without_sales_are_reported(log_records) -> None:
    """Stock for an item with no sales before the as-of date used to vanish without a word."""
    stock = pd.DataFrame({"item_id": ["x", "ghost"], "stock": [5.0, 7.0], "lead_time_days": [None, None],
                          "unit_cost": [1.0, 1.0]})
    with log_records(INVENTORY_LOG) as records:
        out = advise(_forecast({"x": 10.0}), 7, 80.0, InventoryPolicy(), stock=stock)
    assert out["item_id"].tolist() == ["x"]
    assert any("ghost" in r.getMessage() and r.levelno == logging.WARNING for r in records)


# --- --out and the report ------------------------------------------------------------------------------

def test_an_out_whose_parent_is_a_file_fails_before_any_work(no_work: None, tmp_path: Path) -> None:
    """--out f.csv/x.csv (f.csv a file) used to compute everything, then end in FileExistsError."""
    (tmp_path / "f.csv").write_text("x\n")
    for call in (lambda o: svc.stages("duckdb:///unused.duckdb", out=o),
                 lambda o: svc.forecast("duckdb:///unused.duckdb", out=o),
                 lambda o: svc.inventory("duckdb:///unused.duckdb", out=o),
                 lambda o: svc.alerts("duckdb:///unused.duckdb", out=o)):
        with pytest.raises(InputError) as exc:
            call(tmp_path / "f.csv" / "x.csv")
        assert "f.csv" in str(exc.value) and "not a folder" in str(exc.value)


@pytest.mark.parametrize("name", ["report_dir", "report.txt", "report"])
def test_report_out_is_checked_before_any_work(no_work: None, tmp_path: Path, name: str) -> None:
    """lifecycle-report --out FOLDER used to compute everything, then end in IsADirectoryError."""
    (tmp_path / "report_dir").mkdir()
    with pytest.raises(InputError) as exc:
        svc.report("duckdb:///unused.duckdb", out=tmp_path / name)
    assert ".html" in str(exc.value)


def test_report_max_items_must_not_be_negative(no_work: None, tmp_path: Path) -> None:
    """--max-items -1 used to drop the last item from the table (pandas head(-1))."""
    with pytest.raises(InputError) as exc:
        svc.report("duckdb:///unused.duckdb", out=tmp_path / "r.html", max_item_rows=-1)
    assert "--max-items" in str(exc.value) and "-1" in str(exc.value)


def test_report_cli_refuses_a_folder_with_exit_2(shop_db: str, tmp_path: Path) -> None:
    res = runner.invoke(app, ["lifecycle-report", "--out", str(tmp_path), "--db", shop_db])
    assert res.exit_code == 2 and "folder" in res.output, res.output


# --- alerts ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("days", [1096, 10**6])
def test_alert_days_beyond_three_years_are_refused(no_work: None, days: int) -> None:
    """--days 1000000 used to end in an OverflowError traceback (a date before year 1)."""
    with pytest.raises(InputError) as exc:
        svc.alerts("duckdb:///unused.duckdb", days=days)
    assert "--days" in str(exc.value) and str(days) in str(exc.value)


@pytest.mark.parametrize("field, value", [("level", math.nan), ("level", 100.0), ("min_units", math.inf),
                                          ("return_p", 0.0), ("return_p", math.nan), ("price_ratio", 0.5),
                                          ("bulk_factor", -1.0), ("min_returns", -1)])
def test_alert_thresholds_out_of_range_are_refused(no_work: None, field: str, value: float) -> None:
    with pytest.raises(InputError) as exc:
        svc.alerts("duckdb:///unused.duckdb", rules=AlertRules(**{field: value}))
    assert field in str(exc.value) and str(value) in str(exc.value)


def test_return_alert_evidence_is_strict_json_when_nothing_was_bought(make_shop) -> None:
    """An item with returns but no purchase in the window used to carry "bought_units": NaN in its
    evidence, which is not JSON."""
    from shelfwise.data.store import open_store

    events = [[ts(w, d), "u1", "a", "purchase", 1, 2.0, f"o{w}{d}"] for w in range(12) for d in range(7)]
    events += [[ts(11, d), "u2", "r", "return", 1, 2.0, f"r{d}"] for d in range(3)]
    url = make_shop(events)
    with open_store(url) as store:
        rows = return_alerts(store, MONDAY + timedelta(weeks=12), AlertRules())

    def no_nan(token: str) -> None:
        raise ValueError(f"{token} in evidence")

    assert [r["item_id"] for r in rows] == ["r"]
    evidence = json.loads(str(rows[0]["evidence"]), parse_constant=no_nan)
    assert evidence["bought_units"] == 0.0 and evidence["purchase_lines"] == 0


# --- stores with nothing but returns --------------------------------------------------------------------

def test_an_item_with_only_returns_in_a_shop_without_sales_is_dormant(make_shop) -> None:
    """With no purchase at all every week counted as a shop closure, so the item had "0 weeks" of history
    and was "maturity: too little history to see a trend (0 weeks)"."""
    events = [[ts(w), "u1", "a", "return", 1, 2.0, f"r{w}"] for w in (0, 1)]
    events += [[ts(9), "u1", "b", "return", 1, 2.0, "r9"]]
    url = make_shop(events)
    df = svc.stages(url, MONDAY + timedelta(weeks=10)).set_index("item_id")
    assert df.loc["a", "stage"] == "dormant" and df.loc["a", "history_weeks"] >= 8
    assert df.loc["a", "selling_weeks"] == 0


def test_reasons_count_one_week_in_the_singular(make_shop) -> None:
    """ "too little history to see a trend (1 weeks)" """
    url = make_shop(weekly_events("a", [3, 4]))
    df = svc.stages(url, MONDAY + timedelta(weeks=2))
    assert df["reason"].tolist() == ["too little history to see a trend (1 week)"]


def test_a_store_with_less_than_a_week_of_sales_says_so(make_shop) -> None:
    """With one day of sales and no --as-of the message used to blame an --as-of nobody gave."""
    url = make_shop([[ts(0), "u1", "a", "purchase", 1, 2.0, "o1"]])
    with pytest.raises(InputError) as exc:
        svc.stages(url)
    assert "1 day of sales" in str(exc.value) and "load more events" in str(exc.value)


def test_an_item_that_never_sold_has_no_peak_week(make_shop) -> None:
    """A catalogue item with a launch date and no sale used to report a peak week (its first week)."""
    events = weekly_events("a", [5, 6, 5, 7, 6, 5, 6, 7, 6, 5])
    url = make_shop(events, items=[["g", "x", 1.0, str(MONDAY - timedelta(weeks=30))]])
    df = svc.stages(url, MONDAY + timedelta(weeks=10)).set_index("item_id")
    assert df.loc["g", "stage"] == "dormant" and df.loc["g", "selling_weeks"] == 0
    assert df.loc["g", "peak_week"] is None and df.loc["a", "peak_week"] is not None


def test_alerts_limit_below_one_is_a_usage_error(shop_db: str) -> None:
    """--limit -1 used to hide the last alert of each kind (head(-1)) and print "... N more rows"."""
    res = runner.invoke(app, ["alerts", "--limit", "-1", "--db", shop_db])
    assert res.exit_code == 2 and "--limit" in res.output, res.output


@pytest.mark.parametrize("horizon, level", [(0, 80.0), (-1, 80.0), (4, 0.8), (4, 100.0)])
def test_launch_prior_checks_horizon_and_level_first(no_work: None, horizon: int, level: float) -> None:
    """horizon 0 used to end in "only 0 of 3 neighbours have ... 0 weeks of sales", blaming the neighbours."""
    with pytest.raises(InputError) as exc:
        svc.launch_prior(["a", "b", "c"], "duckdb:///unused.duckdb", horizon=horizon, level=level)
    assert ("--horizon" if horizon < 1 else "level") in str(exc.value) and "neighbours" not in str(exc.value)


def test_a_bad_as_of_is_refused_before_the_store_is_opened(no_work: None) -> None:
    for call in (svc.stages, svc.forecast, svc.inventory, svc.alerts, svc.report):
        with pytest.raises(InputError, match="2024-05-15xyz"):
            call("duckdb:///unused.duckdb", as_of="2024-05-15xyz")


@pytest.mark.parametrize("stage", ["maturity", "decline"])
def test_stock_without_expected_demand_says_so_not_inf_weeks(stage: str) -> None:
    """An item forecast to sell nothing with stock on hand used to read "inf weeks of cover"."""
    fc = _forecast({"x": 0.0}, sigma=0.0)
    stock = pd.DataFrame({"item_id": ["x"], "stock": [10.0], "lead_time_days": [None], "unit_cost": [1.0]})
    stages = pd.DataFrame({"item_id": ["x"], "stage": [stage]})
    out = advise(fc, 7, 80.0, InventoryPolicy(), stages=stages, stock=stock).iloc[0]
    assert "inf" not in out["reason"] and "no expected demand" in out["reason"], out["reason"]
    assert out["action"] == ("overstock" if stage == "maturity" else "clearance")


def test_no_stock_and_no_expected_demand_is_not_a_reorder_of_nothing() -> None:
    """Stock 0 at reorder point 0 used to say "reorder" with an order quantity of 0."""
    fc = _forecast({"x": 0.0}, sigma=0.0)
    stock = pd.DataFrame({"item_id": ["x"], "stock": [0.0], "lead_time_days": [None], "unit_cost": [1.0]})
    stages = pd.DataFrame({"item_id": ["x"], "stage": ["maturity"]})
    out = advise(fc, 7, 80.0, InventoryPolicy(), stages=stages, stock=stock).iloc[0]
    assert out["order_qty"] == 0 and out["action"] == "ok" and out["reason"] == "no stock and no expected demand"


def test_cli_summaries_count_one_in_the_singular(make_shop, tmp_path: Path) -> None:
    """ "1 items forecast 1 periods", "wrote 1 items" """
    url = make_shop(weekly_events("a", [5, 6, 5, 7, 6, 5, 6, 7, 6, 5]))
    res = runner.invoke(app, ["forecast", "--horizon", "1", "--out", str(tmp_path / "f.csv"), "--db", url])
    assert res.exit_code == 0 and "1 item forecast 1 period from" in res.output and "wrote 1 row to" in res.output
    res = runner.invoke(app, ["lifecycle", "--out", str(tmp_path / "s.csv"), "--db", url])
    assert res.exit_code == 0 and "wrote 1 item to" in res.output, res.output


def test_a_file_system_refusal_at_write_time_is_one_clear_error(shop_db: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A place that cannot be written (read-only, /proc) used to end in a PermissionError or
    FileNotFoundError traceback after all the work."""
    def refuse(_df: pd.DataFrame, path: object, *args: object, **kw: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_csv", refuse)   # what the one table writer calls for .csv
    with pytest.raises(InputError) as exc:
        svc.stages(shop_db, out=tmp_path / "stages.csv")
    assert "stages.csv" in str(exc.value) and "Permission denied" in str(exc.value)
