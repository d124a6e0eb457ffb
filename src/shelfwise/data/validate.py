"""Row validation: raw text columns in, typed accepted rows and rejects (with reasons) out.

The checks run as one vectorised DuckDB query over the Arrow columns, so a 500k-row file validates
in about a second. Every rule of SHOP_FORMAT.md that concerns a single row lives here.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from ..errors import SchemaError
from .readers import RawTable
from .schema import EVENT_TYPES, SQL_TYPES, Column, Kind, TableSpec

# Unix epoch seconds up to the year 9999; a larger number is not a plausible timestamp.
_MAX_EPOCH = 253402300799
# The stored range of timestamps: what Python's datetime (and so every reader of the store) can hold.
_MIN_TS = "TIMESTAMP '0001-01-01 00:00:00'"
_MAX_TS = "TIMESTAMP '9999-12-31 23:59:59.999999'"

_db: duckdb.DuckDBPyConnection | None = None
_db_lock = threading.Lock()


def _connection() -> duckdb.DuckDBPyConnection:
    """A fresh connection to one process-wide in-memory database.

    Opening a database costs ~10 ms, a cursor on an open one ~0.2 ms; the API validates every small
    batch of live events, so the database is opened once. Each call still gets its own connection
    (cursor): temporary tables and registered Arrow views are private to it, and threads do not share one.
    """
    global _db
    with _db_lock:
        if _db is None:
            _db = duckdb.connect(":memory:")
        return _db.cursor()


#: A column of validated events whose extra columns were not in name order in their file: the attributes
#: as the file ordered them. Event keys were once hashed over that text; a store also checks the key it
#: gives, so rows it stored then are not stored again (stores drop the column, it is never kept).
LEGACY_ATTRS = "legacy_attrs"


@dataclass
class Validated:
    spec: TableSpec
    accepted: pa.Table  # typed spec columns + attrs (+ legacy_attrs for some events), source_file, source_line
    rejects: pa.Table   # source_file, source_line, reason, raw
    read: int
    file: str = ""  # the file read (named in the load counts even when it held no rows)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _value(ident: str) -> str:
    """The trimmed text of a column (its working name in the query), NULL when empty."""
    return f"NULLIF(trim({ident}), '')"


def _typed(col: Column, ident: str) -> str:
    v = _value(ident)
    if col.default is not None:
        v = f"coalesce({v}, {_lit(col.default)})"
    k = col.kind
    if k is Kind.TIMESTAMP:
        # Values with a zone name ('... CET', '... Europe/London', '... UTC') are cast by their own
        # expression: DuckDB (1.5) keeps the zone of the last named-zone value a cast parsed for the
        # naive values after it in the same batch, which stored them shifted by that zone's offset.
        # The result must lie in the years 1 to 9999: 'infinity' and far dates cast, but no reader
        # (Python, pandas) can hold them afterwards.
        return (f"(CASE WHEN regexp_full_match({v}, '[-+]?[0-9]+(\\.[0-9]+)?') "
                f"THEN (CASE WHEN abs(TRY_CAST({v} AS DOUBLE)) <= {_MAX_EPOCH} "
                f"THEN to_timestamp(TRY_CAST({v} AS DOUBLE))::TIMESTAMP END) "
                f"WHEN regexp_matches({v}, '[A-Za-z]{{2}}') "
                f"THEN timezone('UTC', TRY_CAST({v} AS TIMESTAMPTZ)) "
                f"ELSE TRY_CAST(TRY_CAST({v} AS TIMESTAMPTZ) AS TIMESTAMP) END)")
    if k in (Kind.NUMBER, Kind.PRICE, Kind.QUANTITY, Kind.PROBABILITY, Kind.RATING):
        return f"(CASE WHEN isfinite(TRY_CAST({v} AS DOUBLE)) THEN TRY_CAST({v} AS DOUBLE) END)"
    if k is Kind.POSITION:
        return (f"(CASE WHEN TRY_CAST({v} AS DOUBLE) = floor(TRY_CAST({v} AS DOUBLE)) "
                f"AND abs(TRY_CAST({v} AS DOUBLE)) < 2e9 THEN TRY_CAST(TRY_CAST({v} AS DOUBLE) AS INTEGER) END)")
    if k is Kind.EVENT:
        return f"lower({v})"
    return v


def _problems(col: Column, ident: str) -> list[str]:
    """SQL expressions, each the reason text when the row breaks one rule for this column, else NULL."""
    return rule_problems(col, _value(ident), _lit)


def rule_problems(col: Column, v: str, lit: Callable[[str], str]) -> list[str]:
    """The SHOP_FORMAT row rules for one column as SQL CASE expressions: the reason text, or NULL.

    ``v`` is the column's raw (trimmed, NULL-when-empty) value expression and ``lit`` quotes a string
    literal in the target dialect; the typed value is the column ``t_<name>``. The embedded DuckDB
    validation and the Spark ingest (:mod:`shelfwise.engines.spark_ingest`) both build their checks
    here, so the two engines reject the same rows with the same reasons.
    """
    t = f"t_{col.name}"
    name = col.name
    qn = f"'{name}'"
    out: list[str] = []
    if col.required and not col.nullable:
        out.append(f"CASE WHEN {v} IS NULL THEN {lit(f'missing required value in column {qn}')} END")
    shown = f"left({v}, 60)"

    def reason(before: str, after: str) -> str:
        return f"concat({lit(before)}, {shown}, {lit(after)})"

    parse_word = {
        Kind.TIMESTAMP: "a timestamp (ISO 8601 or Unix epoch seconds)",
        Kind.NUMBER: "a number", Kind.PRICE: "a number", Kind.QUANTITY: "a number", Kind.PROBABILITY: "a number",
        Kind.RATING: "a number", Kind.POSITION: "a whole number",
    }.get(col.kind)
    if parse_word:
        out.append(f"CASE WHEN {v} IS NOT NULL AND {t} IS NULL THEN "
                   f"{reason('cannot parse ', f' in column {qn} as {parse_word}')} END")
    if col.kind is Kind.PRICE:
        out.append(f"CASE WHEN {t} < 0 THEN {reason('negative price ', f' in column {qn}')} END")
    if col.kind is Kind.QUANTITY:
        out.append(f"CASE WHEN {t} <= 0 THEN "
                   f"{reason('quantity ', ' is not above 0 (a return is a return event with a positive quantity)')} END")
    if col.kind is Kind.POSITION:
        out.append(f"CASE WHEN {t} < 1 THEN {reason('position ', ' is not a 1-based slot')} END")
    if col.kind is Kind.PROBABILITY:
        out.append(f"CASE WHEN {t} <= 0 OR {t} > 1 THEN {reason('propensity ', ' is not in (0, 1]')} END")
    if col.kind is Kind.RATING:
        out.append(f"CASE WHEN {t} < 1 OR {t} > 5 THEN {reason('rating ', ' is not between 1 and 5')} END")
    if col.kind is Kind.EVENT:
        allowed = ", ".join(lit(e) for e in EVENT_TYPES)
        out.append(f"CASE WHEN {v} IS NOT NULL AND {t} NOT IN ({allowed}) THEN "
                   f"{reason('unknown event type ', f' (expected one of {chr(47).join(EVENT_TYPES)})')} END")
    return out


def validate(raw: RawTable, spec: TableSpec) -> Validated:
    """Type and check every record of ``raw`` against ``spec``.

    Raises :class:`SchemaError` when a required column is missing from the file: that is a file-level
    problem, and nothing of the file is loaded.
    """
    missing = [c for c in spec.required if c not in raw.columns]
    if missing:
        cols = ", ".join(f"'{m}'" for m in missing)
        hint = ""
        if len(raw.columns) == 1 and raw.path.name.endswith((".csv", ".csv.gz")):
            for sep, word in (("\t", "tab"), (";", "semicolon"), ("|", "pipe")):
                if sep in raw.columns[0]:
                    hint = f"; the header looks {word}-separated, but a shop CSV is comma-separated"
                    break
        raise SchemaError(f"is missing the required column {cols} of table '{spec.name}' "
                          f"(found: {', '.join(raw.columns) or 'none'}){hint}", file=str(raw.path))
    # The query works on positional names (c0, c1, ... for the file's columns, in its order): a file
    # column called like a working column of the query (t_item_id, _attrs, _reason, _raw, _line) would
    # otherwise take its place. The file's own names appear only as text (attrs keys, raw, reasons).
    n = len(raw.columns)
    work = [raw.data.column(i) for i in range(n)]
    ident = {name: f"c{i}" for i, name in enumerate(raw.columns)}
    for c in spec.columns:
        if c.name not in ident:
            ident[c.name] = f"c{len(work)}"
            work.append(pa.nulls(raw.data.num_rows, pa.string()))
    data = pa.Table.from_arrays([*work, raw.data.column(raw.data.num_columns - 1)],
                                names=[f"c{i}" for i in range(len(work))] + ["_line"])
    # Attributes are kept in name order, not the file's: the same rows exported with their extra
    # columns in another order are the same events (the event key hashes the attributes' text).
    in_file_order = [c for c in raw.columns if c not in spec.names]
    extras = sorted(in_file_order)

    typed_cols = ",\n".join(f"{_typed(c, ident[c.name])} AS t_{c.name}" for c in spec.columns)
    reasons = [p for c in spec.columns for p in _problems(c, ident[c.name])]
    reason_sql = f"concat_ws('; ', {', '.join(reasons)})" if reasons else "''"

    def attrs_json(names: list[str]) -> str:
        # An empty extra value means "not given", as for the spec columns: stored as JSON null, so the
        # same shop written as CSV (empty string) and as Parquet (null) loads to the same rows and keys.
        return "json_object(" + ", ".join(f"{_lit(e)}, nullif({ident[e]}, '')" for e in names) + ")::VARCHAR"

    attrs_sql = attrs_json(extras) if extras else "NULL::VARCHAR"
    # Stores written before the name order keyed events by the attributes in file order: they get that
    # text too, so a reload of such a file is still known (see LEGACY_ATTRS).
    legacy = spec.name == "events" and in_file_order != extras
    legacy_sql = f", {attrs_json(in_file_order)} AS _legacy" if legacy else ""
    legacy_out = f", _legacy AS {LEGACY_ATTRS}" if legacy else ""
    raw_sql = "json_object(" + ", ".join(f"{_lit(c)}, {ident[c]}" for c in raw.columns) + ")::VARCHAR"
    source = str(raw.path)

    # a timestamp outside the years 1 to 9999 ('infinity', '290000-01-01') is unparsable, not stored
    in_range = [f"(CASE WHEN t_{c.name} BETWEEN {_MIN_TS} AND {_MAX_TS} THEN t_{c.name} END) AS t_{c.name}"
                for c in spec.columns if c.kind is Kind.TIMESTAMP]
    replace = f" REPLACE ({', '.join(in_range)})" if in_range else ""

    con = _connection()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("raw_in", data)
        con.execute(f"""
            CREATE TEMP TABLE checked AS
            SELECT *, {reason_sql} AS _reason FROM (
                SELECT *{replace} FROM (
                    SELECT *, {typed_cols}, {attrs_sql} AS _attrs{legacy_sql}, {raw_sql} AS _raw FROM raw_in
                )
            )""")
        out_cols = ", ".join(f"t_{c.name}::{SQL_TYPES[c.kind]} AS {_q(c.name)}" for c in spec.columns)
        accepted = con.sql(f"""
            SELECT {out_cols}, _attrs AS attrs{legacy_out}, {_lit(source)} AS source_file, _line AS source_line
            FROM checked WHERE _reason = '' ORDER BY _line""").fetch_arrow_table()
        rejects = con.sql(f"""
            SELECT {_lit(source)} AS source_file, _line AS source_line, _reason AS reason, _raw AS raw
            FROM checked WHERE _reason <> '' ORDER BY _line""").fetch_arrow_table()
    finally:
        con.close()
    if raw.rejects:
        extra = pa.table({
            "source_file": pa.array([source] * len(raw.rejects), pa.string()),
            "source_line": pa.array([r.line for r in raw.rejects], pa.int64()),
            "reason": pa.array([r.reason for r in raw.rejects], pa.string()),
            "raw": pa.array([r.raw for r in raw.rejects], pa.string()),
        })
        rejects = pa.concat_tables([rejects.cast(extra.schema), extra]).sort_by("source_line")
    return Validated(spec, accepted, rejects, raw.read, source)
