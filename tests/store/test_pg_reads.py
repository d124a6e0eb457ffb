"""The PostgreSQL read paths: small reads fetch rows, large ones re-run as COPY; both give one answer."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import shelfwise.data.store.postgres_store as pg_module
from shelfwise.data.store import open_store

TABLE = pa.table({
    "id": pa.array([1, 2, 3, 4], pa.int64()),
    "name": pa.array(["plain", "it's \"quoted\", with\nnewline", None, ""]),
    "score": pa.array([0.1 + 0.2, float("nan"), float("inf"), None]),
    "small": pa.array([1, None, -7, 0], pa.int32()),
    "flag": pa.array([True, False, None, True]),
    "at": pa.array([dt.datetime(2024, 1, 1, 10, 0, 0, 123456), None, dt.datetime(1999, 12, 31), dt.datetime(2024, 2, 29)],
                   pa.timestamp("us")),
    "day": pa.array([dt.date(2024, 2, 29), None, dt.date(2000, 1, 1), dt.date(1970, 1, 1)], pa.date32()),
})


@pytest.fixture()
def pg(pg_store_url):
    with open_store(pg_store_url) as store:
        store.write("vals", TABLE)
        yield store


def _read(store, monkeypatch, threshold: int, sql: str, params=None) -> pa.Table:
    monkeypatch.setattr(pg_module, "_COPY_READ_ROWS", threshold)
    return store.query(sql, params)


@pytest.mark.parametrize("sql, params", [
    ("SELECT * FROM vals ORDER BY id", None),
    ("SELECT name FROM vals ORDER BY id", None),                      # one column holding NULL: an empty line
    ("SELECT id, name FROM vals WHERE name LIKE 'it%' OR id = ? ORDER BY id", [3]),
    ("SELECT count(*) AS n, sum(small) AS s, avg(score) FILTER (WHERE id = 1) AS a FROM vals", None),
    ("SELECT * FROM vals WHERE id > 100", None),                       # no rows
])
def test_copy_and_row_reads_agree_exactly(pg, monkeypatch, sql, params):
    rows = _read(pg, monkeypatch, 10**9, sql, params)
    copied = _read(pg, monkeypatch, 0, sql, params)
    assert copied.schema == rows.schema
    assert copied.to_pylist() == rows.to_pylist() or str(copied.to_pylist()) == str(rows.to_pylist())  # NaN != NaN


def test_full_table_round_trip_through_copy(pg, monkeypatch):
    got = _read(pg, monkeypatch, 0, "SELECT * FROM vals ORDER BY id")
    assert got.schema == TABLE.schema
    assert str(got.to_pylist()) == str(TABLE.to_pylist())


def test_a_writing_statement_runs_once_even_when_it_returns_many_rows(pg, monkeypatch):
    pg.execute("CREATE TABLE log (i BIGINT)")
    out = _read(pg, monkeypatch, 0, "INSERT INTO log SELECT g FROM generate_series(1, 50) g RETURNING i")
    assert out.num_rows == 50
    assert pg.count("log") == 50
    out = _read(pg, monkeypatch, 0, "WITH x AS (INSERT INTO log SELECT g FROM generate_series(1, 5) g RETURNING i) "
                                    "SELECT * FROM x")
    assert out.num_rows == 5 and pg.count("log") == 55


def test_list_columns_are_read_as_rows_even_when_large(pg, monkeypatch):
    pg.write("vecs", pa.table({"k": ["a", "b"], "v": pa.array([[1.0, 2.0], None], pa.list_(pa.float32()))}))
    got = _read(pg, monkeypatch, 0, "SELECT * FROM vecs ORDER BY k")
    assert got.to_pylist() == [{"k": "a", "v": [1.0, 2.0]}, {"k": "b", "v": None}]
    assert got.schema.field("v").type == pa.list_(pa.float32())


def test_whole_large_tables_are_read_by_copy_directly(pg, monkeypatch):
    pg.execute("ANALYZE vals")  # the planner's row estimate decides
    calls = []
    real = pg._query_by_copy
    monkeypatch.setattr(pg, "_query_by_copy", lambda *a: calls.append(a[0]) or real(*a))
    monkeypatch.setattr(pg_module, "_COPY_READ_ROWS", 4)
    got = pg.read("vals", columns=["id", "name", "at"], order_by="id")
    assert calls == ['SELECT "id", "name", "at" FROM "vals" ORDER BY id']
    assert str(got.to_pylist()) == str(TABLE.select(["id", "name", "at"]).to_pylist())
    monkeypatch.setattr(pg_module, "_COPY_READ_ROWS", 5)  # now the table counts as small: rows, not COPY
    assert pg.read("vals").num_rows == 4 and len(calls) == 1


def test_a_table_altered_by_another_process_is_read_with_its_new_columns(pg_store_url):
    with open_store(pg_store_url) as reader, open_store(pg_store_url) as other:
        reader.write("t", pa.table({"a": [1]}))
        for _ in range(8):  # often enough for a driver that prepares repeated statements
            reader.query("SELECT * FROM t WHERE a > ?", [0])
        other.execute("ALTER TABLE t ADD COLUMN b TEXT")
        assert reader.query("SELECT * FROM t WHERE a > ?", [0]).to_pylist() == [{"a": 1, "b": None}]


def test_a_dropped_connection_is_reopened_and_a_read_retried(pg_store_url):
    with open_store(pg_store_url) as store, open_store(pg_store_url) as admin:
        store.write("t", pa.table({"a": [1, 2]}))
        pid = store.query("SELECT pg_backend_pid() AS p").column(0)[0].as_py()
        admin.query("SELECT pg_terminate_backend(?) AS ok", [pid])  # as a server restart would
        assert store.count("t") == 2
        assert store.query("SELECT pg_backend_pid() AS p").column(0)[0].as_py() != pid
        store.write("t", pa.table({"a": [3]}), mode="append")  # writes work on the new connection
        assert store.count("t") == 3
