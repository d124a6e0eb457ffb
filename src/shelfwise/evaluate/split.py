"""The leakage-free temporal protocol: one global cutoff, train before it, purchases after it as the test.

Why a global cutoff (not a per-user leave-last-out): every model sees exactly the world as it was at one
moment, so nothing it learns (popularity, co-purchases, trends) comes from the future of any user
(Meng, Ounis et al., "Exploring Data Splitting Strategies for the Evaluation of Recommendation Models",
RecSys 2020; Sun, "Take a Fresh Look at Recommender Systems from an Evaluation Standpoint", SIGIR 2023).

- train: every event strictly before the cutoff (impressions left out, as the models read them), and the
  store's whole catalog, including items that have no training events yet (they are the cold items).
- test: events of type ``purchase`` at or after the cutoff (and before ``cutoff + window_days`` when a
  window is given) by users who have at least one training event. Anonymous purchases and purchases by
  users first seen after the cutoff are counted in :attr:`Split.dropped`, not scored: no model could
  personalise for them and their share would depend on the shop, not on the model.
- relevance is binary: the distinct items a test user bought. Quantities are not used as grades, because
  in wholesale-like shops one bulk line (thousands of units) would outweigh everything else the user
  bought, and the published figures we compare with use binary relevance.
- ranking is over the whole catalog (no sampled negatives): sampled metrics can reorder models
  (Krichene & Rendle, KDD 2020).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..data.store import Store
from ..errors import InputError
from ..logs import get_logger
from ..recommend.data import Interactions
from .metrics import Catalog

log = get_logger(__name__)

#: events that count as a user touching an item (for item degree, popularity and "seen" users)
INTEREST_EVENTS = ("view", "click", "favorite", "cart", "purchase")


@dataclass
class Split:
    """A train part (to fit models on) and the test users with what they bought after the cutoff."""

    train: Interactions
    cutoff: datetime
    end: datetime | None
    users: np.ndarray  # test user ids (object array), in training index order
    user_idx: np.ndarray  # their indices in ``train``
    relevant: sp.csr_matrix  # (len(users) x n_items) 1 where the user bought the item in the test window
    catalog: Catalog
    dropped: dict[str, int] = field(default_factory=dict)
    test_events: pd.DataFrame | None = None  # the raw (user_id, item_id) test rows, before any filtering

    @property
    def candidates(self) -> np.ndarray | None:
        """Item ids the protocol allows (None: the whole catalog)."""
        mask = self.catalog.candidates
        return None if mask is None else self.train.item_ids[mask]

    def summary(self) -> dict[str, Any]:
        """Sizes of the split, for reports and the CLI."""
        return {"cutoff": self.cutoff, "end": self.end, "train_events": int(len(self.train.events)),
                "train_users": self.catalog.n_train_users, "catalog_items": self.catalog.n_items,
                "candidate_items": int(self.catalog.candidates.sum()) if self.catalog.candidates is not None
                else self.catalog.n_items,
                "cold_items": int(self.catalog.cold.sum()), "test_users": int(len(self.users)),
                "test_pairs": int(self.relevant.nnz), "dropped": dict(self.dropped)}


_ISO_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?"
                       r"(\s*(Z|UTC|[+-]\d{2}(:?\d{2})?))?")


def parse_cutoff(value: str | datetime, what: str = "cutoff") -> datetime:
    """A date or timestamp (ISO 8601) as a naive UTC datetime, with an error that says what was wrong."""
    if isinstance(value, datetime):
        ts = pd.Timestamp(value)
    else:
        text = str(value).strip()
        if not text:
            raise InputError(f"--{what} is empty: give a date such as 2011-11-09", field=what)
        try:
            # ISO 8601 only: pandas alone would guess ('09/11/2011' as 11 September, 'Nov 9' in the year 1,
            # a zone name dropped with a FutureWarning)
            if not _ISO_DATE.fullmatch(text):
                raise ValueError(text)
            ts = pd.Timestamp(text)
        except (ValueError, TypeError):
            raise InputError(f"--{what} '{value}' is not a date: use ISO 8601 such as 2011-11-09 or "
                             "2011-11-09T00:00:00", field=what) from None
        if pd.isna(ts):
            raise InputError(f"--{what} is empty: give a date such as 2011-11-09", field=what)
    if ts.tzinfo is not None:
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts.to_pydatetime()


def catalog_stats(train: Interactions, candidates: np.ndarray | None = None) -> Catalog:
    """Per-item training facts the beyond-accuracy metrics need (degree, interactions, cold)."""
    ev = train.events
    any_event = np.bincount(ev["item_idx"].to_numpy(np.int64), minlength=train.n_items) > 0
    interest = ev[ev["event"].isin(INTEREST_EVENTS)]
    interactions = np.bincount(interest["item_idx"].to_numpy(np.int64), minlength=train.n_items)
    known = interest[interest["user_idx"].to_numpy() >= 0]
    pairs = np.unique(np.stack([known["user_idx"].to_numpy(np.int64), known["item_idx"].to_numpy(np.int64)]),
                      axis=1) if len(known) else np.zeros((2, 0), dtype=np.int64)
    degree = np.bincount(pairs[1], minlength=train.n_items)
    n_train_users = int(len(np.unique(known["user_idx"].to_numpy()))) if len(known) else 0
    return Catalog(n_items=train.n_items, degree=degree, interactions=interactions.astype(np.float64),
                   n_train_users=n_train_users, cold=~any_event, candidates=candidates)


def build_split(train: Interactions, test_events: pd.DataFrame, cutoff: datetime, end: datetime | None,
                candidates: np.ndarray | None = None) -> Split:
    """Map test purchases (``user_id``, ``item_id``) onto ``train``'s indices and keep the scorable ones.

    ``candidates``: a boolean mask over the catalog; when given, only purchases of those items are
    relevant (and only users with such a purchase are tested).
    """
    n = len(test_events)
    users = test_events["user_id"].astype("string").fillna("").to_numpy(dtype=object)
    items = test_events["item_id"].astype(str).to_numpy(dtype=object)
    uidx = train.user_indices(users)
    iidx = train.item_indices(items)
    seen = np.zeros(train.n_users, dtype=bool)
    ev_users = train.events["user_idx"].to_numpy(np.int64)
    seen[ev_users[ev_users >= 0]] = True
    anonymous = users == ""
    known = uidx >= 0
    seen_before = np.zeros(n, dtype=bool)
    seen_before[known] = seen[uidx[known]]  # (indexing ``seen`` at 0 fails when the train has no users)
    unseen = ~anonymous & ~seen_before
    unknown_item = iidx < 0
    keep = ~anonymous & ~unseen & ~unknown_item
    dropped = {"test_rows": int(n), "anonymous": int(anonymous.sum()), "users_not_in_train": int(unseen.sum()),
               "items_not_in_catalog": int((unknown_item & ~anonymous & ~unseen).sum())}
    if candidates is not None:
        allowed = np.asarray(candidates, dtype=bool)[np.maximum(iidx, 0)]
        dropped["items_not_candidates"] = int((keep & ~allowed).sum())
        keep &= allowed
    u, i = uidx[keep], iidx[keep]
    test_users = np.unique(u)
    row = np.searchsorted(test_users, u)
    rel = sp.csr_matrix((np.ones(len(u), dtype=np.float32), (row, i)), shape=(len(test_users), train.n_items))
    rel.sum_duplicates()
    rel.data[:] = 1.0
    split = Split(train=train, cutoff=cutoff, end=end, users=train.user_ids[test_users], user_idx=test_users,
                  relevant=rel, catalog=catalog_stats(train, candidates), dropped=dropped,
                  test_events=test_events[["user_id", "item_id"]])
    log.info("split at %s: %d test users, %d (user, item) pairs; dropped %s", cutoff, len(test_users), rel.nnz,
             dropped)
    return split


def _window_end(cutoff: datetime, window_days: float | None) -> datetime | None:
    if window_days is None:
        return None
    if not math.isfinite(window_days) or window_days <= 0:
        raise InputError(f"--window-days must be a positive number of days, got {window_days} (leave it out "
                         "to test every purchase after the cutoff)", field="window_days")
    try:
        return cutoff + timedelta(days=window_days)
    except OverflowError:  # a window past the year 9999 holds every later purchase
        return None


def temporal_split(store: Store, cutoff: str | datetime, window_days: float | None = None,
                   test_event: str = "purchase") -> Split:
    """Train on the store's events before ``cutoff``; test on ``test_event`` rows in the window after it."""
    cut = parse_cutoff(cutoff)
    end = _window_end(cut, window_days)
    span = store.query("SELECT min(timestamp) AS first, max(timestamp) AS last FROM events").to_pylist()[0]
    if span["first"] is None:
        raise InputError("the store has no events: ingest a shop first (shelfwise ingest SHOP_DIR)")
    if not (span["first"] < cut <= span["last"]):
        raise InputError(f"--cutoff {cut:%Y-%m-%d %H:%M} is outside the events, which run from "
                         f"{span['first']:%Y-%m-%d %H:%M} to {span['last']:%Y-%m-%d %H:%M}: pick a date between "
                         "them so that both the train and the test part have events", field="cutoff")
    train = Interactions.from_store(store, until=cut)
    where, params = "event = ? AND timestamp >= ?", [test_event, cut]
    if end is not None:
        where += " AND timestamp < ?"
        params.append(end)
    test = store.read("events", columns=["user_id", "item_id"], where=where, params=params,
                      order_by="timestamp, user_id, item_id").to_pandas()
    if test.empty:
        raise InputError(f"no '{test_event}' events at or after {cut:%Y-%m-%d %H:%M}"
                         + (f" and before {end:%Y-%m-%d %H:%M}" if end else "")
                         + ": pick an earlier cutoff or a longer --window-days", field="cutoff")
    return build_split(train, test, cut, end)


