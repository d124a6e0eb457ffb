"""Service benchmark: ``shelfwise serve`` on loopback against the demo shop, beside a bare FastAPI app.

Run on demand from the repository root (never in the test suite):

    .venv/bin/python benchmarks/service.py [--work /tmp/shelfwise-bench-service] [--seconds 15]

1. The demo shop (2,000 items x 5,000 users x 60 days) is generated, ingested and the hybrid trained
   once into ``--work`` (reused on later runs; ``--db`` / ``--model-dir`` point at your own instead).
2. Throughput and latency at 32 concurrent clients (httpx, async, keep-alive) of
   a. a bare FastAPI app whose one endpoint returns a constant (uvicorn, one process: the floor), and
   b. ``GET /v1/recommend?user_id=..&k=10`` of ``shelfwise serve`` (one process, a read key sent with
      every request, user ids drawn from the shop's active users, model lists warmed first),
   in this same run with the same client, in three alternating windows each (so that a change in the
   machine's load during the run hits both alike); percentiles are the worst window's.
3. Event intake: 32 clients (as for recommend) post batches of 100 distinct events for ``--seconds``; afterwards the
   server is stopped and the store's count must equal the acknowledged count.
4. The same stream with a SIGKILL of the server in the middle: after a restart the acknowledged
   events must all be there (the in-flight batches may or may not be); the client resends the batches
   it never got an answer for and the final count must equal the acknowledged count exactly.

Targets (issue 8): recommend throughput >= 50% of the bare endpoint with p99 <= 50 ms; intake
>= 2,000 events/s with stored == acknowledged, also across a SIGKILL. Writes
``benchmarks/results/service.json``. The load generator shares the machine's cores with the server,
so both figures of step 2 carry the same client overhead; the ratio is the comparable number.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "service.json"
CONCURRENCY = 32
INTAKE_CLIENTS = 32
BATCH = 100


# --- the bare app (run as: python benchmarks/service.py bare PORT) -------------------------------------

def bare_main(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/constant")
    async def constant() -> dict[str, Any]:
        return {"items": [], "model_version": "constant"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# --- helpers --------------------------------------------------------------------------------------------

def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _wait_ready(proc: subprocess.Popen, url: str, log: Path, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited ({proc.returncode}): {log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"server not ready after {timeout}s: {log.read_text()[-3000:]}")


def _serve(db: str, model_dir: Path, port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "shelfwise.cli.main", "-q", "serve", "--db", db, "--port", str(port),
           "--model-dir", str(model_dir), "--watch-every", "0"]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=_env(), cwd=ROOT)
    _wait_ready(proc, f"http://127.0.0.1:{port}/health/ready", log)
    return proc


def _wait_warm(base: str, key: str, timeout: float = 900) -> dict[str, Any]:
    """Wait until the service's start-up warming is done (steady state; it answers meanwhile too)."""
    t = time.perf_counter()
    body: dict[str, Any] = {}
    while time.perf_counter() - t < timeout:
        body = httpx.get(f"{base}/v1/admin/models", headers={"Authorization": f"Bearer {key}"}, timeout=30).json()
        if not body.get("warming"):
            break
        time.sleep(1)
    return {"cached_users": body.get("current", {}).get("cached_users"), "seconds": round(time.perf_counter() - t, 1)}


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


async def _load(url: str, params_of: Any, headers: dict[str, str], seconds: float, warmup: float,
                concurrency: int = CONCURRENCY) -> dict[str, Any]:
    """``concurrency`` clients in a closed loop; figures over ``seconds`` after ``warmup``."""
    lat: list[float] = []
    errors = 0
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:
        async def worker(w: int) -> None:
            nonlocal errors
            rng = random.Random(w)
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                r = await client.get(url, params=params_of(rng))
                t1 = time.perf_counter()
                if t0 >= t_measure:
                    if r.status_code == 200:
                        lat.append(t1 - t0)
                    else:
                        errors += 1

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return {"requests": len(lat), "errors": errors, "seconds": seconds, "rps": len(lat) / seconds,
            "p50_ms": 1e3 * _pct(lat, 0.50), "p95_ms": 1e3 * _pct(lat, 0.95), "p99_ms": 1e3 * _pct(lat, 0.99),
            "max_ms": 1e3 * max(lat) if lat else None, "concurrency": concurrency}


