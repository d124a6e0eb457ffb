"""The shared backend: a PostgreSQL database that several service processes use at once.

It behaves like :mod:`.duckdb_store` (the reference): the same tables, rejects, load log, content-keyed
event dedup and keyed upserts, and reads that come back as Arrow. What differs is how it stays correct
with several writers:

* every shop table has a unique key in the database (``items.item_id``, ``events.event_key``, ...) and
  rows go in with ``INSERT ... ON CONFLICT``, so two processes loading or appending the same events
  never store one twice, whatever the interleaving;
* loads and derived-table writes run in one transaction each, serialised per table with transaction
  advisory locks, so a reader sees a table before or after a write, never half of it;
* bulk rows travel with ``COPY`` (CSV made by Arrow's C++ writer), so a ~540k-row shop loads in seconds.

The content keys of events and reviews are computed exactly as the DuckDB backend computes them (with
an in-memory DuckDB over the validated Arrow batch), so a shop moved from one backend to the other
maps onto the same keys.

SQL from callers uses ``?`` placeholders (the DuckDB style the rest of shelfwise writes); they are
turned into psycopg's bound parameters here, never into literals. URL:
``postgresql://user@host:5432/dbname[?schema=name]`` (``schema`` keeps several shops in one database;
put passwords in ``PGPASSWORD`` or ``~/.pgpass`` rather than the URL).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg import sql as psql
from psycopg.types.numeric import FloatLoader
from psycopg.types.string import TextLoader

from ...errors import StoreError
from ...logs import get_logger
from ..schema import PROVENANCE, SQL_TYPES, TABLES, TableSpec
from .base import LoadResult, Store, TableCounts, _ident, register_backend
from ..validate import LEGACY_ATTRS
from .duckdb_store import keyed_events_sql
from .pg_sql import (CSV_TYPES, pg_type, prepare_for_csv, py_values, redact, rerunnable, split_url, to_arrow,
                     to_psycopg)

if TYPE_CHECKING:
    from ..validate import Validated

log = get_logger(__name__)
T = TypeVar("T")

_PG_TYPES = {"VARCHAR": "TEXT", "TIMESTAMP": "TIMESTAMP", "DOUBLE": "DOUBLE PRECISION",
             "INTEGER": "INTEGER", "BIGINT": "BIGINT"}

# the key each shop table is unique on (events and reviews: content keys the store computes)
_UNIQUE = {"items": "item_id", "users": "user_id", "stock": "item_id", "events": "event_key",
           "reviews": "review_key"}

_COPY_BATCH_ROWS = 65_536
# reads of at least this many rows are fetched again with COPY (see query)
_COPY_READ_ROWS = 20_000
# a load this large into an empty table drops the table's other indexes and builds them afterwards
# (one sorted build instead of a row-by-row insert into each: the first load of a shop is ~2x faster)
_BULK_ROWS = 50_000
# event batches this large send their keys first and then only the unknown rows (small API batches
# skip that round trip)
_KEYS_FIRST_ROWS = 5_000


def _ddl(spec: TableSpec) -> str:
    cols = []
    if spec.name == "events":
        cols.append('"event_key" TEXT')
    if spec.name == "reviews":
        cols.append('"review_key" TEXT')
    cols += [f'"{c.name}" {_PG_TYPES[SQL_TYPES[c.kind]]}' for c in spec.columns]
    cols += [f'"{n}" {_PG_TYPES[t]}' for n, t in PROVENANCE]
    key = _UNIQUE[spec.name]
    cols.append(f'CONSTRAINT "{spec.name}_{key}_unique" UNIQUE ("{key}")')
    return f'CREATE TABLE IF NOT EXISTS "{spec.name}" ({", ".join(cols)})'


_META_DDL = [
    """CREATE TABLE IF NOT EXISTS rejects (
        reject_key TEXT CONSTRAINT rejects_reject_key_unique UNIQUE, load_id TEXT, table_name TEXT,
        source_file TEXT, source_line BIGINT, reason TEXT, raw TEXT)""",
    """CREATE TABLE IF NOT EXISTS load_log (
        load_id TEXT, loaded_at TIMESTAMP, source TEXT, table_name TEXT, file TEXT,
        "read" BIGINT, loaded BIGINT, rejected BIGINT, new BIGINT)""",
    # the service reads one user's recent history per request
    'CREATE INDEX IF NOT EXISTS events_user_time ON events (user_id, "timestamp")',
    """CREATE OR REPLACE VIEW all_items AS
        SELECT item_id, title, description, category, brand, price, launched_at, image_url, attrs
        FROM items
        UNION ALL
        SELECT e.item_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
        FROM (SELECT DISTINCT item_id FROM events) e
        WHERE NOT EXISTS (SELECT 1 FROM items i WHERE i.item_id = e.item_id)""",
]
_SCHEMA_OBJECTS = [*TABLES, "rejects", "load_log", "all_items"]


class PostgresStore(Store):
    """A shop store in a PostgreSQL database (one schema per shop); safe for several processes."""

    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        self.url = url
        self._shown = redact(url)
        self._conninfo, self.schema = split_url(url)
        self._lock = threading.RLock()
        self._con: psycopg.Connection[Any] | None = None
        self._duck: duckdb.DuckDBPyConnection | None = None
        with self._lock:
            self._connect()
            self._ensure_schema()

    # --- connection ---------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        try:
            # no server-side prepared statements: a plan cached in this process breaks ("cached plan
            # must not change result type") when another process alters a table it reads
            con = psycopg.connect(self._conninfo, autocommit=True, connect_timeout=15,
                                  application_name="shelfwise", prepare_threshold=None)
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to the PostgreSQL store {self._shown}: {exc}".strip()) from exc
        # numbers come back as floats (not Decimal) and JSON as its text, as DuckDB returns them
        con.adapters.register_loader("numeric", FloatLoader)
        for name in ("json", "jsonb"):
            con.adapters.register_loader(name, TextLoader)
        con.execute("SET TIME ZONE 'UTC'")
        if self.schema:
            try:
                con.execute(psql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(psql.Identifier(self.schema)))
            except psycopg.errors.UniqueViolation:
                pass  # another process created it at the same moment
            con.execute(psql.SQL("SET search_path TO {}").format(psql.Identifier(self.schema)))
        self._con = con
        return con

    @property
    def con(self) -> psycopg.Connection[Any]:
        """The live connection, reopened when the server dropped it (a long-running service sees this)."""
        con = self._con
        if con is None or con.closed or con.broken:
            con = self._connect()
        return con

    @contextmanager
    def _tx(self, *locks: str) -> Iterator[psycopg.Cursor[Any]]:
        """A transaction holding advisory locks named ``locks`` (scoped to this store's schema)."""
        with self._lock:
            con = self.con
            try:
                with con.transaction(), con.cursor() as cur:
                    for name in sorted(locks):
                        self._advisory_lock(cur, name)
                    yield cur
            except psycopg.Error as exc:
                raise StoreError(f"write to the PostgreSQL store {self._shown} failed and was rolled back: "
                                 f"{exc}") from exc

    def _advisory_lock(self, cur: psycopg.Cursor[Any], name: str) -> None:
        """Wait for, then hold until the transaction ends, the lock ``name`` of this store's schema."""
        cur.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"shelfwise:{self.schema or 'public'}:{name}"])

    def _ensure_schema(self) -> None:
        if all(self.has_table(n) for n in _SCHEMA_OBJECTS):
            return
        with self._tx("schema") as cur:
            for spec in TABLES.values():
                cur.execute(_ddl(spec))
            for ddl in _META_DDL:
                cur.execute(ddl)

    # --- loading ------------------------------------------------------------------------------
    def apply_load(self, load_id: str, source: str, batches: Sequence["Validated"]) -> LoadResult:
        result = LoadResult(load_id, source)
        # no lock around loads: the API's event intake must not wait behind a bulk ingest. Unique keys
        # with ON CONFLICT keep concurrent loads correct, and rows go in key order, so two loads of the
        # same table take row locks in one order (a deadlock needs overlapping keys inside two groups
        # of one call; PostgreSQL then aborts one load whole, which the caller sees as StoreError)
        with self._tx() as cur:
            cur.execute("SET LOCAL work_mem = '128MB'")  # the key-ordered insert sorts in memory
            for v in batches:
                new = self._merge(cur, v, load_id)
                loaded = v.accepted.num_rows
                file = v.file or (str(v.accepted["source_file"][0]) if loaded else (
                    str(v.rejects["source_file"][0]) if v.rejects.num_rows else ""))
                counts = TableCounts(v.spec.name, file, v.read, loaded, v.rejects.num_rows, new)
                self._store_rejects(cur, load_id, v)
                cur.execute("INSERT INTO load_log VALUES (%s, now() AT TIME ZONE 'UTC', %s, %s, %s, %s, %s, %s, %s)",
                            [load_id, source, v.spec.name, file, counts.read, counts.loaded,
                             counts.rejected, counts.new])
                result.tables.append(counts)
        return result

    def _stage(self, v: "Validated", legacy: bool = True) -> tuple[pa.Table, str]:
        """The rows to merge with their unique key, computed as the DuckDB backend computes them
        (``legacy``: with events' keys from before attributes were sorted, see ``keyed_events_sql``)."""
        if self._duck is None:
            self._duck = duckdb.connect()
            self._duck.execute("SET TimeZone = 'UTC'")
        con = self._duck
        name = v.spec.name
        con.register("staged_in", v.accepted)
        try:
            if name == "events":
                sql = keyed_events_sql("staged_in", v.accepted.column_names, legacy=legacy)
                return con.sql(sql).fetch_arrow_table(), "event_key"
            if name == "reviews":
                key = "review_key"
                src = ("SELECT coalesce(review_id, md5(concat_ws(chr(31), item_id, coalesce(user_id, ''), "
                       "coalesce(CAST(timestamp AS VARCHAR), ''), text))) AS review_key, * FROM staged_in")
            else:
                key = v.spec.key[0]
                src = "SELECT * FROM staged_in"
            # the last row for a key wins within the file (the store side is ON CONFLICT DO UPDATE)
            return con.sql(f"""SELECT * FROM ({src})
                QUALIFY row_number() OVER (PARTITION BY {_ident(key)} ORDER BY source_line DESC) = 1""").fetch_arrow_table(), key
        finally:
            con.unregister("staged_in")

    def _merge(self, cur: psycopg.Cursor[Any], v: "Validated", load_id: str) -> int:
        name = v.spec.name
        legacy = False
        if name == "events" and LEGACY_ATTRS in v.accepted.column_names:
            cur.execute("SELECT EXISTS (SELECT 1 FROM events)")  # an empty store holds no old keys
            legacy = bool(cur.fetchone()[0])
        staged, key = self._stage(v, legacy)
        if staged.num_rows >= _BULK_ROWS:
            # large loads of one table take turns, before touching it: two into an empty table would
            # each wait for the other's read lock to end before dropping its index (a deadlock)
            self._advisory_lock(cur, f"bulk:{name}")
        if "legacy_key" in staged.column_names:
            staged = self._without_legacy_keys(cur, staged)
        if name == "events" and staged.num_rows >= _KEYS_FIRST_ROWS:
            staged = self._unknown_events(cur, staged)
        if staged.num_rows == 0:
            return 0
        tmp = f"_stage_{name}"
        cur.execute(f'CREATE TEMP TABLE "{tmp}" (LIKE "{name}") ON COMMIT DROP')
        self._copy_in(cur, tmp, staged)
        cols = [c for c in staged.column_names]
        col_sql = ", ".join(_ident(c) for c in cols)
        insert = (f'INSERT INTO "{name}" ({col_sql}, "load_id") SELECT {col_sql}, %s FROM "{tmp}" s '
                  '{where} '
                  f'ORDER BY {_ident(key)}')  # one lock order for every writer: no deadlocks
        rebuild = self._drop_secondary_indexes(cur, name) if staged.num_rows >= _BULK_ROWS else []
        if name == "events":
            # the anti-join skips known events in one hash join (a reload); ON CONFLICT still guards
            # against a concurrent writer that stored the same key after this statement's snapshot
            where = 'WHERE NOT EXISTS (SELECT 1 FROM "events" e WHERE e."event_key" = s."event_key")'
            cur.execute(insert.format(where=where) + ' ON CONFLICT ("event_key") DO NOTHING', [load_id])
            new = cur.rowcount
        else:
            insert = insert.format(where="")
            sets = ", ".join(f"{_ident(c)} = EXCLUDED.{_ident(c)}" for c in [*cols, "load_id"] if c != key)
            cur.execute(f"""WITH ins AS ({insert} ON CONFLICT ({_ident(key)}) DO UPDATE SET {sets}
                                        RETURNING (xmax = 0) AS inserted)
                            SELECT count(*) FILTER (WHERE inserted) FROM ins""", [load_id])
            new = cur.fetchone()[0]
        for ddl in rebuild:
            cur.execute(ddl)
        cur.execute(f'DROP TABLE "{tmp}"')
        if new >= _BULK_ROWS:
            cur.execute(f"ANALYZE {_ident(name)}")  # plans for the per-user reads see the new rows
        return int(new)

    def _unknown_events(self, cur: psycopg.Cursor[Any], staged: pa.Table) -> pa.Table:
        """The staged events whose keys the store does not hold yet.

        Only the keys travel first (a tenth of the bytes), so reloading an unchanged or grown export
        (the usual daily full dump) sends the store just what is new.
        """
        cur.execute("CREATE TEMP TABLE _keys_in (event_key TEXT) ON COMMIT DROP")
        self._copy_in(cur, "_keys_in", staged.select(["event_key"]))
        cur.execute("""CREATE TEMP TABLE _keys_new ON COMMIT DROP AS SELECT k.event_key FROM _keys_in k
                       WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_key = k.event_key)""")
        n_new = cur.rowcount
        if n_new == 0:
            staged = staged.slice(0, 0)
        elif n_new < staged.num_rows:
            cur.execute("SELECT event_key FROM _keys_new")
            keys = pa.array([r[0] for r in cur.fetchall()], pa.string())
            staged = staged.filter(pc.is_in(staged["event_key"], value_set=keys))
        cur.execute("DROP TABLE _keys_in, _keys_new")
        return staged

    def _without_legacy_keys(self, cur: psycopg.Cursor[Any], staged: pa.Table) -> pa.Table:
        """The staged events minus those stored under the key they had before attributes were sorted."""
        cur.execute("CREATE TEMP TABLE _legacy_in (legacy_key TEXT) ON COMMIT DROP")
        self._copy_in(cur, "_legacy_in", staged.select(["legacy_key"]))
        cur.execute("SELECT k.legacy_key FROM _legacy_in k JOIN events e ON e.event_key = k.legacy_key")
        known = pa.array([r[0] for r in cur.fetchall()], pa.string())
        cur.execute("DROP TABLE _legacy_in")
        if len(known):
            staged = staged.filter(pc.invert(pc.is_in(staged["legacy_key"], value_set=known)))
        return staged.drop_columns(["legacy_key"])

    def _drop_secondary_indexes(self, cur: psycopg.Cursor[Any], name: str) -> list[str]:
        """Drop the non-unique indexes of an empty table; returns the statements that rebuild them.

        Only for an empty table: its readers lose nothing while the load's lock holds them, and a
        later load into a large table keeps its indexes (a rebuild would cost more than it saves).
        """
        cur.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {_ident(name)})")
        if not cur.fetchone()[0]:
            return []
        cur.execute("""SELECT indexname, indexdef FROM pg_indexes i JOIN pg_class c ON c.relname = i.indexname
                       JOIN pg_index x ON x.indexrelid = c.oid
                       WHERE i.schemaname = current_schema() AND i.tablename = %s AND NOT x.indisunique
                         AND c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())""",
                    [name])
        rows = cur.fetchall()
        for index, _ in rows:
            cur.execute(f"DROP INDEX {_ident(index)}")
        return [ddl for _, ddl in rows]

    def _store_rejects(self, cur: psycopg.Cursor[Any], load_id: str, v: "Validated") -> None:
        if v.rejects.num_rows == 0:
            return
        cur.execute("CREATE TEMP TABLE _rejects_in (source_file TEXT, source_line BIGINT, reason TEXT, raw TEXT) "
                    "ON COMMIT DROP")
        self._copy_in(cur, "_rejects_in", v.rejects.select(["source_file", "source_line", "reason", "raw"]))
        cur.execute("""
            INSERT INTO rejects
            SELECT md5(concat_ws(chr(31), source_file, CAST(source_line AS TEXT), coalesce(raw, ''))), %s, %s,
                   source_file, source_line, reason, raw
            FROM _rejects_in ORDER BY 1
            ON CONFLICT (reject_key) DO NOTHING""", [load_id, v.spec.name])
        cur.execute("DROP TABLE _rejects_in")

    def _copy_in(self, cur: psycopg.Cursor[Any], table: str, data: pa.Table) -> None:
        """COPY ``data`` into ``table`` by column name: CSV from Arrow, or row by row for lists and bytes."""
        cols = ", ".join(_ident(c) for c in data.column_names)
        prepared = prepare_for_csv(data)
        if prepared is not None:
            opts = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            with cur.copy(f"COPY {_ident(table)} ({cols}) FROM STDIN (FORMAT csv)") as cp:
                for batch in prepared.to_batches(max_chunksize=_COPY_BATCH_ROWS):
                    buf = io.BytesIO()
                    pacsv.write_csv(batch, buf, opts)
                    cp.write(buf.getbuffer())
            return
        with cur.copy(f"COPY {_ident(table)} ({cols}) FROM STDIN") as cp:
            for batch in data.to_batches(max_chunksize=_COPY_BATCH_ROWS):
                columns = [py_values(c) for c in batch.columns]
                for row in zip(*columns):
                    cp.write_row(row)

    # --- generic access -----------------------------------------------------------------------
    def _reading(self, what: str, fn: Callable[[], T], pure: bool = True) -> T:
        """Run ``fn`` (a read) under the lock; errors become StoreError naming ``what``.

        When the server dropped the connection (a restart, an idle timeout) a pure read is retried
        once on a new connection; anything else is reported, never silently run twice.
        """
        with self._lock:
            try:
                return fn()
            except psycopg.OperationalError as exc:
                if not (pure and self._con is not None and self._con.broken):
                    raise StoreError(f"{what} failed on {self._shown}: {exc}") from exc
                log.warning("PostgreSQL connection lost (%s); reconnecting to %s", exc, self._shown)
                try:
                    return fn()
                except psycopg.Error as again:
                    raise StoreError(f"{what} failed on {self._shown}: {again}") from again
            except psycopg.Error as exc:
                raise StoreError(f"{what} failed on {self._shown}: {exc}") from exc

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        return self._reading("query", lambda: self._query(sql, params), pure=rerunnable(sql))

    def _query(self, sql: str, params: Sequence[Any] | None) -> pa.Table:
        """One read: rows for a small result, COPY for a large pure read (the caller holds the lock)."""
        with self.con.cursor() as cur:
            if params:
                cur.execute(to_psycopg(sql), list(params))
            else:
                cur.execute(sql)
            description = cur.description
            if description is None:
                return pa.table({})
            big = cur.rowcount >= _COPY_READ_ROWS and rerunnable(sql)
            if not big:
                return to_arrow(description, cur.fetchall())
        # a large read: the rows are dropped unconverted and the query runs again as COPY,
        # which Arrow parses ~3x faster than Python builds rows (small reads stay one round trip)
        fast = self._query_by_copy(sql, params, description)
        if fast is not None:
            return fast
        with self.con.cursor() as cur:
            cur.execute(to_psycopg(sql) if params else sql, list(params) if params else None)
            return to_arrow(cur.description or description, cur.fetchall())

    def _query_by_copy(self, sql: str, params: Sequence[Any] | None,
                       description: Sequence[Any]) -> pa.Table | None:
        """A read as ``COPY (query) TO STDOUT`` parsed by Arrow's CSV reader, typed by ``description``.

        None when a column's type cannot travel exactly as CSV (arrays, bytes) or Arrow cannot parse a
        value (a BC date, 'infinity'): the caller then fetches rows.
        """
        types = [CSV_TYPES.get(d.type_code) for d in description]
        if not description or any(t is None for t in types):
            return None
        names = [d.name for d in description]
        body = sql.strip().rstrip(";")
        text = to_psycopg(body) if params else body
        buf = io.BytesIO()
        with self.con.cursor() as cur, cur.copy(f"COPY ({text}\n) TO STDOUT (FORMAT csv)",
                                                 list(params) if params else None) as cp:
            for chunk in cp:
                buf.write(chunk)
        if buf.tell() == 0:
            return pa.Table.from_arrays([pa.array([], t) for t in types], names=names)
        positional = [f"c{i}" for i in range(len(names))]
        try:
            table = pacsv.read_csv(
                pa.py_buffer(buf.getbuffer()),
                read_options=pacsv.ReadOptions(column_names=positional, use_threads=buf.tell() > 1 << 20),
                # a one-column row holding NULL is an empty line: keep it
                parse_options=pacsv.ParseOptions(newlines_in_values=any(pa.types.is_string(t) for t in types),
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(
                    column_types=dict(zip(positional, types)), null_values=[""], strings_can_be_null=True,
                    quoted_strings_can_be_null=False, true_values=["t"], false_values=["f"]))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
        return table.rename_columns(names)

    def read(self, table: str, columns: Sequence[str] | None = None, where: str | None = None,
             params: Sequence[Any] | None = None, order_by: str | None = None) -> pa.Table:
        """As :meth:`Store.read`; a whole large table goes straight to COPY (no first row fetch)."""
        if where is None:
            fast = self._read_whole(table, columns, order_by)
            if fast is not None:
                return fast
        return super().read(table, columns=columns, where=where, params=params, order_by=order_by)

    def _read_whole(self, table: str, columns: Sequence[str] | None, order_by: str | None) -> pa.Table | None:
        """A large table (by the planner's estimate) read by COPY; None for small or unknown ones."""
        def run() -> pa.Table | None:
            with self.con.cursor() as cur:
                cur.execute("""SELECT c.reltuples FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                               WHERE n.nspname = current_schema() AND c.relname = %s AND c.relkind = 'r'""",
                            [table])
                row = cur.fetchone()
                # reltuples is -1 until the table is first analysed: a shop table may then be large
                if row is None or not (row[0] >= _COPY_READ_ROWS or (row[0] < 0 and table in _UNIQUE)):
                    return None
                cols = ", ".join(_ident(c) for c in columns) if columns else "*"
                sql = f"SELECT {cols} FROM {_ident(table)}" + (f" ORDER BY {order_by}" if order_by else "")
                cur.execute(sql + "\nLIMIT 0")
                description = cur.description or []
            return self._query_by_copy(sql, None, description)
        return self._reading(f"reading '{table}'", run)

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        with self._lock:
            try:
                if params:
                    self.con.execute(to_psycopg(sql), list(params))
                else:
                    self.con.execute(sql)
            except psycopg.Error as exc:
                raise StoreError(f"statement failed on {self._shown}: {exc}") from exc

    def write(self, name: str, table: pa.Table, mode: str = "replace", key: Sequence[str] | None = None) -> int:
        ident = _ident(name)
        if mode not in ("replace", "append", "upsert"):
            raise StoreError(f"unknown write mode '{mode}': use replace, append or upsert")
        if mode == "upsert" and not key:
            raise StoreError("upsert needs key columns")
        cols = ", ".join(_ident(c) for c in table.column_names)
        with self._tx(f"table:{name}") as cur:
            exists = self._exists(cur, name)
            if mode == "replace" or not exists:
                if exists:
                    cur.execute(f"DROP TABLE {ident}")
                defs = ", ".join(f"{_ident(f.name)} {pg_type(f.type, f.name)}" for f in table.schema)
                cur.execute(f"CREATE TABLE {ident} ({defs})")
                self._copy_in(cur, name, table)
                return table.num_rows
            unique = self._unique_columns(cur, name)
            if mode == "append" and not unique:
                self._copy_in(cur, name, table)
                return table.num_rows
            cur.execute(f'CREATE TEMP TABLE "_write_in" (LIKE {ident}) ON COMMIT DROP')
            self._copy_in(cur, "_write_in", table)
            if mode == "upsert":
                cond = " AND ".join(f"t.{_ident(k)} = w.{_ident(k)}" for k in key or ())
                cur.execute(f'DELETE FROM {ident} t USING "_write_in" w WHERE {cond}')
            # tables with a unique key (events.event_key, ...) skip rows already there: a retried or
            # concurrent append stores each row once
            # (inserted in key order, so concurrent writers take row locks in one order: no deadlock)
            conflict = " ON CONFLICT DO NOTHING" if unique else ""
            order = ", ".join(_ident(c) for c in unique) if unique else "1"
            cur.execute(f'INSERT INTO {ident} ({cols}) SELECT {cols} FROM "_write_in" ORDER BY {order}{conflict}')
            cur.execute('DROP TABLE "_write_in"')
        return table.num_rows

    def _exists(self, cur: psycopg.Cursor[Any], name: str) -> bool:
        cur.execute("""SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                       WHERE n.nspname = current_schema() AND c.relname = %s
                       AND c.relkind IN ('r', 'v', 'm', 'p', 'f'))""", [name])
        return bool(cur.fetchone()[0])

    def _unique_columns(self, cur: psycopg.Cursor[Any], name: str) -> list[str]:
        """The columns of the table's first unique index (primary key first), or [] when it has none."""
        cur.execute("""SELECT a.attname FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
                       JOIN pg_namespace n ON n.oid = c.relnamespace
                       CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, pos)
                       JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
                       WHERE n.nspname = current_schema() AND c.relname = %s AND i.indisunique
                         AND i.indexrelid = (SELECT i2.indexrelid FROM pg_index i2 WHERE i2.indrelid = c.oid
                                             AND i2.indisunique ORDER BY i2.indisprimary DESC, i2.indexrelid LIMIT 1)
                       ORDER BY k.pos""", [name])
        return [r[0] for r in cur.fetchall()]

    def has_table(self, name: str) -> bool:
        def look() -> bool:
            with self.con.cursor() as cur:
                return self._exists(cur, name)
        return self._reading("reading the catalog", look)

    def tables(self) -> list[str]:
        def look() -> list[str]:
            rows = self.con.execute("""SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                       WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
                                       ORDER BY c.relname""").fetchall()
            return [r[0] for r in rows]
        return self._reading("reading the catalog", look)

    def close(self) -> None:
        with self._lock:
            if self._con is not None:
                self._con.close()
            if self._duck is not None:
                self._duck.close()
                self._duck = None


register_backend("postgresql", PostgresStore)
register_backend("postgres", PostgresStore)
