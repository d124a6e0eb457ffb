"""Every known user's own events, laid out for fast per-user reads, and able to take new events.

The generators that personalise (buy-again, co-visitation, item-kNN, content, ALS fold-in) and the
ranker's features all start from "what did this user do, and when". Keeping that in one place means a
user who arrives after training, or events passed in at request time, reach every model at once: add
them here and the next ``recommend`` sees them. Events are held sorted by user with a row pointer, like
a CSR matrix, so reading a batch of users is a slice, not a scan.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..errors import InputError
from ..logs import get_logger

if TYPE_CHECKING:
    from .data import Interactions

log = get_logger(__name__)

EVENT_TYPES: tuple[str, ...] = ("impression", "view", "click", "favorite", "cart", "purchase", "return")
EVENT_CODE: dict[str, int] = {e: i for i, e in enumerate(EVENT_TYPES)}
PURCHASE = EVENT_CODE["purchase"]
DAY = 86400.0


def to_seconds(ts: "pd.Series | np.ndarray") -> np.ndarray:
    """Naive-UTC timestamps as int64 seconds since the epoch."""
    arr = np.asarray(pd.to_datetime(ts), dtype="datetime64[s]")
    return arr.astype(np.int64)


def event_codes(events: "pd.Series | Sequence[str]") -> np.ndarray:
    """Event names as small integer codes (-1 for names outside SHOP_FORMAT, which are then ignored)."""
    return pd.Series(events, dtype=object).map(EVENT_CODE).fillna(-1).to_numpy(np.int8)


def weight_vector(weights: dict[str, float]) -> np.ndarray:
    """A per-code lookup table for event weights (unknown codes weigh 0)."""
    out = np.zeros(len(EVENT_TYPES) + 1, dtype=np.float64)  # last slot catches code -1
    for name, w in weights.items():
        if name in EVENT_CODE:
            out[EVENT_CODE[name]] = w
    return out


class History:
    """Per-user event log (user row, item, time, event code, quantity), sorted by user then time.

    Rows ``0 .. n_known-1`` are the users of the fitted :class:`Interactions`; users first seen later
    get rows after them. ``now`` is the latest event time seen, the reference for every decay.
    """

    def __init__(self, user_ids: np.ndarray, n_items: int, user: np.ndarray, item: np.ndarray, ts: np.ndarray,
                 code: np.ndarray, qty: np.ndarray, now: int) -> None:
        self.n_items = int(n_items)
        self.n_known = len(user_ids)
        self._index: dict[str, int] = {str(u): i for i, u in enumerate(user_ids)}
        self.extra_ids: list[str] = []
        self.now = int(now)
        self._set(user, item, ts, code, qty)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_interactions(cls, data: "Interactions") -> "History":
        ev = data.events
        known = ev["user_idx"].to_numpy() >= 0
        now = int(np.datetime64(data.now, "s").astype(np.int64))
        return cls(data.user_ids, data.n_items, ev["user_idx"].to_numpy()[known].astype(np.int64),
                   ev["item_idx"].to_numpy()[known].astype(np.int64), to_seconds(ev["timestamp"])[known],
                   event_codes(ev["event"])[known], ev["quantity"].to_numpy(np.float64)[known].astype(np.float32),
                   now)

    def _set(self, user: np.ndarray, item: np.ndarray, ts: np.ndarray, code: np.ndarray, qty: np.ndarray) -> None:
        order = np.lexsort((ts, user))
        self.user, self.item, self.ts = user[order], item[order], ts[order]
        self.code, self.qty = code[order], qty[order]
        n_rows = self.n_known + len(self.extra_ids)
        self.indptr = np.searchsorted(self.user, np.arange(n_rows + 1)).astype(np.int64)

    @property
    def n_rows(self) -> int:
        return self.n_known + len(self.extra_ids)

    def rows(self, user_ids: "Sequence[str] | np.ndarray", uidx: np.ndarray | None = None) -> np.ndarray:
        """History rows of users (-1 for users with no events here at all)."""
        if uidx is not None and len(self.extra_ids) == 0:
            return np.asarray(uidx, dtype=np.int64)
        return np.fromiter((self._index.get(str(u), -1) for u in user_ids), dtype=np.int64, count=len(user_ids))

    # --- new events ---------------------------------------------------------------------------
    def add(self, events: pd.DataFrame, item_index: dict[str, int]) -> int:
        """Append events (SHOP_FORMAT columns: timestamp, user_id, item_id, event[, quantity]).

        Events of items the model does not know are skipped (a refit brings them in) and so are
        anonymous ones; returns how many were added.
        """
        missing = {"timestamp", "user_id", "item_id", "event"} - set(events.columns)
        if missing:
            raise InputError(f"new events lack the column(s) {', '.join(sorted(missing))}", field=sorted(missing)[0])
        ev = events[events["user_id"].notna() & (events["user_id"].astype(str) != "")]
        items = ev["item_id"].astype(str).map(item_index)
        ok = items.notna().to_numpy()
        if (~ok).any():
            log.info("skipping %d new events of items the model does not know yet", int((~ok).sum()))
        ev = ev[ok]
        if ev.empty:
            return 0
        for u in pd.unique(ev["user_id"].astype(str)):
            if u not in self._index:
                self._index[u] = self.n_known + len(self.extra_ids)
                self.extra_ids.append(u)
        user = ev["user_id"].astype(str).map(self._index).to_numpy(np.int64)
        qty = ev["quantity"].fillna(1.0).to_numpy(np.float32) if "quantity" in ev else np.ones(len(ev), np.float32)
        ts = to_seconds(ev["timestamp"])
        self._set(np.concatenate([self.user, user]), np.concatenate([self.item, items[ok].to_numpy(np.int64)]),
                  np.concatenate([self.ts, ts]), np.concatenate([self.code, event_codes(ev["event"])]),
                  np.concatenate([self.qty, qty]))
        self.now = max(self.now, int(ts.max()))
        return len(ev)

    @contextmanager
    def overlay(self, events: pd.DataFrame | None, item_index: dict[str, int]) -> Iterator["History"]:
        """Events that count for the duration of a ``with`` block only (a request's recent events)."""
        if events is None or len(events) == 0:
            yield self
            return
        saved = (self.user, self.item, self.ts, self.code, self.qty, self.indptr, self.now, list(self.extra_ids),
                 dict(self._index))
        try:
            self.add(events, item_index)
            yield self
        finally:
            (self.user, self.item, self.ts, self.code, self.qty, self.indptr, self.now, self.extra_ids,
             self._index) = saved

    # --- reads --------------------------------------------------------------------------------
    def select(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(batch row, event position) for every event of ``rows``; rows of -1 select nothing."""
        rows = np.asarray(rows, dtype=np.int64)
        safe = np.where(rows >= 0, rows, 0)
        starts = self.indptr[safe]
        lens = np.where(rows >= 0, self.indptr[safe + 1] - starts, 0)
        batch = np.repeat(np.arange(len(rows)), lens)
        offsets = np.arange(int(lens.sum())) - np.repeat(np.cumsum(lens) - lens, lens)
        return batch, np.repeat(starts, lens) + offsets

    def matrix(self, rows: np.ndarray, weights: dict[str, float], half_life_days: float | None = None,
               now: int | None = None, binary: bool = False, by_quantity: bool = False) -> sp.csr_matrix:
        """(len(rows), n_items) summed event weights (times quantities), optionally decayed by age at ``now``."""
        batch, pos = self.select(rows)
        w = weight_vector(weights)[self.code[pos]]
        if by_quantity:
            w = w * self.qty[pos]
        if half_life_days:
            age = ((self.now if now is None else now) - self.ts[pos]) / DAY
            w = w * np.power(0.5, np.maximum(age, 0.0) / half_life_days)
        keep = w > 0
        m = sp.csr_matrix((w[keep], (batch[keep], self.item[pos][keep])), shape=(len(rows), self.n_items),
                          dtype=np.float64)
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    def days_since(self, rows: np.ndarray, code: int | None = None, first: bool = False) -> sp.csr_matrix:
        """(len(rows), n_items) of 1 + days since the user's last (or ``first``) event on the item (0: never).

        The offset of one day keeps an event of today apart from no event in a sparse matrix.
        """
        batch, pos = self.select(rows)
        if code is not None:
            keep = self.code[pos] == code
            batch, pos = batch[keep], pos[keep]
        key = batch * self.n_items + self.item[pos]
        t = self.ts[pos]
        if len(key):
            order = np.lexsort((t, key))
            key, t = key[order], t[order]
            edge = np.r_[True, key[1:] != key[:-1]] if first else np.r_[key[1:] != key[:-1], True]
            key, t = key[edge], t[edge]
        age = 1.0 + np.maximum(self.now - t, 0) / DAY
        return sp.csr_matrix((age, (key // self.n_items, key % self.n_items)), shape=(len(rows), self.n_items))

    def user_ids_of(self, rows: np.ndarray) -> list[str]:
        """The ids of history rows (for reports and tests)."""
        inv = {v: k for k, v in self._index.items()}
        return [inv.get(int(r), "") for r in rows]

    def now_datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, tz=timezone.utc).replace(tzinfo=None)

