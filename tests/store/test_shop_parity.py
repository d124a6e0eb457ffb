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
