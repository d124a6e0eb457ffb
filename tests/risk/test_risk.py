"""Order risk on a tiny shop with known answers: history only from before, outcomes by as-of match."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.risk.features import order_features
from shelfwise.risk.model import RiskConfig, average_precision, precision_at
from shelfwise.service import risk as svc


@pytest.fixture(params=["duckdb", "postgresql"])
def risk_store(request: pytest.FixtureRequest, tmp_path: Path):
    """The tiny shop on each backend: the features come out the same on both."""
    from shelfwise.data.store import open_store

    url = (f"duckdb:///{tmp_path / 'risk.duckdb'}" if request.param == "duckdb"
           else request.getfixturevalue("pg_store_url"))
    with open_store(url) as store:
        yield _load(tmp_path, store)


def _load(tmp_path: Path, store):
    shop = tmp_path / "shop"
    shop.mkdir()
    pd.DataFrame({"item_id": ["x", "y"], "title": ["mug", "cup"]}).to_csv(shop / "items.csv", index=False)
    ev = []
    for d in range(1, 11):  # customer a: 2 mugs at 3.0 every day
        ev.append((f"2024-01-{d:02d}T10:00:00", "a", "x", "purchase", 2, 3.0, f"o{d}"))
        ev.append((f"2024-01-{d:02d}T11:00:00", "b", "y", "purchase", 1, 5.0, f"p{d}"))
    ev.append(("2024-01-12T10:00:00", "a", "x", "purchase", 500, 3.0, "bulk"))       # 250x the usual
    ev.append(("2024-01-12T12:00:00", "b", "y", "purchase", 1, 0.5, "cheap"))         # 90% below usual price
    ev.append(("2024-01-13T09:00:00", "b", "y", "return", 1, 0.5, "Ccheap"))          # cancels "cheap"
    ev.append(("2024-01-12T13:00:00", "new", "x", "purchase", 40, 3.0, "newbig"))
    pd.DataFrame(ev, columns=["timestamp", "user_id", "item_id", "event", "quantity", "price", "order_id"]).to_csv(
        shop / "events.csv", index=False)
    ingest(shop, store)
    return store


def test_features_use_only_the_past(risk_store):
    f = order_features(risk_store).set_index("order_id")
    assert f.loc["o1", "max_qty_ratio"] == 0.0 and f.loc["o1", "prior_orders"] == 0   # nothing known yet
    assert f.loc["o1", "new_account"] == 1.0 and f.loc["o5", "prior_orders"] == 4
    assert f.loc["bulk", "max_qty_ratio"] == pytest.approx(__import__("math").log(250), rel=1e-6)
    assert f.loc["cheap", "price_dev"] == pytest.approx(abs(__import__("math").log(0.1)), rel=1e-6)
    assert f.loc["cheap", "odd_qty_share"] == 0.0 and f.loc["bulk", "odd_qty_share"] == 1.0
    assert bool(f.loc["cheap", "returned"]) and not bool(f.loc["bulk", "returned"])   # as-of matched return
    assert f["returned"].sum() == 1
    assert f.loc["newbig", "new_account"] == 1.0


def test_scores_and_reasons(risk_store, tmp_path: Path):
    out = tmp_path / "risk.csv"
    scored = svc.score(risk_store, out=out, config=RiskConfig(min_positives=1000)).set_index("order_id")
    assert scored["score"].idxmax() in {"bulk", "cheap", "newbig"}
    assert scored.loc["bulk", "score"] > scored.loc["o5", "score"]
    assert "bulk" in scored.loc["bulk", "reasons"] and "250x" in scored.loc["bulk", "reasons"]
    assert "price anomaly" in scored.loc["cheap", "reasons"] and "-90%" in scored.loc["cheap", "reasons"]
    got = pd.read_csv(out)
    assert list(got.columns) == ["order_id", "score", "reasons"] and len(got) == len(scored)
    assert risk_store.has_table("order_risk")
    since = svc.score(risk_store, orders_since="2024-01-12", config=RiskConfig(min_positives=1000))
    assert set(since["order_id"]) == {"bulk", "cheap", "newbig"}
    assert since.set_index("order_id").loc["bulk", "score"] == pytest.approx(scored.loc["bulk", "score"])


def test_metrics_known_values():
    import numpy as np

    y = np.array([1, 0, 1, 0, 0, 0, 0, 0, 0, 0], dtype=bool)
    s = np.array([9, 8, 7, 1, 1, 1, 1, 1, 1, 0], dtype=float)
    assert precision_at(y, s, 0.1) == 1.0 and precision_at(y, s, 0.2) == 0.5
    assert average_precision(y, s) == pytest.approx((1 + 2 / 3) / 2)