def split_frames(events: pd.DataFrame, items: pd.DataFrame | None, cutoff: str | datetime,
                 window_days: float | None = None, test_event: str = "purchase") -> Split:
    """The same protocol on in-memory SHOP_FORMAT frames (tests, benchmarks that skip the store)."""
    cut = parse_cutoff(cutoff)
    end = _window_end(cut, window_days)
    ts = pd.to_datetime(events["timestamp"])
    past = events[(ts < pd.Timestamp(cut)) & (events["event"] != "impression")]
    future = events[(ts >= pd.Timestamp(cut)) & (events["event"] == test_event)]
    if end is not None:
        future = future[pd.to_datetime(future["timestamp"]) < pd.Timestamp(end)]
    catalog = items if items is not None else pd.DataFrame({"item_id": events["item_id"].astype(str).unique()})
    catalog = pd.concat([catalog, pd.DataFrame({"item_id": events["item_id"].astype(str).unique()})],
                        ignore_index=True).drop_duplicates("item_id", keep="first")
    train = Interactions.from_frames(past, catalog, now=cut)
    return build_split(train, future, cut, end)


def split_interactions(data: Interactions, cutoff: str | datetime, window_days: float | None = None,
                       test_event: str = "purchase") -> Split:
    """The same protocol inside already-loaded data (e.g. a validation split within a training part)."""
    cut = parse_cutoff(cutoff)
    end = _window_end(cut, window_days)
    ev = data.events
    ts = ev["timestamp"]
    future = (ev["event"] == test_event) & (ts >= pd.Timestamp(cut))
    if end is not None:
        future &= ts < pd.Timestamp(end)
    return build_split(data.restrict(cut), ev.loc[future, ["user_id", "item_id"]], cut, end)


