"""Pricing used the way a shop's developer would: odd bounds, one price only, every kind of --out."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.experiment.tables import read_table
from shelfwise.pricing.elasticity import _title_kind
from shelfwise.pricing.optimize import PriceBounds, suggest
from shelfwise.service import pricing as svc


@pytest.fixture()
def shop(tmp_path: Path, store):
    """Item a with strongly elastic demand and moving prices; item one sold at a single price only."""
    d = tmp_path / "shop"
    d.mkdir()
    rng = np.random.default_rng(0)
    ev = []
    for day in pd.date_range("2024-01-01", periods=120, freq="D"):
        p = 10 * np.exp(rng.uniform(-0.25, 0.25))
        q = max(1, int(round(20 * (p / 10) ** -2.5 * np.exp(rng.normal(0, 0.1)))))
        ev.append((day.isoformat(), f"u{rng.integers(30)}", "a", "purchase", q, round(p, 2), f"o{len(ev)}"))
        ev.append((day.isoformat(), f"u{rng.integers(30)}", "one", "purchase", 2, 4.0, f"o{len(ev)}"))
    pd.DataFrame({"item_id": ["a", "one"], "title": [None, "Single price MUG"]}).to_csv(d / "items.csv", index=False)
    pd.DataFrame(ev, columns=["timestamp", "user_id", "item_id", "event", "quantity", "price", "order_id"]).to_csv(
        d / "events.csv", index=False)
    ingest(d, store)
    return store


def test_one_price_item_takes_its_category(shop):
    res = svc.suggestions(shop, keep=False)
    el = res["items"].set_index("item_id")
    assert math.isnan(el.loc["one", "raw"]) and el.loc["one", "source"].startswith("category")
    sug = res["suggestions"].set_index("item_id")
    assert set(sug.index) == {"a", "one"} and sug["suggested_price"].notna().all()
    assert sug.loc["a", "suggested_price"] < sug.loc["a", "price"]    # elastic: the margin optimum is lower


@pytest.mark.parametrize("bounds, field", [
    (PriceBounds(cost_share=float("nan")), "cost_share"),     # used to cut every price by max_down
    (PriceBounds(cost_share=-1.0), "cost_share"),
    (PriceBounds(max_up=float("inf")), "max_up"),             # used to keep every price, silently
    (PriceBounds(min_margin=float("nan")), "min_margin"),
])
def test_bounds_that_mean_nothing_are_refused(shop, bounds: PriceBounds, field: str):
    with pytest.raises(InputError, match=field):
        svc.suggestions(shop, bounds, keep=False)


@pytest.mark.parametrize("days", [0, -5])
def test_recent_days_below_one_is_refused(shop, days: int):
    # -5 used to answer "0 suggestions" and 0 to anchor demand on the last second of sales only
    with pytest.raises(InputError, match="recent_days"):
        svc.suggestions(shop, recent_days=days, keep=False)


@pytest.mark.parametrize("name", ["p.csv", "p.csv.gz", "p.parquet", "p.jsonl", "p.json", "sub/dir/p.csv"])
def test_out_follows_the_name(shop, tmp_path: Path, name: str):
    out = tmp_path / name
    svc.suggestions(shop, out=out, keep=False)
    got = read_table(out)
    assert list(got.columns) == svc.FILE_COLUMNS and set(got["item_id"]) == {"a", "one"}


def test_bad_out_fails_before_anything_is_stored(shop, tmp_path: Path):
    folder = tmp_path / "adir"
    folder.mkdir()
    for out, words in ((tmp_path / "p.txt", "'.txt'"), (folder, "is a folder")):
        with pytest.raises(InputError, match=words):
            svc.suggestions(shop, out=out)
    assert not shop.has_table("price_suggestions") and not (tmp_path / "p.txt").exists()


def test_cli_json_is_strict(shop):
    url = shop.url
    shop.close()
    res = CliRunner().invoke(app, ["pricing", "--db", url, "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert got["suggestions"] == 2
    res = CliRunner().invoke(app, ["pricing", "--db", url, "--cost-share", "nan"])
    assert res.exit_code == 2 and "cost_share" in res.output and "Traceback" not in res.output
    assert "(option --cost-share)" in res.output   # the flag the user typed, not only the service's field
    res = CliRunner().invoke(app, ["pricing", "--db", url, "--recent-days", "0"])
    assert res.exit_code == 2 and "(option --recent-days)" in res.output


def test_check_with_a_bad_date_is_one_line_before_any_work(shop):
    with pytest.raises(InputError, match="'notadate' is not a date"):
        svc.check(shop, "notadate")
    url = shop.url
    shop.close()
    res = CliRunner().invoke(app, ["pricing", "--db", url, "--check", "notadate"])
    assert res.exit_code == 2 and "not a date" in res.output and "Traceback" not in res.output
    from shelfwise.data.store import open_store

    with open_store(url) as st:
        assert not st.has_table("price_suggestions")


def test_a_check_without_cases_reports_undefined_not_zero(shop):
    """A split after the last sale leaves no price change to check: the errors were null but improvement,
    cases better and direction accuracy read 0.0, as if the model were measured and no better."""
    res = svc.check(shop, "2030-01-01")
    assert res["cases"] == 0
    for run in ("raw", "market_adjusted"):
        assert res[run]["improvement"] is None and res[run]["cases_better"] is None
    assert res["direction_accuracy"] is None and res["elasticity_median"] is None


def _one_item(cost: float | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    el = pd.DataFrame({"item_id": ["a"], "category": "k", "elasticity": [-2.5], "lo90": [-2.8], "hi90": [-2.2],
                       "source": "item"})
    base = pd.DataFrame({"item_id": ["a"], "price": [10.0], "units": [100.0]})
    if cost is not None:
        base["cost"] = cost
    return el, base


@pytest.mark.parametrize("bounds, field", [
    (PriceBounds(cost_share=float("nan")), "cost_share"),
    (PriceBounds(max_down=1.0), "max_down"),
    (PriceBounds(grid=1), "grid"),
])
def test_library_suggest_checks_its_bounds(bounds: PriceBounds, field: str):
    # only the service checked them: suggest() itself cut the price by max_down for a NaN cost share
    with pytest.raises(InputError, match=field):
        suggest(*_one_item(), bounds)


def test_negative_item_cost_is_not_priced_against():
    # a cost of -5 made the margin (p + 5) q(p): the optimum moved as if every unit were subsidised
    neg = suggest(*_one_item(cost=-5.0), PriceBounds(max_up=0.3, max_down=0.3, cost_share=0.7, grid=6001)).iloc[0]
    share = suggest(*_one_item(), PriceBounds(max_up=0.3, max_down=0.3, cost_share=0.7, grid=6001)).iloc[0]
    assert neg["suggested_price"] == share["suggested_price"]
    assert "70% of price" in neg["cost_basis"] and "-5" in neg["cost_basis"]
    assert suggest(*_one_item(cost=0.0)).iloc[0]["cost_basis"] == "item cost"   # free goods do exist


@pytest.mark.parametrize("title, kind", [
    ("PINK TEA TOWELS SET OF 2", "SET"),      # was "2"
    ("JUMBO BAG 12", "BAG"),                  # was "12"
    ("Ceramic mug, large.", "LARGE"),
    ("100", "(none)"),
    (None, "(none)"),
])
def test_title_kind_skips_counts_and_linking_words(title, kind: str):
    assert _title_kind(title) == kind


# --- second robustness pass (each failed on the code before it) -------------------------------------------


@pytest.mark.parametrize("days", [10**10, 10**30])
def test_a_recent_window_longer_than_any_history_is_all_history(shop, days: int):
    # a window past what a date can hold (about 2.7 million years) ended in an OverflowError traceback
    far = svc.suggestions(shop, recent_days=days, keep=False)["suggestions"]
    assert_frame = pd.testing.assert_frame_equal
    assert_frame(far, svc.suggestions(shop, recent_days=100_000, keep=False)["suggestions"])
    res = CliRunner().invoke(app, ["pricing", "--db", shop.url, "--recent-days", str(days), "--json"])
    assert res.exit_code == 0 and "Traceback" not in res.output, res.output


def test_a_run_without_suggestions_clears_the_stored_ones(shop):
    # price_suggestions was replaced only when there were suggestions, so a run that had none (here: the
    # catalog is gone, so no sold item is a product to price) left the last run's prices in the store
    assert len(svc.suggestions(shop)["suggestions"]) > 0 and shop.count("price_suggestions") > 0
    shop.execute("DELETE FROM items")
    assert svc.suggestions(shop)["suggestions"].empty
    assert shop.count("price_suggestions") == 0
    assert list(shop.read_pandas("price_suggestions").columns)[:3] == ["item_id", "category", "price"]


def test_no_price_variation_anywhere_is_an_assumption_not_an_estimate(tmp_path: Path, store):
    # every item sold at one price: the elasticity of -1 is the prior, not measured; it was labelled
    # "category (...)" and reported as the median elasticity of -1.0
    d = tmp_path / "flat"
    d.mkdir()
    ev = [(f"2024-01-{day:02d}T10:00:00", "u1", item, "purchase", 1, 5.0, f"o{item}{day}")
          for day in range(1, 29) for item in ("a", "b")]
    pd.DataFrame({"item_id": ["a", "b"], "category": ["Mugs", "Mugs"]}).to_csv(d / "items.csv", index=False)
    pd.DataFrame(ev, columns=["timestamp", "user_id", "item_id", "event", "quantity", "price", "order_id"]).to_csv(
        d / "events.csv", index=False)
    ingest(d, store)
    el = svc.suggestions(store, keep=False)["items"]
    assert el["raw"].isna().all() and el["source"].str.startswith("assumed").all()
    url = store.url
    store.close()
    res = CliRunner().invoke(app, ["pricing", "--db", url, "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)
    assert got["items_with_own_estimate"] == 0 and got["median_elasticity"] is None
    # and the table text said pandas' "Empty DataFrame / Columns: [] / Index: []" for the categories
    res = CliRunner().invoke(app, ["pricing", "--db", url])
    assert res.exit_code == 0 and "Empty DataFrame" not in res.output, res.output
    assert "no category has an estimate" in res.output
