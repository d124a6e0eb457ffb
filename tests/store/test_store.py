"""The store contract, checked on every backend (``store`` / ``store_url`` come from conftest.py).

Known answers throughout: tiny shops written here, exact row counts, exact values read back.
"""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.data.schema import EVENTS, ITEMS
from shelfwise.data.store import open_store
from shelfwise.data.validate import Validated
from shelfwise.errors import SchemaError, StoreError

# DuckDB's write() lets its own errors through unwrapped (duckdb.Error); PostgreSQL wraps them in StoreError
WRITE_ERRORS = (StoreError, duckdb.Error)


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def small_shop(folder: Path) -> Path:
    write(folder, "items.csv", "item_id,title,price,colour\ni1,Mug,3.5,red\ni2,Cup,2,blue\ni3,Lamp,-1,\n")
    write(folder, "users.csv", "user_id,country\nu1,UK\nu2,FR\n")
    write(folder, "events.csv", "timestamp,user_id,item_id,event,quantity,price\n"
          "2024-01-01 10:00:00,u1,i1,view,,\n"
          "2024-01-01 10:00:00,u1,i1,view,,\n"       # an equal row: a second, distinct event
          "2024-01-01 10:05:00,u1,i1,purchase,2,3.5\n"
          "2024-01-02T09:00:00+01:00,,i9,click,,\n"  # anonymous, an item only seen in events
          "not a time,u2,i2,view,,\n")
    write(folder, "reviews.csv", "item_id,text,rating\ni1,Lovely mug,5\ni2,Chipped,1\ni2,,3\n")
    write(folder, "stock.csv", "item_id,stock\ni1,10\ni2,4\n")
    return folder


def counts(store) -> dict[str, int]:
    return {t: store.count(t) for t in ("items", "users", "events", "reviews", "stock", "rejects", "load_log")}


def by_table(result) -> dict[str, tuple[int, int, int, int]]:
    return {t.table: (t.read, t.loaded, t.rejected, t.new) for t in result.tables}


# --- loading ----------------------------------------------------------------------------------------
def test_apply_load_counts_and_idempotent_reload(tmp_path, store):
    shop = small_shop(tmp_path / "shop")
    first = ingest(shop, store)
    assert by_table(first) == {"items": (3, 2, 1, 2), "users": (2, 2, 0, 2), "events": (5, 4, 1, 4),
                               "reviews": (3, 2, 1, 2), "stock": (2, 2, 0, 2)}
    after_first = counts(store)
    assert after_first == {"items": 2, "users": 2, "events": 4, "reviews": 2, "stock": 2, "rejects": 3,
                           "load_log": 5}
    second = ingest(shop, store)
    assert {k: v[:3] for k, v in by_table(second).items()} == {k: v[:3] for k, v in by_table(first).items()}
    assert all(t.new == 0 for t in second.tables)
    assert counts(store) == {**after_first, "load_log": 10}  # only the log grows
    assert sorted(store.query("SELECT item_id FROM all_items").column(0).to_pylist()) == ["i1", "i2", "i9"]
    ts = store.query("SELECT timestamp FROM events WHERE item_id = 'i9'").column(0).to_pylist()[0]
    assert ts == dt.datetime(2024, 1, 2, 8, 0)  # converted to naive UTC
    attrs = store.query("SELECT attrs FROM items WHERE item_id = 'i1'").column(0).to_pylist()[0]
    assert attrs == '{"colour":"red"}' or attrs.replace(" ", "") == '{"colour":"red"}'


def test_reload_replaces_keyed_rows_and_last_row_in_a_file_wins(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "items.csv", "item_id,title,price\ni1,Mug,3\ni2,Cup,2\n")
    ingest(shop, store)
    write(shop, "items.csv", "item_id,title,price\ni1,Mug,4\ni1,Big mug,5\ni3,Plate,1\n")
    result = ingest(shop, store)
    assert by_table(result)["items"] == (3, 3, 0, 1)  # i3 is new; i1 was there
    rows = store.query("SELECT item_id, title, price FROM items ORDER BY item_id").to_pylist()
    assert rows == [{"item_id": "i1", "title": "Big mug", "price": 5.0},
                    {"item_id": "i2", "title": "Cup", "price": 2.0},
                    {"item_id": "i3", "title": "Plate", "price": 1.0}]


