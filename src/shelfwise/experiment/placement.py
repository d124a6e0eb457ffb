"""Put scored items into display slots: the best item where attention is highest.

Under the position-based model the expected clicks of a display are ``sum_k attention_k * score(item_k)``.
With pinned items held in their slots and excluded items left out, the free slots are filled by pairing
the highest remaining score with the highest remaining attention (the rearrangement inequality makes
that optimal for non-negative attention). Attention need not fall with position: on some widgets the
second slot draws more eyes than the first, and the placement follows the curve, not the slot number.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class Placement:
    """Which item goes in each slot (``slots[k]`` is position ``k + 1``; None = left empty)."""

    slots: list[str | None]
    expected: float  # sum over filled slots of attention * score (pinned items without a score count 0)

    def as_dict(self) -> dict[str, object]:
        return {"slots": self.slots, "expected": self.expected}


def place(scores: Mapping[str, float], attention: Sequence[float], *, pinned: Mapping[str, int] | None = None,
          excluded: Collection[str] = ()) -> Placement:
    """Assign items to ``len(attention)`` slots maximising ``sum attention * score``.

    ``pinned`` maps an item to the 1-based position it must take (business rules, launches); ``excluded``
    items are never placed (out of stock, blocked). Ties keep the order of ``scores``.
    """
    att = np.asarray(attention, dtype=np.float64)
    if att.ndim != 1 or att.size == 0:
        raise InputError("attention must list one value per slot", field="attention")
    if np.any(~np.isfinite(att)) or np.any(att < 0):
        raise InputError("attention must be finite and non-negative at every slot", field="attention")
    pinned = dict(pinned or {})
    excluded = set(excluded)
    slots: list[str | None] = [None] * att.size
    for item, pos in pinned.items():
        if item in excluded:
            raise InputError(f"item '{item}' is both pinned (to position {pos}) and excluded", field="pinned")
        if not 1 <= int(pos) <= att.size:
            raise InputError(f"item '{item}' is pinned to position {pos}, outside 1..{att.size}", field="pinned")
        if slots[int(pos) - 1] is not None:
            raise InputError(f"position {pos} is pinned twice ('{slots[int(pos) - 1]}' and '{item}')", field="pinned")
        slots[int(pos) - 1] = item
    for item, s in scores.items():
        if not np.isfinite(s):
            raise InputError(f"item '{item}' has a non-finite score ({s})", field="scores")
    free = [k for k in np.argsort(-att, kind="stable") if slots[k] is None]
    order = sorted((i for i in scores if i not in excluded and i not in pinned), key=lambda i: -scores[i])
    for k, item in zip(free, order):
        slots[k] = item
    expected = sum(float(att[k]) * float(scores.get(item, 0.0)) for k, item in enumerate(slots) if item is not None)
    return Placement(slots, expected)
