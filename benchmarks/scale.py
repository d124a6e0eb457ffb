"""Scale benchmark: the batch pipeline on DuckDB and on Spark (local mode), per stage, as the shop grows.

Run on demand (never in the test suite), from the repository root:

    SPARK_LOCAL_IP=127.0.0.1 nice -n 10 .venv/bin/python benchmarks/scale.py                  # default steps
    .venv/bin/python benchmarks/scale.py --steps xs,s --engines duckdb                         # a quick look
    .venv/bin/python benchmarks/scale.py --steps xl --master local[16] --driver-memory 48g     # 1M items x ~10M events
    .venv/bin/python benchmarks/scale.py --steps "" --online-retail --engines local,duckdb,spark  # NDCG@10 parity

Each step generates the demo shop (``shelfwise.data.synth``) at a size, ingests it into a fresh DuckDB
store (default ingest; with ``--spark-ingest`` also ``ingest --engine spark`` into a second store),
exports the store's events and items as one Parquet snapshot, and runs the pipeline of
``shelfwise train/recommend --engine E`` on each engine from that same snapshot: the five aggregates,
interactions, ALS fit, ALS candidates, buy-again candidates, fusion, Parquet writes. For every stage it
records seconds, the peak resident memory of this process and its children (the Spark JVM is a child
in local mode, sampled every 50 ms) and the 1-minute load average of the machine. Growth is the
log-log slope of time against the number of events between steps (1.0 = linear), for each engine's
total and for each stage.

With ``--work DIR --reuse`` a step whose shop was already generated, ingested and exported under
``DIR`` is not built again: its recorded generation and ingest figures are reused, so each engine can
run in its own process (``--engines duckdb`` then ``--engines spark``: the peaks of one engine do not
include what the other left allocated) and a failed engine run can be repeated. Results are merged into
``--out`` by step and engine, keeping every other key of an existing file.

Prints a table and writes ``benchmarks/results/scale.json``. Times on a shared machine are inflated
by contention: compare engines within a step as ratios, and read the load average next to them.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import itertools
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

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.engines import get_engine
from shelfwise.engines import pipeline as P
from shelfwise.engines.sql import BatchParams

#: name -> (items, users, days): the demo shop's generator at growing sizes (events are measured)
STEPS: dict[str, tuple[int, int, int]] = {
    "xs": (500, 1_000, 30),
    "s": (2_000, 5_000, 60),        # the demo shop (~430k events)
    "m": (20_000, 20_000, 60),
    "l": (100_000, 50_000, 60),
    "xl": (1_000_000, 110_000, 60),  # the 1M items x ~10M events (9.7M)
}
#: the Spark driver's heap in local mode (the driver JVM is also the executor there); see --driver-memory
DRIVER_MEMORY = "6g"


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


def _load() -> float:
    """The machine's 1-minute load average: how much other work shared the 2 cores with a stage."""
    return round(os.getloadavg()[0], 2)


