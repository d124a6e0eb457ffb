"""The model set a running service answers with, and the holder that swaps it atomically.

A :class:`ModelSet` is immutable once built: the trained hybrid (or none, when nothing is trained
yet: then popularity from the store), the catalogue facts the policy needs (launch dates, popularity
percentiles, titles) and caches of per-user lists and item neighbours. A request reads
``holder.current`` once and uses that set to the end, so a swap never mixes two versions in one
answer and never drops a request: the old set keeps serving until the new one is loaded and warmed,
then one attribute assignment switches every later request.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..data.attrs import non_product
from ..data.store import Store
from ..errors import ModelNotFound
from ..logs import get_logger

log = get_logger(__name__)

LIST_DEPTH = 100       # candidates kept per user; policies re-rank within them
NEIGHBOURS = 30
_EVENT_W = "CASE WHEN event = 'purchase' THEN 4 WHEN event = 'cart' THEN 3 WHEN event = 'click' THEN 1.5 " \
           "WHEN event = 'view' THEN 1 ELSE 0 END"


@dataclass
class Catalog:
    """Item facts from the store: what the exposure policy and the responses need per item."""

    now: datetime | None                      # latest event time: the shop's "today"
    popular: list[tuple[str, float]]          # most engaged items of the last 30 days, best first
    percentile: dict[str, float]              # popularity percentile in [0, 1] (1: the most popular)
    launched: dict[str, datetime]             # launch date (or first event) per item
    titles: dict[str, str]
    non_product: frozenset[str] = frozenset()  # postage, fees (the items' non_product column): never served

    def new_items(self, age_days: int) -> list[str]:
        if self.now is None:
            return []
        cutoff = self.now - timedelta(days=age_days)
        return sorted(i for i, d in self.launched.items() if d is not None and d >= cutoff)


def read_catalog(store: Store, window_days: int = 30) -> Catalog:
    """Popularity, launch dates and titles, with portable SQL and bound parameters only."""
    titles: dict[str, str] = {}
    launched: dict[str, datetime] = {}
    never: set[str] = set()
    if store.has_table("items"):
        for r in store.query("SELECT item_id, title, launched_at, attrs FROM items").to_pylist():
            if r["title"]:
                titles[r["item_id"]] = r["title"]
            if r["launched_at"] is not None:
                launched[r["item_id"]] = r["launched_at"]
            if non_product([r["attrs"]])[0]:
                never.add(r["item_id"])
    now = None
    popular: list[tuple[str, float]] = []
    percentile: dict[str, float] = {}
    if store.has_table("events") and store.count("events"):
        now = store.query("SELECT max(timestamp) AS t FROM events").column(0)[0].as_py()
        first = store.query("SELECT item_id, min(timestamp) AS t FROM events GROUP BY item_id").to_pylist()
        for r in first:
            launched.setdefault(r["item_id"], r["t"])
        rows = store.query(f"SELECT item_id, sum({_EVENT_W}) AS w FROM events WHERE timestamp > ? "
                           "GROUP BY item_id", [now - timedelta(days=window_days)]).to_pylist()
        rows = sorted(((r["item_id"], float(r["w"] or 0.0)) for r in rows), key=lambda kv: -kv[1])
        popular = [kv for kv in rows if kv[1] > 0 and kv[0] not in never][:500]
        n = max(len(rows) - 1, 1)
        percentile = {item: 1.0 - k / n for k, (item, _) in enumerate(rows)}
    return Catalog(now, popular, percentile, launched, titles, frozenset(never))


def exploration_seed(store: Store, items: list[str], now: datetime | None, days: int) -> list[tuple[str, int, int]]:
    """(item, impressions, clicks) of the new items, from the store, to start the live counters."""
    if not items or now is None or not store.has_table("events"):
        return []
    rows = store.query("SELECT item_id, sum(CASE WHEN event = 'impression' THEN 1 ELSE 0 END) AS imp, "
                       "sum(CASE WHEN event = 'click' THEN 1 ELSE 0 END) AS clk FROM events "
                       "WHERE timestamp > ? GROUP BY item_id", [now - timedelta(days=days)]).to_pylist()
    wanted = set(items)
    return [(r["item_id"], int(r["imp"] or 0), int(r["clk"] or 0)) for r in rows if r["item_id"] in wanted]


@dataclass
class ModelSet:
    """One immutable version: the model (or None), the catalogue, and caches computed from them."""

    version: str
    model: Any | None
    catalog: Catalog
    loaded_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    max_cached_users: int = 200_000

    def __post_init__(self) -> None:
        self._lock = threading.Lock()      # the hybrid's history is not safe for concurrent scoring
        self._lists: OrderedDict[str, list[tuple[str, float]]] = OrderedDict()
        self._neigh: dict[str, list[tuple[str, float]]] = {}
        self.rendered: dict[tuple[str, int], str] = {}  # (user, k) -> JSON of the plain answer's items

    # --- facts ------------------------------------------------------------------------------------
    @property
    def trained(self) -> bool:
        return self.model is not None

    def knows_item(self, item_id: str) -> bool:
        if self.model is not None:
            return item_id in self.model.data_._item_index
        return item_id in self.catalog.percentile or item_id in self.catalog.titles

    def has_history(self, user_id: str) -> bool:
        """Whether the model knows events of this user (else its list is only popularity)."""
        if self.model is None:
            return False
        h = self.model.history_
        row = h._index.get(user_id)
        return row is not None and row < len(h.indptr) - 1 and h.indptr[row + 1] > h.indptr[row]

    def remember_rendered(self, key: tuple[str, int], text: str) -> None:
        if len(self.rendered) >= self.max_cached_users:
            self.rendered.clear()
        self.rendered[key] = text

    # --- per-user lists -----------------------------------------------------------------------------
    def cached_list(self, user_id: str) -> list[tuple[str, float]] | None:
        return self._lists.get(user_id)

    def user_list(self, user_id: str) -> list[tuple[str, float]]:
        """The model's top candidates for a user it knows (computed once, then cached)."""
        hit = self._lists.get(user_id)
        if hit is not None:
            return hit
        self.warm([user_id])
        return self._lists.get(user_id, [])

    def warm(self, users: list[str], batch: int = 256) -> int:
        """Compute and cache the lists of ``users`` (those the model has events of)."""
        if self.model is None:
            return 0
        todo = [u for u in users if u not in self._lists and self.has_history(u)]
        for lo in range(0, len(todo), batch):
            chunk = todo[lo:lo + batch]
            with self._lock:
                ids, scores = self.model.recommend(chunk, k=LIST_DEPTH)
            ids = np.asarray(ids, dtype=object).reshape(len(chunk), -1)
            scores = np.asarray(scores, dtype=np.float64).reshape(len(chunk), -1)
            for u, row_ids, row_scores in zip(chunk, ids, scores):
                self._lists[u] = [(str(i), float(s)) for i, s in zip(row_ids, row_scores) if i is not None]
            while len(self._lists) > self.max_cached_users:
                self._lists.popitem(last=False)
        return len(todo)

    # --- item neighbours ----------------------------------------------------------------------------
    def neighbours(self, item_id: str, n: int = NEIGHBOURS) -> list[tuple[str, float]]:
        """The model's most similar items (co-visitation, factors and content fused); cached."""
        hit = self._neigh.get(item_id)
        if hit is None:
            if self.model is None or not self.knows_item(item_id):
                return []
            self.warm_neighbours([item_id])
            hit = self._neigh.get(item_id, [])
        return hit[:n]

    def warm_neighbours(self, items: list[str], batch: int = 256) -> int:
        if self.model is None:
            return 0
        todo = [i for i in items if i not in self._neigh and self.knows_item(i)]
        for lo in range(0, len(todo), batch):
            chunk = todo[lo:lo + batch]
            with self._lock:
                ids, scores = self.model.similar_items(chunk, NEIGHBOURS)
            for item, row_ids, row_scores in zip(chunk, ids, scores):
                self._neigh[item] = [(str(i), float(s)) for i, s in zip(row_ids, row_scores) if i is not None]
        return len(todo)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "trained": self.trained,
                               "loaded_at": self.loaded_at.isoformat(timespec="seconds"),
                               "cached_users": len(self._lists), "cached_items": len(self._neigh)}
        if self.model is not None:
            out.update(users=int(self.model.data_.n_users), items=int(self.model.data_.n_items))
        return out


