"""Order risk used the way a shop's developer would: repeated reasons, empty checks, every kind of --out."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.experiment.tables import read_table
from shelfwise.risk.model import RiskConfig, precision_at
from shelfwise.service import risk as svc


@pytest.fixture()
def shop(tmp_path: Path, store):
    """Customer r returns a lot, then places a big first-ever order; nobody has a price."""
    d = tmp_path / "shop"
    d.mkdir()
    ev = []
    for day in range(1, 11):
        ev.append((f"2024-01-{day:02d}T10:00:00", "a", "x", "purchase", 2, f"o{day}"))
    for day in range(1, 6):   # returns of r, each under its own id (as Online Retail's C invoices)
        ev.append((f"2024-01-{day:02d}T12:00:00", "r", "x", "return", 3, f"C{day}"))
    ev.append(("2024-01-12T10:00:00", "r", "x", "purchase", 60, "big"))
    pd.DataFrame({"item_id": ["x"]}).to_csv(d / "items.csv", index=False)     # no title, no price column
    pd.DataFrame(ev, columns=["timestamp", "user_id", "item_id", "event", "quantity", "order_id"]).to_csv(
        d / "events.csv", index=False)
    ingest(d, store)
    return store


def test_each_reason_is_given_once(shop):
    scored = svc.score(shop, config=RiskConfig(min_positives=1000), keep=False).set_index("order_id")
    reasons = scored.loc["big", "reasons"].split("; ")
    # return rate and return count used to write the same "return history" text twice, as did
    # new account and new account x value
    assert len(reasons) == len(set(reasons)) and any(r.startswith("return history") for r in reasons)
    assert any(r.startswith("bulk") for r in reasons)


def test_check_of_no_orders_is_quiet_and_null(shop):
    scored = svc.score(shop, orders_since="2030-01-01", keep=False)
    assert scored.empty
    with warnings.catch_warnings():
        warnings.simplefilter("error")     # numpy's "Mean of empty slice" used to reach the terminal
        res = svc.check(scored)
    assert res["orders"] == 0 and math.isnan(res["peers"]["shelfwise"]["precision_at_top"])
    assert math.isnan(precision_at(pd.Series([], dtype=bool).to_numpy(), pd.Series([], dtype=float).to_numpy()))


@pytest.mark.parametrize("name", ["r.csv", "r.csv.gz", "r.parquet", "r.jsonl", "r.json", "sub/dir/r.csv"])
def test_out_follows_the_name(shop, tmp_path: Path, name: str):
    out = tmp_path / name
    scored = svc.score(shop, out=out, keep=False)
    got = read_table(out)
    assert list(got.columns) == svc.FILE_COLUMNS and len(got) == len(scored)


def test_bad_out_fails_before_anything_is_stored(shop, tmp_path: Path):
    folder = tmp_path / "adir"
    folder.mkdir()
    for out, words in ((tmp_path / "r.txt", "'.txt'"), (folder, "is a folder")):
        with pytest.raises(InputError, match=words):
            svc.score(shop, out=out)
    assert not shop.has_table("order_risk") and not (tmp_path / "r.txt").exists()


def test_cli_json_is_strict_with_an_empty_check(shop):
    url = shop.url
    shop.close()
    res = CliRunner().invoke(app, ["risk", "--db", url, "--json", "--check", "--orders-since", "2030-01-01"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert got["orders"] == 0 and got["check"]["peers"]["shelfwise"]["precision_at_top"] is None


@pytest.mark.parametrize("threshold", [float("nan"), -0.1, 1.5])
def test_alert_threshold_outside_scores_is_refused(shop, threshold: float):
    with pytest.raises(InputError, match="alert threshold"):
        svc.score(shop, alert_threshold=threshold)
    assert not shop.has_table("order_risk_alerts")


def test_orders_since_is_checked_like_every_date(shop):
    # "" used to pass as NaT (every order, silently); a time zone failed later against naive order times
    with pytest.raises(InputError, match="--orders-since is empty"):
        svc.score(shop, orders_since=" ", keep=False)
    with pytest.raises(InputError, match="--orders-since 'soon' is not a date"):
        svc.score(shop, orders_since="soon", keep=False)
    naive = svc.score(shop, orders_since="2000-01-01T00:00:00", keep=False)
    aware = svc.score(shop, orders_since="2000-01-01T02:00:00+02:00", keep=False)
    assert len(aware) == len(naive) > 0


# --- second robustness pass (each failed on the code before it) -------------------------------------------


def test_a_run_that_scores_no_orders_clears_the_stored_alerts(shop):
    # the tables used to be written only when something was scored, so yesterday's alerts stayed in
    # order_risk_alerts (which the dashboard reads) as if they were today's
    svc.score(shop, alert_threshold=0.0)
    assert shop.count("order_risk_alerts") > 0 and shop.count("order_risk") > 0
    assert svc.score(shop, orders_since="2030-01-01", alert_threshold=0.0).empty
    assert shop.count("order_risk") == 0 and shop.count("order_risk_alerts") == 0
    assert svc.alerts(shop) == []


def test_check_figures_without_returns_are_undefined(shop):
    # with no returned order average precision is undefined (it read 0.0, and the ratios 0.0: "infinitely
    # worse than the baseline"); with no orders the base rate is undefined too
    scored = svc.score(shop, keep=False).assign(returned=False)
    res = svc.check(scored)
    assert res["orders"] > 0 and res["returned"] == 0 and res["base_rate"] == 0.0
    assert all(math.isnan(p["average_precision"]) for p in res["peers"].values())
    assert math.isnan(res["ratio_average_precision"])
    empty = svc.check(scored.iloc[:0])
    assert math.isnan(empty["base_rate"]) and math.isnan(empty["ratio_precision_at_top"])


def test_ratio_against_a_zero_baseline_is_undefined_not_a_billion():
    # the baseline's 0 was replaced by 1e-9, so one hit read as "1,000,000,000 x the baseline"
    n = 100
    scored = pd.DataFrame({"returned": [True] + [False] * (n - 1), "score": [1.0] + [0.1] * (n - 1),
                           "qty": [1.0] + [50.0] * (n - 1), "max_qty_ratio": [0.0] + [1.0] * (n - 1),
                           "ts": pd.Timestamp("2024-01-01")})
    res = svc.check(scored)
    assert res["peers"]["shelfwise"]["precision_at_top"] == 1.0
    assert res["peers"]["quantity (units in order)"]["precision_at_top"] == 0.0
    assert math.isnan(res["ratio_precision_at_top"])
    assert res["ratio_average_precision"] == pytest.approx(1.0 / res["peers"]["quantity (units in order)"]
                                                           ["average_precision"], rel=1e-2)


def test_cli_check_without_returns_prints_null(shop, tmp_path: Path):
    url = shop.url
    shop.close()
    res = CliRunner().invoke(app, ["risk", "--db", url, "--json", "--check", "--orders-since", "2024-01-12"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert got["check"]["returned"] == 0 and got["check"]["ratio_average_precision"] is None
    assert got["check"]["peers"]["shelfwise"]["average_precision"] is None
