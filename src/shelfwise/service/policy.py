"""Exposure-policy operations: re-rank a recommender's candidates, record live feedback, launch plans.

The CLI (``shelfwise recommend --exploration-weight ...``), the API (``GET /v1/recommend``) and the
simulator all call :func:`apply_policies`; the intake calls :func:`record_feedback` so that Thompson
sampling sees each click as it happens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..config import get_settings
from ..data.store import Store, open_store
from ..errors import InputError, StoreError
from ..logs import get_logger
from .ids import clean_ids
from ..policy import CandidateLists, ItemContext, PolicyParams, build_chain
from ..policy import stats as policy_stats
from ..policy.vectors import item_vectors

log = get_logger(__name__)

INTEREST = ("view", "click", "favorite", "cart", "purchase")
#: how many candidates per shown slot a re-ranked request asks the recommender for
CANDIDATE_FACTOR = 5
MIN_CANDIDATES = 50


def candidate_count(k: int, params: PolicyParams | None = None) -> int:
    """Candidates to fetch for ``k`` shown slots: re-rankers need room to choose, and a tail-share
    target needs enough tail items among them (a popularity-led list holds few near its top)."""
    if params is not None and params.tail_share_target > 0:
        return max(4 * MIN_CANDIDATES, 4 * CANDIDATE_FACTOR * k)
    return max(MIN_CANDIDATES, CANDIDATE_FACTOR * k)


def policy_params(params: PolicyParams | Mapping[str, Any] | None = None, **overrides: Any) -> PolicyParams:
    """Request parameters over the settings' defaults (``exploration_weight`` and friends)."""
    if isinstance(params, PolicyParams):
        return params if not overrides else PolicyParams(**{**params.as_dict(), **{k: v for k, v in overrides.items()
                                                                                    if v is not None}})
    merged = {**dict(params or {}), **overrides}
    return PolicyParams.from_settings(get_settings(), **merged)


@dataclass
class PolicyContext:
    """What a re-ranking call needs besides the lists: the item context and users' tail preference."""

    items: ItemContext
    user_tail_share: dict[str, float]


def _interactions(store: Store, until: datetime | None) -> pd.DataFrame:
    where = "event IN (" + ", ".join(f"'{e}'" for e in INTEREST) + ")"
    params: list[Any] = []
    if until is not None:
        where += " AND timestamp <= ?"
        params.append(until)
    return store.query(f"SELECT user_id, item_id, count(*)::DOUBLE AS n FROM events WHERE {where} "
                       "GROUP BY user_id, item_id", params).to_pandas()


def context_from_store(store: Store, now: datetime | None = None, head_share: float = 0.8,
                       with_vectors: bool = True, users: Sequence[str] | None = None) -> PolicyContext:
    """Catalog, head/tail counts, stock, live statistics and content vectors from the store."""
    if not store.has_table("events"):
        raise InputError("the store holds no events; ingest a shop first (shelfwise ingest DIR)")
    if now is None:
        now = store.query("SELECT max(timestamp) AS t FROM events").to_pylist()[0]["t"]
    items = store.read("all_items", columns=["item_id", "title", "description", "category", "brand", "price",
                                             "launched_at", "attrs"], order_by="item_id").to_pandas()
    pairs = _interactions(store, now)
    per_item = pairs.groupby("item_id")["n"].sum()
    stock = None
    if store.has_table("stock"):
        stock = store.query("SELECT item_id, stock AS quantity FROM stock").to_pandas()
    ctx = ItemContext.from_frames(items, None, now, stock=stock, head_share=head_share)
    ctx.interactions = per_item.reindex(ctx.item_ids.astype(str)).fillna(0.0).to_numpy(dtype=np.float64)
    imp, clicks, buys = policy_stats.load_stats(store, list(ctx.item_ids))
    if imp.sum() == 0 and clicks.sum() == 0:  # nothing recorded live yet: the shop's own logged feedback
        imp, clicks, buys = _logged_feedback(store, ctx, now)
    ctx = ctx.with_stats(imp, clicks, buys)
    if with_vectors:
        ctx.vectors = _cached_vectors(items)
    shares = _tail_shares(pairs, ctx, users)
    return PolicyContext(ctx, shares)


_VECTORS: dict[int, np.ndarray] = {}


