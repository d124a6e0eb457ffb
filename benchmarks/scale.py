"""Scale benchmark: the batch pipeline on DuckDB and on Spark (local mode), per stage, as the shop grows.

Run on demand (never in the test suite), from the repository root:

    SPARK_LOCAL_IP=127.0.0.1 nice -n 10 .venv/bin/python benchmarks/scale.py                  # default steps
    .venv/bin/python benchmarks/scale.py --steps xs,s --engines duckdb                         # a quick look
    .venv/bin/python benchmarks/scale.py --steps xl --master local[16]                         # 1M items x ~10M events
    .venv/bin/python benchmarks/scale.py --steps "" --online-retail                            # the NDCG@10 parity check

Each step generates the demo shop (``shelfwise.data.synth``) at a size, ingests it into a fresh DuckDB
store (default ingest; with ``--spark-ingest`` also ``ingest --engine spark`` into a second store), then
runs the pipeline of ``shelfwise train/recommend --engine E`` on each engine: snapshot, the five
aggregates, interactions, ALS fit, ALS candidates, buy-again candidates, fusion, Parquet writes. For
every stage it records seconds and the peak resident memory of this process and its children (the
Spark JVM is a child in local mode), sampled every 50 ms. Growth is the log-log slope of each
engine's total time against the number of events between steps (1.0 = linear).

Prints a table and writes ``benchmarks/results/scale.json``. Times on a shared machine are inflated
by contention: compare engines within a step (same process, same moment) as ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

from shelfwise.data.ingest import ingest  # noqa: E402
from shelfwise.data.store import open_store  # noqa: E402
from shelfwise.engines import get_engine  # noqa: E402
from shelfwise.engines import pipeline as P  # noqa: E402
from shelfwise.engines.sql import BatchParams  # noqa: E402

#: name -> (items, users, days): the demo shop's generator at growing sizes (events are measured)
STEPS: dict[str, tuple[int, int, int]] = {
    "xs": (500, 1_000, 30),
    "s": (2_000, 5_000, 60),        # the demo shop (~430k events)
    "m": (20_000, 20_000, 60),
    "l": (100_000, 50_000, 60),
    "xl": (1_000_000, 100_000, 60),  # the 1M items x ~10M events
}


def _tree_rss() -> int:
    """Resident bytes of this process and all its descendants (the local Spark JVM among them), from /proc."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            parent[int(d)] = int(fields[1])
            rss[int(d)] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
    tree, todo = set(), [os.getpid()]
    while todo:
        pid = todo.pop()
        tree.add(pid)
        todo.extend(c for c, p in parent.items() if p == pid and c not in tree)
    return sum(rss.get(p, 0) for p in tree)


class PeakMemory:
    """Samples the process tree's RSS in a thread; ``mark()`` starts a new stage's peak."""

    def __init__(self, every: float = 0.05) -> None:
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss())
            time.sleep(self.every)

    def mark(self) -> None:
        self.peak = _tree_rss()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