def test_extra_columns_in_another_order_are_the_same_events(tmp_path, store):
    # one export, then the same rows with the extra columns moved: attributes are kept in name order
    write(tmp_path / "a", "events.csv", "timestamp,user_id,item_id,event,zeta,alpha\n"
          "2024-01-01T10:00:00,u1,i1,view,z1,a1\n2024-01-01T10:00:00,u1,i1,view,z1,a1\n")
    write(tmp_path / "b", "events.csv", "alpha,timestamp,user_id,zeta,item_id,event\n"
          "a1,2024-01-01T10:00:00,u1,z1,i1,view\na1,2024-01-01T10:00:00,u1,z1,i1,view\n"
          "a2,2024-01-01T11:00:00,u1,z1,i1,view\n")
    assert by_table(ingest(tmp_path / "a", store))["events"] == (2, 2, 0, 2)
    assert by_table(ingest(tmp_path / "b", store))["events"] == (3, 3, 0, 1)  # only the a2 row is new
    assert store.count("events") == 3
    attrs = store.query("SELECT attrs FROM events ORDER BY timestamp").column(0).to_pylist()
    assert [a.replace(" ", "") for a in attrs] == ['{"alpha":"a1","zeta":"z1"}'] * 2 + ['{"alpha":"a2","zeta":"z1"}']


def test_events_stored_under_their_file_order_keys_are_not_stored_again(tmp_path, store):
    # a store written before attributes were sorted holds them in file order, keyed over that text
    from shelfwise.data.readers import read_file
    from shelfwise.data.validate import LEGACY_ATTRS, validate

    path = write(tmp_path / "shop", "events.csv", "timestamp,user_id,item_id,event,zeta,alpha\n"
                 "2024-01-01T10:00:00,u1,i1,view,z1,a1\n2024-01-01T10:00:00,u1,i1,view,z1,a1\n")
    v = validate(read_file(path), EVENTS)
    old = v.accepted.set_column(v.accepted.column_names.index("attrs"), "attrs", v.accepted[LEGACY_ATTRS])
    old = old.drop_columns([LEGACY_ATTRS])
    store.apply_load("before", str(path.parent), [Validated(EVENTS, old, v.rejects, v.read, str(path))])
    assert store.count("events") == 2
    assert by_table(ingest(path.parent, store))["events"] == (2, 2, 0, 0)
    # the export grows by a third copy of the row and a new one: just those two are stored
    with path.open("a", encoding="utf-8") as fh:
        fh.write("2024-01-01T10:00:00,u1,i1,view,z1,a1\n2024-01-02T10:00:00,u2,i1,view,z1,a1\n")
    assert by_table(ingest(path.parent, store))["events"] == (4, 4, 0, 2)
    assert by_table(ingest(path.parent, store))["events"] == (4, 4, 0, 0)
    assert store.count("events") == 4


def test_rejects_are_kept_with_line_reason_and_raw_row_once(tmp_path, store):
    shop = small_shop(tmp_path / "shop")
    ingest(shop, store)
    ingest(shop, store)
    rows = store.query("SELECT table_name, source_line, reason, raw FROM rejects ORDER BY table_name").to_pylist()
    assert [(r["table_name"], r["source_line"]) for r in rows] == [("events", 6), ("items", 4), ("reviews", 4)]
    assert "cannot parse not a time in column 'timestamp'" in rows[0]["reason"]
    assert "negative price -1" in rows[1]["reason"]
    assert "missing required value in column 'text'" in rows[2]["reason"]
    assert '"user_id": "u2"' in rows[0]["raw"] or '"user_id":"u2"' in rows[0]["raw"]


def test_fatal_file_error_leaves_the_store_unchanged(tmp_path, store):
    ingest(small_shop(tmp_path / "good"), store)
    before = counts(store)
    bad = tmp_path / "bad"
    write(bad, "items.csv", "item_id,title\ni7,Plate\n")  # fine on its own, checked before any write
    write(bad, "events.csv", "timestamp,user_id,sku,event\n2024-01-01,u1,i1,view\n")
    with pytest.raises(SchemaError, match="item_id"):
        ingest(bad, store)
    assert counts(store) == before


