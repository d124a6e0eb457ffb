"""Ingest benchmark: the Online Retail shop (about 540k events) through ``shelfwise ingest``.

Run on demand from the repository root (never in the test suite):

    .venv/bin/python benchmarks/ingest.py [--data ../shared/data] [--work /tmp/ingest-bench]

Steps, all in this one process so that the figures share the machine's state:

1. convert the UCI Online Retail file to a shop folder, once as Parquet and once as CSV (gzip);
2. baseline: a bare DuckDB ``read_csv`` / ``read_parquet`` of the same events file into a table, with
   no validation, rejects, provenance or de-duplication: the floor any loader on this machine pays;
3. ``ingest`` of each folder into a fresh store (validation, rejects, provenance, content keys, the
   sales series refresh that ``shelfwise ingest`` runs), then a second ingest of the same folder, which
   must add nothing.

The target (issue 2) is a full ingest in at most 20 s here. Writes ``benchmarks/results/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from shelfwise import __version__
from shelfwise.data.store import open_store
from shelfwise.lifecycle.series import refresh_sales_series
from shelfwise.service.datasets import convert_dataset
from shelfwise.service.shop import ingest_shop

TARGET_SECONDS = 20.0


def _timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _baseline(events_file: Path) -> float:
    con = duckdb.connect(":memory:")
    reader = "read_parquet" if events_file.suffix == ".parquet" else "read_csv"
    t = time.perf_counter()
    con.execute(f"CREATE TABLE e AS SELECT * FROM {reader}(?)", [str(events_file)])
    n = con.execute("SELECT count(*) FROM e").fetchone()[0]
    seconds = time.perf_counter() - t
    con.close()
    assert n > 0
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temp folder)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "ingest.json")
    args = parser.parse_args()
    source = args.data / "uci-online-retail"
    if not source.exists():
        print(f"no Online Retail data at {source}", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.mkdtemp(prefix="shelfwise-ingest-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, float | int | bool]] = {}
    for fmt in ("parquet", "csv"):
        shop = work / f"shop-{fmt}"
        shutil.rmtree(shop, ignore_errors=True)
        report, convert_s = _timed(lambda: convert_dataset("online-retail", source, shop, fmt=fmt))
        events_file = next(p for p in shop.iterdir() if p.name.startswith("events."))
        baseline_s = _baseline(events_file)
        db = work / f"store-{fmt}.duckdb"
        db.unlink(missing_ok=True)
        first, ingest_s = _timed(lambda: ingest_shop(shop, f"duckdb:///{db}"))
        with open_store(f"duckdb:///{db}") as store:
            _, series_s = _timed(lambda: refresh_sales_series(store))
        second, reingest_s = _timed(lambda: ingest_shop(shop, f"duckdb:///{db}"))
        events = next(t for t in first.tables if t.table == "events")
        again = next(t for t in second.tables if t.table == "events")
        row = {
            "convert_s": round(convert_s, 2),
            "bare_duckdb_read_s": round(baseline_s, 2),
            "ingest_s": round(ingest_s, 2),
            "of_which_sales_series_s": round(series_s, 2),
            "reingest_s": round(reingest_s, 2),
            "ingest_over_bare_read": round(ingest_s / baseline_s, 1),
            "events_read": events.read,
            "events_loaded": events.loaded,
            "events_rejected": events.rejected,
            "reingest_new_events": again.new,
            "meets_target": ingest_s <= TARGET_SECONDS,
        }
        results[fmt] = row
        print(f"{fmt:8s} convert {convert_s:6.1f}s  bare read {baseline_s:5.2f}s  ingest {ingest_s:6.1f}s (series {series_s:.1f}s) "
              f"({row['ingest_over_bare_read']}x bare)  re-ingest {reingest_s:5.1f}s adds {again.new} events; "
              f"{events.loaded:,} of {events.read:,} events loaded, target <= {TARGET_SECONDS:.0f}s: "
              f"{'met' if row['meets_target'] else 'NOT met'}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"shelfwise": __version__, "python": platform.python_version(),
                                    "machine": platform.machine(), "target_seconds": TARGET_SECONDS,
                                    "results": results}, indent=2) + "\n")
    print(f"wrote {args.out}")
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
