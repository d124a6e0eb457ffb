"""A whole (small) shop folder ingested into each backend: the same rows, keys and counts on both.

Parity is what lets a shop start on DuckDB and move to PostgreSQL: the event and review content keys
must come out identical, or a reload after the move would duplicate every event.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.data.synth import SynthConfig, write_shop

TABLES = {"items": "item_id", "users": "user_id", "events": "event_key", "reviews": "review_key"}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("parity") / "shop"
    write_shop(folder, SynthConfig(items=60, users=150, days=14, seed=5, review_rate=1.0))
    return folder


def _rows(store, table: str, key: str) -> list[dict]:
    rows = store.query(f'SELECT * FROM "{table}" ORDER BY "{key}"').to_pylist()
    for r in rows:
        r.pop("load_id", None)  # differs per load by design
    return rows


def test_full_shop_ingest_gives_identical_tables_on_both_backends(tmp_path, shop, pg_store_url):
    results = {}
    with open_store(f"duckdb:///{tmp_path / 'shop.duckdb'}") as duck, open_store(pg_store_url) as pg:
        for name, store in (("duckdb", duck), ("postgresql", pg)):
            first = ingest(shop, store)
            second = ingest(shop, store)
            assert all(t.new == 0 for t in second.tables), name
            results[name] = [(t.table, t.read, t.loaded, t.rejected, t.new) for t in first.tables]
        assert results["duckdb"] == results["postgresql"]
        assert dict((t[0], t[2]) for t in results["duckdb"])["events"] > 1000
        for table, key in TABLES.items():
            assert duck.count(table) == pg.count(table) > 0, table
            assert _rows(duck, table, key) == _rows(pg, table, key), table
        assert duck.count("all_items") == pg.count("all_items")
        summary = "SELECT event, count(*) AS n, sum(quantity) AS q FROM events GROUP BY event ORDER BY event"
        assert duck.query(summary).to_pylist() == pg.query(summary).to_pylist()


def test_sales_series_are_identical_on_both_backends(tmp_path, shop, pg_store_url):
    """The lifecycle series SQL is portable: the same daily, weekly and category series on both."""
    from shelfwise.lifecycle.series import refresh_sales_series

    series = {"sales_daily": "item_id, day", "sales_weekly": "item_id, period_start",
              "sales_category_daily": "category, day", "sales_category_weekly": "category, period_start"}
    with open_store(f"duckdb:///{tmp_path / 'shop.duckdb'}") as duck, open_store(pg_store_url) as pg:
        counts = {}
        for name, store in (("duckdb", duck), ("postgresql", pg)):
            ingest(shop, store)
            counts[name] = refresh_sales_series(store)
        assert counts["duckdb"] == counts["postgresql"]
        assert counts["duckdb"]["sales_weekly"] > 0
        for table, order in series.items():
            cols = "*" if "category" in table else "item_id, units, returned, net_units, purchase_lines"
            q = f"SELECT {cols} FROM {table} ORDER BY {order}"
            a, b = duck.query(q).to_pylist(), pg.query(q).to_pylist()
            assert len(a) == len(b) > 0, table
            for ra, rb in zip(a, b):
                assert ra.keys() == rb.keys()
                for k in ra:
                    if isinstance(ra[k], float):
                        assert ra[k] == pytest.approx(float(rb[k]), rel=1e-9), (table, k)
                    else:
                        assert ra[k] == rb[k], (table, k)


def test_lifecycle_stages_and_forecasts_agree_on_both_backends(tmp_path, shop, pg_store_url):
    """`shelfwise ingest` builds the series on PostgreSQL too, and the lifecycle commands run there."""
    import pandas as pd

    from shelfwise.service import lifecycle as lc
    from shelfwise.service.shop import ingest_shop

    urls = {"duckdb": f"duckdb:///{tmp_path / 'shop.duckdb'}", "postgresql": pg_store_url}
    stages, forecasts = {}, {}
    for name, url in urls.items():
        ingest_shop(shop, url)
        stages[name] = lc.stages(url).sort_values("item_id").reset_index(drop=True)
        forecasts[name] = lc.forecast(url, horizon=4).sort_values(["item_id", "period_start"]).reset_index(drop=True)
    assert len(stages["duckdb"]) >= 30 and len(forecasts["duckdb"]) == 4 * len(stages["duckdb"])
    cols = ["item_id", "stage"]
    pd.testing.assert_frame_equal(stages["duckdb"][cols], stages["postgresql"][cols])
    cols = ["item_id", "period_start", "yhat", "yhat_lo", "yhat_hi"]
    pd.testing.assert_frame_equal(forecasts["duckdb"][cols], forecasts["postgresql"][cols], check_dtype=False)