class Stages(P.StageTimes):
    """Stage times plus peak memory (MB) and the load average at the end of each stage."""

    def __init__(self, mem: PeakMemory, deadline: float | None = None) -> None:
        super().__init__()
        self.mem, self.peak_mb, self.load, self.current, self.started = mem, {}, {}, "", time.perf_counter()
        self.deadline = deadline

    def timed(self, name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        self.current, self.started = name, time.perf_counter()
        if self.deadline is not None and self.started > self.deadline:
            raise TimeoutError("the time limit passed before this stage started")
        self.mem.mark()
        out = super().timed(name, fn, *args, **kw)
        self.peak_mb[name] = round(self.mem.peak / 2**20)
        self.load[name] = _load()
        print(f"    {name}: {self.seconds[name]} s, peak {self.peak_mb[name]} MB, load {self.load[name]}", flush=True)
        return out


def batch_params(ranker: bool = False) -> BatchParams:
    """ALS with 32 factors x 10 iterations and the reciprocal-rank-fusion lists every step was timed with.

    The learned ranker, where the pipeline has one, is off unless asked for (``--ranker``), so that
    steps measured at different times stay comparable.
    """
    kw: dict[str, Any] = {"factors": 32, "iterations": 10}
    if "ranker" in {f.name for f in dataclasses.fields(BatchParams)}:
        kw["ranker"] = ranker
    elif ranker:
        raise SystemExit("--ranker: this version of the batch pipeline has no learned ranker")
    return BatchParams(**kw)


class _Limit(threading.Timer):
    fired = False


def _spark_time_limit(limit_s: float) -> _Limit:
    """After ``limit_s`` seconds cancel every running Spark job: the stage then fails and is recorded as such."""
    def cancel() -> None:
        from pyspark import SparkContext

        timer.fired = True
        sc = SparkContext._active_spark_context
        if sc is not None:
            sc.cancelAllJobs()

    timer = _Limit(limit_s, cancel)
    timer.daemon = True
    timer.start()
    return timer


def run_engine(name: str, snapshot: Path, work: Path, params: BatchParams, master: str, mem: PeakMemory,
               limit_s: float | None = None) -> dict:
    t0 = time.perf_counter()
    st = Stages(mem, t0 + limit_s if limit_s else None)
    rss_before = round(_tree_rss() / 2**20)
    rows: int | None = None
    als: dict[str, Any] = {}
    failed: dict[str, Any] | None = None
    timer = _spark_time_limit(limit_s) if name == "spark" and limit_s else None  # DuckDB: checked between stages
    try:
        engine = st.timed("start", get_engine, name, master)
        try:
            report = P.train(engine, snapshot, params, work / name / "aggregates", work / name / "model", st)
            als = report.get("als", {})
            P.recommend_all(engine, snapshot, params, work / name / "model", work / name, st, prepared=True)
            rows = engine.count("recommendations")
        finally:
            engine.close()
    except Exception as exc:  # noqa: BLE001  (a benchmark records which stage failed, how, at what memory)
        error = f"{type(exc).__name__}: {exc}"[:1000]
        if (timer is not None and timer.fired) or isinstance(exc, TimeoutError):
            error = f"cancelled by --engine-time-limit after {limit_s} s ({error[:300]})"
        failed = {"stage": st.current, "error": error,
                  "stage_started_s_ago": round(time.perf_counter() - st.started, 1),
                  "peak_mb_in_stage": round(mem.peak / 2**20), "load": _load()}
        print(f"  {name} failed in {st.current}: {failed['error'][:300]}", flush=True)
    finally:
        if timer is not None:
            timer.cancel()
    loads = list(st.load.values()) or [_load()]
    out = {"seconds": st.seconds, "peak_mb": st.peak_mb, "total_s": round(time.perf_counter() - t0, 2),
           "recommendation_rows": rows, "rss_before_mb": rss_before,
           # ALS candidate scoring is users x items of the model: what its time grows with
           "als_users": als.get("users"), "als_items": als.get("items"),
           "load_avg_1m": {"min": min(loads), "mean": round(sum(loads) / len(loads), 2), "max": max(loads)},
           "load_by_stage": st.load}
    if failed is not None:
        out["failed"] = failed
    return out


def prepare_step(step: str, work: Path, mem: PeakMemory, reuse: bool) -> dict[str, Any]:
    """Generate the shop, ingest it locally and export the snapshot, timing each; or reuse an earlier run's.

    The generated shop files are deleted once the snapshot is written (the store and the snapshot stay
    in ``work`` for reuse); ``prepared.json`` records the figures.
    """
    done = work / "prepared.json"
    if reuse and done.exists() and (work / "snapshot" / "events").is_dir():
        out = json.loads(done.read_text())
        out["reused"] = True
        return out
    gen = importlib.import_module("shelfwise.data.synth.generate")
    items, users, days = STEPS[step]
    shutil.rmtree(work, ignore_errors=True)
    out: dict[str, Any] = {"step": step, "items": items, "users": users, "days": days, "load_at_start": _load()}
    mem.mark()
    t = time.perf_counter()
    gen.write_shop(work / "shop", gen.SynthConfig(items=items, users=users, days=days))
    out["generate_s"] = round(time.perf_counter() - t, 2)
    out["generate_peak_mb"] = round(mem.peak / 2**20)
    mem.mark()
    t = time.perf_counter()
    with open_store(f"duckdb:///{work / 'shop.duckdb'}") as store:
        ingest(work / "shop", store)
        out["ingest_local_s"] = round(time.perf_counter() - t, 2)
        out["ingest_local_peak_mb"] = round(mem.peak / 2**20)
        out["load_after_ingest"] = _load()
        out["events"] = store.count("events")
        out["events_no_impressions"] = int(store.query(
            "SELECT count(*) FROM events WHERE event <> 'impression'").column(0)[0].as_py())
        mem.mark()
        t = time.perf_counter()
        P.export_snapshot(store, work / "snapshot")
        out["snapshot_s"] = round(time.perf_counter() - t, 2)
        out["snapshot_peak_mb"] = round(mem.peak / 2**20)
    out["snapshot_mb"] = round(sum(f.stat().st_size for f in (work / "snapshot").rglob("*.parquet")) / 2**20, 1)
    print(f"  {step}: prepared {json.dumps(out)}", flush=True)
    done.write_text(json.dumps(out, indent=1))
    return out


def run_step(step: str, engines: list[str], master: str, spark_ingest: bool, root: Path, mem: PeakMemory,
             reuse: bool = False, limit_s: float | None = None, ranker: bool = False) -> dict:
    work = root / step
    out = prepare_step(step, work, mem, reuse)
    if spark_ingest and "spark" in engines:
        from shelfwise.engines.spark_engine import spark_session
        from shelfwise.engines.spark_ingest import ingest_spark

        if not (work / "shop").is_dir():
            raise SystemExit(f"--spark-ingest needs the shop files; they were removed from {work}: run without --reuse")
        spark_session(master)
        mem.mark()
        t = time.perf_counter()
        with open_store(f"duckdb:///{work / 'spark.duckdb'}") as store:
            ingest_spark(work / "shop", store, work / "lake", master)
        out["ingest_spark_s"] = round(time.perf_counter() - t, 2)
        out["ingest_spark_peak_mb"] = round(mem.peak / 2**20)
    shutil.rmtree(work / "shop", ignore_errors=True)
    params = batch_params(ranker)
    out["ranker"] = ranker
    out["engines"] = {}
    for name in engines:
        print(f"  {step}: {name} ...", flush=True)
        out["engines"][name] = run_engine(name, work / "snapshot", work, params, master, mem, limit_s)
    return out


def _slope(ta: float, tb: float, ea: int, eb: int) -> float | None:
    if ta <= 0 or tb <= 0 or ea == eb:
        return None
    return round(math.log(tb / ta) / math.log(eb / ea), 2)


def growth(results: list[dict], engines: list[str]) -> dict[str, Any]:
    """Log-log slope of total seconds against events between consecutive steps, per engine.

    Only steps that ran the engine count, in order of events.
    """
    slopes: dict[str, list[dict]] = {}
    for e in engines:
        runs = sorted((r for r in results if "failed" not in r.get("engines", {}).get(e, {"failed": 1})),
                      key=lambda r: r["events"])
        slopes[e] = [{"from": a["step"], "to": b["step"],
                      "slope": _slope(a["engines"][e]["total_s"], b["engines"][e]["total_s"], a["events"], b["events"])}
                     for a, b in itertools.pairwise(runs)]
    return slopes


def stage_growth(results: list[dict], engines: list[str], smallest: str = "m") -> dict[str, Any]:
    """Per stage, the log-log slope of seconds against events from step ``smallest`` to the largest step run.

    Below step m the fixed costs (Spark's job scheduling, JIT warm-up) hide the growth.
    """
    out: dict[str, Any] = {}
    for e in engines:
        runs = sorted((r for r in results if "failed" not in r.get("engines", {}).get(e, {"failed": 1})),
                      key=lambda r: r["events"])
        first = next((r for r in runs if r["step"] == smallest), None)
        if first is None or runs[-1] is first:
            continue
        last = runs[-1]
        sa, sb = first["engines"][e]["seconds"], last["engines"][e]["seconds"]
        out[e] = {"from": first["step"], "to": last["step"],
                  "slope": {k: _slope(sa[k], sb[k], first["events"], last["events"])
                            for k in sb if k in sa and k != "start" and min(sa[k], sb[k]) >= 0.05}}
    return out


def merge_results(old: dict[str, Any], new: list[dict]) -> list[dict]:
    """The steps of an earlier results file with this run's merged in (by step, then by engine)."""
    by_step = {r["step"]: r for r in old.get("steps", [])}
    for r in new:
        prev = by_step.get(r["step"])
        if prev is not None and all(prev.get(k) == r.get(k) for k in ("items", "users", "days", "events")):
            engines = {**prev.get("engines", {}), **r["engines"]}
            r = {**prev, **{k: v for k, v in r.items() if k != "engines"}, "engines": engines}
        by_step[r["step"]] = r
    steps = sorted(by_step.values(), key=lambda r: r["events"])
    for r in steps:
        names = list(r["engines"])
        for k in [k for k in r if k.startswith("ratio_")]:
            del r[k]
        if "duckdb" in names and "spark" in names and not any("failed" in e for e in r["engines"].values()):
            r["ratio_spark_to_duckdb"] = round(r["engines"]["spark"]["total_s"] / r["engines"]["duckdb"]["total_s"], 2)
    return steps


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
    if "local" in engines:  # the default engine's full hybrid, scored on the same split
        print("  online retail: local (hybrid) ...", flush=True)
        t = time.perf_counter()
        m = ev.evaluate_models(db, cutoff, k=10, models=["shelfwise"])["models"]["shelfwise"]
        out["local_hybrid"] = {"ndcg@10": round(m["ndcg@10"], 4), "recall@10": round(m["recall@10"], 4),
                               "fit_s": round(m["fit_s"], 1), "wall_s": round(time.perf_counter() - t, 1)}
        engines = [e for e in engines if e != "local"]
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
    if "local_hybrid" in out:  # the check: each batch engine against the default engine
        ref = out["local_hybrid"]["ndcg@10"]
        for name, r in out["engines"].items():
            r["ratio_to_local"] = round(r["ndcg@10"] / ref, 4)
            r["within_2_percent_of_local"] = abs(r["ndcg@10"] - ref) <= 0.02 * max(r["ndcg@10"], ref)
    return out


def write_results(out: Path, results: list[dict], engines: list[str], master: str, driver_memory: str,
                  parity: dict[str, Any] | None) -> dict[str, Any]:
    """Merge this run into ``out`` (keeping the keys of an existing file) and write it."""
    doc: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    doc.setdefault("machine", {"cpus": os.cpu_count(),
                               "note": "shared machine; compare engines within a step as ratios"})
    doc["master"] = master
    doc["spark_driver_memory"] = driver_memory
    doc["params"] = ("BatchParams(factors=32, iterations=10, ranker=False where the field exists), other defaults: "
                     "the reciprocal-rank-fusion lists every step was timed with (a step's 'ranker' says if not)")
    doc["steps"] = merge_results(doc, results)
    names = sorted({e for r in doc["steps"] for e in r.get("engines", {})})
    doc["growth_slope_total_s_vs_events"] = growth(doc["steps"], names)
    doc["growth_slope_by_stage"] = stage_growth(doc["steps"], names)
    not_run = doc.get("not_run")
    if isinstance(not_run, dict):
        for r in results:
            fails = {e: v["failed"] for e, v in r["engines"].items() if "failed" in v}
            if fails:
                not_run[r["step"]] = {e: f"failed in stage {f['stage']}: {f['error'][:300]}" for e, f in fails.items()}
            else:
                not_run.pop(r["step"], None)
    else:
        doc["not_run"] = [s for s in STEPS if s not in {r["step"] for r in doc["steps"]}]
    if parity is not None:
        doc["online_retail"] = parity
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1))
    return doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", default="xs,s,m", help=f"comma-separated of {', '.join(STEPS)}")
    ap.add_argument("--engines", default="duckdb,spark")
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--driver-memory", default=os.environ.get("SHELFWISE_SPARK_DRIVER_MEMORY", DRIVER_MEMORY),
                    help="Spark driver heap in local mode (default: $SHELFWISE_SPARK_DRIVER_MEMORY or "
                         f"{DRIVER_MEMORY}); on a cluster set executor memory in spark-defaults.conf")
    ap.add_argument("--spark-ingest", action="store_true", help="also time ingest --engine spark")
    ap.add_argument("--online-retail", action="store_true",
                    help="also run the parity check on UCI Online Retail (../shared/data) on the engines "
                         "(add 'local' to --engines to score the default engine's hybrid beside them)")
    ap.add_argument("--work", default=None, help="scratch folder (default: a temporary one, deleted at the end)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --work: reuse a step's generated, ingested and exported shop from an earlier run")
    ap.add_argument("--engine-time-limit", type=float, default=None,
                    help="seconds after which an engine run stops (Spark: its jobs are cancelled) and the "
                         "stage it was in is recorded as failed")
    ap.add_argument("--ranker", action="store_true",
                    help="time the pipeline with its learned ranker (default: the fusion lists, as every step so far)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "scale.json"))
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    os.environ["SHELFWISE_SPARK_DRIVER_MEMORY"] = args.driver_memory
    mem = PeakMemory()
    root = Path(args.work or tempfile.mkdtemp(prefix="shelfwise-scale-"))
    results: list[dict] = []
    parity: dict[str, Any] | None = None
    out = Path(args.out)
    try:
        if args.online_retail:
            parity = online_retail_parity(engines, args.master, root, ROOT.parent / "shared" / "data")
            print(json.dumps(parity, default=str), flush=True)
        for step in steps:
            res = run_step(step, engines, args.master, args.spark_ingest, root, mem, reuse=args.reuse,
                           limit_s=args.engine_time_limit, ranker=args.ranker)
            results.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "engines"}), flush=True)
            for e, r in res["engines"].items():
                print(f"    {e:7s} total {r['total_s']:8.2f}s  peak {max(r['peak_mb'].values(), default=0)} MB  "
                      f"load {r['load_avg_1m']}  " + "  ".join(f"{k}={v}" for k, v in r["seconds"].items()),
                      flush=True)
            write_results(out, [res], engines, args.master, args.driver_memory, None)  # a later failure keeps it
    finally:
        mem.stop()
        if "spark" in engines:
            from shelfwise.engines.spark_engine import stop_session

            stop_session()
        if args.work is None:
            shutil.rmtree(root, ignore_errors=True)
    doc = write_results(out, [], engines, args.master, args.driver_memory, parity)
    print(f"growth (log-log slope of total time vs events): {doc['growth_slope_total_s_vs_events']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
