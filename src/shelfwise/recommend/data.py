"""What every recommender is fitted on: the shop's events indexed by dense user and item numbers.

Built once from the store (or a DataFrame) and shared by all candidate generators, so ids are mapped
once and every model agrees on which column is which item.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.attrs import flag_column, non_product
from ..data.store import Store

# How much one event of each type says about a user's interest (used for the implicit matrix).
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "impression": 0.0, "view": 1.0, "click": 1.0, "favorite": 2.0, "cart": 3.0, "purchase": 4.0, "return": 0.0,
}


@dataclass
class Interactions:
    """Events with dense indices, plus the catalog.

    ``events`` columns: user_idx (int32, -1 for anonymous), item_idx (int32), timestamp
    (datetime64[ns]), event (str), quantity (float), weight (float), session_id, order_id.
    ``items`` holds one row per item index (item_id, title, description, category, brand, price,
    launched_at, non_product) in index order, including catalog items that have no events.
    ``non_product`` marks lines the catalogue flags as not goods (postage, fees; see
    :mod:`shelfwise.data.attrs`): every recommender leaves them out of its lists.
    """

    user_ids: np.ndarray  # object array: index -> user id
    item_ids: np.ndarray  # object array: index -> item id
    events: pd.DataFrame
    items: pd.DataFrame
    now: datetime
    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    _user_index: dict[str, int] = field(default_factory=dict, repr=False)
    _item_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        self._item_index = {it: i for i, it in enumerate(self.item_ids)}

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def user_index(self, user_id: str) -> int:
        """Dense index of a user, -1 when unknown."""
        return self._user_index.get(user_id, -1)

    def item_index(self, item_id: str) -> int:
        """Dense index of an item, -1 when unknown."""
        return self._item_index.get(item_id, -1)

    def user_indices(self, user_ids: "list[str] | np.ndarray") -> np.ndarray:
        return np.fromiter((self._user_index.get(u, -1) for u in user_ids), dtype=np.int64, count=len(user_ids))

    def item_indices(self, item_ids: "list[str] | np.ndarray") -> np.ndarray:
        return np.fromiter((self._item_index.get(i, -1) for i in item_ids), dtype=np.int64, count=len(item_ids))

    def matrix(self, event_weights: dict[str, float] | None = None, half_life_days: float | None = None) -> sp.csr_matrix:
        """User x item matrix of summed event weights (optionally time-decayed), anonymous rows left out."""
        w = self._weights(event_weights, half_life_days)
        ev = self.events
        known = (ev["user_idx"].to_numpy() >= 0) & (w > 0)
        m = sp.csr_matrix((w[known], (ev["user_idx"].to_numpy()[known], ev["item_idx"].to_numpy()[known])),
                          shape=(self.n_users, self.n_items), dtype=np.float32)
        m.sum_duplicates()
        return m

    def _weights(self, event_weights: dict[str, float] | None, half_life_days: float | None) -> np.ndarray:
        weights = event_weights or self.event_weights
        ev = self.events
        w = ev["event"].map(weights).fillna(0.0).to_numpy(dtype=np.float64)
        if half_life_days:
            age = (np.datetime64(self.now) - ev["timestamp"].to_numpy()).astype("timedelta64[s]").astype(np.float64)
            w = w * np.power(0.5, age / (86400.0 * half_life_days))
        return w

    def restrict(self, until: datetime) -> "Interactions":
        """The same index maps with only the events strictly before ``until`` (for time-based splits)."""
        ev = self.events[self.events["timestamp"] < pd.Timestamp(until)].reset_index(drop=True)
        return Interactions(self.user_ids, self.item_ids, ev, self.items, until, dict(self.event_weights))

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_frames(cls, events: pd.DataFrame, items: pd.DataFrame | None = None,
                    now: datetime | None = None) -> "Interactions":
        """From an events frame with SHOP_FORMAT columns (timestamp, user_id, item_id, event, ...)."""
        ev = events.copy()
        ev["timestamp"] = pd.to_datetime(ev["timestamp"])
        for col, default in (("quantity", 1.0), ("session_id", None), ("order_id", None), ("position", None)):
            if col not in ev.columns:
                ev[col] = default
        ev["quantity"] = ev["quantity"].fillna(1.0).astype(float)
        item_cols = ["item_id", "title", "description", "category", "brand", "price", "launched_at", "non_product"]
        if items is None:
            items = pd.DataFrame(columns=item_cols)
        items = items.copy()
        if "non_product" not in items.columns and "attrs" in items.columns:
            items["non_product"] = non_product(items["attrs"])
        for col in item_cols:
            if col not in items.columns:
                items[col] = None
        items = items.drop_duplicates("item_id", keep="last")
        item_ids = pd.unique(pd.concat([items["item_id"], ev["item_id"]], ignore_index=True).astype(str))
        users = ev["user_id"].dropna().astype(str)
        users = users[users != ""]
        user_ids = pd.unique(users)
        user_pos = pd.Series(np.arange(len(user_ids)), index=user_ids)
        item_pos = pd.Series(np.arange(len(item_ids)), index=item_ids)
        ev["user_idx"] = ev["user_id"].map(user_pos).fillna(-1).astype(np.int64).to_numpy()
        ev["item_idx"] = ev["item_id"].astype(str).map(item_pos).astype(np.int64).to_numpy()
        ev = ev.sort_values("timestamp", kind="stable").reset_index(drop=True)
        catalog = pd.DataFrame({"item_id": item_ids}).merge(items[item_cols], on="item_id", how="left")
        catalog["non_product"] = flag_column(catalog["non_product"])
        now = now or (ev["timestamp"].max().to_pydatetime() if len(ev) else datetime.now())
        keep = ["user_idx", "item_idx", "timestamp", "event", "quantity", "session_id", "order_id", "position",
                "user_id", "item_id"]
        return cls(np.asarray(user_ids, dtype=object), np.asarray(item_ids, dtype=object), ev[keep], catalog, now)

    @classmethod
    def from_store(cls, store: Store, until: datetime | None = None,
                   event_types: tuple[str, ...] = ("view", "click", "favorite", "cart", "purchase", "return"),
                   ) -> "Interactions":
        """Events (before ``until`` if given) and the whole catalog from the store.

        Impressions are left out by default: they say what was shown, not what was wanted, and they can
        outnumber every other event type many times over.
        """
        where = "event IN (" + ", ".join("?" for _ in event_types) + ")"
        params: list[object] = list(event_types)
        if until is not None:
            where += " AND timestamp < ?"
            params.append(until)
        cols = ["timestamp", "user_id", "item_id", "event", "quantity", "price", "session_id", "order_id", "position"]
        # a fixed order, so that ids get the same indices (and fits the same results) on every read
        events = store.read("events", columns=cols, where=where, params=params,
                            order_by="timestamp, user_id, item_id, event, order_id, session_id, quantity, price"
                            ).to_pandas()
        items = store.read("all_items", columns=["item_id", "title", "description", "category", "brand",
                                                 "price", "launched_at", "attrs"], order_by="item_id").to_pandas()
        return cls.from_frames(events, items, now=until)