def _typed_items(rows: list[dict]) -> pa.Table:
    cols = {c.name: [r.get(c.name) for r in rows] for c in ITEMS.columns}
    t = pa.table(cols)
    return t.append_column("attrs", pa.array([None] * len(rows), pa.string())) \
            .append_column("source_file", pa.array(["items.csv"] * len(rows))) \
            .append_column("source_line", pa.array(range(2, 2 + len(rows)), pa.int64()))


def test_failure_inside_a_load_rolls_back_every_table(store):
    """A batch the database refuses after another batch was written: nothing of the load remains."""
    good = Validated(ITEMS, _typed_items([{"item_id": "i1", "title": "Mug", "price": 3.0}]),
                     pa.table({"source_file": pa.array([], pa.string()), "source_line": pa.array([], pa.int64()),
                               "reason": pa.array([], pa.string()), "raw": pa.array([], pa.string())}), 1)
    broken = _typed_items([{"item_id": "i2", "title": "Cup"}])
    # a price that is text, not a number: the database's cast fails in the middle of the load
    broken = broken.set_column(broken.column_names.index("price"), "price", pa.array(["not a number"]))
    bad = Validated(ITEMS, broken, good.rejects, 1)
    with pytest.raises(Exception):
        store.apply_load("L1", "test", [good, bad])
    assert counts(store) == {"items": 0, "users": 0, "events": 0, "reviews": 0, "stock": 0, "rejects": 0,
                             "load_log": 0}
    result = store.apply_load("L2", "test", [good])  # the store still works afterwards
    assert by_table(result) == {"items": (1, 1, 0, 1)}


# --- derived tables ---------------------------------------------------------------------------------
def test_write_replace_append_upsert(store):
    t1 = pa.table({"k": ["a", "b"], "v": [1.0, 2.0], "n": pa.array([1, 2], pa.int64())})
    assert store.write("scores", t1) == 2
    assert store.write("scores", pa.table({"k": ["c"], "v": [3.0], "n": pa.array([3], pa.int64())}), mode="append") == 1
    assert store.count("scores") == 3
    # append matches columns by name and leaves the missing ones empty
    store.write("scores", pa.table({"v": [4.0], "k": ["d"]}), mode="append")
    assert store.query("SELECT n FROM scores WHERE k = ?", ["d"]).to_pylist() == [{"n": None}]
    store.write("scores", pa.table({"k": ["b", "e"], "v": [20.0, 5.0], "n": pa.array([2, 5], pa.int64())}),
                mode="upsert", key=["k"])
    got = store.read("scores", order_by="k").to_pylist()
    assert got == [{"k": "a", "v": 1.0, "n": 1}, {"k": "b", "v": 20.0, "n": 2}, {"k": "c", "v": 3.0, "n": 3},
                   {"k": "d", "v": 4.0, "n": None}, {"k": "e", "v": 5.0, "n": 5}]
    # replace takes the new table's shape
    store.write("scores", pa.table({"other": ["x"]}), mode="replace")
    assert store.read("scores").to_pylist() == [{"other": "x"}]
    assert "scores" in store.tables()


def test_write_creates_the_table_in_any_mode_and_refuses_bad_modes(store):
    store.write("fresh", pa.table({"k": ["a"]}), mode="append")
    store.write("fresh2", pa.table({"k": ["a"]}), mode="upsert", key=["k"])
    assert store.count("fresh") == 1 and store.count("fresh2") == 1
    with pytest.raises(StoreError, match="mode"):
        store.write("fresh", pa.table({"k": ["b"]}), mode="merge")
    with pytest.raises(StoreError, match="key"):
        store.write("fresh", pa.table({"k": ["b"]}), mode="upsert")
    with pytest.raises(WRITE_ERRORS):
        store.write("fresh", pa.table({"nope": ["b"]}), mode="append")  # no such column
    assert store.read("fresh").to_pylist() == [{"k": "a"}]


