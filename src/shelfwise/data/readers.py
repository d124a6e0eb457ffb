"""Readers that turn one shop file into raw text columns, keeping every record's line number.

Nothing is typed or validated here beyond the file's own syntax: a record that cannot be split into
the header's fields (a garbled CSV line, a JSON line that is not an object) becomes a reject with its
line and reason; a file that cannot be read at all raises :class:`SchemaError` naming the file.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from ..errors import SchemaError
from ..logs import get_logger

log = get_logger(__name__)

csv.field_size_limit(1 << 30)


@dataclass
class RawReject:
    line: int
    reason: str
    raw: str


@dataclass
class RawTable:
    """All records of one file as nullable strings, with the line (or row number) each started at."""

    path: Path
    columns: list[str]
    # string columns named as in the file, in its order, plus ``_line`` (int64) last; a file column
    # may itself be called ``_line`` (read it by position then: ``data.column(i)`` for ``columns[i]``)
    data: pa.Table
    rejects: list[RawReject] = field(default_factory=list)

    @property
    def read(self) -> int:
        return self.data.num_rows + len(self.rejects)


def _open_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
        if path.name.endswith(".gz"):
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SchemaError(f"cannot read the file: {exc}", file=str(path)) from exc
    return raw


def _decode(path: Path, raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # a UTF-16 byte-order mark (Excel's "Unicode text")
        raise SchemaError("is UTF-16 encoded; save it as UTF-8 and load again", file=str(path))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise SchemaError(
            f"is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at line {line}); save it as UTF-8 and load again",
            file=str(path)) from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\x00" in text[:4096] and raw.count(b"\x00") > len(raw) // 10:
        raise SchemaError("looks like a binary file, not a text table", file=str(path))
    return text


def _check_header(path: Path, header: list[str]) -> list[str]:
    names = [h.strip() for h in header]
    if not names or all(not n for n in names):
        raise SchemaError("has no header row", file=str(path))
    if any(not n for n in names):
        raise SchemaError(f"has an empty column name in its header (column {names.index('') + 1})", file=str(path))
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise SchemaError(f"has the column '{n}' twice in its header", file=str(path))
        seen.add(n)
    return names


def _table(names: list[str], columns: list[pa.Array], lines: list[int] | range) -> pa.Table:
    """The file's text columns (named as in the file) and the line numbers, as the last column."""
    return pa.Table.from_arrays([*columns, pa.array(lines, type=pa.int64())], names=[*names, "_line"])


def _strict_error(lines: list[str], first: int, last: int) -> str | None:
    """The syntax error of the record on lines ``first..last`` (1-based) under strict CSV rules, or None."""
    try:
        for _ in csv.reader(lines[first - 1:last], strict=True):
            pass
    except csv.Error as exc:
        return str(exc)
    return None


def _line_text(lines: list[str], first: int, last: int | None = None) -> str:
    return "".join(lines[first - 1:(first if last is None else last)]).rstrip("\r\n")[:2000]


