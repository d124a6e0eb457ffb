"""The embedded default backend: one DuckDB file holds the whole shop."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from ...errors import StoreError
from ..schema import PROVENANCE, SQL_TYPES, TABLES, TableSpec
from ..validate import LEGACY_ATTRS
from .base import LoadResult, Store, TableCounts, _ident

if TYPE_CHECKING:
    from ..validate import Validated


def _ddl(spec: TableSpec) -> str:
    cols = []
    if spec.name == "events":
        cols.append('"event_key" VARCHAR')
    if spec.name == "reviews":
        cols.append('"review_key" VARCHAR')
    cols += [f'"{c.name}" {SQL_TYPES[c.kind]}' for c in spec.columns]
    cols += [f'"{n}" {t}' for n, t in PROVENANCE]
    return f'CREATE TABLE IF NOT EXISTS "{spec.name}" ({", ".join(cols)})'


_META_DDL = [
    """CREATE TABLE IF NOT EXISTS rejects (
        reject_key VARCHAR, load_id VARCHAR, table_name VARCHAR, source_file VARCHAR,
        source_line BIGINT, reason VARCHAR, raw VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS load_log (
        load_id VARCHAR, loaded_at TIMESTAMP, source VARCHAR, table_name VARCHAR, file VARCHAR,
        "read" BIGINT, loaded BIGINT, rejected BIGINT, new BIGINT)""",
    """CREATE OR REPLACE VIEW all_items AS
        SELECT item_id, title, description, category, brand, price, launched_at, image_url, attrs
        FROM items
        UNION ALL
        SELECT e.item_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM (SELECT DISTINCT item_id FROM events) e
        WHERE e.item_id NOT IN (SELECT item_id FROM items)""",
]

# Content that identifies an event when the shop gives no event id: equal rows in one file stay
# distinct through their occurrence number, and a reload of the same file maps onto the same keys.
_EVENT_CONTENT = ("timestamp", "user_id", "item_id", "event", "quantity", "price", "session_id",
                  "position", "surface", "propensity", "order_id", "attrs")


def keyed_events_sql(source: str, columns: Sequence[str], legacy: bool = True) -> str:
    """DuckDB SQL giving the validated events of ``source`` their ``event_key`` (also used by PostgreSQL).

    The key is the MD5 of the event's content plus its occurrence number among equal rows of the write,
    so a reload maps onto the same keys. Where the batch carries the attributes in file order
    (``legacy_attrs``), ``legacy_key`` is the key the store gave such a row before attributes were kept
    in name order: the writer skips a row when either key is stored. ``legacy=False`` leaves it out (a
    store without events holds no such keys; it costs a second hash and join per row).
    """
    def digest(attrs: str) -> str:
        content = ", ".join(f"coalesce(CAST({_ident(attrs if c == 'attrs' else c)} AS VARCHAR), '')"
                            for c in _EVENT_CONTENT)
        return f"md5(concat_ws(chr(31), {content}))"

    def key(h: str) -> str:
        return f"{h} || '#' || CAST(row_number() OVER (PARTITION BY {h} ORDER BY source_line) - 1 AS VARCHAR)"

    if LEGACY_ATTRS not in columns or not legacy:
        drop = f"h, {LEGACY_ATTRS}" if LEGACY_ATTRS in columns else "h"
        return f"SELECT {key('h')} AS event_key, * EXCLUDE ({drop}) FROM (SELECT {digest('attrs')} AS h, * FROM {source})"
    return (f"SELECT {key('h')} AS event_key, {key('lh')} AS legacy_key, * EXCLUDE (h, lh, {LEGACY_ATTRS}) "
            f"FROM (SELECT {digest('attrs')} AS h, {digest(LEGACY_ATTRS)} AS lh, * FROM {source})")


class DuckDBStore(Store):
    def __init__(self, url: str, read_only: bool = False) -> None:
        self.url = url
        path = url.split("://", 1)[1]
        path = path[1:] if path.startswith("/") else path  # duckdb:///rel, duckdb:////abs
        self.path = path or ":memory:"
        try:
            if self.path != ":memory:":
                Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a parent that is a file, a folder that cannot be made
            raise StoreError(f"cannot open the DuckDB store {self.path}: cannot make its folder "
                             f"({exc.strerror or exc}: {exc.filename or Path(self.path).parent})") from exc
        _refuse_other_files(self.path)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the DuckDB store {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self.con.execute("SET TimeZone = 'UTC'")
        if not read_only:
            self._ensure_schema()

    def _ensure_schema(self) -> None:
        with self._lock:
            for spec in TABLES.values():
                self.con.execute(_ddl(spec))
            for ddl in _META_DDL:
                self.con.execute(ddl)

    # --- loading ------------------------------------------------------------------------------
    def apply_load(self, load_id: str, source: str, batches: Sequence["Validated"]) -> LoadResult:
        result = LoadResult(load_id, source)
        with self._lock:
            con = self.con
            con.execute("BEGIN TRANSACTION")
            try:
                for v in batches:
                    new = self._merge(v, load_id)
                    loaded = v.accepted.num_rows
                    file = v.file or (str(v.accepted["source_file"][0]) if loaded else (
                        str(v.rejects["source_file"][0]) if v.rejects.num_rows else ""))
                    counts = TableCounts(v.spec.name, file, v.read, loaded, v.rejects.num_rows, new)
                    self._store_rejects(load_id, v)
                    con.execute("INSERT INTO load_log VALUES (?, now(), ?, ?, ?, ?, ?, ?, ?)",
                                [load_id, source, v.spec.name, file, counts.read, counts.loaded,
                                 counts.rejected, counts.new])
                    result.tables.append(counts)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return result

    def _merge(self, v: "Validated", load_id: str) -> int:
        con = self.con
        spec = v.spec
        name = spec.name
        con.register("staged_in", v.accepted)
        try:
            cols = [c.name for c in spec.columns] + [n for n, _ in PROVENANCE if n != "load_id"]
            col_sql = ", ".join(_ident(c) for c in cols)
            if name == "events":
                before = self.count("events")
                old_keys = before > 0 and LEGACY_ATTRS in v.accepted.column_names
                con.execute("CREATE OR REPLACE TEMP TABLE staged AS "
                            + keyed_events_sql("staged_in", v.accepted.column_names, legacy=old_keys))
                legacy = "ANTI JOIN events l ON l.event_key = s.legacy_key" if old_keys else ""
                con.execute(f"""
                    INSERT INTO events (event_key, {col_sql}, load_id)
                    SELECT s.event_key, {", ".join("s." + _ident(c) for c in cols)}, ?
                    FROM staged s ANTI JOIN events e ON e.event_key = s.event_key {legacy}""", [load_id])
                return self.count("events") - before
            if name == "reviews":
                key_expr = ("coalesce(review_id, md5(concat_ws(chr(31), item_id, coalesce(user_id, ''), "
                            "coalesce(CAST(timestamp AS VARCHAR), ''), text)))")
                key = "review_key"
                con.execute(f"CREATE OR REPLACE TEMP TABLE staged AS SELECT {key_expr} AS review_key, * FROM staged_in")
                cols = ["review_key"] + cols
                col_sql = ", ".join(_ident(c) for c in cols)
            else:
                key = spec.key[0]
                con.execute("CREATE OR REPLACE TEMP TABLE staged AS SELECT * FROM staged_in")
            # the last row for a key wins, within the file and against the store
            con.execute(f"""
                CREATE OR REPLACE TEMP TABLE staged_last AS
                SELECT * FROM staged QUALIFY row_number() OVER (PARTITION BY {_ident(key)} ORDER BY source_line DESC) = 1""")
            new = con.execute(f"""SELECT count(*) FROM staged_last s
                              ANTI JOIN {_ident(name)} t ON t.{_ident(key)} = s.{_ident(key)}""").fetchone()[0]
            con.execute(f"DELETE FROM {_ident(name)} WHERE {_ident(key)} IN (SELECT {_ident(key)} FROM staged_last)")
            con.execute(f"""INSERT INTO {_ident(name)} ({col_sql}, load_id)
                            SELECT {col_sql}, ? FROM staged_last""", [load_id])
            return int(new)
        finally:
            con.unregister("staged_in")

    def _store_rejects(self, load_id: str, v: "Validated") -> None:
        if v.rejects.num_rows == 0:
            return
        con = self.con
        con.register("rejects_in", v.rejects)
        try:
            con.execute("""
                INSERT INTO rejects
                SELECT k, ?, ?, source_file, source_line, reason, raw FROM (
                    SELECT md5(concat_ws(chr(31), source_file, CAST(source_line AS VARCHAR), coalesce(raw, ''))) AS k, *
                    FROM rejects_in) r
                WHERE k NOT IN (SELECT reject_key FROM rejects)""", [load_id, v.spec.name])
        finally:
            con.unregister("rejects_in")

    # --- generic access -----------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self._lock:
            try:
                if params:
                    cur = self.con.execute(sql, list(params))
                    return cur.fetch_arrow_table()
                return self.con.sql(sql).fetch_arrow_table()
            except duckdb.Error as exc:
                raise StoreError(f"query failed on {self.url}: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._lock:
            self.con.execute(sql, list(params) if params else None)

    def write(self, name: str, table: pa.Table, mode: str = "replace", key: Sequence[str] | None = None) -> int:
        ident = _ident(name)
        with self._lock:
            con = self.con
            con.register("write_in", table)
            try:
                con.execute("BEGIN TRANSACTION")
                if mode == "replace" or not self.has_table(name):
                    con.execute(f"CREATE OR REPLACE TABLE {ident} AS SELECT * FROM write_in")
                elif mode == "append":
                    con.execute(f"INSERT INTO {ident} BY NAME SELECT * FROM write_in")
                elif mode == "upsert":
                    if not key:
                        raise StoreError("upsert needs key columns")
                    cond = " AND ".join(f"t.{_ident(k)} = w.{_ident(k)}" for k in key)
                    con.execute(f"DELETE FROM {ident} t WHERE EXISTS (SELECT 1 FROM write_in w WHERE {cond})")
                    con.execute(f"INSERT INTO {ident} BY NAME SELECT * FROM write_in")
                else:
                    raise StoreError(f"unknown write mode '{mode}'")
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            finally:
                con.unregister("write_in")
        return table.num_rows

    def has_table(self, name: str) -> bool:
        with self._lock:
            row = self.con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_catalog <> 'temp'", [name]).fetchone()
        return bool(row and row[0])

    def tables(self) -> list[str]:
        with self._lock:
            rows = self.con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_catalog <> 'temp' ORDER BY table_name").fetchall()
        return [r[0] for r in rows]

    def close(self) -> None:
        with self._lock:
            try:
                self.con.close()
            except duckdb.Error:
                pass


def _refuse_other_files(path: str) -> None:
    """An existing file that is not a DuckDB database (a shop's CSV given as ``--db`` by mistake) is refused.

    DuckDB (1.5) opens such a file without a word and keeps every write in memory, so ``keys create`` printed
    a key that was never stored and an ingest "loaded" rows that vanished at exit. A database file carries
    the magic bytes ``DUCK`` after its 8-byte checksum; an empty file is left to DuckDB, which makes it one.
    """
    if path == ":memory:":
        return
    p = Path(path).expanduser()
    if not p.is_file() or p.stat().st_size == 0:
        return
    with p.open("rb") as fh:
        head = fh.read(12)
    if head[8:12] != b"DUCK":
        raise StoreError(f"{p} is not a DuckDB database (a {p.suffix or 'plain'} file?): give the store's "
                         f"file as --db, or a new name to start one")
