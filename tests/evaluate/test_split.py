"""The temporal split: what is train, what is test, who is dropped, on a tiny shop with known answers."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.evaluate.split import (cold_start_split, hide_items, parse_cutoff, restrict_candidates,
                                      split_frames, split_interactions, temporal_split)
from shelfwise.recommend.data import Interactions

ITEMS = pd.DataFrame({"item_id": list("abcde"), "title": ["red mug", "blue mug", "red cup", "green pot", "red mugs"]})

EVENTS = pd.DataFrame([
    # train (before 2024-01-10)
    ("2024-01-01", "u1", "a", "purchase"),
    ("2024-01-02", "u1", "b", "purchase"),
    ("2024-01-03", "u1", "c", "view"),
    ("2024-01-05", "u2", "a", "purchase"),
    ("2024-01-06", "u3", "d", "view"),
    ("2024-01-07", "", "a", "purchase"),  # anonymous
    ("2024-01-08", "u1", "b", "impression"),  # never train data
    # test
    ("2024-01-11", "u1", "a", "purchase"),
    ("2024-01-11", "u1", "a", "purchase"),  # bought twice: still one relevant item
    ("2024-01-12", "u1", "e", "purchase"),  # e has no training events: a cold item
    ("2024-01-20", "u2", "c", "purchase"),  # outside a 5-day window
    ("2024-01-11", "u4", "b", "purchase"),  # u4 was never seen before the cutoff
    ("2024-01-11", "", "b", "purchase"),  # anonymous
    ("2024-01-11", "u3", "a", "view"),  # not a purchase
    ("2024-01-13", "u3", "d", "purchase"),
], columns=["timestamp", "user_id", "item_id", "event"])


def _relevant(split) -> dict[str, set[str]]:
    rows, cols = split.relevant.nonzero()
    out: dict[str, set[str]] = {}
    for r, c in zip(rows, cols):
        out.setdefault(split.users[r], set()).add(split.train.item_ids[c])
    return out


@pytest.fixture()
def shop_store(tmp_path: Path, store):
    folder = tmp_path / "shop"
    folder.mkdir()
    ITEMS.to_csv(folder / "items.csv", index=False)
    EVENTS.to_csv(folder / "events.csv", index=False)
    ingest(folder, store)
    return store


def _check_tiny(split, window: bool) -> None:
    expected = {"u1": {"a", "e"}, "u3": {"d"}} if window else {"u1": {"a", "e"}, "u2": {"c"}, "u3": {"d"}}
    assert _relevant(split) == expected
    assert set(split.relevant.data) == {1.0}  # binary relevance
    ev = split.train.events
    assert (ev["timestamp"] < pd.Timestamp("2024-01-10")).all()
    assert "impression" not in set(ev["event"])
    assert split.dropped["anonymous"] == 1 and split.dropped["users_not_in_train"] == 1
    assert split.dropped["test_rows"] == (6 if window else 7)
    cat = split.catalog
    ids = list(split.train.item_ids)
    by_id = lambda arr: {i: arr[ids.index(i)] for i in "abcde"}  # noqa: E731
    assert by_id(cat.cold) == {"a": False, "b": False, "c": False, "d": False, "e": True}
    assert by_id(cat.degree) == {"a": 2, "b": 1, "c": 1, "d": 1, "e": 0}
    assert by_id(cat.interactions) == {"a": 3, "b": 1, "c": 1, "d": 1, "e": 0}  # anonymous demand counts
    assert cat.n_train_users == 3 and cat.n_items == 5


@pytest.mark.parametrize("window", [None, 5])
def test_split_from_frames(window: int | None) -> None:
    _check_tiny(split_frames(EVENTS, ITEMS, "2024-01-10", window_days=window), window is not None)


@pytest.mark.parametrize("window", [None, 5])
def test_split_from_store(shop_store, window: int | None) -> None:
    _check_tiny(temporal_split(shop_store, "2024-01-10", window_days=window), window is not None)


def test_split_inside_interactions_matches() -> None:
    data = Interactions.from_frames(EVENTS[EVENTS["event"] != "impression"], ITEMS)
    split = split_interactions(data, "2024-01-10")
    assert _relevant(split) == {"u1": {"a", "e"}, "u2": {"c"}, "u3": {"d"}}
    assert split.dropped["users_not_in_train"] == 1  # u4 is in the index maps but has no training event


def test_bad_cutoffs(shop_store) -> None:
    with pytest.raises(InputError, match="not a date"):
        parse_cutoff("next tuesday")
    with pytest.raises(InputError, match="outside the events"):
        temporal_split(shop_store, "2030-01-01")
    with pytest.raises(InputError, match="outside the events"):
        temporal_split(shop_store, "2023-01-01")
    with pytest.raises(InputError, match="window-days"):
        temporal_split(shop_store, "2024-01-10", window_days=0)
    with pytest.raises(InputError, match="no 'purchase' events"):
        temporal_split(shop_store, "2024-01-19", window_days=0.5)


def test_cutoff_with_zone_is_utc() -> None:
    assert parse_cutoff("2024-01-10T02:00:00+02:00") == datetime(2024, 1, 10, 0, 0)


def test_hide_items_keeps_indices() -> None:
    split = split_frames(EVENTS, ITEMS, "2024-01-10")
    hidden = np.asarray([i in ("a", "c") for i in split.train.item_ids])
    train = hide_items(split.train, hidden)
    assert list(train.item_ids) == list(split.train.item_ids)
    assert set(train.events["item_id"]) == {"b", "d"}


def test_restrict_candidates() -> None:
    split = restrict_candidates(split_frames(EVENTS, ITEMS, "2024-01-10"), ["e", "c", "zzz"])
    assert _relevant(split) == {"u1": {"e"}, "u2": {"c"}}
    assert set(split.candidates) == {"e", "c"}
    with pytest.raises(InputError, match="none of the listed items"):
        restrict_candidates(split, ["zzz"])


@pytest.mark.parametrize("seed", range(5))
def test_cold_start_split(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 50
    t0 = pd.Timestamp("2024-01-01")
    ev = pd.DataFrame({
        "timestamp": t0 + pd.to_timedelta(rng.integers(0, 60 * 24, 2000), unit="min") * 60,
        "user_id": [f"u{i}" for i in rng.integers(0, n_users, 2000)],
        "item_id": [f"i{i}" for i in rng.integers(0, n_items, 2000)],
        "event": rng.choice(["purchase", "view"], 2000),
    })
    base = split_frames(ev, None, "2024-02-15")
    cold = cold_start_split(base, share=0.2, seed=seed)
    hidden = cold.catalog.candidates
    assert hidden.sum() == 10
    # the hidden items lost every training event, the rest kept theirs, and nothing else changed
    assert not hidden[cold.train.events["item_idx"]].any()
    assert len(cold.train.events) == (~hidden[base.train.events["item_idx"]]).sum()
    assert cold.catalog.cold[hidden].all()
    # only purchases of hidden items are relevant, and every test user still has training events
    assert not cold.relevant[:, ~hidden].nnz
    assert set(cold.users) <= set(cold.train.events["user_id"])
    # the same seed hides the same items
    again = cold_start_split(base, share=0.2, seed=seed)
    np.testing.assert_array_equal(again.catalog.candidates, hidden)
    with pytest.raises(InputError):
        cold_start_split(base, share=1.5)
