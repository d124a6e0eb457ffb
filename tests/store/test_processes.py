"""Several processes on one store: PostgreSQL shares it safely, DuckDB refuses a second writer clearly."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shelfwise.data.store import open_store
from shelfwise.errors import StoreError

# One writer process: opens the store (the schema may not exist yet: both create it at once), waits for
# the start signal, then loads its events folder three times and appends keyed "API" events in batches.
WORKER = r"""
import json, sys, time
from pathlib import Path
import pyarrow as pa
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store

url, folder, go, first, last = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
store = open_store(url)
while not go.exists():
    time.sleep(0.01)
for _ in range(3):
    ingest(folder, store)
for start in range(first, last, 25):
    keys = [f"api:{i}" for i in range(start, min(start + 25, last))]
    n = len(keys)
    store.write("events", pa.table({
        "event_key": keys, "timestamp": pa.array([1704103200_000000] * n, pa.timestamp("us")),
        "user_id": ["api-user"] * n, "item_id": [k.replace("api:", "i") for k in keys],
        "event": ["view"] * n, "quantity": [1.0] * n}), mode="append")
print(json.dumps({"events": store.count("events")}))
store.close()
"""


def _events_file(folder: Path, first: int, last: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"2024-01-01 {i // 3600:02d}:{(i // 60) % 60:02d}:{i % 60:02d},u{i % 13},i{i % 17},click"
             for i in range(first, last)]
    (folder / "events.csv").write_text("timestamp,user_id,item_id,event\n" + "\n".join(lines) + "\n")


def test_two_processes_load_and_append_the_same_events_without_duplicates(tmp_path, pg_store_url):
    # file events: 0..400 and 200..600 overlap on 200; API events: 0..300 and 150..450 overlap on 150
    _events_file(tmp_path / "a", 0, 400)
    _events_file(tmp_path / "b", 200, 600)
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, pg_store_url, str(tmp_path / folder), str(go),
                               str(first), str(last)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for folder, first, last in (("a", 0, 300), ("b", 150, 450))]
    time.sleep(0.5)
    go.touch()
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, err[-3000:]
        assert json.loads(out.strip().splitlines()[-1])["events"] >= 400
    with open_store(pg_store_url) as store:
        assert store.count("events") == 600 + 450
        assert store.query("SELECT count(DISTINCT event_key) AS n FROM events").to_pylist() == [{"n": 1050}]
        assert store.query("SELECT count(*) AS n FROM load_log").to_pylist() == [{"n": 6}]
        new = store.query("SELECT sum(new) AS n FROM load_log").to_pylist()[0]["n"]
        assert new == 600  # each file event counted as new by exactly one of the six loads


def test_duckdb_refuses_a_second_writer_process_with_a_clear_error(tmp_path):
    url = f"duckdb:///{tmp_path / 'shop.duckdb'}"
    code = ("import sys\nfrom shelfwise.data.store import open_store\nfrom shelfwise.errors import StoreError\n"
            "try:\n    open_store(sys.argv[1])\nexcept StoreError as e:\n    print('REFUSED', e)\n")
    with open_store(url):
        out = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=120)
    assert "REFUSED cannot open the DuckDB store" in out.stdout, out.stderr[-2000:]


def test_unreachable_postgres_server_is_a_clear_store_error():
    with pytest.raises(StoreError, match="cannot connect to the PostgreSQL store postgresql://someone:\\*\\*\\*@"):
        open_store("postgresql://someone:secret@127.0.0.1:1/nodb?connect_timeout=2")
