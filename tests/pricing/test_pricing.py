"""Pricing on synthetic demand with a known elasticity, and the margin optimum in closed form."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.pricing.elasticity import ElasticityConfig, item_elasticities
from shelfwise.pricing.optimize import PriceBounds, suggest
from shelfwise.service import pricing as svc


def _cells(e: float, n: int = 60, seed: int = 0, item: str = "a") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    weeks = pd.date_range("2024-01-01", periods=n, freq="W-MON")
    price = 10 * np.exp(rng.uniform(-0.3, 0.3, n))
    units = np.round(200 * (price / 10) ** e * np.exp(rng.normal(0, 0.1, n))) + 1
    return pd.DataFrame({"item_id": item, "week": weeks, "anonymous": False, "tier": "pack", "units": units,
                         "price": price, "lines": 5})


def test_recovers_known_elasticity_with_interval():
    cells = pd.concat([_cells(-2.0, item="a"), _cells(-0.5, seed=1, item="b"), _cells(-1.2, seed=2, item="c")])
    el = item_elasticities(cells, {"a": "k", "b": "k", "c": "k"}).set_index("item_id")
    assert el.loc["a", "raw"] == pytest.approx(-2.0, abs=0.15)
    assert el.loc["b", "raw"] == pytest.approx(-0.5, abs=0.15)
    for item, true in (("a", -2.0), ("b", -0.5), ("c", -1.2)):
        assert el.loc[item, "lo90"] < true < el.loc[item, "hi90"]


def test_item_without_variation_borrows_its_category():
    flat = _cells(-1.0, item="flat")
    flat["price"] = 10.0
    cells = pd.concat([_cells(-2.0, item="a"), _cells(-2.2, seed=3, item="b"), flat])
    el = item_elasticities(cells, {"a": "k", "b": "k", "flat": "k"}, ElasticityConfig()).set_index("item_id")
    assert np.isnan(el.loc["flat", "raw"]) and el.loc["flat", "source"].startswith("category")
    assert el.loc["flat", "elasticity"] == pytest.approx(-2.1, abs=0.3)


def test_margin_optimum_matches_closed_form_and_respects_bounds():
    el = pd.DataFrame({"item_id": ["a", "b"], "category": "k", "elasticity": [-2.5, -0.3], "lo90": [-2.8, -0.6],
                       "hi90": [-2.2, 0.1], "source": "item"})
    base = pd.DataFrame({"item_id": ["a", "b"], "price": [10.0, 10.0], "units": [100.0, 100.0]})
    wide = suggest(el, base, PriceBounds(max_up=0.3, max_down=0.3, cost_share=0.7, grid=6001)).set_index("item_id")
    # constant elasticity: p* = c e / (1 + e) = 7 * 2.5 / 1.5
    assert wide.loc["a", "suggested_price"] == pytest.approx(7 * 2.5 / 1.5, abs=0.01)
    assert wide.loc["a", "units_change"] == pytest.approx((wide.loc["a", "suggested_price"] / 10) ** -2.5 - 1)
    assert wide.loc["b", "suggested_price"] == 10.0 and wide.loc["b", "reason"].startswith("kept")  # interval has 0
    tight = suggest(el, base, PriceBounds(max_up=0.05, cost_share=0.7)).set_index("item_id")
    assert tight.loc["a", "suggested_price"] == pytest.approx(10.5)


@pytest.fixture(params=["duckdb", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path):
    """Pricing's SQL runs on both backends."""
    from shelfwise.data.store import open_store

    url = (f"duckdb:///{tmp_path / 'p.duckdb'}" if request.param == "duckdb"
           else request.getfixturevalue("pg_store_url"))
    with open_store(url) as s:
        yield s


def test_service_end_to_end(tmp_path: Path, any_store):
    store = any_store
    shop = tmp_path / "shop"
    shop.mkdir()
    rng = np.random.default_rng(0)
    ev = []
    for item, e in (("a", -2.0), ("b", -1.5), ("c", -1.8)):
        for d in pd.date_range("2024-01-01", periods=120, freq="D"):
            p = 10 * np.exp(rng.uniform(-0.25, 0.25))
            q = max(1, int(round(20 * (p / 10) ** e * np.exp(rng.normal(0, 0.1)))))
            ev.append((d.isoformat(), f"u{rng.integers(50)}", item, "purchase", q, round(p, 2), f"o{len(ev)}"))
    for d in pd.date_range("2024-01-01", periods=120, freq="D"):  # a non-product line: never priced
        ev.append((d.isoformat(), "u1", "post", "purchase", 1, round(5 * np.exp(rng.uniform(-0.2, 0.2)), 2), f"o{len(ev)}"))
    pd.DataFrame({"item_id": ["a", "b", "c", "post"], "title": ["red MUG", "blue MUG", "green MUG", "POSTAGE"],
                  "cost": ["6", "", "5.5", ""], "non_product": ["", "", "no", "true"]}).to_csv(shop / "items.csv", index=False)
    pd.DataFrame(ev, columns=["timestamp", "user_id", "item_id", "event", "quantity", "price", "order_id"]).to_csv(
        shop / "events.csv", index=False)
    ingest(shop, store)
    out = tmp_path / "p.csv"
    res = svc.suggestions(store, PriceBounds(max_up=0.1, max_down=0.1, cost_share=0.6), out)
    el = res["items"].set_index("item_id")
    assert el.loc["a", "lo90"] < -2.0 < el.loc["a", "hi90"]
    got = pd.read_csv(out)
    assert set(got["item_id"]) == {"a", "b", "c"} and (got["suggested_price"] <= got["price"] * 1.1 + 1e-6).all()
    assert "post" in el.index and "post" not in set(got["item_id"])  # estimated, never priced
    cost_from = dict(zip(res["suggestions"]["item_id"], res["suggestions"]["cost_basis"]))
    assert cost_from["a"] == "item cost" and cost_from["b"] != "item cost"
    assert store.has_table("price_suggestions")
    bt = svc.check(store, "2024-03-01")
    assert bt["cases"] >= 0 and "raw" in bt
