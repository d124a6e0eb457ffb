"""``ingest --engine spark`` loads the same store as the default ingest, with the same reject reasons."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.errors import SchemaError

EVENTS = [
    ["timestamp", "user_id", "item_id", "event", "quantity", "price", "position", "channel"],
    ["2024-01-01T10:00:00", "u1", "A", "purchase", "2", "3.5", "1", "web"],
    ["2024-01-01T10:00:00+02:00", "u1", "B", "VIEW", "", "", "", ""],         # zone -> UTC, upper-case event
    ["1704103200", "", "A", "click", "1", "", "2", "app"],                   # epoch seconds, anonymous
    ["not a date", "u2", "A", "purchase", "1", "1", "", ""],                 # unparsable timestamp
    ["2024-01-02", "u2", "", "purchase", "1", "1", "", ""],                  # missing item id
    ["2024-01-02", "u2", "A", "teleport", "1", "1", "", ""],                 # unknown event
    ["2024-01-02", "u2", "A", "purchase", "x", "-1", "0", ""],               # three problems at once
    ["2024-01-03 08:30:00", "u3", "C", "return", "1.5", "2", "3", "web"],
    ["290000-01-01", "u3", "C", "view", "1", "", "", ""],                    # beyond the year 9999
    ["infinity", "u3", "C", "view", "1", "", "", ""],
]


def _write(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "events.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerows(EVENTS)
        fh.write("2024-01-04,u4,A,view\n")  # too few fields: a malformed row
        fh.write("\n")                      # a blank line is not a record
        w.writerow(["2024-01-05", "u4", "A", "cart", "1", "", "", "web"])
    items = pa.table({"item_id": ["A", "B", "C", None], "price": [3.5, -2.0, 1.0, 4.0],
                      "launched_at": pa.array([0, None, 1_700_000_000_000_000, 5], pa.timestamp("us")),
                      "color": ["red", None, "blue", "green"]})
    pq.write_table(items, folder / "items.parquet")
    return folder


def _rows(store, table: str, drop: tuple[str, ...] = ("load_id",)) -> list[dict]:
    t = store.read(table)
    rows = [{k: v for k, v in r.items() if k not in drop} for r in t.to_pylist()]
    return sorted(rows, key=lambda r: (str(r.get("source_file")), r.get("source_line") or 0, str(r)))


def test_spark_ingest_matches_local(spark_engine, tmp_path: Path) -> None:
    from shelfwise.engines.spark_ingest import ingest_spark

    shop = _write(tmp_path / "shop")
    with open_store(f"duckdb:///{tmp_path / 'local.duckdb'}") as a, open_store(f"duckdb:///{tmp_path / 's.duckdb'}") as b:
        local = ingest(shop, a)
        spark = ingest_spark(shop, b, tmp_path / "lake", "local[1]")
        assert [t.as_dict() for t in spark.tables] == [t.as_dict() for t in local.tables]
        for table in ("items", "events"):
            assert _rows(b, table) == _rows(a, table), table
        ra = _rows(a, "rejects", ("load_id", "reject_key"))
        rb = _rows(b, "rejects", ("load_id", "reject_key"))
        assert [(r["source_line"], r["reason"]) for r in rb] == [(r["source_line"], r["reason"]) for r in ra]
        reasons = " | ".join(r["reason"] for r in rb)
        assert "cannot parse not a date in column 'timestamp'" in reasons
        assert "cannot parse 290000-01-01 in column 'timestamp'" in reasons   # stored by Spark before
        assert "malformed row: expected 8 fields, found 4" in reasons
        assert "negative price -1 in column 'price'" in reasons and "position 0 is not a 1-based slot" in reasons
        # a second load of the same folder adds nothing
        again = ingest_spark(shop, b, tmp_path / "lake", "local[1]")
        assert sum(t.new for t in again.tables) == 0
    assert (tmp_path / "lake" / "events").is_dir() and (tmp_path / "lake" / "rejects" / "events").is_dir()


def test_spark_ingest_refuses_a_file_without_required_columns(spark_engine, tmp_path: Path) -> None:
    from shelfwise.engines.spark_ingest import ingest_spark

    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "events.csv").write_text("timestamp,user_id,event\n2024-01-01,u1,view\n")
    with open_store(f"duckdb:///{tmp_path / 's.duckdb'}") as store:
        with pytest.raises(SchemaError, match="missing the required column 'item_id'"):
            ingest_spark(shop, store, tmp_path / "lake", "local[1]")
        assert store.count("events") == 0


def test_spark_keeps_attributes_in_name_order_and_knows_file_order_keys(spark_engine, tmp_path: Path) -> None:
    from shelfwise.data.readers import read_file
    from shelfwise.data.schema import EVENTS as EVENTS_SPEC
    from shelfwise.data.validate import LEGACY_ATTRS, Validated, validate
    from shelfwise.engines.spark_ingest import ingest_spark

    shop = tmp_path / "shop"
    shop.mkdir()
    path = shop / "events.csv"
    path.write_text("timestamp,user_id,item_id,event,zeta,alpha\n2024-01-01T10:00:00,u1,A,view,z1,a1\n"
                    "2024-01-01T10:00:00,u1,A,view,z1,\n", encoding="utf-8")
    with open_store(f"duckdb:///{tmp_path / 'local.duckdb'}") as a, open_store(f"duckdb:///{tmp_path / 's.duckdb'}") as b:
        ingest(shop, a)
        ingest_spark(shop, b, tmp_path / "lake", "local[1]")
        assert _rows(b, "events") == _rows(a, "events")
        assert b.query("SELECT attrs FROM events ORDER BY source_line").column(0).to_pylist() == [
            '{"alpha":"a1","zeta":"z1"}', '{"alpha":null,"zeta":"z1"}']
    # a store written when attributes kept the file's order: Spark's batch is matched by those keys
    v = validate(read_file(path), EVENTS_SPEC)
    old = v.accepted.set_column(v.accepted.column_names.index("attrs"), "attrs", v.accepted[LEGACY_ATTRS])
    with open_store(f"duckdb:///{tmp_path / 'old.duckdb'}") as c:
        c.apply_load("before", str(shop), [Validated(EVENTS_SPEC, old.drop_columns([LEGACY_ATTRS]), v.rejects,
                                                     v.read, str(path))])
        again = ingest_spark(shop, c, tmp_path / "lake2", "local[1]")
        assert [t.new for t in again.tables] == [0] and c.count("events") == 2


def test_spark_reads_blank_lines_and_quoted_empty_records_as_the_local_reader(spark_engine, tmp_path: Path) -> None:
    from shelfwise.engines.spark_ingest import ingest_spark

    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "items.csv").write_text('item_id\ni1\n""\n   \n\ni2\n', encoding="utf-8")
    with open_store(f"duckdb:///{tmp_path / 'local.duckdb'}") as a, open_store(f"duckdb:///{tmp_path / 's.duckdb'}") as b:
        local = ingest(shop, a)
        spark = ingest_spark(shop, b, tmp_path / "lake", "local[1]")
        assert [t.as_dict() for t in spark.tables] == [t.as_dict() for t in local.tables]
        assert [(t.read, t.loaded, t.rejected) for t in local.tables] == [(3, 2, 1)]
        assert [r["source_line"] for r in _rows(b, "rejects", ("load_id", "reject_key"))] == [3]