def read_csv(path: Path) -> RawTable:
    """Read a CSV (optionally gzipped) with its header; every field is kept as text.

    A quoted field may span lines. When such a record is not valid CSV (a stray or unclosed quote, which
    would otherwise take the lines after it, or the rest of the file, into one field), only its first
    line is rejected and reading goes on with the next line, so the rows after it are not lost.
    """
    text = _decode(path, _open_bytes(path))
    lines = io.StringIO(text, newline="").readlines()  # the lines exactly as the csv reader sees them

    def reader_from(index: int):  # type: ignore[no-untyped-def]
        return csv.reader(map(lines.__getitem__, range(index, len(lines))), strict=False)

    reader = reader_from(0)
    try:
        header = next(reader)
    except StopIteration:
        raise SchemaError("is empty: a table needs a header row", file=str(path)) from None
    except csv.Error as exc:
        raise SchemaError(f"is not a CSV table: {exc}", file=str(path)) from exc
    names = _check_header(path, header)
    width = len(names)
    rows: list[list[str]] = []
    line_of: list[int] = []
    rejects: list[RawReject] = []
    base = 0  # lines before the current reader's first line
    start = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            end = base + reader.line_num
            rejects.append(RawReject(start, f"malformed CSV record: {exc}", _line_text(lines, start, end)))
            start = end + 1
            continue
        end = base + reader.line_num
        if end > start:
            problem = _strict_error(lines, start, end)
            if problem is not None:
                if "unexpected end of data" in problem:
                    reason = (f"malformed CSV record: the quote opened on line {start} is never closed (the rest "
                              "of the file would be one field); this line is rejected and the next ones are read")
                else:
                    reason = (f"malformed CSV record: a quoted field from line {start} to {end} is broken "
                              f"({problem}); this line is rejected and the next ones are read")
                rejects.append(RawReject(start, reason, _line_text(lines, start)))
                base = start
                reader = reader_from(base)
                start = base + 1
                continue
        if not row or (len(row) == 1 and not row[0].strip() and '"' not in _line_text(lines, start, end)):
            start = end + 1
            continue  # a blank line is not a record; a quoted empty field ("") is one (a one-column file)
        if len(row) != width:
            rejects.append(RawReject(start, f"malformed row: expected {width} fields, found {len(row)}",
                                     json.dumps(row, ensure_ascii=False)[:2000]))
        else:
            rows.append(row)
            line_of.append(start)
        start = end + 1
    cols = list(zip(*rows)) if rows else [() for _ in names]
    arrays = [pa.array(c, type=pa.string()) for c in cols]
    return RawTable(path, names, _table(names, arrays, line_of), rejects)


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else "nan"
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def read_jsonl(path: Path) -> RawTable:
    """Read JSON lines: one object per line; keys become columns in first-seen order."""
    text = _decode(path, _open_bytes(path))
    records: list[dict[str, object]] = []
    lines: list[int] = []
    rejects: list[RawReject] = []
    names: dict[str, None] = {}
    # lines end at \n, \r\n or \r (as for CSV); str.splitlines() would also break at U+2028, U+0085 and
    # other characters that are valid inside a JSON string
    for number, line in enumerate(io.StringIO(text, newline="").readlines(), start=1):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            rejects.append(RawReject(number, f"invalid JSON: {exc.msg}", line[:2000]))
            continue
        if not isinstance(obj, dict):
            rejects.append(RawReject(number, f"a JSON line must be an object, found {type(obj).__name__}", line[:2000]))
            continue
        for k in obj:
            names.setdefault(str(k), None)
        records.append(obj)
        lines.append(number)
    if not records and not rejects:
        raise SchemaError("is empty: no JSON objects found", file=str(path))
    cols = list(names)
    arrays = [pa.array([_as_text(r.get(n)) for r in records], type=pa.string()) for n in cols]
    return RawTable(path, cols, _table(cols, arrays, lines), rejects)


def warn_float_ids(path: Path, float_columns: list[str]) -> None:
    """Say when a Parquet file types an id column as floating-point numbers.

    Ids are text (SHOP_FORMAT.md). A float 17850.0 is read as '17850', while a CSV written from the same
    data frame says '17850.0', which is another id: the shop's customers would split in two if it ever
    sends both. Nothing is changed (the text already stored must keep matching); the shop is told once
    per file to write its ids as strings.
    """
    ids = [c for c in float_columns if c.endswith("_id")]
    if ids:
        log.warning("%s: the id column(s) %s hold floating-point numbers; ids are text, read here without a "
                    "trailing '.0' (17850.0 -> '17850'), so write them as strings to keep them the same in every "
                    "export format", path.name, ", ".join(f"'{c}'" for c in ids))


def read_parquet(path: Path) -> RawTable:
    """Read Parquet; typed columns are turned into text so one validator serves every format."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise SchemaError(f"is not a readable Parquet file: {exc}", file=str(path)) from exc
    _check_header(path, table.column_names)
    arrays: dict[str, pa.Array] = {}
    for i, name in enumerate(table.column_names):
        col = table.column(i).combine_chunks()
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            arrays[name] = col.cast(pa.string())
        elif pa.types.is_timestamp(t):
            if t.tz is not None:
                col = pc.cast(col, pa.timestamp(t.unit, "UTC"))
                arrays[name] = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S+00:00")
            else:
                arrays[name] = pc.strftime(col, format="%Y-%m-%dT%H:%M:%S")
        elif pa.types.is_date(t):
            arrays[name] = col.cast(pa.string())
        elif pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t) or pa.types.is_decimal(t):
            arrays[name] = col.cast(pa.string())
        else:
            arrays[name] = pa.array([_as_text(v) for v in col.to_pylist()], type=pa.string())
    names = list(table.column_names)
    warn_float_ids(path, [f.name for f in table.schema if pa.types.is_floating(f.type)])
    return RawTable(path, names, _table(names, [arrays[n] for n in names], range(1, table.num_rows + 1)), [])


def read_file(path: Path) -> RawTable:
    name = path.name
    if name.endswith((".csv", ".csv.gz")):
        return read_csv(path)
    if name.endswith((".jsonl", ".jsonl.gz")):
        return read_jsonl(path)
    if name.endswith(".parquet"):
        return read_parquet(path)
    raise SchemaError("is not a table file (.csv, .csv.gz, .parquet, .jsonl, .jsonl.gz)", file=str(path))