def _batch(tag: str, b: int) -> list[dict[str, Any]]:
    return [{"timestamp": "2031-06-01T12:00:00", "user_id": f"bench-{tag}-{b}-{i}", "item_id": f"i{(b * 7 + i) % 2000:04d}",
             "event": "view", "session_id": f"{tag}-{b}", "surface": "bench"} for i in range(BATCH)]


async def _intake(base: str, key: str, tag: str, seconds: float, state: dict[str, Any],
                  kill_after: float | None = None, proc: subprocess.Popen | None = None) -> None:
    """Clients post batches until ``seconds`` pass (or the server dies); fills acked / in_flight."""
    counter = iter(range(10 ** 9))
    t_end = time.perf_counter() + seconds
    state.setdefault("acked", set())
    state.setdefault("in_flight", set())
    killed = asyncio.Event()

    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60,
                                 limits=httpx.Limits(max_connections=INTAKE_CLIENTS)) as client:
        async def worker() -> None:
            while time.perf_counter() < t_end and not killed.is_set():
                b = next(counter)
                state["in_flight"].add(b)
                try:
                    r = await client.post("/v1/events", json=_batch(tag, b))
                except httpx.HTTPError:
                    return
                if r.status_code != 200:
                    state.setdefault("errors", []).append(r.text[:300])
                    return
                state["in_flight"].discard(b)
                state["acked"].add(b)

        async def killer() -> None:
            if kill_after is None or proc is None:
                return
            await asyncio.sleep(kill_after)
            proc.send_signal(signal.SIGKILL)
            killed.set()

        t0 = time.perf_counter()
        await asyncio.gather(killer(), *(worker() for _ in range(INTAKE_CLIENTS)))
        state["seconds"] = time.perf_counter() - t0


def _count(db: str, tag: str) -> int:
    from shelfwise.data.store import open_store

    with open_store(db, read_only=True) as store:
        return int(store.query("SELECT count(*) AS n FROM events WHERE user_id LIKE ?",
                               [f"bench-{tag}-%"]).column(0)[0].as_py())


def _commit_floor(db_path: Path, seconds: float) -> float:
    """Context for the intake figure: plain DuckDB transactions of 100 rows each (no HTTP, no validation,
    no de-duplication) into a copy of the events table, on this machine now. Events/s."""
    import duckdb
    import pyarrow as pa

    floor_db = db_path.with_name("floor.duckdb")
    shutil.copy(db_path, floor_db)
    con = duckdb.connect(str(floor_db))
    n, b = 0, 0
    t_end = time.perf_counter() + seconds
    t0 = time.perf_counter()
    while time.perf_counter() < t_end:
        b += 1
        rows = pa.table({"user_id": [f"floor-{b}-{i}" for i in range(BATCH)], "item_id": ["i0001"] * BATCH,
                         "event": ["view"] * BATCH})
        con.register("rows_in", rows)
        con.execute("BEGIN TRANSACTION")
        con.execute("INSERT INTO events (timestamp, user_id, item_id, event) "
                    "SELECT TIMESTAMP '2031-06-01 12:00:00', user_id, item_id, event FROM rows_in")
        con.execute("COMMIT")
        con.unregister("rows_in")
        n += BATCH
    rate = n / (time.perf_counter() - t0)
    con.close()
    floor_db.unlink(missing_ok=True)
    return rate


# --- set-up -----------------------------------------------------------------------------------------------