def test_a_failed_write_leaves_the_old_table(store):
    store.write("t", pa.table({"k": ["a", "b"]}))
    with pytest.raises(WRITE_ERRORS):
        store.write("t", pa.table({"k": ["c"], "extra": [1]}), mode="upsert", key=["k"])
    assert sorted(store.read("t").column("k").to_pylist()) == ["a", "b"]


VALUES = pa.table({
    "id": pa.array([1, 2, 3], pa.int64()),
    "name": pa.array(["plain", "it's \"quoted\", with\nnewline; DROP TABLE items; --", None]),
    "empty": pa.array(["", None, "x"]),
    "score": pa.array([0.1 + 0.2, -1e-300, None]),
    "small": pa.array([1, None, -7], pa.int32()),
    "flag": pa.array([True, False, None]),
    "at": pa.array([dt.datetime(2024, 1, 1, 10, 0, 0, 123456), None, dt.datetime(1999, 12, 31)], pa.timestamp("us")),
    "day": pa.array([dt.date(2024, 2, 29), None, dt.date(2000, 1, 1)], pa.date32()),
    "vec": pa.array([[0.5, -1.25], [], None], pa.list_(pa.float32())),
})


def test_values_survive_a_round_trip_exactly(store):
    store.write("vals", VALUES)
    got = store.read("vals", order_by="id")
    for name in VALUES.column_names:
        assert got.column(name).to_pylist() == VALUES.column(name).to_pylist(), name
    assert got.schema.field("at").type == pa.timestamp("us")
    assert got.schema.field("score").type == pa.float64()
    assert got.schema.field("vec").type == pa.list_(pa.float32())
    store.write("vals", VALUES.slice(0, 1), mode="append")
    assert store.count("vals") == 4


def test_reads_in_arrow_pandas_and_polars(tmp_path, store):
    ingest(small_shop(tmp_path / "shop"), store)
    kw = dict(columns=["item_id", "event", "quantity", "timestamp"], where="event = ? AND quantity >= ?",
              params=["purchase", 1], order_by="timestamp")
    arrow = store.read("events", **kw)
    pdf = store.read_pandas("events", **kw)
    plf = store.read_polars("events", **kw)
    assert isinstance(arrow, pa.Table) and isinstance(pdf, pd.DataFrame) and isinstance(plf, pl.DataFrame)
    expected = [{"item_id": "i1", "event": "purchase", "quantity": 2.0, "timestamp": dt.datetime(2024, 1, 1, 10, 5)}]
    assert arrow.to_pylist() == expected
    assert pdf.to_dict("records") == [{**expected[0], "timestamp": pd.Timestamp("2024-01-01 10:05")}]
    assert plf.to_dicts() == expected
    assert str(pdf["timestamp"].dtype).startswith("datetime64") and pdf["timestamp"].dt.tz is None
    assert plf.schema["timestamp"] == pl.Datetime("us")
    with pytest.raises(StoreError, match="no table 'nope'"):
        store.read("nope")


def test_parameters_are_bound_never_spliced(store):
    store.write("t", pa.table({"k": ["a", "b%"]}))
    evil = "a' OR '1'='1"
    assert store.query("SELECT k FROM t WHERE k = ?", [evil]).num_rows == 0
    assert store.query("SELECT k FROM t WHERE k LIKE 'b%' AND k <> ?", ["?"]).to_pylist() == [{"k": "b%"}]
    assert store.query("SELECT ? AS x, '?' AS y", ["'; DROP TABLE t; --"]).to_pylist() == \
        [{"x": "'; DROP TABLE t; --", "y": "?"}]
    assert store.count("t") == 2
    with pytest.raises(StoreError):
        store.query("SELECT * FROM no_such_table")
    assert store.count("t") == 2  # the store still answers after an error


