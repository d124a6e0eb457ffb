"""Each alert kind fires on the one item built to trigger it, and nowhere else."""

from __future__ import annotations

import json
from datetime import timedelta

from shelfwise.data.store import open_store
from shelfwise.lifecycle.alerts import AlertRules, all_alerts
from shelfwise.lifecycle.series import load_panel

from .conftest import MONDAY, ts

WEEKS = 21
AS_OF = MONDAY + timedelta(weeks=WEEKS)


def _events() -> list[list[object]]:
    rows: list[list[object]] = []
    for w in range(WEEKS):
        rows.append([ts(w, 1), "u1", "s", "purchase", 10, 2.0, f"s{w}"])
        rows.append([ts(w, 2), "u1", "p", "purchase", 3, 2.0, f"p{w}"])
        for j in range(5):
            rows.append([ts(w, j % 5, 9 + j), f"r{j}", "r", "purchase", 1, 4.0, f"r{w}-{j}"])
        for j in range(50):
            rows.append([ts(w, j % 5, 8 + j % 9), f"b{j}", "bg", "purchase", 2, 1.0, f"b{w}-{j}"])
    last = WEEKS - 1
    rows.append([ts(last, 3), "whale", "s", "purchase", 200, 2.0, "big-order"])   # spike and bulk purchase
    for j in range(10):                                                           # a run of returns
        rows.append([ts(last - j % 3, 4, 10 + j), f"r{j}", "r", "return", 1, 4.0, f"ret{j}"])
    rows.append([ts(last, 4), "u9", "p", "purchase", 1, 9.0, "odd-price"])         # far above its price
    return rows


def test_each_kind_finds_its_item(make_shop) -> None:
    with open_store(make_shop(_events())) as store:
        panel = load_panel(store, AS_OF, "W")
        df = all_alerts(store, panel, AlertRules(days=28))
    found = {(r.kind, r.item_id) for r in df.itertuples()}
    assert ("spike", "s") in found
    assert ("bulk_purchase", "s") in found
    assert ("return_rate", "r") in found
    assert ("price", "p") in found
    assert not any(item == "bg" for _, item in found)            # the steady item is quiet
    assert not any(kind == "drop" for kind, _ in found)
    bulk = json.loads(df[(df.kind == "bulk_purchase")].iloc[0]["evidence"])
    assert bulk["user_id"] == "whale" and bulk["quantity"] == 200 and bulk["median_line"] == 10
    spike = json.loads(df[(df.kind == "spike")].iloc[0]["evidence"])
    assert spike["net_units"] == 210 and spike["hi"] < 210
    price = json.loads(df[df.kind == "price"].iloc[0]["evidence"])
    assert price["high"] == 9.0 and price["usual_price"] == 2.0
    assert list(df.columns) == ["kind", "item_id", "when", "severity", "message", "evidence"]


def test_a_quiet_shop_has_no_alerts(make_shop) -> None:
    rows = [r for r in _events() if r[6] not in ("big-order", "odd-price") and r[3] != "return"]
    with open_store(make_shop(rows)) as store:
        df = all_alerts(store, load_panel(store, AS_OF, "W"), AlertRules(days=28))
    assert df.empty, df[["kind", "item_id", "message"]].to_string()


def test_alerts_are_the_same_on_postgresql(make_shop, pg_store_url) -> None:
    """The alert SQL is portable: a PostgreSQL store of the same shop raises the same alerts."""
    from pathlib import Path

    from shelfwise.data.ingest import ingest

    url = make_shop(_events())
    shop = Path(url.removeprefix("duckdb:///").removesuffix(".duckdb"))
    frames = {}
    for name, target in (("duckdb", url), ("postgresql", pg_store_url)):
        with open_store(target) as store:
            if name == "postgresql":
                ingest(shop, store)
            frames[name] = all_alerts(store, load_panel(store, AS_OF, "W"), AlertRules(days=28))
    duck, pg = frames["duckdb"], frames["postgresql"]
    assert len(duck) >= 4
    assert list(zip(duck.kind, duck.item_id)) == list(zip(pg.kind, pg.item_id))
    assert [json.loads(e) for e in duck.evidence] == [json.loads(e) for e in pg.evidence]