def build(store: Store, model_dir: Path | None, version: str | None = None) -> ModelSet:
    """Load the model set (``current`` by default) with a fresh catalogue; popularity alone when none."""
    catalog = read_catalog(store)
    if model_dir is not None:
        from ..service import recommend as rec_service

        try:
            model = rec_service.load(model_dir, version)
            return ModelSet(str(getattr(model, "version_", version or "unknown")), model, catalog)
        except ModelNotFound as exc:
            log.warning("serving popularity only: %s", exc)
    stamp = catalog.now.strftime("%Y%m%dT%H%M%S") if catalog.now else "empty"
    return ModelSet(f"popular-{stamp}", None, catalog)


def current_pointer(model_dir: Path | None) -> str | None:
    """The version the model folder's ``current`` file names (None when there is none)."""
    if model_dir is None:
        return None
    p = Path(model_dir) / "current"
    try:
        return p.read_text().strip() or None
    except OSError:
        return None


class ModelHolder:
    """The service's one reference to the model set in use, swapped whole under a lock.

    Readers take ``holder.current`` without locking (an attribute read is atomic); ``swap`` warms
    the new set first so that the first requests after a swap are as fast as the last ones before it.
    """

    def __init__(self, initial: ModelSet, model_dir: Path | None = None) -> None:
        self.current = initial
        self.model_dir = model_dir
        self._swap_lock = threading.Lock()
        self.retrain_status: dict[str, Any] = {"state": "idle"}
        self.swaps = 0
        self.warming = False  # start-up warming in progress (answers are still served meanwhile)

    @property
    def version(self) -> str:
        return self.current.version

    @property
    def model(self) -> Any | None:
        """The trained recommender in use (None when serving popularity only)."""
        return self.current.model

    def swap(self, new: ModelSet, warm_users: list[str] | None = None) -> ModelSet:
        """Warm ``new`` then make it current; returns the set it replaced."""
        if warm_users:
            t = time.perf_counter()
            new.warm(warm_users)
            log.info("warmed %d user lists of %s in %.1fs", len(warm_users), new.version, time.perf_counter() - t)
        with self._swap_lock:
            old, self.current = self.current, new
            self.swaps += 1
        log.info("serving model set %s (was %s)", new.version, old.version)
        return old

    def reload(self, store: Store, warm: Callable[[ModelSet], list[str]] | None = None) -> bool:
        """Load what ``current`` names now if it differs from the set in use; True when swapped."""
        pointer = current_pointer(self.model_dir)
        if pointer is None or pointer == self.current.version:
            return False
        new = build(store, self.model_dir, pointer)
        self.swap(new, warm(new) if warm else None)
        return True
