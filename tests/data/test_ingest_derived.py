"""What ingest does beyond the shop tables: extra columns kept alike across formats, series refreshed."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.service.shop import ingest_shop

ROWS = [
    ("2011-01-03 10:00:00", "u1", "i1", "purchase", "2", "1.5", "web"),
    ("2011-01-04 10:00:00", "u2", "i1", "purchase", "1", "1.5", ""),
    ("2011-01-12 10:00:00", "u1", "i2", "return", "1", "2.0", ""),
]
HEADER = ("timestamp", "user_id", "item_id", "event", "quantity", "price", "channel")


def _csv_shop(folder: Path) -> Path:
    folder.mkdir(parents=True)
    lines = [",".join(HEADER)] + [",".join(r) for r in ROWS]
    (folder / "events.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _parquet_shop(folder: Path) -> Path:
    folder.mkdir(parents=True)
    cols = {h: [r[i] or None for r in ROWS] for i, h in enumerate(HEADER)}
    pq.write_table(pa.table(cols), folder / "events.parquet")
    return folder


def test_empty_extra_value_is_null_in_both_formats(tmp_path: Path) -> None:
    keyed = {}
    for name, make in (("csv", _csv_shop), ("parquet", _parquet_shop)):
        with open_store(f"duckdb:///{tmp_path / (name + '.duckdb')}") as store:
            ingest(make(tmp_path / name), store)
            rows = store.query("SELECT event_key, attrs FROM events ORDER BY timestamp").to_pylist()
        keyed[name] = rows
        assert [json.loads(r["attrs"])["channel"] for r in rows] == ["web", None, None]
    assert [r["event_key"] for r in keyed["csv"]] == [r["event_key"] for r in keyed["parquet"]]


def test_ingest_shop_refreshes_sales_series_once_per_new_events(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path / 's.duckdb'}"
    shop = _csv_shop(tmp_path / "shop")
    ingest_shop(shop, db)
    with open_store(db) as store:
        weekly = store.query("SELECT item_id, sum(net_units) AS units FROM sales_weekly GROUP BY 1 ORDER BY 1").to_pylist()
        built = store.query("SELECT * FROM sales_series_meta").to_pylist()
    assert {r["item_id"]: r["units"] for r in weekly} == {"i1": 3, "i2": -1}  # net of the return
    ingest_shop(shop, db)  # nothing new: the series are left as they were
    with open_store(db) as store:
        assert store.query("SELECT * FROM sales_series_meta").to_pylist() == built
