"""SIGKILL mid-stream: every acknowledged event is in the store after a restart, and nothing twice.

A client streams batches of 100 distinct events to ``shelfwise serve`` (a real process on loopback),
the server is killed with SIGKILL while batches are in flight, then restarted on the same store. The
batches that were acknowledged must all be there; the batches in flight when it died may or may not
be (their acknowledgement was lost), so the client sends them again, as a real client would, and the
content keys keep them from being stored twice: in the end stored == acknowledged exactly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(db: str, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "shelfwise.cli.main", "-q", "serve", "--db", db, "--port", str(port),
           "--model-dir", str(log.parent / "no_models"), "--watch-every", "0"]
    proc = subprocess.Popen(cmd, stdout=log.open("ab"), stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the service exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"the service did not become ready: {log.read_text()[-2000:]}")


def _batch(b: int) -> list[dict]:
    return [{"timestamp": f"2031-01-01T00:00:00", "user_id": f"crash-{b}-{i}", "item_id": f"i{i % 50}",
             "event": "view", "session_id": f"s{b}"} for i in range(100)]


def test_acknowledged_events_survive_sigkill(tiny_shop, tmp_path: Path) -> None:
    import shutil

    from shelfwise.data.store import open_store
    from shelfwise.service import keys

    db = tmp_path / "shop.duckdb"
    shutil.copy(tiny_shop["db"], db)
    url = f"duckdb:///{db}"
    with open_store(url) as store:
        before = store.count("events")
        _, key = keys.create_key(store, "write", "crash test")
    port = _port()
    log = tmp_path / "serve.log"
    proc = _start(url, port, log)
    acked: set[int] = set()
    in_flight: set[int] = set()
    lock = threading.Lock()
    counter = iter(range(10_000))
    stop = threading.Event()

    def client() -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=30) as c:
            while not stop.is_set():
                with lock:
                    b = next(counter)
                    in_flight.add(b)
                try:
                    r = c.post("/v1/events", json=_batch(b))
                except httpx.HTTPError:
                    return  # the server died under us: this batch stays "in flight"
                if r.status_code != 200:
                    return
                with lock:
                    in_flight.discard(b)
                    acked.add(b)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.time() + 60
    while len(acked) < 20 and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stop.set()
    for t in threads:
        t.join()
    assert len(acked) >= 20, log.read_text()[-2000:]

    # after the crash: every acknowledged event is there, at most the in-flight ones more
    with open_store(url) as store:
        stored = store.count("events") - before
    assert len(acked) * 100 <= stored <= (len(acked) + len(in_flight)) * 100

    # restart, resend what was never acknowledged: stored == acknowledged, nothing twice
    proc = _start(url, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"},
                          timeout=30) as c:
            for b in sorted(in_flight):
                assert c.post("/v1/events", json=_batch(b)).status_code == 200
                acked.add(b)
            for b in sorted(acked)[:3]:  # and a few plain duplicates for good measure
                assert c.post("/v1/events", json=_batch(b)).status_code == 200
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with open_store(url) as store:
        stored = store.count("events") - before
        distinct = store.query("SELECT count(DISTINCT user_id) AS n FROM events WHERE user_id LIKE ?",
                               ["crash-%"]).column(0)[0].as_py()
    assert stored == len(acked) * 100 == distinct