def hide_items(train: Interactions, hidden: np.ndarray) -> Interactions:
    """``train`` with every event of the ``hidden`` items (bool mask) removed; indices stay the same."""
    ev = train.events
    keep = ~np.asarray(hidden, dtype=bool)[ev["item_idx"].to_numpy(np.int64)]
    return Interactions(train.user_ids, train.item_ids, ev[keep].reset_index(drop=True), train.items, train.now,
                        dict(train.event_weights))


def cold_start_split(split: Split, share: float = 0.2, seed: int = 42) -> Split:
    """The item cold-start protocol on top of ``split``.

    A seeded ``share`` of the catalog loses every training event; only those items may be recommended,
    and the test is the purchases of those items after the cutoff by users who still have training
    events.
    """
    if not 0 < share < 1:
        raise InputError(f"the cold share must be between 0 and 1, got {share}", field="share")
    rng = np.random.default_rng(seed)
    n = split.train.n_items
    hidden = np.zeros(n, dtype=bool)
    hidden[rng.choice(n, size=max(1, int(round(share * n))), replace=False)] = True
    train = hide_items(split.train, hidden)
    return build_split(train, split.test_events, split.cutoff, split.end, candidates=hidden)


def restrict_candidates(split: Split, items: np.ndarray | list[str]) -> Split:
    """``split`` rebuilt so that only ``items`` (ids) are candidates and relevant (the ``--items`` option)."""
    idx = split.train.item_indices(np.asarray(items, dtype=object))
    if (idx < 0).all():
        raise InputError("none of the listed items is in the store's catalog: check the --items file")
    mask = np.zeros(split.train.n_items, dtype=bool)
    mask[idx[idx >= 0]] = True
    return build_split(split.train, split.test_events, split.cutoff, split.end, candidates=mask)
