"""``shelfwise ingest --engine spark``: read and validate a shop folder on Spark, write it as Parquet.

The rules and reject reasons are those of :mod:`shelfwise.data.validate`, written here as Spark SQL
(the test suite ingests the same folder both ways and compares the stores). Files are read by the
executors: CSV line by line (so a CSV for Spark must keep each record on one line; a record that
spans lines is rejected with its line number, where the local reader would join it), Parquet row by
row. Line numbers are exact and computed without a single-partition step: each row's position in its
partition plus the sizes of the partitions before it.

Validated rows go to ``<lake>/<table>/`` and rejects to ``<lake>/rejects/<table>/`` as Parquet; the
same batches are then merged into the store by the store's own ``apply_load`` (keys, event content
hashes and the load log exactly as a local ingest). JSON-lines shops are refused with a message:
use the default engine for those.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..data.ingest import _ORDER, shop_files
from ..data.readers import _check_header, warn_float_ids
from ..data.schema import TABLES, Column, Kind, TableSpec
from ..data.store.base import LoadResult, Store
from ..data.validate import _MAX_EPOCH, LEGACY_ATTRS, Validated, rule_problems
from ..errors import SchemaError
from ..logs import get_logger
from ..progress import task
from .spark_engine import spark_session

log = get_logger(__name__)

_SPARK_TYPES = {Kind.ID: "STRING", Kind.TEXT: "STRING", Kind.TIMESTAMP: "TIMESTAMP_NTZ", Kind.NUMBER: "DOUBLE",
                Kind.PRICE: "DOUBLE", Kind.QUANTITY: "DOUBLE", Kind.POSITION: "INT", Kind.PROBABILITY: "DOUBLE", Kind.RATING: "DOUBLE",
                Kind.EVENT: "STRING"}


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _lit(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _value(col: Column) -> str:
    return f"nullif(trim({_q(col.name)}), '')"


def _double(v: str) -> str:
    return f"CAST({v} AS DOUBLE)"


def _finite(x: str) -> str:
    return f"(CASE WHEN NOT isnan({x}) AND abs({x}) < double('infinity') THEN {x} END)"


def _typed(col: Column) -> str:
    """The Spark twin of validate._typed: the typed value, NULL when it does not parse."""
    v = _value(col)
    if col.default is not None:
        v = f"coalesce({v}, {_lit(col.default)})"
    k = col.kind
    if k is Kind.TIMESTAMP:
        ts = (f"(CASE WHEN {v} RLIKE '^[-+]?[0-9]+(\\\\.[0-9]+)?$' "
              f"THEN (CASE WHEN abs({_double(v)}) <= {_MAX_EPOCH} "
              f"THEN CAST(timestamp_micros(CAST(round({_double(v)} * 1000000) AS BIGINT)) AS TIMESTAMP_NTZ) END) "
              f"ELSE CAST(CAST({v} AS TIMESTAMP_LTZ) AS TIMESTAMP_NTZ) END)")
        # the years 1 to 9999, as validate._typed: Spark holds later years, which no reader of the store can
        return (f"(CASE WHEN {ts} BETWEEN TIMESTAMP_NTZ '0001-01-01 00:00:00' "
                f"AND TIMESTAMP_NTZ '9999-12-31 23:59:59.999999' THEN {ts} END)")
    if k in (Kind.NUMBER, Kind.PRICE, Kind.QUANTITY, Kind.PROBABILITY, Kind.RATING):
        return _finite(_double(v))
    if k is Kind.POSITION:
        d = _double(v)
        return f"(CASE WHEN {d} = floor({d}) AND abs({d}) < 2e9 THEN CAST({d} AS INT) END)"
    if k is Kind.EVENT:
        return f"lower({v})"
    return v


def _problems(col: Column) -> list[str]:
    """The same rules and reason texts as the embedded validation, in Spark SQL."""
    return rule_problems(col, _value(col), _lit)


def _with_lines(df: Any) -> Any:
    """Add ``_line`` (1-based row number in file order) without moving the rows to one partition."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    df = df.withColumn("_pid", F.spark_partition_id()).withColumn("_mid", F.monotonically_increasing_id())
    sizes = df.groupBy("_pid").agg(F.count("*").alias("_n"))  # one row per partition
    w = Window.orderBy("_pid").rowsBetween(Window.unboundedPreceding, -1)
    offsets = sizes.withColumn("_off", F.coalesce(F.sum("_n").over(w), F.lit(0)))
    df = df.join(F.broadcast(offsets.select("_pid", "_off")), "_pid")
    pos = F.col("_mid") - F.shiftleft(F.col("_pid").cast("long"), 33)
    return df.withColumn("_line", F.col("_off") + pos + 1).drop("_pid", "_mid", "_off")


