"""Open Bandit Dataset (ZOZOTOWN display logs with the logging policy's propensities) as a shop.

SRC is ONE ``<policy>/<campaign>`` folder (for example ``open-bandit-dataset/bts/all``) holding
``<campaign>.csv(.gz)`` and ``item_context.csv``; the policy name (``bts``, ``random``) is the parent
folder's name and the campaign the folder's name.

Mapping, for each logged row (one item shown at one slot of a three-slot widget):

- one ``impression`` event: ``item_id``, ``timestamp`` (UTC, microseconds kept), ``position`` (the
  dataset's slots are 1-based, 1..3, and are written as they are; a 0-based file would be shifted by
  one, and the conversion notes which it found), ``propensity`` = propensity_score, ``surface`` = the
  campaign, ``user_id`` empty (the data has no user ids).
- one ``click`` event for each clicked row, with the same timestamp, position, propensity, surface
  and session (so that a click can be joined back to its impression).
- extra event columns on both: ``policy`` (the logging policy), ``user_feature_0..3`` (hashed user
  features, as given), ``user_item_affinity`` (the user-item affinity columns packed into one JSON
  object ``{"<item_id>": value}`` of the non-zero entries, null when all are zero) and ``source_row``
  (the row index of the source file).
- ``session_id``: the rows of one display share their timestamp (to the microsecond) and user
  features, so a session is md5(policy, campaign, timestamp, user features); in the small sample most
  displays keep only one of their three rows (it is a row sample of the full log), which the
  conversion reports.
- ``items`` from item_context.csv: ``item_id`` and the item features as extra columns
  (``item_feature_0`` numeric, ``item_feature_1..3`` hashed categorical).

Dropped (counted under a reason): rows with a missing item id, an unreadable timestamp, position,
click or propensity, a position below the first slot, or a propensity outside (0, 1] (none in the
shipped sample).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa

from ...errors import InputError
from .base import (Adapter, DatasetInfo, DuckDB, ShopWriter, check_options, connect, drop_counts, find_files,
                   require_columns, sql_path)

INFO = DatasetInfo(
    name="open-bandit",
    title="Open Bandit Dataset (small sample)",
    summary="ZOZOTOWN recommendation-widget logs, 7 days (2019-11-24 .. 30): 10,000 impressions per "
            "policy/campaign with position (1-3), click and propensity, under uniform random and "
            "Bernoulli Thompson Sampling policies.",
    origin="small-size sample shipped in the PyPI package obp 0.5.7 (obp/dataset/obd/); Saito et al., "
           "NeurIPS 2021 Datasets and Benchmarks.",
    licence="Apache-2.0 (the obp package that ships the sample).",
    source_dir="open-bandit-dataset",
    src_hint="ONE policy/campaign folder, e.g. open-bandit-dataset/bts/all or open-bandit-dataset/random/men",
    tables=("items", "events"),
)

LOG_COLUMNS = ("timestamp", "item_id", "position", "click", "propensity_score")
_AFFINITY = re.compile(r"^user-item_affinity_(\d+)$")
_USER_FEATURE = re.compile(r"^user_feature_\d+$")


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def convert(src: Path, out: ShopWriter, options: Mapping[str, str]) -> None:
    """Convert one policy/campaign folder of the Open Bandit Dataset into items and events."""
    check_options(INFO.name, options, ())
    if not src.is_dir():
        raise InputError(f"{src} is not a folder: give ONE policy/campaign folder of the Open Bandit Dataset, "
                         "e.g. open-bandit-dataset/bts/all")
    logs = find_files(src, ("*.csv", "*.csv.gz"), "log CSV (<campaign>.csv.gz)", exclude=("item_context.csv",))
    if len(logs) != 1:
        raise InputError(f"expected one log CSV in {src} besides item_context.csv, found "
                         f"{', '.join(p.name for p in logs)}: give ONE policy/campaign folder")
    log_file = logs[0]
    policy, campaign = src.resolve().parent.name, src.resolve().name
    con = connect()
    try:
        con.execute(f"CREATE TABLE src AS SELECT * FROM read_csv({sql_path(log_file)}, header = true, "
                    "all_varchar = true)")
        columns = [r[0] for r in con.execute("DESCRIBE src").fetchall()]
        require_columns(log_file, columns, LOG_COLUMNS)
        out.read_rows(log_file, con.execute("SELECT count(*) FROM src").fetchone()[0])
        index_col = columns[0] if columns[0] not in LOG_COLUMNS and not _USER_FEATURE.match(columns[0]) else None
        user_features = [c for c in columns if _USER_FEATURE.match(c)]
        affinity = {c: m.group(1) for c in columns if (m := _AFFINITY.match(c))}
        _typed(con, index_col)
        shift = _position_shift(con, out)
        con.execute(f"""CREATE TABLE rows AS SELECT *,
            CASE WHEN item_id IS NULL THEN 'missing item_id'
                 WHEN ts IS NULL THEN 'unreadable timestamp'
                 WHEN pos IS NULL THEN 'unreadable position'
                 WHEN pos + {shift} < 1 THEN 'position below the first slot'
                 WHEN clicked IS NULL THEN 'unreadable click (expected 0 or 1)'
                 WHEN propensity IS NULL OR NOT (propensity > 0 AND propensity <= 1)
                      THEN 'propensity_score missing or outside (0, 1]'
            END AS _drop FROM typed""")
        out.drop_counts(drop_counts(con, "rows"))
        _affinity(con, affinity)
        feats = ", ".join(f"s.{_q(c)}" for c in user_features)
        feat_key = ", ".join(f"coalesce(s.{_q(c)}, '')" for c in user_features) or "''"
        con.execute(f"""
            CREATE TABLE shown AS SELECT
                r.ts AS timestamp, NULL::VARCHAR AS user_id, r.item_id, r.pos + {shift} AS position,
                r.propensity, ? AS surface,
                left(md5(concat_ws(chr(31), ?, ?, CAST(r.ts AS VARCHAR), {feat_key})), 16) AS session_id,
                ? AS policy{', ' + feats if feats else ''}, a.user_item_affinity, r.source_row, r.clicked
            FROM rows r JOIN src_rows s USING (_rid) LEFT JOIN affinity a USING (_rid)
            WHERE r._drop IS NULL""", [campaign, policy, campaign, policy])
        out.write("items", _items(con, src, out))
        out.write("events", con.sql("""
            SELECT timestamp, user_id, item_id, event, position, propensity, surface, session_id, * EXCLUDE
                   (timestamp, user_id, item_id, event, position, propensity, surface, session_id, clicked)
            FROM (SELECT 'impression' AS event, * FROM shown
                  UNION ALL BY NAME
                  SELECT 'click' AS event, * FROM shown WHERE clicked > 0)
            ORDER BY timestamp, session_id, position, event DESC""").fetch_arrow_table())
        _session_note(con, out)
        out.note(f"logging policy '{policy}' and campaign '{campaign}' (from the folder names) are written as "
                 "the events' policy and surface columns")
    finally:
        con.close()


def _typed(con: DuckDB, index_col: str | None) -> None:
    row = f"TRY_CAST({_q(index_col)} AS BIGINT)" if index_col else "NULL::BIGINT"
    con.execute("CREATE TABLE src_rows AS SELECT row_number() OVER () AS _rid, * FROM src")
    con.execute(f"""CREATE TABLE typed AS SELECT
            _rid, {row} AS source_row,
            NULLIF(trim(item_id), '') AS item_id,
            TRY_CAST(TRY_CAST(trim("timestamp") AS TIMESTAMPTZ) AS TIMESTAMP) AS ts,
            TRY_CAST(trim(position) AS INTEGER) AS pos,
            TRY_CAST(trim(click) AS INTEGER) AS clicked,
            TRY_CAST(trim(propensity_score) AS DOUBLE) AS propensity
        FROM src_rows""")


def _position_shift(con: DuckDB, out: ShopWriter) -> int:
    """0 when the file's positions are already 1-based, 1 when they start at 0."""
    lo, hi = con.execute("SELECT min(pos), max(pos) FROM typed").fetchone()
    if lo is None:
        return 0
    if lo == 0:
        out.note(f"positions in the file are 0-based ({lo}..{hi}); written as 1-based ({lo + 1}..{hi + 1})")
        return 1
    out.note(f"positions in the file are already 1-based ({lo}..{hi}); written unchanged")
    return 0