def test_execute_and_query_with_returning(store):
    store.execute("CREATE TABLE exposures (unit TEXT, arm TEXT)")
    added = store.query("INSERT INTO exposures SELECT ?, ? WHERE NOT EXISTS "
                        "(SELECT 1 FROM exposures WHERE unit = ?) RETURNING 1", ["u1", "A", "u1"])
    again = store.query("INSERT INTO exposures SELECT ?, ? WHERE NOT EXISTS "
                        "(SELECT 1 FROM exposures WHERE unit = ?) RETURNING 1", ["u1", "B", "u1"])
    assert (added.num_rows, again.num_rows) == (1, 0)
    assert store.read("exposures").to_pylist() == [{"unit": "u1", "arm": "A"}]


# --- several writers --------------------------------------------------------------------------------
def _events_batch(n: int, offset: int = 0) -> list[str]:
    return [f"2024-01-01 10:{(i // 60) % 60:02d}:{i % 60:02d},u{i % 7},i{i % 11},view"
            for i in range(offset, offset + n)]


def test_concurrent_loads_from_two_threads_store_each_event_once(tmp_path, store_url):
    """Two writers (one store object each on PostgreSQL; one shared object on DuckDB) load overlapping
    event files at the same time: every distinct event is stored once."""
    header = "timestamp,user_id,item_id,event\n"
    a = tmp_path / "a"
    b = tmp_path / "b"
    write(a, "events.csv", header + "\n".join(_events_batch(300)) + "\n")
    write(b, "events.csv", header + "\n".join(_events_batch(300, offset=150)) + "\n")
    shared = open_store(store_url)
    stores = [shared, shared if store_url.startswith("duckdb") else open_store(store_url)]
    errors: list[BaseException] = []

    def load(folder: Path, s) -> None:
        try:
            for _ in range(3):
                ingest(folder, s)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(f, s)) for f, s in zip((a, b), stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert shared.count("events") == 450
    assert shared.query("SELECT count(DISTINCT event_key) AS n FROM events").to_pylist() == [{"n": 450}]
    for s in {id(s): s for s in stores}.values():
        s.close()


def test_appending_keyed_events_twice_stores_them_once_on_postgres(pg_store_url):
    """The intake path on the shared backend: events written with ``write(..., 'append')`` carry a key
    (``event_key``), and a retried or concurrent append of the same keys adds nothing. (DuckDB has one
    writer process; there the content keys of ``apply_load`` are the guard, tested above.)"""
    cols = {c.name: pa.array([None, None], pa.string()) for c in EVENTS.columns}
    cols.update({"timestamp": pa.array([dt.datetime(2024, 1, 1), dt.datetime(2024, 1, 2)], pa.timestamp("us")),
                 "user_id": pa.array(["u1", "u2"]), "item_id": pa.array(["i1", "i2"]),
                 "event": pa.array(["view", "click"]), "quantity": pa.array([1.0, 1.0]),
                 "price": pa.array([None, None], pa.float64()), "position": pa.array([None, None], pa.int32()),
                 "propensity": pa.array([None, None], pa.float64())})
    batch = pa.table({"event_key": pa.array(["api:1", "api:2"]), **cols})
    with open_store(pg_store_url) as store:
        assert store.write("events", batch, mode="append") == 2
        store.write("events", batch, mode="append")
        store.write("events", batch.slice(1), mode="append")
        assert store.count("events") == 2
        assert store.query("SELECT event_key FROM events ORDER BY 1").column(0).to_pylist() == ["api:1", "api:2"]


def test_a_file_that_is_not_a_duckdb_database_is_refused(tmp_path: Path) -> None:
    """DuckDB opened a CSV given as --db without a word and kept every write in memory only (a key
    'created', rows 'loaded', all gone at exit); the file itself must stay as it was."""
    from shelfwise.errors import StoreError

    csv_file = tmp_path / "events.csv"
    csv_file.write_text("timestamp,user_id,item_id,event\n2024-01-01,u1,i1,view\n")
    with pytest.raises(StoreError, match="is not a DuckDB database"):
        open_store(f"duckdb:///{csv_file}")
    assert csv_file.read_text().startswith("timestamp,user_id")
    with open_store(f"duckdb:///{tmp_path / 'real.duckdb'}") as st:   # a real store still opens, and reopens
        st.execute("CREATE TABLE t (a INTEGER)")
    with open_store(f"duckdb:///{tmp_path / 'real.duckdb'}") as st:
        assert st.has_table("t")
