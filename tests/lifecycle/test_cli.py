"""The lifecycle commands end to end on a tiny shop: files, formats, errors, help."""

from __future__ import annotations

import csv
import json
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.store import open_store

from .conftest import MONDAY, weekly_events

runner = CliRunner()


@pytest.fixture()
def shop_db(make_shop) -> str:
    events = (weekly_events("a", [5, 6, 5, 7, 6, 5, 6, 7, 6, 5, 6, 6])
              + weekly_events("b", [0, 0, 9, 0, 0, 0, 12, 0, 0, 0, 8, 0])
              + weekly_events("c", [1, 2, 4, 8, 12, 16, 20, 25, 30, 36, 40, 48]))
    return make_shop(events, items=[["a", "x>y", 3.0, None], ["b", "x>z", 1.0, None], ["c", "w", 2.0, None]],
                     stock=[["a", 4, 7, 1.0], ["c", 500, None, 2.0]])


def test_forecast_writes_exactly_the_agreed_columns(shop_db: str, tmp_path: Path) -> None:
    out = tmp_path / "f.csv"
    res = runner.invoke(app, ["forecast", "--freq", "W", "--horizon", "3", "--as-of",
                              str(MONDAY + timedelta(weeks=12)), "--out", str(out), "--db", shop_db])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == ["item_id", "period_start", "yhat", "yhat_lo", "yhat_hi"]
    assert len(rows) == 9 and {r["period_start"] for r in rows} == {
        str(MONDAY + timedelta(weeks=12 + k)) for k in range(3)}
    assert all(float(r["yhat_lo"]) <= float(r["yhat"]) <= float(r["yhat_hi"]) for r in rows)
    with open_store(shop_db, read_only=True) as store:
        assert store.count("lifecycle_forecasts") == 9


def test_lifecycle_inventory_alerts_and_series(shop_db: str, tmp_path: Path) -> None:
    out = tmp_path / "stages.parquet"
    res = runner.invoke(app, ["lifecycle", "--out", str(out), "--db", shop_db])
    assert res.exit_code == 0, res.output
    assert "growth" in res.output and out.exists()
    res = runner.invoke(app, ["inventory", "--json", "--db", shop_db, "--service-level", "0.9"])
    assert res.exit_code == 0, res.output
    advice = {r["item_id"]: r for r in json.loads(res.stdout)}
    assert advice["a"]["action"] == "reorder" and advice["a"]["lead_time_days"] == 7
    assert advice["b"]["stock"] is None
    res = runner.invoke(app, ["alerts", "--db", shop_db, "--json"])
    assert res.exit_code == 0, res.output
    assert isinstance(json.loads(res.stdout), list)
    res = runner.invoke(app, ["sales-series", "--db", shop_db])
    assert res.exit_code == 0 and "sales_weekly" in res.output


def test_errors_are_one_line_and_exit_2(shop_db: str) -> None:
    res = runner.invoke(app, ["forecast", "--as-of", "last tuesday", "--db", shop_db])
    assert res.exit_code == 2 and "YYYY-MM-DD" in res.output
    res = runner.invoke(app, ["forecast", "--freq", "Q", "--db", shop_db])
    assert res.exit_code == 2 and "unknown frequency" in res.output
    res = runner.invoke(app, ["lifecycle", "--out", "stages.xlsx", "--db", shop_db])
    assert res.exit_code == 2 and ".csv" in res.output


@pytest.mark.parametrize("command", ["lifecycle", "forecast", "inventory", "alerts"])
def test_a_bad_out_name_fails_before_any_work(shop_db: str, command: str) -> None:
    """A file name that cannot be written is refused before computing (and storing) anything."""
    res = runner.invoke(app, [command, "--out", "result.xlsx", "--db", shop_db])
    assert res.exit_code == 2 and ".csv" in res.output
    with open_store(shop_db, read_only=True) as store:
        for table in ("lifecycle_stages", "lifecycle_forecasts", "inventory_advice", "lifecycle_alerts"):
            assert not store.has_table(table), table


@pytest.mark.parametrize("command", ["lifecycle", "forecast", "inventory", "alerts", "sales-series"])
def test_every_command_has_help(command: str) -> None:
    res = runner.invoke(app, [command, "--help"])
    assert res.exit_code == 0 and "--db" in res.output


def test_html_report_has_every_item_and_the_curves(shop_db: str, tmp_path: Path) -> None:
    import re

    out = tmp_path / "r.html"
    res = runner.invoke(app, ["lifecycle-report", "--out", str(out), "--db", shop_db])
    assert res.exit_code == 0, res.output
    html = out.read_text()
    assert re.findall(r"<h2>(.*?)</h2>", html) == ["Lifecycle stages", "Item curves and forecasts", "Every item",
                                                    "Inventory advice", "Alerts"]
    assert "3 items, best sellers first" in html
    assert html.count("<svg") >= 1 + 3  # the stage bar chart and one curve per item (3 per stage at most)
    with open_store(shop_db, read_only=True) as store:
        assert {"lifecycle_stages", "lifecycle_forecasts", "inventory_advice", "lifecycle_alerts"} <= set(store.tables())


def test_dashboard_view_of_one_item(shop_db: str) -> None:
    from shelfwise.errors import UnknownIdError
    from shelfwise.service import lifecycle as svc

    svc.stages(shop_db)
    svc.forecast(shop_db, horizon=2)
    view = svc.item_lifecycle("a", shop_db)
    # the default as-of is the Wednesday after the last sale (a Tuesday), so weeks run Wednesday to
    # Tuesday and hold the Tuesday sales of weeks 1..11; week 0's sale comes before the first whole week
    assert [p["net_units"] for p in view["curve"]] == [6, 5, 7, 6, 5, 6, 7, 6, 5, 6, 6]
    assert view["curve"][0]["period_start"] == MONDAY + timedelta(days=2)
    assert view["stage"]["stage"] in ("maturity", "growth", "decline", "introduction", "dormant")
    assert len(view["forecast"]) == 2 and view["advice"] is None
    counts = svc.stored_stage_counts(shop_db).set_index("category")
    assert counts.loc["(all)", "items"] == 3 and counts.loc["x", "items"] == 2
    with pytest.raises(UnknownIdError):
        svc.item_lifecycle("nope", shop_db)


@pytest.mark.parametrize("name", ["stages.json", "stages.jsonl.gz", "stages.csv.gz"])
def test_result_files_in_every_format_of_the_one_writer(shop_db: str, tmp_path: Path, name: str) -> None:
    from shelfwise.experiment.tables import read_table
    from shelfwise.service import lifecycle as svc

    df = svc.stages(shop_db, out=tmp_path / name)
    back = read_table(tmp_path / name)
    assert back["item_id"].tolist() == df["item_id"].tolist() and back["launched"].iloc[0].startswith("2024-")


def test_an_as_of_far_past_the_data_is_refused_with_a_clear_message(shop_db: str) -> None:
    """12 weeks of sales, then an as-of a year later: more silence than data is an input error (exit 2)."""
    for command in ("lifecycle", "forecast", "alerts"):
        res = runner.invoke(app, [command, "--as-of", str(MONDAY + timedelta(weeks=64)), "--db", shop_db])
        assert res.exit_code == 2 and "after the store's last sale" in res.output, (command, res.output)