def _csv_header(path: Path) -> list[str]:
    import gzip

    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh))
    except StopIteration:
        raise SchemaError("is empty: a table needs a header row", file=str(path)) from None
    except (UnicodeDecodeError, OSError, csv.Error) as exc:
        raise SchemaError(f"cannot read the header: {exc}", file=str(path)) from exc
    return _check_header(path, header)


def _read_csv(spark: Any, path: Path) -> tuple[Any, list[str]]:
    """Raw string columns + ``_line`` + ``_bad`` (a file-syntax reject reason) for every line after the header."""
    from pyspark.sql import functions as F

    names = _csv_header(path)
    width = len(names)
    lines = _with_lines(spark.read.text(str(path)).withColumnRenamed("value", "_text")).filter("_line > 1")
    out_schema = ", ".join(f"{_q(n)} STRING" for n in names) + ", _line BIGINT, _bad STRING, _rawtext STRING"

    def parse(batches: Any) -> Any:
        import pandas as pd

        for b in batches:
            rows, bad = [], []
            for text in b["_text"]:
                try:
                    rec = next(csv.reader(io.StringIO(text)), [])
                except csv.Error as exc:
                    rows.append([None] * width)
                    bad.append(f"malformed CSV record: {exc}")
                    continue
                if not rec or (len(rec) == 1 and not rec[0].strip() and '"' not in text):
                    rows.append([None] * width)  # a blank line, as the local reader sees it (a quoted "" is a record)
                    bad.append("\x00blank")
                    continue
                if len(rec) != width:
                    rows.append([None] * width)
                    bad.append(f"malformed row: expected {width} fields, found {len(rec)}")
                    continue
                rows.append(rec)
                bad.append(None)
            frame = pd.DataFrame(rows, columns=names, dtype=object)
            frame["_line"] = b["_line"].to_numpy()
            frame["_bad"] = bad
            frame["_rawtext"] = [json.dumps(next(csv.reader(io.StringIO(t)), []), ensure_ascii=False)[:2000]
                                 if x and x != "\x00blank" else None for t, x in zip(b["_text"], bad)]
            yield frame

    parsed = lines.mapInPandas(parse, out_schema).filter(F.coalesce(F.col("_bad"), F.lit("")) != "\x00blank")
    return parsed, names


