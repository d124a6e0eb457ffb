"""Store backends side by side: DuckDB (reference) and PostgreSQL on the same shop, in one process.

Run on demand from the repository root (never in the test suite):

    .venv/bin/python benchmarks/store.py [--data ../shared/data] [--postgres URL] [--intake-batches 200]

The shop is UCI Online Retail (about 540k events) converted to a Parquet shop folder. The folder is
read and validated once; then, for each backend:

1. ``apply_load`` of the validated batches into a fresh store (the write half of ``ingest``: COPY,
   content keys, upserts, rejects, load log), then again (idempotent: must add nothing);
2. a read of the whole events table as Arrow, and one user's history (the per-request query shape);
3. event intake in batches of 100: ``apply_load`` of validated batches (the API's path: content keys),
   then ``write("events", batch, "append")`` of batches that carry their own ``event_key``, then a
   retry of the first 20 keyed batches (must add nothing on PostgreSQL, whose events have a unique key).

PostgreSQL is ``--postgres URL`` (a schema ``bench_<random>`` is made and dropped there) or a private
cluster started here with the Debian binaries, with fsync ON so intake figures include durable commits.
Figures are wall seconds on a shared machine; the ratios PostgreSQL / DuckDB are the meaningful part.
Writes ``benchmarks/results/store.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import pyarrow as pa  # noqa: E402

from shelfwise import __version__  # noqa: E402
from shelfwise.data.ingest import validate_shop  # noqa: E402
from shelfwise.data.readers import RawTable  # noqa: E402
from shelfwise.data.schema import EVENTS  # noqa: E402
from shelfwise.data.validate import validate  # noqa: E402
from shelfwise.data.store import open_store  # noqa: E402
from shelfwise.service.datasets import convert_dataset  # noqa: E402

BATCH = 100


def _timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _intake_batches(n_batches: int) -> list[pa.Table]:
    out = []
    base = 1_700_000_000_000_000
    for b in range(n_batches):
        ids = range(b * BATCH, (b + 1) * BATCH)
        out.append(pa.table({
            "event_key": [f"api:bench:{i}" for i in ids],
            "timestamp": pa.array([base + i * 1_000_000 for i in ids], pa.timestamp("us")),
            "user_id": [f"bench-u{i % 97}" for i in ids],
            "item_id": [f"bench-i{i % 89}" for i in ids],
            "event": ["view"] * BATCH,
            "quantity": [1.0] * BATCH,
            "source_file": ["api"] * BATCH,
        }))
    return out


def _api_batches(n_batches: int) -> list:
    """Validated batches of 100 events, as the API makes them from posted JSON."""
    out = []
    for b in range(n_batches):
        ids = range(b * BATCH, (b + 1) * BATCH)
        data = pa.table({
            "timestamp": [f"2024-06-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z" for i in ids],
            "user_id": [f"api-u{i % 97}" for i in ids], "item_id": [f"api-i{i % 89}" for i in ids],
            "event": ["click"] * BATCH, "_line": pa.array(range(1, BATCH + 1), pa.int64())})
        out.append(validate(RawTable(Path(f"api-{b}"), ["timestamp", "user_id", "item_id", "event"], data), EVENTS))
    return out


def run_backend(url: str, batches, intake: list[pa.Table], api: list) -> dict[str, float | int]:
    with open_store(url) as store:
        first, load_s = _timed(lambda: store.apply_load("bench1", "bench", batches))
        second, reload_s = _timed(lambda: store.apply_load("bench2", "bench", batches))
        events = next(t for t in first.tables if t.table == "events")
        again = next(t for t in second.tables if t.table == "events")
        table, read_s = _timed(lambda: store.read("events"))
        user = store.query("SELECT user_id FROM events WHERE user_id IS NOT NULL LIMIT 1").column(0)[0].as_py()
        hist_n = 50
        _, hist_s = _timed(lambda: [store.query(
            'SELECT item_id, event, "timestamp" FROM events WHERE user_id = ? ORDER BY "timestamp" DESC LIMIT 20',
            [user]) for _ in range(hist_n)])
        before = store.count("events")
        _, api_s = _timed(lambda: [store.apply_load(f"api{i}", "api", [v]) for i, v in enumerate(api)])
        api_stored = store.count("events") - before
        before = store.count("events")
        _, intake_s = _timed(lambda: [store.write("events", b, mode="append") for b in intake])
        after = store.count("events")
        retry = intake[:20]
        _, retry_s = _timed(lambda: [store.write("events", b, mode="append") for b in retry])
        after_retry = store.count("events")
    return {
        "load_s": round(load_s, 2), "reload_s": round(reload_s, 2),
        "events_read": events.read, "events_loaded": events.loaded, "events_new": events.new,
        "reload_new_events": again.new,
        "read_all_events_s": round(read_s, 2), "read_rows": table.num_rows,
        "user_history_ms": round(hist_s / hist_n * 1000, 2),
        "apply_load_intake_events_per_s": round(len(api) * BATCH / api_s),
        "apply_load_intake_stored": api_stored,
        "intake_events_per_s": round(len(intake) * BATCH / intake_s),
        "intake_stored": after - before, "intake_acknowledged": len(intake) * BATCH,
        "retry_added": after_retry - after, "retry_s": round(retry_s, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL server URL (default: a private cluster)")
    parser.add_argument("--intake-batches", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "store.json")
    args = parser.parse_args()
    source = args.data / "uci-online-retail"
    if not source.exists():
        print(f"no Online Retail data at {source}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="shelfwise-store-bench-"))
    cluster = None
    try:
        shop = work / "shop"
        convert_dataset("online-retail", source, shop, fmt="parquet")
        batches, validate_s = _timed(lambda: validate_shop(shop))
        intake = _intake_batches(args.intake_batches)
        api = _api_batches(args.intake_batches)
        if args.postgres:
            server = args.postgres
        else:
            from shelfwise.data.store.pg_local import start_local_cluster

            cluster = start_local_cluster(durable=True)
            server = cluster.url
        schema = "bench_" + uuid.uuid4().hex[:8]
        urls = {"duckdb": f"duckdb:///{work / 'store.duckdb'}",
                "postgresql": server + ("&" if "?" in server else "?") + f"schema={schema}"}
        results = {}
        for name, url in urls.items():
            results[name] = run_backend(url, batches, intake, api)
            r = results[name]
            print(f"{name:10s} load {r['load_s']:6.2f}s  reload {r['reload_s']:6.2f}s (adds {r['reload_new_events']})  "
                  f"read all {r['read_all_events_s']:5.2f}s ({r['read_rows']:,} rows)  "
                  f"user history {r['user_history_ms']:6.2f} ms  apply_load intake {r['apply_load_intake_events_per_s']:,} "
                  f"events/s (stored {r['apply_load_intake_stored']})  keyed append {r['intake_events_per_s']:,} events/s "
                  f"(stored {r['intake_stored']} of {r['intake_acknowledged']}, retry adds {r['retry_added']})")
        if args.postgres:
            import psycopg

            with psycopg.connect(server, autocommit=True) as con:
                con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        d, p = results["duckdb"], results["postgresql"]
        ratios = {
            "load_pg_over_duckdb": round(p["load_s"] / d["load_s"], 2),
            "reload_pg_over_duckdb": round(p["reload_s"] / d["reload_s"], 2),
            "read_pg_over_duckdb": round(p["read_all_events_s"] / d["read_all_events_s"], 2),
            "apply_load_intake_pg_over_duckdb": round(p["apply_load_intake_events_per_s"]
                                                      / d["apply_load_intake_events_per_s"], 2),
            "keyed_append_pg_over_duckdb": round(p["intake_events_per_s"] / d["intake_events_per_s"], 2),
        }
        print("ratios (PostgreSQL / DuckDB):", ratios)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "shelfwise": __version__, "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "postgres": "given URL" if args.postgres else "private cluster, fsync on",
            "validate_s": round(validate_s, 2), "intake_batch": BATCH, "results": results, "ratios": ratios,
            "note": "wall seconds on a machine shared with other jobs; compare the ratios",
        }, indent=2) + "\n")
        print(f"wrote {args.out}")
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
