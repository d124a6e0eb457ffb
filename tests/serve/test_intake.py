"""Group commit and the live state, without HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from shelfwise.serve.intake import Intake
from shelfwise.serve.live import LiveState
from shelfwise.service import live


def _rows(tag: str, n: int, kind: str = "view") -> list[dict]:
    return live.normalise([{"timestamp": f"2030-01-01T00:00:{i % 60:02d}", "user_id": f"{tag}{i}",
                            "item_id": f"i{i % 5}", "event": kind} for i in range(n)])


def test_accept_many_stores_good_batches_and_refuses_bad_ones_whole(store) -> None:
    bad = _rows("b", 4)
    bad[2]["event"] = "zap"
    out = live.accept_many(store, [_rows("a", 3), bad, _rows("c", 2)])
    assert isinstance(out[0], live.Accepted) and out[0].accepted == 3
    assert isinstance(out[1], live.EventsRejected) and [(r.index, r.field) for r in out[1].rejects] == [(2, "event")]
    assert isinstance(out[2], live.Accepted) and out[2].accepted == 2
    assert store.count("events") == 5
    assert {r["user_id"] for r in store.query("SELECT user_id FROM events").to_pylist()} == {"a0", "a1", "a2", "c0", "c1"}
    assert {e["user_id"] for e in out[2].events} == {"c0", "c1"}


def test_a_retry_with_its_attributes_in_another_order_is_the_same_event(store) -> None:
    # clients serialise JSON objects in their own key order; the store keys events by their content
    first = {"timestamp": "2030-01-01T00:00:00", "user_id": "u1", "item_id": "i1", "event": "view",
             "zeta": "z", "alpha": "a"}
    retry = {k: first[k] for k in ["alpha", "event", "item_id", "zeta", "user_id", "timestamp"]}
    assert live.accept_many(store, [live.normalise([first])])[0].new == 1
    assert live.accept_many(store, [live.normalise([retry])])[0].new == 0
    assert store.count("events") == 1


def test_intake_thread_acknowledges_every_batch_after_commit(store) -> None:
    seen: list[int] = []
    later: list[int] = []
    intake = Intake(store, on_commit=lambda ev: seen.append(len(ev)), after_ack=lambda ev: later.append(len(ev)))
    intake.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            futures = list(pool.map(lambda k: intake.submit(_rows(f"t{k}-", 50)), range(40)))
        results = [f.result(timeout=60) for f in futures]
        bad = _rows("x", 3)
        bad[0]["timestamp"] = "never"
        with pytest.raises(live.EventsRejected):
            intake.submit(bad).result(timeout=60)
    finally:
        intake.stop()
    assert all(r.accepted == 50 for r in results)
    assert store.count("events") == 40 * 50 == intake.committed_events == sum(seen) == sum(later)
    assert intake.commits <= 41


def test_live_state_history_trending_and_co_occurrence() -> None:
    state = LiveState(trend_half_life_s=10.0)
    t = 1_000_000.0
    state.add([{"user_id": "u", "item_id": "a", "event": "view"}], now=t)
    state.add([{"user_id": "u", "item_id": "b", "event": "purchase", "quantity": 2}], now=t + 1)
    state.add([{"user_id": None, "item_id": "c", "event": "impression"}], now=t + 1)
    assert [r.item_id for r in state.recent_of("u")] == ["a", "b"]
    assert state.co_occurring("a") == [("b", 1.0)] and state.co_occurring("b") == [("a", 1.0)]
    assert state.exploration_counts("c") == (1, 0)
    top = state.trending(5, now=t + 1)
    assert [i for i, _ in top] == ["b", "a"] and top[0][1] == pytest.approx(8.0)
    # ten seconds later every weight has halved
    assert state.trending(5, now=t + 11)[0][1] == pytest.approx(4.0)
    assert state.version_of("u") == 2 and state.version_of("nobody") == 0


def test_normalise_refuses_what_a_csv_cell_cannot_hold() -> None:
    from shelfwise.errors import InputError

    with pytest.raises(InputError) as e:
        live.normalise([{"timestamp": "2030-01-01", "item_id": "i1", "event": "view", "flag": True}])
    assert e.value.field == "flag"
    with pytest.raises(InputError) as e:
        live.normalise([{"timestamp": "2030-01-01", "item_id": "i1", "event": "view", "_line": 3}])
    assert e.value.field == "events"
    row = live.normalise([{"item_id": "i1", "price": 2.5}])[0]
    assert row == {"item_id": "i1", "price": "2.5", "timestamp": None, "user_id": None, "event": None}