def _read_parquet(spark: Any, path: Path) -> tuple[Any, list[str]]:
    """Every column as text, as the local Parquet reader writes it, plus ``_line``."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    df = spark.read.parquet(str(path))
    names = _check_header(path, df.columns)
    warn_float_ids(path, [f.name for f in df.schema.fields if isinstance(f.dataType, (T.DoubleType, T.FloatType))])
    cols = []
    for field in df.schema.fields:
        c = F.col(_q(field.name))
        t = field.dataType
        if isinstance(t, T.TimestampType):  # an instant: written in UTC with its offset
            c = F.concat(F.date_format(c, "yyyy-MM-dd'T'HH:mm:ss"), F.lit("+00:00"))
        elif isinstance(t, T.TimestampNTZType):
            c = F.date_format(c, "yyyy-MM-dd'T'HH:mm:ss")
        elif isinstance(t, (T.DoubleType, T.FloatType)):
            # as Arrow writes them (the local reader): whole numbers without '.0'; others as Spark does
            c = F.when((c == F.floor(c)) & (F.abs(c) < 1e15), c.cast("bigint").cast("string")).otherwise(c.cast("string"))
        elif isinstance(t, T.BooleanType):
            c = F.lower(c.cast("string"))
        elif not isinstance(t, T.StringType):
            c = c.cast("string") if isinstance(t, (T.NumericType, T.DateType)) else F.to_json(c)
        cols.append(c.alias(field.name))
    out = _with_lines(df.select(*cols)).withColumn("_bad", F.lit(None).cast("string")) \
        .withColumn("_rawtext", F.lit(None).cast("string"))
    return out, names


def validate_spark(spark: Any, path: Path, spec: TableSpec) -> tuple[Any, Any]:
    """(accepted, rejects) DataFrames of one file, as :func:`shelfwise.data.validate.validate` builds them."""
    from pyspark.sql import functions as F

    if path.name.endswith((".jsonl", ".jsonl.gz")):
        raise SchemaError("JSON-lines files are not read by the Spark engine: convert the table to Parquet or "
                          "CSV, or ingest with the default engine", file=str(path))
    raw, names = _read_parquet(spark, path) if path.name.endswith(".parquet") else _read_csv(spark, path)
    missing = [c for c in spec.required if c not in names]
    if missing:
        cols = ", ".join(f"'{m}'" for m in missing)
        raise SchemaError(f"is missing the required column {cols} of table '{spec.name}' "
                          f"(found: {', '.join(names) or 'none'})", file=str(path))
    for c in spec.columns:
        if c.name not in names:
            raw = raw.withColumn(c.name, F.lit(None).cast("string"))
    in_file_order = [c for c in names if c not in spec.names]
    extras = sorted(in_file_order)  # in name order, as the local validator keeps them
    view = f"raw_{uuid.uuid4().hex[:8]}"
    raw.createOrReplaceTempView(view)
    typed = ",\n".join(f"{_typed(c)} AS t_{c.name}" for c in spec.columns)
    reasons = [p for c in spec.columns for p in _problems(c)]
    reason = f"concat_ws('; ', {', '.join(reasons)})" if reasons else "''"

    def json_of(pairs: list[tuple[str, str]]) -> str:  # a JSON object of (name, SQL value) pairs, nulls kept
        return ("to_json(named_struct(" + ", ".join(f"{_lit(n)}, {v}" for n, v in pairs) + "), "
                "map('ignoreNullFields', 'false'))")

    def attrs_of(columns: list[str]) -> str:  # an empty extra value is "not given": JSON null, as locally
        return json_of([(e, f"nullif({_q(e)}, '')") for e in columns])

    attrs = attrs_of(extras) if extras else "CAST(NULL AS STRING)"
    legacy = spec.name == "events" and in_file_order != extras  # see shelfwise.data.validate.LEGACY_ATTRS
    legacy_sql = f", {attrs_of(in_file_order)} AS _legacy" if legacy else ""
    legacy_out = f", _legacy AS {LEGACY_ATTRS}" if legacy else ""
    raw_json = json_of([(c, _q(c)) for c in names])
    checked = spark.sql(f"""
        SELECT *, CASE WHEN _bad IS NOT NULL THEN _bad ELSE {reason} END AS _reason FROM (
            SELECT *, {typed}, {attrs} AS _attrs{legacy_sql}, {raw_json} AS _raw FROM {view})""")
    checked.createOrReplaceTempView(view + "_c")
    out_cols = ", ".join(f"CAST(t_{c.name} AS {_SPARK_TYPES[c.kind]}) AS {_q(c.name)}" for c in spec.columns)
    accepted = spark.sql(f"""SELECT {out_cols}, _attrs AS attrs{legacy_out}, {_lit(str(path))} AS source_file,
                                    _line AS source_line FROM {view}_c WHERE _reason = ''""")
    rejects = spark.sql(f"""SELECT {_lit(str(path))} AS source_file, _line AS source_line, _reason AS reason,
                                   CASE WHEN _bad IS NOT NULL THEN coalesce(_rawtext, '') ELSE _raw END AS raw
                            FROM {view}_c WHERE _reason <> ''""")
    return accepted, rejects


def ingest_spark(shop_dir: str | Path, store: Store, lake: str | Path, master: str = "local[*]") -> LoadResult:
    """Validate every file on Spark, write Parquet to ``lake``, then merge the batches into ``store``.

    A file-level problem in any file stops the load before anything is written to the store.
    """
    shop_dir = Path(shop_dir)
    lake = Path(lake)
    files = shop_files(shop_dir)
    spark = spark_session(master)
    batches: list[Validated] = []
    with task(f"reading {shop_dir.name} on Spark", total=len(files)) as bar:
        for name in _ORDER:
            path = files.get(name)
            if path is None:
                continue
            spec = TABLES[name]
            accepted, rejects = validate_spark(spark, path, spec)
            accepted.orderBy("source_line").write.mode("overwrite").parquet(str(lake / name))
            rejects.orderBy("source_line").write.mode("overwrite").parquet(str(lake / "rejects" / name))
            acc = _read_folder(lake / name)
            rej = _read_folder(lake / "rejects" / name)
            batches.append(Validated(spec, acc, rej, acc.num_rows + rej.num_rows))
            log.info("%s: read %d, accepted %d, rejected %d (Spark)", path.name, acc.num_rows + rej.num_rows,
                     acc.num_rows, rej.num_rows)
            bar.advance(1)
    result = store.apply_load(uuid.uuid4().hex[:12], str(shop_dir.resolve()), batches)
    for t in result.tables:
        assert t.read == t.loaded + t.rejected, t
    return result


def _read_folder(folder: Path) -> pa.Table:
    """The Parquet files Spark wrote, in line order, with the store's Arrow types."""
    table = pq.ParquetDataset(folder).read()
    if "source_line" in table.column_names:
        table = table.sort_by("source_line")
    fields = []
    for f in table.schema:
        t = f.type
        if pa.types.is_timestamp(t):
            t = pa.timestamp("us")
        fields.append(pa.field(f.name, t))
    return table.cast(pa.schema(fields))
