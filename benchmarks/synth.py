"""Synthetic shop benchmark: how long the generator takes, and what the demo's default size costs.

Run on demand (never in the test suite), from the repository root:

    nice -n 10 .venv/bin/python benchmarks/synth.py              # about a minute and a half on 2 cores
    nice -n 10 .venv/bin/python benchmarks/synth.py --only demo  # the demo size only

Prints a table and writes ``benchmarks/results/synth.json``. Measured in one process:

- generation (catalogue and users, traffic, tables, writing the folder; wall and CPU seconds, since the
  machine is shared and wall time moves with the load) at the demo's default size
  (2,000 items x 5,000 users x 60 days) and at the target size (10,000 items x 100,000 users x 90 days,
  which must stay under a minute), with the ratio to that one-minute budget;
- ingesting the demo-size shop (``shelfwise.data.ingest``), the step that dominates the demo and so
  sets its default size;
- the world model answering 5,000 lists of 10 slots in one batched call against the peer a simulator
  would otherwise write: one call per list (same results, reported as a speed ratio).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from shelfwise.data.ingest import ingest  # noqa: E402
from shelfwise.data.store import open_store  # noqa: E402
from shelfwise.data.synth import SynthConfig, SyntheticWorld, load_truth, write_shop  # noqa: E402

BUDGET_S = 60.0
SIZES = {"demo": SynthConfig(items=2000, users=5000, days=60), "target": SynthConfig(items=10000, users=100000, days=90)}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_generate(name: str, config: SynthConfig, work: Path, with_ingest: bool) -> dict[str, Any]:
    out = work / name
    t, cpu = time.perf_counter(), time.process_time()
    result = write_shop(out, config)
    total, cpu = time.perf_counter() - t, time.process_time() - cpu
    row: dict[str, Any] = {
        "size": name, "items": config.items, "users": config.users, "days": config.days,
        "events": result.rows["events"], "reviews": result.rows["reviews"],
        "purchases": result.events_by_type.get("purchase", 0),
        "seconds": round(total, 2), "cpu_seconds": round(cpu, 2), "stages": {k: round(v, 2) for k, v in result.seconds.items()},
        "events_per_s": round(result.rows["events"] / total), "ratio_to_budget": round(total / BUDGET_S, 3),
        "folder_mb": round(sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 1e6, 1),
        "peak_rss_mb_so_far": round(_peak_rss_mb()),
    }
    if with_ingest:
        t = time.perf_counter()
        with open_store(f"duckdb:///{work / (name + '.duckdb')}") as store:
            load = ingest(out, store)
        row["ingest_seconds"] = round(time.perf_counter() - t, 2)
        row["ingest_rejected"] = sum(x.rejected for x in load.tables)
    return row


def bench_world(shop_dir: Path, lists: int = 5000, slots: int = 10) -> dict[str, Any]:
    truth = load_truth(shop_dir)
    world = SyntheticWorld(truth, seed=0)
    rng = np.random.default_rng(0)
    users = rng.integers(0, truth.n_users, lists)
    items = rng.integers(0, truth.n_items, (lists, slots))
    t = time.perf_counter()
    batched = world.expected(users, items, 30)[0]
    batch_s = time.perf_counter() - t
    t = time.perf_counter()
    looped = np.vstack([world.expected(users[b:b + 1], items[b:b + 1], 30)[0] for b in range(lists)])
    loop_s = time.perf_counter() - t
    assert np.allclose(batched, looped)
    return {"lists": lists, "slots": slots, "batched_s": round(batch_s, 4), "per_list_calls_s": round(loop_s, 3),
            "speedup_batched_vs_per_list": round(loop_s / batch_s, 1),
            "slots_per_s_batched": round(lists * slots / batch_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(SIZES), help="Run one size only.")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="shelfwise-synth-bench-") as tmp:
        work = Path(tmp)
        for name, config in SIZES.items():
            if args.only and name != args.only:
                continue
            rows.append(bench_generate(name, config, work, with_ingest=(name == "demo")))
        world = bench_world(work / rows[0]["size"])
    print(f"{'size':<8}{'items':>8}{'users':>9}{'days':>6}{'events':>12}{'seconds':>9}{'cpu s':>8}{'events/s':>11}"
          f"{'x budget':>10}{'ingest s':>10}")
    for r in rows:
        print(f"{r['size']:<8}{r['items']:>8,}{r['users']:>9,}{r['days']:>6}{r['events']:>12,}{r['seconds']:>9.1f}"
              f"{r['cpu_seconds']:>8.1f}{r['events_per_s']:>11,}{r['ratio_to_budget']:>10.2f}{r.get('ingest_seconds', float('nan')):>10.1f}")
        print(f"        stages: {r['stages']}  folder {r['folder_mb']} MB, peak RSS so far {r['peak_rss_mb_so_far']} MB")
    print(f"world model, {world['lists']:,} lists x {world['slots']} slots: batched {world['batched_s']}s, "
          f"one call per list {world['per_list_calls_s']}s, speedup x{world['speedup_batched_vs_per_list']}")
    out = ROOT / "benchmarks" / "results" / "synth.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"budget_s": BUDGET_S, "generate": rows, "world": world}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