def _prepare(work: Path) -> tuple[Path, Path]:
    """The demo shop's store and a trained model set in ``work`` (built once)."""
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.data.synth import SynthConfig, write_shop
    from shelfwise.service import recommend as rec_service

    db, models = work / "shop.duckdb", work / "models"
    if not db.exists():
        print("generating and ingesting the demo shop ...", flush=True)
        write_shop(work / "shop", SynthConfig())
        with open_store(f"duckdb:///{db}") as store:
            ingest(work / "shop", store)
    if not (models / "current").exists():
        print("training the hybrid (once) ...", flush=True)
        rec_service.train(db=f"duckdb:///{db}", model_dir=models)
    return db, models


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "bare":
        bare_main(int(sys.argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/shelfwise-bench-service"))
    parser.add_argument("--db", type=Path, default=None, help="a DuckDB store to copy (default: the demo shop)")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()

    from shelfwise.data.store import open_store
    from shelfwise.service import keys

    args.work.mkdir(parents=True, exist_ok=True)
    if args.db is None or args.model_dir is None:
        src_db, models = _prepare(args.work)
    else:
        src_db, models = args.db, args.model_dir
    db_path = args.work / "bench.duckdb"
    shutil.copy(src_db, db_path)
    Path(str(db_path) + ".wal").unlink(missing_ok=True)
    db = f"duckdb:///{db_path}"
    with open_store(db) as store:
        _, read_key = keys.create_key(store, "read", "benchmark")
        _, write_key = keys.create_key(store, "write", "benchmark")
        users = [r["user_id"] for r in store.query(
            "SELECT user_id, count(*) AS n FROM events WHERE user_id IS NOT NULL AND event <> 'impression' "
            "GROUP BY user_id ORDER BY n DESC LIMIT 2000").to_pylist()]
    log = args.work / "servers.log"
    result: dict[str, Any] = {"benchmark": "service", "python": platform.python_version(),
                              "machine": f"{platform.machine()}, {os.cpu_count()} cores",
                              "concurrency": CONCURRENCY, "seconds": args.seconds}

    # 2. the floor (a bare FastAPI endpoint) and /v1/recommend, both servers up, measured in alternating
    #    windows so that a change in the machine's load hits both alike
    bare_port = _port()
    bare = subprocess.Popen([sys.executable, __file__, "bare", str(bare_port)], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, env=_env())
    _wait_ready(bare, f"http://127.0.0.1:{bare_port}/constant", log)
    port = _port()
    server = _serve(db, models, port, log)
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {read_key}"}
    result["warm"] = _wait_warm(base, read_key)
    print(f"warmed: {result['warm']}", flush=True)
    rounds = 3
    window = args.seconds / rounds
    floors, recs = [], []
    for r in range(rounds):
        floors.append(asyncio.run(_load(f"http://127.0.0.1:{bare_port}/constant", lambda rng: None, {},
                                        window, args.warmup)))
        recs.append(asyncio.run(_load(f"{base}/v1/recommend", lambda rng: {"user_id": rng.choice(users), "k": 10},
                                      auth, window, args.warmup)))
        print(f"  round {r + 1}: bare {floors[-1]['rps']:.0f} req/s, recommend {recs[-1]['rps']:.0f} req/s", flush=True)
    sample = httpx.get(f"{base}/v1/recommend", params={"user_id": users[0], "k": 10}, headers=auth).json()
    _stop(server)
    _stop(bare)

    def merged(runs: list[dict[str, Any]]) -> dict[str, Any]:
        out = {"requests": sum(x["requests"] for x in runs), "errors": sum(x["errors"] for x in runs),
               "seconds": sum(x["seconds"] for x in runs), "concurrency": CONCURRENCY}
        out["rps"] = out["requests"] / out["seconds"]
        for q in ("p50_ms", "p95_ms", "p99_ms"):  # the worst window's percentile: conservative
            out[q] = max(x[q] for x in runs)
        out["rounds"] = runs
        return out

    floor, rec = merged(floors), merged(recs)
    ratio = rec["rps"] / floor["rps"] if floor["rps"] else 0.0
    print(f"bare constant endpoint: {floor['rps']:.0f} req/s, p50 {floor['p50_ms']:.1f} ms, "
          f"p99 {floor['p99_ms']:.1f} ms", flush=True)
    print(f"/v1/recommend:          {rec['rps']:.0f} req/s, p50 {rec['p50_ms']:.1f} ms, p99 {rec['p99_ms']:.1f} ms "
          f"-> {100 * ratio:.0f}% of the bare endpoint", flush=True)
    result["bare"] = floor
    result["recommend"] = {**rec, "model_version": sample.get("model_version"), "personal": sample.get("personal"),
                           "items_per_answer": len(sample.get("items", []))}
    result["recommend_vs_bare"] = ratio

    # 3. intake, then a clean stop and the count (after the machine's floor for 100-row commits)
    floor_rate = _commit_floor(db_path, min(args.seconds, 5.0))
    print(f"floor: plain DuckDB commits of {BATCH} rows, one client: {floor_rate:,.0f} events/s", flush=True)
    result["commit_floor_events_per_s"] = floor_rate
    port = _port()
    server = _serve(db, models, port, log)
    _wait_warm(f"http://127.0.0.1:{port}", write_key)  # (also puts the write key in the server's key cache)
    st: dict[str, Any] = {}
    asyncio.run(_intake(f"http://127.0.0.1:{port}", write_key, "run", args.seconds, st))
    _stop(server)
    acked = len(st["acked"]) * BATCH
    stored = _count(db, "run")
    rate = acked / st["seconds"]
    print(f"intake: {acked:,} events acknowledged in {st['seconds']:.1f}s = {rate:,.0f} events/s; "
          f"stored {stored:,}", flush=True)
    result["intake"] = {"events_acknowledged": acked, "events_stored": stored, "seconds": st["seconds"],
                        "events_per_s": rate, "batch": BATCH, "clients": INTAKE_CLIENTS,
                        "errors": st.get("errors", [])[:3]}

    # 4. intake with a SIGKILL in the middle
    port = _port()
    server = _serve(db, models, port, log)
    _wait_warm(f"http://127.0.0.1:{port}", write_key)
    kst: dict[str, Any] = {}
    asyncio.run(_intake(f"http://127.0.0.1:{port}", write_key, "kill", args.seconds, kst,
                        kill_after=args.seconds / 2, proc=server))
    server.wait()
    acked_k = len(kst["acked"]) * BATCH
    after_kill = _count(db, "kill")
    in_flight = sorted(kst["in_flight"])
    port = _port()
    server = _serve(db, models, port, log)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {write_key}"},
                      timeout=60) as c:
        for b in in_flight:
            r = c.post("/v1/events", json=_batch("kill", b))
            if r.status_code == 200:
                kst["acked"].add(b)
    _stop(server)
    final_acked = len(kst["acked"]) * BATCH
    final_stored = _count(db, "kill")
    print(f"SIGKILL: {acked_k:,} acknowledged before the kill, {after_kill:,} stored after it "
          f"({len(in_flight)} batches were in flight); after resending them: acknowledged {final_acked:,}, "
          f"stored {final_stored:,}", flush=True)
    result["sigkill"] = {"acknowledged_before_kill": acked_k, "stored_after_kill": after_kill,
                         "in_flight_batches": len(in_flight), "acknowledged_final": final_acked,
                         "stored_final": final_stored}

    result["targets"] = {
        "recommend_throughput_ge_50pct_of_bare": ratio >= 0.5,
        "recommend_p99_le_50ms": rec["p99_ms"] <= 50.0,
        "intake_ge_2000_events_per_s": rate >= 2000.0,
        "intake_vs_plain_100_row_commits": rate / floor_rate if floor_rate else None,
        "intake_stored_eq_acknowledged": stored == acked,
        "sigkill_no_acknowledged_event_lost": acked_k <= after_kill <= acked_k + len(in_flight) * BATCH,
        "sigkill_stored_eq_acknowledged_after_resend": final_stored == final_acked,
    }
    for name, ok in result["targets"].items():
        if isinstance(ok, bool):
            print(f"  {'MET ' if ok else 'MISS'} {name}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
