"""Business rules: exclude out-of-stock items, keep or drop by attribute, boost, bury and pin.

They run in the same chain as the learned policies, because a shop's rules are what it must never
break: filters go first (nothing else should spend a slot on an item that will be dropped), pins
last (a pinned item is at its slot whatever the other policies did).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ._ops import compact, take
from .lists import PINNED, CandidateLists, ItemContext

BOOSTED = 3


def _attribute_mask(ctx: ItemContext, column: str, values: Sequence[object]) -> np.ndarray:
    if ctx.attributes is None or column not in ctx.attributes.columns:
        known = [] if ctx.attributes is None else list(ctx.attributes.columns)
        raise ValueError(f"cannot filter on attribute '{column}': the catalog has {', '.join(map(str, known)) or 'no columns'}")
    col = ctx.attributes[column]
    wanted = {str(v) for v in values}
    return col.astype(str).isin(wanted).to_numpy() & col.notna().to_numpy()


@dataclass
class Filter:
    """Drop candidates: out of stock (when ``ctx.in_stock`` is known), outside ``keep_where`` or inside
    ``drop_where`` (both map a catalog column to allowed / forbidden values), or listed in ``exclude``."""

    exclude_out_of_stock: bool = True
    keep_where: Mapping[str, Sequence[object]] = field(default_factory=dict)
    drop_where: Mapping[str, Sequence[object]] = field(default_factory=dict)
    exclude: Sequence[str] = ()
    name: str = "filter"

    def allowed(self, ctx: ItemContext) -> np.ndarray:
        """True for catalog items this filter lets through (also used to limit exploration pools)."""
        ok = np.ones(ctx.n_items, dtype=bool)
        if self.exclude_out_of_stock and ctx.in_stock is not None:
            ok &= ctx.in_stock
        for column, values in self.keep_where.items():
            ok &= _attribute_mask(ctx, column, values)
        for column, values in self.drop_where.items():
            ok &= ~_attribute_mask(ctx, column, values)
        if len(self.exclude):
            j = ctx.indices(list(self.exclude))
            ok[j[j >= 0]] = False
        return ok

    def rerank(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists:
        ok = self.allowed(ctx)
        return compact(lists, np.where(lists.valid, ok[np.maximum(lists.idx, 0)], False))


@dataclass
class BoostBury:
    """``boost`` adds to an item's relevance (scaled model score in [0, 1]); ``bury`` sends items to the
    end of the list (kept, so they still fill a list that would otherwise be short)."""

    boost: Mapping[str, float] = field(default_factory=dict)
    bury: Sequence[str] = ()
    name: str = "boost_bury"

    def rerank(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists:
        b, n = lists.idx.shape
        add = np.zeros(ctx.n_items)
        if self.boost:
            j = ctx.indices(list(self.boost))
            add[j[j >= 0]] = np.asarray(list(self.boost.values()), dtype=np.float64)[j >= 0]
        buried = np.zeros(ctx.n_items, dtype=bool)
        if len(self.bury):
            j = ctx.indices(list(self.bury))
            buried[j[j >= 0]] = True
        safe = np.maximum(lists.idx, 0)
        value = lists.relevance() + add[safe] - 10.0 * buried[safe]
        value = np.where(lists.valid, value, -np.inf)
        pos = np.argsort(-value, axis=1, kind="stable")
        out = take(lists, pos)
        boosted = (add[np.maximum(out.idx, 0)] > 0) & out.valid
        out.source = np.where(boosted, BOOSTED, out.source).astype(np.int8)
        return out


@dataclass
class Pin:
    """Put items at fixed 1-based positions (``{item_id: position}``), candidates or not."""

    pins: Mapping[str, int] = field(default_factory=dict)
    name: str = "pin"

    def rerank(self, lists: CandidateLists, ctx: ItemContext, k: int) -> CandidateLists:
        if not self.pins:
            return lists
        j = ctx.indices(list(self.pins))
        if (j < 0).any():
            bad = [p for p, x in zip(self.pins, j) if x < 0]
            raise ValueError(f"cannot pin unknown item(s): {', '.join(map(str, bad[:5]))}")
        slots = np.asarray(list(self.pins.values()), dtype=np.int64) - 1
        if (slots < 0).any():
            raise ValueError("pin positions start at 1")
        b, n = lists.idx.shape
        out_idx = np.full((b, n + len(j)), -1, dtype=np.int64)
        out_src = np.zeros(out_idx.shape, dtype=np.int8)
        pinned = set(j.tolist())
        for r in range(b):
            rest = [(int(i), int(s)) for i, s in zip(lists.idx[r], lists.source[r]) if i >= 0 and int(i) not in pinned]
            row: list[tuple[int, int]] = list(rest)
            for item, slot in sorted(zip(j.tolist(), slots.tolist()), key=lambda p: p[1]):
                row.insert(min(slot, len(row)), (item, PINNED))
            out_idx[r, : len(row)] = [i for i, _ in row]
            out_src[r, : len(row)] = [s for _, s in row]
        return lists.reordered(out_idx, out_src)