class Stages(P.StageTimes):
    """Stage times plus peak memory per stage (MB)."""

    def __init__(self, mem: PeakMemory) -> None:
        super().__init__()
        self.mem, self.peak_mb = mem, {}

    def timed(self, name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        self.mem.mark()
        out = super().timed(name, fn, *args, **kw)
        self.peak_mb[name] = round(self.mem.peak / 2**20)
        return out


def run_engine(name: str, snapshot: Path, work: Path, params: BatchParams, master: str, mem: PeakMemory) -> dict:
    st = Stages(mem)
    t0 = time.perf_counter()
    engine = st.timed("start", get_engine, name, master)
    try:
        P.train(engine, snapshot, params, work / name / "aggregates", work / name / "model", st)
        P.recommend_all(engine, snapshot, params, work / name / "model", work / name, st, prepared=True)
        rows = engine.count("recommendations")
    finally:
        engine.close()
    return {"seconds": st.seconds, "peak_mb": st.peak_mb, "total_s": round(time.perf_counter() - t0, 2),
            "recommendation_rows": rows}


def run_step(step: str, engines: list[str], master: str, spark_ingest: bool, root: Path, mem: PeakMemory) -> dict:
    gen = importlib.import_module("shelfwise.data.synth.generate")
    items, users, days = STEPS[step]
    work = root / step
    shutil.rmtree(work, ignore_errors=True)
    t = time.perf_counter()
    gen.write_shop(work / "shop", gen.SynthConfig(items=items, users=users, days=days))
    out: dict[str, Any] = {"step": step, "items": items, "users": users, "days": days,
                           "generate_s": round(time.perf_counter() - t, 2)}
    mem.mark()
    t = time.perf_counter()
    with open_store(f"duckdb:///{work / 'shop.duckdb'}") as store:
        ingest(work / "shop", store)
        out["ingest_local_s"] = round(time.perf_counter() - t, 2)
        out["ingest_local_peak_mb"] = round(mem.peak / 2**20)
        out["events"] = store.count("events")
        out["events_no_impressions"] = int(store.query(
            "SELECT count(*) FROM events WHERE event <> 'impression'").column(0)[0].as_py())
        t = time.perf_counter()
        P.export_snapshot(store, work / "snapshot")
        out["snapshot_s"] = round(time.perf_counter() - t, 2)
    if spark_ingest and "spark" in engines:
        from shelfwise.engines.spark_ingest import ingest_spark
        from shelfwise.engines.spark_engine import spark_session

        spark_session(master)
        mem.mark()
        t = time.perf_counter()
        with open_store(f"duckdb:///{work / 'spark.duckdb'}") as store:
            ingest_spark(work / "shop", store, work / "lake", master)
        out["ingest_spark_s"] = round(time.perf_counter() - t, 2)
        out["ingest_spark_peak_mb"] = round(mem.peak / 2**20)
    params = BatchParams(factors=32, iterations=10)
    out["engines"] = {}
    for name in engines:
        print(f"  {step}: {name} ...", flush=True)
        out["engines"][name] = run_engine(name, work / "snapshot", work, params, master, mem)
    if len(engines) == 2:
        a, b = (out["engines"][e]["total_s"] for e in engines)
        out[f"ratio_{engines[1]}_to_{engines[0]}"] = round(b / a, 2)
    shutil.rmtree(work / "shop", ignore_errors=True)
    return out


def growth(results: list[dict], engines: list[str]) -> dict[str, Any]:
    """Log-log slope of total seconds against events between consecutive steps, per engine."""
    slopes: dict[str, list[float]] = {e: [] for e in engines}
    for a, b in zip(results, results[1:]):
        for e in engines:
            ta, tb = a["engines"][e]["total_s"], b["engines"][e]["total_s"]
            slopes[e].append(round(math.log(tb / ta) / math.log(b["events"] / a["events"]), 2))
    return slopes


def online_retail_parity(engines: list[str], master: str, root: Path, data: Path) -> dict[str, Any]:
    """The issue's check: Online Retail trained on each engine before 2011-11-09, scored independently.

    Each engine writes lists for every known user; ``shelfwise evaluate score`` (the scorer that never
    sees a model) scores each CSV against the purchases after the cutoff.
    """
    from shelfwise.service import datasets as ds
    from shelfwise.service import engine as E
    from shelfwise.service import evaluate as ev

    cutoff = "2011-11-09"
    shop, db = root / "or-shop", f"duckdb:///{root / 'or.duckdb'}"
    ds.convert_dataset("online-retail", data / "uci-online-retail", shop)
    with open_store(db) as store:
        ingest(shop, store)
    out: dict[str, Any] = {"cutoff": cutoff, "engines": {}}
    for name in engines:
        print(f"  online retail: {name} ...", flush=True)
        t = time.perf_counter()
        models = root / f"or-models-{name}"
        tr = E.train(db, name, until=cutoff, out_dir=root / "or-out", model_dir=models, master=master)
        rc = E.recommend_all(db, name, out=root / f"or-recs-{name}.csv", model_dir=models, master=master)
        sc = ev.score_recommendations(root / f"or-recs-{name}.csv", db, cutoff, k=10)
        out["engines"][name] = {"ndcg@10": round(sc["metrics"]["ndcg@10"], 4),
                                "recall@10": round(sc["metrics"]["recall@10"], 4),
                                "test_users": sc["split"].get("test_users", sc["coverage_of_file"]),
                                "train_s": tr["seconds"], "recommend_s": rc["seconds"],
                                "wall_s": round(time.perf_counter() - t, 1)}
    if len(engines) == 2:
        a, b = (out["engines"][e]["ndcg@10"] for e in engines)
        out["ndcg_relative_difference"] = round(abs(a - b) / max(a, b), 4)
        out["within_2_percent"] = out["ndcg_relative_difference"] <= 0.02
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", default="xs,s,m", help=f"comma-separated of {', '.join(STEPS)}")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--spark-ingest", action="store_true", help="also time ingest --engine spark")
    ap.add_argument("--online-retail", action="store_true",
                    help="also run the parity check on UCI Online Retail (../shared/data) on both engines")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.json"))
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    mem = PeakMemory()
    root = Path(args.work or tempfile.mkdtemp(prefix="shelfwise-scale-"))
    results: list[dict] = []
    parity: dict[str, Any] | None = None
    try:
        if args.online_retail:
            parity = online_retail_parity(engines, args.master, root, ROOT.parent / "shared" / "data")
            print(json.dumps(parity, default=str), flush=True)
        for step in steps:
            res = run_step(step, engines, args.master, args.spark_ingest, root, mem)
            results.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "engines"}), flush=True)
            for e, r in res["engines"].items():
                print(f"    {e:7s} total {r['total_s']:8.2f}s  peak {max(r['peak_mb'].values())} MB  "
                      + "  ".join(f"{k}={v}" for k, v in r["seconds"].items()), flush=True)
    finally:
        mem.stop()
        if "spark" in engines:
            from shelfwise.engines.spark_engine import stop_session

            stop_session()
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    doc = {"machine": {"cpus": os.cpu_count(), "note": "shared machine; compare engines within a step as ratios"},
           "master": args.master, "steps": results, "growth_slope_total_s_vs_events": growth(results, engines),
           "not_run": [s for s in STEPS if s not in steps], "online_retail": parity}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(f"growth (log-log slope of total time vs events): {doc['growth_slope_total_s_vs_events']}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
