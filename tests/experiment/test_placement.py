"""Slot placement against brute force on tiny cases, with pinned and excluded items."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from shelfwise.errors import InputError
from shelfwise.experiment.placement import place


def _brute(scores, attention, pinned, excluded):
    """Best total over every assignment of the free items to the free slots (empty slots allowed)."""
    free_slots = [k for k in range(len(attention)) if k + 1 not in pinned.values()]
    items = [i for i in scores if i not in excluded and i not in pinned]
    base = sum(attention[p - 1] * scores.get(i, 0.0) for i, p in pinned.items())
    best = -np.inf
    fill = min(len(items), len(free_slots))
    for chosen in itertools.permutations(items, fill):
        for slots in itertools.permutations(free_slots, fill):
            best = max(best, base + sum(attention[k] * scores[i] for i, k in zip(chosen, slots)))
    return best


@pytest.mark.parametrize("seed", range(40))
def test_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_items, n_slots = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    scores = {f"i{j}": float(rng.random()) for j in range(n_items)}
    attention = list(rng.random(n_slots))  # not sorted: slot 2 may draw more attention than slot 1
    ids = list(scores)
    excluded = set(rng.choice(ids, size=int(rng.integers(0, 2)), replace=False)) if ids else set()
    pinned = {}
    rest = [i for i in ids if i not in excluded]
    if rest and rng.random() < 0.5:
        pinned[rest[0]] = int(rng.integers(1, n_slots + 1))
    got = place(scores, attention, pinned=pinned, excluded=excluded)
    assert got.expected == pytest.approx(_brute(scores, attention, pinned, excluded))
    placed = [s for s in got.slots if s is not None]
    assert len(placed) == len(set(placed))
    assert not set(placed) & excluded
    for item, pos in pinned.items():
        assert got.slots[pos - 1] == item


def test_best_item_goes_where_attention_is_highest():
    got = place({"a": 0.1, "b": 0.9, "c": 0.5}, [0.8, 1.0, 0.3])
    assert got.slots == ["c", "b", "a"]
    assert got.expected == pytest.approx(0.8 * 0.5 + 1.0 * 0.9 + 0.3 * 0.1)


def test_fewer_items_than_slots_leaves_the_weakest_slots_empty():
    got = place({"a": 1.0}, [0.5, 1.0, 0.2], pinned={"z": 3})
    assert got.slots == [None, "a", "z"]


def test_bad_input_is_refused():
    with pytest.raises(InputError, match="both pinned"):
        place({"a": 1.0}, [1.0], pinned={"a": 1}, excluded={"a"})
    with pytest.raises(InputError, match="outside"):
        place({"a": 1.0}, [1.0], pinned={"a": 2})
    with pytest.raises(InputError, match="pinned twice"):
        place({}, [1.0, 0.5], pinned={"a": 1, "b": 1})
    with pytest.raises(InputError, match="non-negative"):
        place({"a": 1.0}, [1.0, -0.1])
    with pytest.raises(InputError, match="non-finite"):
        place({"a": float("nan")}, [1.0])
