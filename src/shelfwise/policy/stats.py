"""Live exploration statistics: impressions, clicks and purchases per item, kept in the store.

Thompson sampling needs each new item's feedback as soon as it arrives, not at the next training run.
The intake (the API's event endpoint, the simulator) calls :func:`record_feedback` with each batch of
events; it adds the batch's counts to the table ``exploration_stats(item_id, impressions, clicks,
purchases, updated_at)``. :func:`load_stats` reads it back for a catalog.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa

from ..data.store import Store
from ..errors import InputError

TABLE = "exploration_stats"
COUNTED = {"impression": "impressions", "click": "clicks", "purchase": "purchases"}
SCHEMA = pa.schema([("item_id", pa.string()), ("impressions", pa.int64()), ("clicks", pa.int64()),
                    ("purchases", pa.int64()), ("updated_at", pa.timestamp("us"))])


def count_feedback(events: pd.DataFrame) -> pd.DataFrame:
    """Per item: impressions, clicks and purchases in ``events`` (columns ``item_id``, ``event``)."""
    missing = [c for c in ("item_id", "event") if c not in events.columns]
    if missing:
        raise InputError(f"events for exploration statistics lack column(s) {', '.join(missing)}", field=missing[0])
    ev = events[events["event"].isin(list(COUNTED))]
    if ev.empty:
        return pd.DataFrame({"item_id": pd.Series(dtype=str), **{c: pd.Series(dtype=np.int64) for c in COUNTED.values()}})
    counts = pd.crosstab(ev["item_id"].astype(str), ev["event"].map(COUNTED))
    for col in COUNTED.values():
        if col not in counts.columns:
            counts[col] = 0
    return counts[list(COUNTED.values())].astype(np.int64).reset_index().rename(columns={"row_0": "item_id"})


def record_feedback(store: Store, events: pd.DataFrame, now: datetime | None = None) -> int:
    """Add the counts of ``events`` to ``exploration_stats``; returns how many items were updated."""
    fresh = count_feedback(events)
    if fresh.empty:
        return 0
    stamp = (now or datetime.now(timezone.utc)).replace(tzinfo=None)
    if store.has_table(TABLE):
        old = store.read(TABLE, columns=["item_id", *COUNTED.values()]).to_pandas()
        old = old[old["item_id"].isin(set(fresh["item_id"]))]
        fresh = pd.concat([old, fresh]).groupby("item_id", as_index=False)[list(COUNTED.values())].sum()
    fresh["updated_at"] = pd.Timestamp(stamp)
    table = pa.Table.from_pandas(fresh[SCHEMA.names], schema=SCHEMA, preserve_index=False)
    store.write(TABLE, table, mode="upsert", key=["item_id"])
    return len(fresh)


def load_stats(store: Store | None, item_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(impressions, clicks, purchases) for ``item_ids`` (zeros where the table or the item is absent)."""
    n = len(item_ids)
    if store is None or not store.has_table(TABLE):
        return np.zeros(n), np.zeros(n), np.zeros(n)
    df = store.read(TABLE, columns=["item_id", *COUNTED.values()]).to_pandas().set_index("item_id")
    df = df.reindex([str(i) for i in item_ids]).fillna(0.0)
    return tuple(df[c].to_numpy(dtype=np.float64) for c in COUNTED.values())  # type: ignore[return-value]


def user_tail_shares(events: pd.DataFrame, item_index: dict[str, int], tail: np.ndarray,
                     users: Sequence[str] | None = None) -> dict[str, float]:
    """P(tail | user): the share of each user's interest events that fell on tail items."""
    ev = events[events["event"].isin(["view", "click", "favorite", "cart", "purchase"])]
    ev = ev[ev["user_id"].notna()]
    if users is not None:
        ev = ev[ev["user_id"].astype(str).isin({str(u) for u in users})]
    if ev.empty:
        return {}
    j = ev["item_id"].astype(str).map(item_index)
    ok = j.notna().to_numpy()
    frame = pd.DataFrame({"user_id": ev["user_id"].astype(str).to_numpy()[ok],
                          "tail": tail[j[ok].to_numpy(dtype=np.int64)]})
    return frame.groupby("user_id")["tail"].mean().to_dict()
