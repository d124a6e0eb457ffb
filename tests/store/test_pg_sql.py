"""The PostgreSQL backend's pure helpers (no server needed): placeholders, URLs, types, backend choice."""

from __future__ import annotations

import pyarrow as pa
import pytest

from shelfwise.data.store import base
from shelfwise.data.store.pg_sql import pg_type, redact, rerunnable, split_url, to_psycopg
from shelfwise.data.store.postgres_store import PostgresStore
from shelfwise.errors import StoreError


@pytest.mark.parametrize("sql, expected", [
    ("SELECT * FROM t WHERE a = ? AND b = ?", "SELECT * FROM t WHERE a = %s AND b = %s"),
    ("SELECT '?' AS q, ? AS p", "SELECT '?' AS q, %s AS p"),                       # inside a literal
    ("SELECT 'it''s ?' , ?", "SELECT 'it''s ?' , %s"),                              # escaped quote
    ('SELECT "we?ird" FROM t WHERE x = ?', 'SELECT "we?ird" FROM t WHERE x = %s'),  # identifier
    ("SELECT 1 -- why?\n, ?", "SELECT 1 -- why?\n, %s"),                            # line comment
    ("SELECT /* a ? b */ ?", "SELECT /* a ? b */ %s"),                              # block comment
    ("SELECT k FROM t WHERE k LIKE 'b%' AND v = ?", "SELECT k FROM t WHERE k LIKE 'b%%' AND v = %s"),
    ("SELECT 10 % 3, ?", "SELECT 10 %% 3, %s"),
])
def test_question_marks_become_bound_placeholders_only_outside_quotes(sql, expected):
    assert to_psycopg(sql) == expected


def test_schema_parameter_is_taken_out_of_the_url_and_checked():
    conninfo, schema = split_url("postgresql://u@h:5433/db?schema=shop_1&sslmode=disable")
    assert (conninfo, schema) == ("postgresql://u@h:5433/db?sslmode=disable", "shop_1")
    assert split_url("postgres://h/db") == ("postgresql://h/db", None)
    with pytest.raises(StoreError, match="not a plain name"):
        split_url("postgresql://h/db?schema=a;drop")


def test_passwords_never_reach_messages():
    assert redact("postgresql://bob:s3cr3t@host:5432/db") == "postgresql://bob:***@host:5432/db"
    assert redact("postgresql://bob@host/db") == "postgresql://bob@host/db"


@pytest.mark.parametrize("arrow, pg", [
    (pa.string(), "TEXT"), (pa.int64(), "BIGINT"), (pa.int32(), "INTEGER"), (pa.float64(), "DOUBLE PRECISION"),
    (pa.float32(), "REAL"), (pa.bool_(), "BOOLEAN"), (pa.timestamp("us"), "TIMESTAMP"),
    (pa.timestamp("ns", tz="UTC"), "TIMESTAMPTZ"), (pa.date32(), "DATE"), (pa.list_(pa.float32()), "REAL[]"),
    (pa.dictionary(pa.int32(), pa.string()), "TEXT"), (pa.binary(), "BYTEA"),
])
def test_arrow_types_map_to_postgres_types(arrow, pg):
    assert pg_type(arrow, "c") == pg


def test_unstorable_types_are_refused_by_name():
    with pytest.raises(StoreError, match="column 'tags'"):
        pg_type(pa.struct([("a", pa.int32())]), "tags")


def test_postgresql_urls_open_the_postgres_backend():
    assert base._BACKENDS["postgresql"] is PostgresStore
    assert base._BACKENDS["postgres"] is PostgresStore


@pytest.mark.parametrize("sql, ok", [
    ("SELECT * FROM events", True),
    ("  -- a note\n(SELECT 1)", True),
    ("WITH t AS (SELECT 1) SELECT * FROM t", True),
    ("SELECT 'insert' AS word, \"updated_at\" FROM t", True),          # words inside quotes only
    ("SELECT updated_at, deleted FROM t", True),                          # longer words are fine
    ("WITH x AS (INSERT INTO t VALUES (1) RETURNING *) SELECT * FROM x", False),
    ("SELECT nextval('s')", False),
    ("SELECT * FROM t FOR UPDATE", False),
    ("SELECT pg_advisory_lock(1)", False),
    ("INSERT INTO t SELECT 1 RETURNING 1", False),
    ("DELETE FROM t RETURNING *", False),
    ("SHOW work_mem", False),
])
def test_only_pure_reads_may_be_run_twice(sql, ok):
    assert rerunnable(sql) is ok


def test_the_backend_names_its_sql_dialect():
    assert PostgresStore.dialect == "postgresql"
    assert base.Store.dialect == "duckdb"