def _cached_vectors(items: pd.DataFrame) -> np.ndarray:
    """Content vectors, computed once per distinct catalog per process (a request should not refit TF-IDF)."""
    key = int(pd.util.hash_pandas_object(items[["item_id", "title", "category", "brand"]].astype(str),
                                         index=False).sum())
    if key not in _VECTORS:
        if len(_VECTORS) >= 4:
            _VECTORS.pop(next(iter(_VECTORS)))
        _VECTORS[key] = item_vectors(items)
    return _VECTORS[key]


def _logged_feedback(store: Store, ctx: ItemContext, now: datetime) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = store.query("SELECT item_id, event, count(*)::DOUBLE AS n FROM events WHERE event IN "
                       "('impression', 'click', 'purchase') AND timestamp <= ? GROUP BY item_id, event",
                       [now]).to_pandas()
    table = rows.pivot_table(index="item_id", columns="event", values="n", aggfunc="sum").reindex(
        ctx.item_ids.astype(str)).fillna(0.0)
    get = lambda c: table[c].to_numpy(np.float64) if c in table else np.zeros(ctx.n_items)  # noqa: E731
    return get("impression"), get("click"), get("purchase")


def _tail_shares(pairs: pd.DataFrame, ctx: ItemContext, users: Sequence[str] | None) -> dict[str, float]:
    if users is not None:
        pairs = pairs[pairs["user_id"].isin({str(u) for u in users})]
    if pairs.empty:
        return {}
    tail = ctx.tail()
    j = ctx.indices(pairs["item_id"].astype(str).to_numpy())
    ok = j >= 0
    frame = pd.DataFrame({"user_id": pairs["user_id"].to_numpy()[ok], "tail": tail[j[ok]] * pairs["n"].to_numpy()[ok],
                          "n": pairs["n"].to_numpy()[ok]})
    g = frame.groupby("user_id")[["tail", "n"]].sum()
    return (g["tail"] / g["n"]).to_dict()


def context_from_model(model: Any, head_share: float = 0.8, with_vectors: bool = True) -> PolicyContext:
    """The item context from a fitted model's own data (no store at hand)."""
    data = model.data_
    ctx = ItemContext.from_frames(data.items, data.events, data.now, head_share=head_share)
    if with_vectors:
        ctx.vectors = item_vectors(data.items)
    return PolicyContext(ctx, {})


def apply_policies(candidates: pd.DataFrame, params: PolicyParams | Mapping[str, Any] | None, k: int,
                   context: PolicyContext | None = None, db: str | None = None, model: Any = None,
                   allowed_items: Sequence[str] | None = None, store: Store | None = None,
                   exclude_purchased: bool | None = None) -> pd.DataFrame:
    """Re-rank candidate rows ``user_id, rank, item_id, score`` and keep ``k`` per user.

    Returns the same columns plus ``source`` (model, exploration, tail, pinned, boosted). ``context``
    defaults to one read from the store ``db`` (falling back to the model's own data when there is no
    store). ``allowed_items`` limits what exploration may add (the request's ``--items``). A caller that
    already holds the store open (the API) passes it as ``store``: DuckDB refuses a second connection to
    one file from the same process with other settings. ``exclude_purchased`` (default: the setting
    ``filter_purchased``, as the recommender's own filter) keeps exploration from injecting an item the
    user already bought: the candidates were filtered, the exploration pool is the whole catalog.
    """
    p = policy_params(params)
    if candidates.empty:
        return candidates.assign(source=pd.Series(dtype=str))
    if context is None:
        users = candidates["user_id"].astype(str).unique().tolist()
        need_vectors = p.exploration_weight > 0 or p.mmr_relevance is not None
        if store is not None:
            context = context_from_store(store, head_share=p.head_share, with_vectors=need_vectors, users=users)
        else:
            context = _default_context(db, model, p.head_share, need_vectors, users)
    ctx = context.items
    allowed = None
    if allowed_items is not None:
        allowed = np.zeros(ctx.n_items, dtype=bool)
        j = ctx.indices(list(allowed_items))
        allowed[j[j >= 0]] = True
    lists = CandidateLists.from_frame(candidates, ctx)
    if exclude_purchased is None:
        exclude_purchased = bool(get_settings().filter_purchased)
    seen = None
    if exclude_purchased and p.exploration_weight > 0:
        seen = _purchased(store, db, [str(u) for u in lists.users], ctx)
    chain = build_chain(p, ctx, context.user_tail_share, allowed, seen)
    try:
        out = chain.apply(lists, ctx, k)
    except ValueError as exc:
        raise InputError(f"cannot apply the exposure policies: {exc}") from exc
    log.info("policies %s re-ranked %d users' lists", "+".join(chain.names), len(lists.users))
    return out.to_frame(ctx)


