"""The PostgreSQL backend's pure parts: SQL text, store URLs, and Arrow <-> PostgreSQL types.

Kept apart from :mod:`.postgres_store` so each reads in one sitting, and so these rules are unit-tested
without a server (tests/store/test_pg_sql.py).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg.postgres
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import StoreError

# --- SQL text ---------------------------------------------------------------------------------------
_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|\?|%", re.S)


def to_psycopg(sql: str) -> str:
    """``?`` placeholders outside literals, identifiers and comments become ``%s``; ``%`` becomes ``%%``.

    psycopg reads ``%`` anywhere in the text as the start of a placeholder, so literal percent signs
    (``LIKE 'a%'``) are doubled, including inside string literals.
    """
    def swap(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok == "?":
            return "%s"
        return tok.replace("%", "%%")
    return _TOKENS.sub(swap, sql)


def split_url(url: str) -> tuple[str, str | None]:
    """(libpq connection URI, schema) from a store URL; ``schema`` is ours, libpq would reject it."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = None
    rest = []
    for k, v in query:
        if k == "schema":
            schema = v
        else:
            rest.append((k, v))
    if schema is not None and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,62}", schema):
        raise StoreError(f"schema '{schema}' in the store URL is not a plain name (letters, digits, _)")
    scheme = "postgresql"
    return urlunsplit((scheme, parts.netloc, parts.path, urlencode(rest), parts.fragment)), schema


def redact(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", url)


# --- Arrow <-> PostgreSQL types ---------------------------------------------------------------------
def pg_type(t: pa.DataType, name: str) -> str:
    if pa.types.is_dictionary(t):
        return pg_type(t.value_type, name)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return "TEXT"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if t in (pa.int8(), pa.int16(), pa.uint8()):
        return "SMALLINT"
    if t in (pa.int32(), pa.uint16()):
        return "INTEGER"
    if t in (pa.int64(), pa.uint32()):
        return "BIGINT"
    if t == pa.uint64():
        return "NUMERIC(20, 0)"
    if t in (pa.float16(), pa.float32()):
        return "REAL"
    if pa.types.is_float64(t):
        return "DOUBLE PRECISION"
    if pa.types.is_decimal(t):
        return f"NUMERIC({t.precision}, {t.scale})"
    if pa.types.is_timestamp(t):
        return "TIMESTAMPTZ" if t.tz else "TIMESTAMP"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_time(t):
        return "TIME"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BYTEA"
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        inner = pg_type(t.value_type, name)
        if inner.endswith("[]"):
            raise StoreError(f"column '{name}': lists of lists cannot be stored in PostgreSQL")
        return inner + "[]"
    raise StoreError(f"column '{name}' has Arrow type {t}, which the PostgreSQL store cannot hold: "
                     "convert it to a number, text, timestamp or list first")


def _oid_types() -> dict[int, pa.DataType]:
    scalars = {"bool": pa.bool_(), "int2": pa.int16(), "int4": pa.int32(), "int8": pa.int64(),
               "oid": pa.int64(), "float4": pa.float32(), "float8": pa.float64(), "numeric": pa.float64(),
               "text": pa.string(), "varchar": pa.string(), "bpchar": pa.string(), "name": pa.string(),
               "json": pa.string(), "jsonb": pa.string(), "uuid": pa.string(),
               "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"),
               "date": pa.date32(), "time": pa.time64("us"), "bytea": pa.binary()}
    out: dict[int, pa.DataType] = {}
    for name, arrow in scalars.items():
        info = psycopg.postgres.types.get(name)
        if info is None:
            continue
        out[info.oid] = arrow
        if info.array_oid:
            out[info.array_oid] = pa.list_(arrow)
    return out


ARROW_OF_OID = _oid_types()
# result types whose CSV text Arrow parses back exactly (the COPY read path)
CSV_TYPES = {oid: t for oid, t in ARROW_OF_OID.items()
              if not (pa.types.is_list(t) or pa.types.is_binary(t) or pa.types.is_time(t))}
# a read that may run a second time (as COPY): starts like a query, and outside literals, quoted names
# and comments names nothing that writes, locks or advances a sequence
_READ_START = re.compile(r"\A\s*(?:\(\s*)*(?:select|with|values|table)\b", re.I)
_WRITES = re.compile(r"\b(?:insert|update|delete|merge|nextval|setval|lock|for\s+share|pg_advisory\w*|"
                     r"pg_notify|set_config|lo_\w+|dblink\w*)\b", re.I)
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", re.S)


def rerunnable(sql: str) -> bool:
    """True when ``sql`` only reads, so running it twice is harmless."""
    bare = _QUOTED.sub(" ", sql)
    return _READ_START.match(bare) is not None and _WRITES.search(bare) is None


def _as_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    """Strings without NUL characters (PostgreSQL text cannot hold them; DuckDB's can)."""
    return pc.replace_substring(col, "\x00", "")


def prepare_for_csv(table: pa.Table) -> pa.Table | None:
    """The table with columns CSV can carry to COPY, or None when a column needs the row-by-row path."""
    cols = []
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = t.value_type
        if pa.types.is_nested(t) or pa.types.is_binary(t) or pa.types.is_large_binary(t):
            return None
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            col = _as_text(col)
        elif pa.types.is_timestamp(t) and t.unit == "ns":
            col = col.cast(pa.timestamp("us", tz=t.tz), safe=False)
        cols.append(col)
    return pa.table(cols, names=table.column_names)


def py_values(col: pa.Array) -> list[Any]:
    values = col.to_pylist()
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return [v.replace("\x00", "") if v is not None else None for v in values]
    return values


def to_arrow(description: Sequence[Any], rows: list[tuple[Any, ...]]) -> pa.Table:
    """Column-wise Arrow from fetched rows, typed from the result's PostgreSQL types (not guessed)."""
    names = [d.name for d in description]
    columns = list(zip(*rows)) if rows else [()] * len(names)
    arrays = []
    for d, values in zip(description, columns):
        t = ARROW_OF_OID.get(d.type_code)
        try:
            arrays.append(pa.array(values, type=t) if t is not None else pa.array(values))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays.append(pa.array([None if v is None else str(v) for v in values], type=pa.string()))
    return pa.Table.from_arrays(arrays, names=names)