def _affinity(con: DuckDB, affinity: dict[str, str]) -> None:
    """Pack the user-item affinity columns into one sparse JSON object per row."""
    if not affinity:
        con.execute("CREATE TABLE affinity (_rid BIGINT, user_item_affinity VARCHAR)")
        return
    cols = ", ".join(_q(c) for c in affinity)
    con.execute(f"""CREATE TABLE affinity AS
        SELECT _rid,
               '{{' || string_agg('"' || item || '":' || CAST(v AS VARCHAR), ','
                                  ORDER BY TRY_CAST(item AS INTEGER), item) || '}}' AS user_item_affinity
        FROM (SELECT _rid, regexp_extract(k, '(\\d+)$') AS item, TRY_CAST(val AS DOUBLE) AS v
              FROM (UNPIVOT (SELECT _rid, {cols} FROM src_rows) ON {cols} INTO NAME k VALUE val))
        WHERE v IS NOT NULL AND v <> 0
        GROUP BY _rid""")


def _items(con: DuckDB, src: Path, out: ShopWriter) -> pa.Table:
    """items from item_context.csv (all its features kept as extra columns), else the ids seen in the log."""
    ctx = src / "item_context.csv"
    if not ctx.exists():
        out.note("no item_context.csv in the folder: items written with ids only")
        return con.sql("SELECT DISTINCT item_id FROM shown "
                       "ORDER BY TRY_CAST(item_id AS INTEGER), item_id").fetch_arrow_table()
    con.execute(f"CREATE TABLE ctx AS SELECT * FROM read_csv({sql_path(ctx)}, header = true, all_varchar = true)")
    cols = [r[0] for r in con.execute("DESCRIBE ctx").fetchall()]
    require_columns(ctx, cols, ("item_id",))
    out.read_rows(ctx, con.execute("SELECT count(*) FROM ctx").fetchone()[0])
    features = []
    for c in cols:
        if c.startswith("item_feature_"):
            numeric = con.execute(f"SELECT count(*) = count(TRY_CAST({_q(c)} AS DOUBLE)) FROM ctx").fetchone()[0]
            features.append(f"TRY_CAST({_q(c)} AS DOUBLE) AS {_q(c)}" if numeric else _q(c))
    missing_ids = con.execute("SELECT count(*) FROM ctx WHERE NULLIF(trim(item_id), '') IS NULL").fetchone()[0]
    out.drop("item_context row without item_id", missing_ids)
    return con.sql(f"""SELECT trim(item_id) AS item_id{', ' + ', '.join(features) if features else ''}
                       FROM ctx WHERE NULLIF(trim(item_id), '') IS NOT NULL
                       ORDER BY TRY_CAST(item_id AS INTEGER), item_id""").fetch_arrow_table()


def _session_note(con: DuckDB, out: ShopWriter) -> None:
    sizes = con.execute("""SELECT n, count(*) FROM (SELECT session_id, count(*) AS n FROM shown GROUP BY 1)
                           GROUP BY 1 ORDER BY 1""").fetchall()
    total = sum(c for _, c in sizes)
    parts = ", ".join(f"{c:,} with {n} row{'s' if n > 1 else ''}" for n, c in sizes)
    out.note(f"session_id groups the rows of one display (same timestamp and user features): {total:,} "
             f"displays ({parts})")


ADAPTER = Adapter(INFO, convert)