def _purchased(store: Store | None, db: str | None, users: list[str], ctx: ItemContext) -> dict[str, np.ndarray]:
    """Catalog indices each user bought (empty where the store cannot be read: then nothing is blocked)."""
    def read(s: Store) -> pd.DataFrame:
        if not s.has_table("events") or not users:
            return pd.DataFrame({"user_id": [], "item_id": []})
        marks = ", ".join("?" for _ in users)
        return s.query(f"SELECT DISTINCT user_id, item_id FROM events WHERE event = 'purchase' AND user_id IN ({marks})",
                       users).to_pandas()

    if store is not None:
        rows = read(store)
    else:
        try:
            with open_store(db, read_only=True) as s:
                rows = read(s)
        except StoreError as exc:
            log.info("exploration cannot see past purchases (no store): %s", exc)
            return {}
    rows = rows.assign(j=ctx.indices(rows["item_id"].astype(str).to_numpy()))
    rows = rows[rows["j"] >= 0]
    return {str(u): g.to_numpy(dtype=np.int64) for u, g in rows.groupby(rows["user_id"].astype(str))["j"]}


def _default_context(db: str | None, model: Any, head_share: float, with_vectors: bool,
                     users: Sequence[str]) -> PolicyContext:
    try:
        store = open_store(db, read_only=True)
    except StoreError as exc:
        if model is None:
            raise InputError(f"the exposure policies need the store or a model: {exc}") from exc
        log.info("policies read the model's data, not the store: %s", exc)
        return context_from_model(model, head_share, with_vectors)
    with store:
        return context_from_store(store, head_share=head_share, with_vectors=with_vectors, users=users)


def launch_plan(item_ids: Sequence[str] | None = None, since: datetime | None = None, db: str | None = None,
                neighbours: int = 10, top_users: int = 20, save: bool = True) -> list[dict[str, Any]]:
    """Launch plans for items (or everything launched since a date), stored in ``launch_plans``."""
    from ..policy.launch import plan_launches, save_plans

    with open_store(db) as store:
        plans = plan_launches(store, clean_ids(item_ids, "item_id") if item_ids is not None else None, since,
                              neighbours, top_users)
        if save:
            save_plans(store, plans)
    return [p.as_dict() for p in plans]


def write_plans(plans: list[dict[str, Any]], out: Path) -> Path:
    """Launch plans written by ``out``'s name with the one table writer the other commands use.

    ``.json`` is one array and ``.jsonl`` one plan a line, nested lists kept; ``.csv`` is one row a
    plan, with lists and dicts as JSON text so a spreadsheet still holds them in one cell.
    """
    from ..experiment.tables import write_table
    from ..jsonsafe import finite

    rows = [finite(p) for p in plans]
    if out.name.lower().endswith(".csv"):
        rows = [{k: json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, (list, dict)) else v
                 for k, v in p.items()} for p in rows]
    return write_table(pd.DataFrame(rows), out)


def promising_tail(db: str | None = None, head_share: float = 0.8, top: int | None = 100) -> pd.DataFrame:
    """Long-tail items with a high (shrunk) conversion per view or strong reviews (see :mod:`shelfwise.policy.promising`)."""
    from ..policy.promising import promising_tail as find

    with open_store(db, read_only=True) as store:
        pctx = context_from_store(store, head_share=head_share, with_vectors=False)
        ctx = pctx.items
        rows = store.query("SELECT item_id, sum(CASE WHEN event IN ('view', 'click') THEN 1 ELSE 0 END)::DOUBLE AS v, "
                           "sum(CASE WHEN event = 'purchase' THEN 1 ELSE 0 END)::DOUBLE AS p FROM events "
                           "GROUP BY item_id").to_pandas().set_index("item_id").reindex(ctx.item_ids.astype(str)).fillna(0.0)
        ratings = store.query("SELECT item_id, rating FROM reviews WHERE rating IS NOT NULL").to_pandas() \
            if store.has_table("reviews") else None
    out = find(ctx, rows["v"].to_numpy(), rows["p"].to_numpy(), ratings)
    return out if top is None else out.head(top)


def record_feedback(events: pd.DataFrame, db: str | None = None, store: Store | None = None) -> int:
    """Add a batch of events' impressions, clicks and purchases to the live exploration statistics."""
    if store is not None:
        return policy_stats.record_feedback(store, events)
    with open_store(db) as s:
        return policy_stats.record_feedback(s, events)
