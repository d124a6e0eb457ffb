"""The two things every policy reads: candidate lists per user, and what is known about each item.

Why indices and dense arrays: a request for one user and a benchmark over 4,000 users go through the
same code, and every greedy re-ranker runs its ``k`` steps vectorised over the whole batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from ..data.attrs import flag_column, non_product
from ..evaluate.metrics import tail_mask


def is_new(age_days: Any, cutoff_days: float) -> np.ndarray:
    """What a "new" item is to the policies and the simulator: launched less than ``cutoff_days`` ago and
    not in the future (an unknown age, nan, is not new). One function, so that what exploration favours,
    what the simulator counts as new-item exposure and as new items are the same items."""
    age = np.asarray(age_days, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(age) & (age >= 0) & (age < cutoff_days)

#: where a slot's item came from, kept along the chain (for reasons and logging)
SOURCES: tuple[str, ...] = ("model", "exploration", "pinned", "boosted", "tail", "diversity")
MODEL, EXPLORATION, PINNED = 0, 1, 2


@dataclass
class CandidateLists:
    """Per user, candidate catalog indices in ranked order with their scores.

    ``idx`` (B, n) int64, -1 pads a short list; ``scores`` (B, n) float, -inf on padding. The order of a
    row *is* the ranking; ``scores`` are kept decreasing along each row so that the next policy in a
    chain can read relevance from them. ``source`` (B, n) int8 codes into :data:`SOURCES`.
    """

    users: np.ndarray
    idx: np.ndarray
    scores: np.ndarray
    source: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.idx = np.asarray(self.idx, dtype=np.int64)
        if self.idx.ndim != 2:
            raise ValueError(f"idx must be 2-D (users x candidates), got shape {self.idx.shape}")
        self.scores = np.where(self.idx >= 0, np.asarray(self.scores, dtype=np.float64), -np.inf)
        self.users = np.asarray(self.users, dtype=object)
        if self.source is None:
            self.source = np.zeros(self.idx.shape, dtype=np.int8)
        if self.scores.shape != self.idx.shape or len(self.users) != self.idx.shape[0]:
            raise ValueError(f"users {self.users.shape}, idx {self.idx.shape} and scores {self.scores.shape} disagree")

    @property
    def valid(self) -> np.ndarray:
        return self.idx >= 0

    def relevance(self) -> np.ndarray:
        """Scores min-max scaled to [0, 1] per row (0 on padding), so weights mean the same for any model."""
        s = np.where(self.valid, self.scores, np.nan)
        with np.errstate(all="ignore"):
            fin = np.isfinite(s)  # an empty row gives lo = inf, hi = -inf: span < 0, relevance 0
            lo = np.min(np.where(fin, s, np.inf), axis=1, keepdims=True, initial=np.inf)
            hi = np.max(np.where(fin, s, -np.inf), axis=1, keepdims=True, initial=-np.inf)
            span = hi - lo
            rel = np.where(span > 0, (s - lo) / np.where(span > 0, span, 1.0), 1.0)
        return np.where(self.valid & np.isfinite(rel), rel, 0.0)

    def head(self, k: int) -> "CandidateLists":
        """The first ``k`` slots of every row."""
        return CandidateLists(self.users, self.idx[:, :k], self.scores[:, :k], self.source[:, :k])

    def reordered(self, idx: np.ndarray, source: np.ndarray | None = None) -> "CandidateLists":
        """New lists in the order of ``idx``; scores are the row's old scores re-laid in decreasing order.

        So relevance stays on the model's scale and the order a policy chose is what the next policy
        sees as relevance. Slots beyond the old list's length (injected items) get scores just below.
        """
        idx = np.asarray(idx, dtype=np.int64)
        old = np.sort(np.where(self.valid, self.scores, -np.inf), axis=1)[:, ::-1]
        width = idx.shape[1]
        if old.shape[1] < width:
            old = np.concatenate([old, np.full((len(old), width - old.shape[1]), -np.inf)], axis=1)
        old = old[:, :width].copy()
        finite = np.isfinite(old)
        last = np.where(finite.any(axis=1), np.min(np.where(finite, old, np.inf), axis=1, initial=np.inf), 0.0)
        last = np.nan_to_num(last)
        fill = last[:, None] - 1e-6 * np.arange(1, width + 1)[None, :]
        old = np.where(finite, old, fill)
        scores = np.where(idx >= 0, old, -np.inf)
        src = np.zeros(idx.shape, dtype=np.int8) if source is None else np.asarray(source, dtype=np.int8)
        return CandidateLists(self.users, idx, scores, src)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, ctx: "ItemContext") -> "CandidateLists":
        """From rows ``user_id, rank, item_id, score`` (the recommend service's output)."""
        if frame.empty:
            return cls(np.array([], dtype=object), np.zeros((0, 0), np.int64), np.zeros((0, 0)))
        users = pd.unique(frame["user_id"].astype(str))
        row = pd.Series(np.arange(len(users)), index=users)
        frame = frame.sort_values(["user_id", "rank"], kind="stable")
        r = row[frame["user_id"].astype(str)].to_numpy()
        col = frame.groupby("user_id", sort=False).cumcount().to_numpy()
        width = int(col.max()) + 1
        idx = np.full((len(users), width), -1, dtype=np.int64)
        scores = np.full((len(users), width), -np.inf)
        idx[r, col] = ctx.indices(frame["item_id"].astype(str).to_numpy())
        scores[r, col] = frame["score"].to_numpy(dtype=np.float64)
        return cls(np.asarray(users, dtype=object), idx, scores)

    def to_frame(self, ctx: "ItemContext", k: int | None = None) -> pd.DataFrame:
        """Rows ``user_id, rank, item_id, score, source`` (rank from 1), padding dropped."""
        lists = self.head(k) if k is not None else self
        r, c = np.nonzero(lists.valid)
        return pd.DataFrame({"user_id": lists.users[r], "rank": c + 1, "item_id": ctx.item_ids[lists.idx[r, c]],
                             "score": np.round(lists.scores[r, c], 6),
                             "source": np.asarray(SOURCES, dtype=object)[lists.source[r, c]]})


@dataclass
class ItemContext:
    """What the policies know about each catalog item, row ``j`` belonging to ``item_ids[j]``.

    ``age_days`` is NaN where the launch date is unknown (never counted as new); ``interactions``
    defines head and tail; ``category`` codes are -1 when unknown; ``vectors`` (optional, rows
    L2-normalised) are content vectors for MMR and for the exploration prior; ``in_stock`` (optional)
    False for items that must not be shown (out of stock, or lines the catalogue marks ``non_product``); ``impressions`` / ``clicks`` / ``purchases`` are the live
    exploration statistics (see :mod:`.stats`).
    """

    item_ids: np.ndarray
    age_days: np.ndarray
    interactions: np.ndarray
    category: np.ndarray
    now: datetime
    vectors: np.ndarray | None = None
    in_stock: np.ndarray | None = None
    price: np.ndarray | None = None
    attributes: pd.DataFrame | None = None
    impressions: np.ndarray | None = None
    clicks: np.ndarray | None = None
    purchases: np.ndarray | None = None
    head_share: float = 0.8
    categories: list[str] = field(default_factory=list)
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.item_ids = np.asarray(self.item_ids, dtype=object)
        n = len(self.item_ids)
        self._index = {str(i): j for j, i in enumerate(self.item_ids)}
        for name in ("impressions", "clicks", "purchases"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(n))
        for name in ("age_days", "interactions", "category", "impressions", "clicks", "purchases"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"ItemContext.{name} has {len(getattr(self, name))} rows, expected {n}")

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def indices(self, ids: Any) -> np.ndarray:
        """Catalog indices of ids, -1 for unknown ones."""
        return np.fromiter((self._index.get(str(i), -1) for i in ids), dtype=np.int64, count=len(ids))

    def tail(self, head_share: float | None = None) -> np.ndarray:
        """True for long-tail items: outside the top items holding ``head_share`` of all interactions."""
        return tail_mask(self.interactions, self.head_share if head_share is None else head_share)

    def new(self, cutoff_days: float) -> np.ndarray:
        """True for items launched less than ``cutoff_days`` ago (and not in the future): :func:`is_new`."""
        return is_new(self.age_days, cutoff_days)

    def with_stats(self, impressions: np.ndarray, clicks: np.ndarray, purchases: np.ndarray) -> "ItemContext":
        return replace(self, impressions=np.asarray(impressions, float), clicks=np.asarray(clicks, float),
                       purchases=np.asarray(purchases, float))

    @classmethod
    def from_frames(cls, items: pd.DataFrame, events: pd.DataFrame | None, now: datetime,
                    vectors: np.ndarray | None = None, stock: pd.DataFrame | None = None,
                    head_share: float = 0.8) -> "ItemContext":
        """From a catalog (``item_id``, ``launched_at``, ``category``, ``price``, ...) and events.

        ``events`` (``item_id``, ``event``) count interactions for the head/tail split; ``stock``
        (``item_id``, ``quantity``) marks items at zero or below as out of stock.
        """
        items = items.drop_duplicates("item_id", keep="last").reset_index(drop=True)
        ids = items["item_id"].astype(str).to_numpy(dtype=object)
        launched = pd.to_datetime(items.get("launched_at"), errors="coerce") if "launched_at" in items else None
        if launched is None:
            age = np.full(len(ids), np.nan)
        else:
            age = ((pd.Timestamp(now) - launched).dt.total_seconds() / 86400.0).to_numpy(dtype=np.float64)
        cats = items["category"].fillna("").astype(str) if "category" in items else pd.Series([""] * len(ids))
        codes, uniques = pd.factorize(cats)
        codes = np.where(cats.to_numpy() == "", -1, codes)
        inter = np.zeros(len(ids))
        if events is not None and len(events):
            interest = events[events["event"].isin(["view", "click", "favorite", "cart", "purchase"])]
            pos = pd.Series(np.arange(len(ids)), index=ids)
            j = pos.reindex(interest["item_id"].astype(str)).dropna().to_numpy(dtype=np.int64)
            inter = np.bincount(j, minlength=len(ids)).astype(np.float64)
        in_stock = None
        if stock is not None and len(stock):
            qty = stock.groupby(stock["item_id"].astype(str))["quantity"].last()
            q = qty.reindex(ids).to_numpy(dtype=np.float64)
            in_stock = ~(np.isfinite(q) & (q <= 0))
        flagged = (flag_column(items["non_product"])
                   if "non_product" in items else non_product(items["attrs"]) if "attrs" in items else None)
        if flagged is not None and flagged.any():  # postage and fees: never shown, like an item out of stock
            in_stock = ~flagged if in_stock is None else in_stock & ~flagged
        price = pd.to_numeric(items["price"], errors="coerce").to_numpy(np.float64) if "price" in items else None
        return cls(ids, age, inter, codes.astype(np.int64), now, vectors=vectors, in_stock=in_stock, price=price,
                   attributes=items.set_index(pd.RangeIndex(len(ids))), head_share=head_share,
                   categories=[str(c) for c in uniques])
