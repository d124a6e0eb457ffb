"""The PostgreSQL bulk-load shortcuts, forced on tiny data: keys first, index rebuild, ANALYZE."""

from __future__ import annotations

from pathlib import Path

import pytest

import shelfwise.data.store.postgres_store as pg_module
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store


def _events(folder: Path, first: int, last: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [f"2024-01-01 00:{i // 60:02d}:{i % 60:02d},u{i % 5},i{i % 9},view" for i in range(first, last)]
    (folder / "events.csv").write_text("timestamp,user_id,item_id,event\n" + "\n".join(rows) + "\n")
    return folder


@pytest.mark.parametrize("keys_first, bulk", [(1, 1), (10**9, 10**9)])
def test_overlapping_loads_store_each_event_once_on_every_path(tmp_path, pg_store_url, monkeypatch,
                                                               keys_first, bulk):
    monkeypatch.setattr(pg_module, "_KEYS_FIRST_ROWS", keys_first)
    monkeypatch.setattr(pg_module, "_BULK_ROWS", bulk)
    with open_store(pg_store_url) as store:
        first = ingest(_events(tmp_path / "a", 0, 120), store)
        second = ingest(_events(tmp_path / "b", 100, 200), store)   # 20 known, 80 new
        third = ingest(tmp_path / "b", store)                       # all known
        assert [t.new for t in (first.tables[0], second.tables[0], third.tables[0])] == [120, 80, 0]
        assert [t.loaded for t in (first.tables[0], second.tables[0], third.tables[0])] == [120, 100, 100]
        assert store.count("events") == 200
        # the per-user index is there whichever path built it
        idx = store.query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
                          "AND tablename = 'events' ORDER BY 1").column(0).to_pylist()
        assert idx == ["events_event_key_unique", "events_user_time"]


def test_two_bulk_loads_into_an_empty_table_take_turns_without_deadlock(tmp_path, pg_store_url, monkeypatch):
    import threading

    monkeypatch.setattr(pg_module, "_KEYS_FIRST_ROWS", 1)
    monkeypatch.setattr(pg_module, "_BULK_ROWS", 1)  # both drop and rebuild the index if they find it empty
    folders = [_events(tmp_path / "a", 0, 300), _events(tmp_path / "b", 150, 450)]
    stores = [open_store(pg_store_url), open_store(pg_store_url)]
    errors: list[BaseException] = []

    def load(folder: Path, store) -> None:
        try:
            ingest(folder, store)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=pair) for pair in zip(folders, stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    try:
        assert not errors, errors
        assert stores[0].count("events") == 450
        assert stores[0].query("SELECT sum(new) AS n FROM load_log").to_pylist() == [{"n": 450}]
    finally:
        for s in stores:
            s.close()
