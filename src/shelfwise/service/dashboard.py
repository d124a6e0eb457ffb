"""The data behind the dashboard pages: pure functions over an open :class:`Store`, plain data out.

Each function reads what the store already holds (shop tables and the derived tables other commands
keep: lifecycle stages / forecasts / advice / alerts, sentiment, launch plans, experiments) and never
writes, so a page view cannot change the shop and pages render on a store that holds nothing yet: a
table that does not exist is reported as ``None`` ("not computed yet"), not as an error. The web layer
turns the results into HTML and SVG; the CLI or the HTML report can reuse them as they are.

SQL is kept to what DuckDB and PostgreSQL both understand (window functions, ``FILTER``,
``date_trunc``, bound ``?`` parameters), so the pages work on either store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from contextlib import nullcontext
from datetime import date, datetime, timedelta
from typing import Any

from ..data.schema import LIST_PRICE_SQL
from ..data.store import Store
from ..errors import ShelfwiseError
from ..logs import get_logger

log = get_logger(__name__)

#: events that show interest in an item (impressions are what the shop showed, not what people did)
INTEREST = ("view", "click", "cart", "favorite", "purchase")
#: an item counts as new this many days after its launch
NEW_DAYS = 30
#: the head: the smallest set of most popular items holding this share of interactions (as evaluate.metrics)
HEAD_SHARE = 0.8
#: an item first seen this many days after the store's first event is taken as launched then
CENSOR_DAYS = 14
#: above this many days of data the overview counts per week instead of per day
DAILY_MAX_DAYS = 120


def _rows(store: Store, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    return store.query(sql, list(params) if params is not None else None).to_pylist()


def _has(store: Store, *tables: str) -> bool:
    return all(store.has_table(t) for t in tables)


def _ratio(num: float | None, den: float | None) -> float | None:
    return float(num) / float(den) if num is not None and den else None


def _in(values: Sequence[Any]) -> str:
    """``(?, ?, ...)`` for a bound IN list (never empty: callers check first)."""
    return "(" + ", ".join("?" for _ in values) + ")"


def _day(v: Any) -> date | None:
    if v is None:
        return None
    return v.date() if isinstance(v, datetime) else v


# --- overview ------------------------------------------------------------------------------------


def overview(store: Store, *, new_days: int = NEW_DAYS, head_share: float = HEAD_SHARE) -> dict[str, Any]:
    """Headline figures and per-period traffic, CTR, conversion and exposure shares (new / head / tail).

    CTR is clicks per impression. Conversion is the share of visitors (a session, or a user when the
    shop logs no sessions) who bought that period. Exposure shares split the period's impressions:
    *new* items (launched in the ``new_days`` before), then *head* items (the most popular items that
    together hold ``head_share`` of all interest events, as :func:`shelfwise.evaluate.metrics.tail_mask`
    defines it) and the *tail* (everything else). Periods are days, or weeks past 120 days of data.
    """
    out: dict[str, Any] = {"totals": None, "period": "day", "traffic": [], "exposure": [],
                           "new_days": new_days, "head_share": head_share}
    if not _has(store, "events"):
        return out
    span = _rows(store, "SELECT count(*) AS events, min(timestamp) AS first, max(timestamp) AS last, "
                        "count(DISTINCT user_id) AS users, count(DISTINCT item_id) AS items FROM events")[0]
    if not span["events"]:
        return out
    period = "day" if (span["last"] - span["first"]).days <= DAILY_MAX_DAYS else "week"
    out["period"] = period
    # revenue as the experiment outcome table counts it (experiment.assignment.outcome_table): a purchase
    # without a price takes the item's catalogue price (the lowest listed), and counts 0 only when neither
    # is known
    if _has(store, "items"):
        catalogue = f"LEFT JOIN ({LIST_PRICE_SQL}) c ON c.item_id = e.item_id"
        price = "coalesce(e.price, c.list_price, 0)"
    else:
        catalogue, price = "", "coalesce(e.price, 0)"
    totals = _rows(store, f"""
        SELECT count(*) FILTER (WHERE e.event = 'impression') AS impressions,
               count(*) FILTER (WHERE e.event = 'click') AS clicks,
               count(*) FILTER (WHERE e.event = 'purchase') AS purchases,
               coalesce(sum({price} * coalesce(e.quantity, 1)) FILTER (WHERE e.event = 'purchase'), 0) AS revenue,
               count(DISTINCT coalesce(e.session_id, e.user_id)) AS visitors,
               count(DISTINCT coalesce(e.session_id, e.user_id)) FILTER (WHERE e.event = 'purchase') AS buyers
        FROM events e {catalogue}""")[0]
    out["totals"] = {**span, **totals, "first": _day(span["first"]), "last": _day(span["last"]),
                     "ctr": _ratio(totals["clicks"], totals["impressions"]),
                     "conversion": _ratio(totals["buyers"], totals["visitors"])}
    traffic = _rows(store, f"""
        SELECT CAST(date_trunc('{period}', timestamp) AS DATE) AS period,
               count(*) FILTER (WHERE event = 'impression') AS impressions,
               count(*) FILTER (WHERE event = 'view') AS views,
               count(*) FILTER (WHERE event = 'click') AS clicks,
               count(*) FILTER (WHERE event = 'cart') AS carts,
               count(*) FILTER (WHERE event = 'purchase') AS purchases,
               count(DISTINCT coalesce(session_id, user_id)) AS visitors,
               count(DISTINCT coalesce(session_id, user_id)) FILTER (WHERE event = 'purchase') AS buyers
        FROM events GROUP BY 1 ORDER BY 1""")
    for r in traffic:
        r["ctr"] = _ratio(r["clicks"], r["impressions"])
        r["conversion"] = _ratio(r["buyers"], r["visitors"])
    out["traffic"] = traffic
    out["exposure"] = exposure_shares(store, period=period, new_days=new_days, head_share=head_share)
    return out


def _launch_sql(new_days: int) -> str:
    """Each item's launch: ``launched_at``, else its first event when that is well after the data starts."""
    return f"""
        launch AS (
            SELECT item_id, min(t) AS launched FROM (
                SELECT item_id, launched_at AS t FROM items WHERE launched_at IS NOT NULL
                UNION ALL
                SELECT f.item_id, f.t FROM (SELECT item_id, min(timestamp) AS t FROM events GROUP BY item_id) f,
                       (SELECT min(timestamp) AS t0 FROM events) s
                WHERE f.t >= s.t0 + INTERVAL '{int(CENSOR_DAYS)} days'
                  AND f.item_id NOT IN (SELECT item_id FROM items WHERE launched_at IS NOT NULL)
            ) l GROUP BY item_id)"""


def exposure_shares(store: Store, *, period: str = "day", new_days: int = NEW_DAYS,
                    head_share: float = HEAD_SHARE) -> list[dict[str, Any]]:
    """Per period: impressions and the shares of them that went to new, head and tail items."""
    if period not in ("day", "week"):
        raise ValueError(f"period must be day or week, not {period}")
    if not _has(store, "events", "items"):
        return []
    interest = ", ".join(f"'{e}'" for e in INTEREST)
    rows = _rows(store, f"""
        WITH pop AS (SELECT item_id, count(*) AS n FROM events WHERE event IN ({interest}) GROUP BY item_id),
        ranked AS (SELECT item_id, sum(n) OVER (ORDER BY n DESC, item_id ROWS UNBOUNDED PRECEDING) - n AS before,
                          sum(n) OVER () AS total FROM pop),
        head AS (SELECT item_id FROM ranked WHERE before < ? * total),
        {_launch_sql(new_days)}
        SELECT CAST(date_trunc('{period}', e.timestamp) AS DATE) AS period, count(*) AS impressions,
               count(*) FILTER (WHERE l.launched IS NOT NULL AND e.timestamp >= l.launched
                                AND e.timestamp < l.launched + INTERVAL '{int(new_days)} days') AS new,
               count(*) FILTER (WHERE h.item_id IS NOT NULL AND NOT (l.launched IS NOT NULL
                                AND e.timestamp >= l.launched
                                AND e.timestamp < l.launched + INTERVAL '{int(new_days)} days')) AS head
        FROM events e LEFT JOIN launch l ON l.item_id = e.item_id LEFT JOIN head h ON h.item_id = e.item_id
        WHERE e.event = 'impression' GROUP BY 1 ORDER BY 1""", [head_share])
    for r in rows:
        n = r["impressions"]
        r["tail"] = n - r["new"] - r["head"]
        r["share_new"], r["share_head"], r["share_tail"] = (r["new"] / n, r["head"] / n, r["tail"] / n)
    return rows


# --- items ----------------------------------------------------------------------------------------


def _item_info(store: Store, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    if not ids or not _has(store, "all_items"):
        return {}
    rows = _rows(store, f"""SELECT item_id, max(title) AS title, max(category) AS category, max(price) AS price,
                                   max(launched_at) AS launched_at, max(brand) AS brand
                            FROM all_items WHERE item_id IN {_in(ids)} GROUP BY item_id""", ids)
    return {r["item_id"]: r for r in rows}


def top_items(store: Store, limit: int = 50, days: int = 28) -> list[dict[str, Any]]:
    """The most bought items of the last ``days`` of data (buyers, units), with title and category."""
    if not _has(store, "events"):
        return []
    rows = _rows(store, """
        SELECT item_id, count(DISTINCT user_id) AS buyers, sum(coalesce(quantity, 1)) AS units
        FROM events WHERE event = 'purchase'
          AND timestamp >= (SELECT max(timestamp) FROM events) - INTERVAL '1 day' * ?
        GROUP BY item_id ORDER BY buyers DESC, units DESC, item_id LIMIT ?""", [int(days), int(limit)])
    info = _item_info(store, [r["item_id"] for r in rows])
    return [{**info.get(r["item_id"], {}), **r} for r in rows]


def _latest(store: Store, table: str, item_id: str, order: str | None = None) -> list[dict[str, Any]] | None:
    """Rows of a derived table for one item; None when the table does not exist (not computed yet)."""
    if not store.has_table(table):
        return None
    sql = f'SELECT * FROM "{table}" WHERE item_id = ?' + (f" ORDER BY {order}" if order else "")
    return _rows(store, sql, [item_id])


def item_page(store: Store, item_id: str) -> dict[str, Any] | None:
    """Everything the item page shows; None when the store knows nothing of ``item_id``.

    The weekly sales curve is computed from the events now; stage, forecast, inventory advice and alerts
    come from the last ``shelfwise lifecycle`` runs, sentiment from ``shelfwise sentiment``, the launch
    plan from ``launch_plans``. Each of those is None when its table does not exist yet, and an empty
    list / None when the table exists but holds nothing for this item.
    """
    info = _item_info(store, [item_id]).get(item_id)
    if info is None:
        return None
    out: dict[str, Any] = {"item": info, "curve": [], "events": {}}
    if _has(store, "events"):
        out["curve"] = _rows(store, """
            SELECT CAST(date_trunc('week', timestamp) AS DATE) AS week,
                   coalesce(sum(coalesce(quantity, 1)) FILTER (WHERE event = 'purchase'), 0) AS units,
                   coalesce(sum(coalesce(quantity, 1)) FILTER (WHERE event = 'return'), 0) AS returned,
                   count(*) FILTER (WHERE event = 'impression') AS impressions,
                   count(*) FILTER (WHERE event = 'click') AS clicks
            FROM events WHERE item_id = ? GROUP BY 1 ORDER BY 1""", [item_id])
        for r in out["curve"]:
            r["net_units"] = float(r["units"]) - float(r["returned"])
        out["events"] = {r["event"]: r["n"] for r in _rows(
            store, "SELECT event, count(*) AS n FROM events WHERE item_id = ? GROUP BY event", [item_id])}
    stage = _latest(store, "lifecycle_stages", item_id)
    out["stage"] = None if stage is None else (stage[0] if stage else {})
    out["forecast"] = _latest(store, "lifecycle_forecasts", item_id, "period_start")
    advice = _latest(store, "inventory_advice", item_id)
    out["advice"] = None if advice is None else (advice[0] if advice else {})
    out["alerts"] = _latest(store, "lifecycle_alerts", item_id, '"when" DESC')
    sentiment = _latest(store, "item_sentiment", item_id)
    out["sentiment"] = None if sentiment is None else (sentiment[0] if sentiment else {})
    if out["sentiment"] and isinstance(out["sentiment"].get("complaint_terms"), str):
        try:  # stored as a JSON list of n-grams
            out["sentiment"]["complaint_terms"] = list(json.loads(out["sentiment"]["complaint_terms"]))
        except (ValueError, TypeError):
            out["sentiment"]["complaint_terms"] = [out["sentiment"]["complaint_terms"]]
    out["reviews"] = _reviews(store, item_id)
    plans = _latest(store, "launch_plans", item_id)
    out["launch_plan"] = None if plans is None else ({k: _json_field(v) for k, v in plans[0].items()} if plans else {})
    return out


def _json_field(v: Any) -> Any:
    """Launch plans keep lists and dicts as JSON text; anything else is returned as it is."""
    if isinstance(v, str) and v[:1] in "[{":
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def _reviews(store: Store, item_id: str, limit: int = 5) -> list[dict[str, Any]] | None:
    """A few scored reviews of the item, most negative first (what a merchandiser reads first)."""
    if not store.has_table("review_sentiment"):
        return None
    if not store.has_table("reviews"):
        return _rows(store, "SELECT label, probability FROM review_sentiment WHERE item_id = ? "
                            "ORDER BY probability LIMIT ?", [item_id, limit])
    return _rows(store, """
        SELECT s.label, s.probability, r.text, r.rating, r.timestamp
        FROM review_sentiment s LEFT JOIN reviews r ON r.review_key = s.review_key
        WHERE s.item_id = ? ORDER BY s.probability, r.timestamp LIMIT ?""", [item_id, limit])


# --- users and their recommendations ----------------------------------------------------------------


def top_users(store: Store, limit: int = 30) -> list[dict[str, Any]]:
    """The users with the most interest events, to pick one from."""
    if not _has(store, "events"):
        return []
    interest = ", ".join(f"'{e}'" for e in INTEREST)
    return _rows(store, f"""
        SELECT user_id, count(*) AS events, count(*) FILTER (WHERE event = 'purchase') AS purchases,
               max(timestamp) AS last_seen
        FROM events WHERE user_id IS NOT NULL AND event IN ({interest})
        GROUP BY user_id ORDER BY events DESC, user_id LIMIT ?""", [int(limit)])


def user_history(store: Store, user_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The user's latest interest events (newest first) with item titles."""
    if not _has(store, "events"):
        return []
    interest = ", ".join(f"'{e}'" for e in INTEREST)
    rows = _rows(store, f"""SELECT timestamp, item_id, event, quantity, price FROM events
                            WHERE user_id = ? AND event IN ({interest}) ORDER BY timestamp DESC LIMIT ?""",
                 [user_id, int(limit)])
    info = _item_info(store, sorted({r["item_id"] for r in rows}))
    for r in rows:
        r["title"] = info.get(r["item_id"], {}).get("title")
        r["category"] = info.get(r["item_id"], {}).get("category")
    return rows


def recommendations(store: Store, user_id: str, k: int = 10, *, model: Any = None, lock: Any = None,
                    served: dict[str, Any] | None = None,
                    history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The user's top ``k`` with reasons, and where they came from (``source``).

    ``served``: the list the running service answers ``/v1/recommend`` with (``items`` with ``item_id``,
    ``score``, ``reasons``; ``version``; ``trained``: False when the service has no model), shown as it
    is (source "service"). Else ``model``: a fitted
    recommender, asked through :func:`shelfwise.service.recommend.recommend` (source "model"; ``lock``
    is held around the call when the caller shares the model between threads). Else, or when the model
    has nothing for the user, the most bought items they have not bought (source "popular", with a
    ``note`` that says why). Reasons worked out from the store are added to every item: what the user
    did that the item goes with (co-interest by other customers), the categories they browse, new
    arrivals, bestsellers. ``history``: the user's latest events when the caller already read them
    (:func:`user_history`, newest first; 200 are plenty).
    """
    history = user_history(store, user_id, limit=200) if history is None else history
    best = top_items(store, limit=max(50, 2 * k))
    out: dict[str, Any] = {"user_id": user_id, "k": k, "source": "popular", "version": None, "note": None,
                           "items": []}
    recs: list[dict[str, Any]] = []
    if served is not None:
        recs = [{"rank": i + 1, "item_id": str(r["item_id"]), "score": r.get("score"),
                 "reasons": list(r.get("reasons") or [])} for i, r in enumerate(served.get("items", [])[:k])]
        out.update(source="service", version=served.get("version"))
        if not served.get("trained", True):
            out["note"] = ("no model set is trained yet (shelfwise train): the service answers with popular and "
                           "trending items, not personal recommendations")
    elif model is not None:
        try:
            from .recommend import recommend

            with lock if lock is not None else nullcontext():
                df = recommend([user_id], k=k, model=model, db=store.url)
            recs = df.to_dict("records")
            out.update(source="model", version=getattr(model, "version_", None))
        except (ShelfwiseError, ValueError, KeyError) as exc:
            log.warning("dashboard: the model could not recommend for %s (%s); showing popular items", user_id, exc)
            out["note"] = f"the model could not recommend for this user ({exc})"
        if not recs and out["note"] is None:
            out.update(source="popular", note="the model has nothing for this user yet")
    else:
        out["note"] = "no model set is loaded (train one with `shelfwise train`)"
    if not recs:
        out["source"] = "popular"
        bought = {r["item_id"] for r in history if r["event"] == "purchase"}
        pool = best if len(best) >= k + len(bought) else top_items(store, limit=k + len(bought))
        popular = [r for r in pool if r["item_id"] not in bought][:k]
        recs = [{"rank": i + 1, "item_id": r["item_id"], "score": None} for i, r in enumerate(popular)]
    out["items"] = explain(store, user_id, recs, history=history[:50], best=best[:50])
    return out


def explain(store: Store, user_id: str, recs: list[dict[str, Any]], max_reasons: int = 4, *,
            history: list[dict[str, Any]] | None = None, best: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Attach title, category and up to ``max_reasons`` reasons (strongest first) to each recommendation.

    Reasons a recommendation already carries (the service explains its picks) come first. ``history``
    and ``best`` (:func:`user_history`, :func:`top_items`) save reading them again when the caller has them.
    """
    if not recs:
        return []
    ids = [str(r["item_id"]) for r in recs]
    info = _item_info(store, ids)
    history = user_history(store, user_id, limit=50) if history is None else history
    seen_items = list(dict.fromkeys(h["item_id"] for h in history))[:20]
    seen_cats = {h["category"]: h for h in history if h.get("category")}
    co = _co_interest(store, user_id, ids, seen_items) if seen_items else {}
    best_rank = {r["item_id"]: i + 1 for i, r in enumerate(top_items(store, limit=50) if best is None else best)}
    last = _rows(store, "SELECT max(timestamp) AS t FROM events")[0]["t"] if _has(store, "events") else None
    titles = {h["item_id"]: h.get("title") or h["item_id"] for h in history}
    out = []
    for r in recs:
        item = str(r["item_id"])
        meta = info.get(item, {})
        given = list(r.get("reasons") or [])
        reasons = given + [x for x in _store_reasons(item, meta, co, seen_cats, titles, best_rank, last) if x not in given]
        if not reasons:
            reasons.append("matches the tastes of customers with a history like yours"
                           if r.get("score") is not None else "popular with customers")
        score = r.get("score")
        out.append({"rank": int(r["rank"]), "item_id": item, "title": meta.get("title"),
                    "category": meta.get("category"), "price": meta.get("price"),
                    "score": None if score is None or (isinstance(score, float) and math.isnan(score)) else float(score),
                    "reasons": reasons[:max_reasons]})
    return out


def _store_reasons(item: str, meta: dict[str, Any], co: dict[str, tuple[str, int]], seen_cats: dict[str, Any],
                   titles: dict[str, str], best: dict[str, int], last: datetime | None) -> list[str]:
    """Why an item suits the user, from the store alone, strongest evidence first."""
    out = []
    if item in co:
        other, n = co[item]
        who = f"{n} customer{'s' if n != 1 else ''}"
        out.append(f"{who} who looked at “{titles.get(other, other)}”, as you did, also looked at this")
    cat = meta.get("category")
    if cat and cat in seen_cats:
        out.append(f"in {cat}, a category you browse")
    launched = meta.get("launched_at")
    if launched is not None and last is not None and timedelta(0) <= last - launched <= timedelta(days=NEW_DAYS):
        out.append(f"new arrival: launched {(last - launched).days} days ago")
    if item in best:
        out.append(f"a bestseller: #{best[item]} by buyers in the last 28 days")
    return out


def _co_interest(store: Store, user_id: str, recs: Sequence[str], seen: Sequence[str]) -> dict[str, tuple[str, int]]:
    """For each recommended item, the item from the user's history most often co-liked by other users."""
    interest = ", ".join(f"'{e}'" for e in INTEREST)
    rows = _rows(store, f"""
        SELECT a.item_id AS rec, b.item_id AS seen, count(DISTINCT a.user_id) AS n
        FROM events a JOIN events b ON a.user_id = b.user_id
        WHERE a.item_id IN {_in(recs)} AND b.item_id IN {_in(seen)} AND a.item_id <> b.item_id
          AND a.event IN ({interest}) AND b.event IN ({interest}) AND a.user_id <> ?
        GROUP BY a.item_id, b.item_id ORDER BY n DESC, b.item_id""", [*recs, *seen, user_id])
    out: dict[str, tuple[str, int]] = {}
    for r in rows:
        out.setdefault(r["rec"], (r["seen"], int(r["n"])))
    return out


# --- experiments and alerts ---------------------------------------------------------------------------


def experiments(store: Store, metrics: Sequence[str] = ("clicked", "purchased", "revenue"),
                level: float = 0.95) -> list[dict[str, Any]] | None:
    """Every experiment with its exposures and, where there is enough data, lifts with intervals.

    None when no experiment was ever created. Each experiment's ``analysis`` is the A/B result of
    :func:`shelfwise.experiment.ab.analyze` over its outcome table, or None with ``analysis_note``
    saying why (no exposures yet, too few units).
    """
    from ..experiment import ab, assignment

    if not store.has_table(assignment.EXPERIMENTS):
        return None
    out = []
    for exp in assignment.list_experiments(store):
        entry: dict[str, Any] = {**exp.as_dict(), "exposed": {a: 0 for a in exp.arms}, "analysis": None,
                                 "analysis_note": None}
        if store.has_table(assignment.EXPOSURES):
            for r in _rows(store, f"SELECT arm, count(*) AS n FROM {assignment.EXPOSURES} WHERE experiment = ? "
                                  "GROUP BY arm", [exp.name]):
                entry["exposed"][r["arm"]] = r["n"]
        if sum(entry["exposed"].values()) == 0:
            entry["analysis_note"] = "no exposures yet"
        elif not _has(store, "events"):
            entry["analysis_note"] = "no events to measure outcomes on"
        else:
            try:
                table = assignment.outcome_table(store, exp.name).to_pandas()
                entry["analysis"] = ab.analyze(table, "arm", exp.control, list(metrics),
                                               expected_split=exp.split(), level=level).as_dict()
            except ShelfwiseError as exc:
                entry["analysis_note"] = str(exc)
        out.append(entry)
    return out


def alerts(store: Store, limit: int = 200) -> dict[str, Any] | None:
    """The last stored alerts (``shelfwise lifecycle alerts``), most severe first, with counts per kind.

    None when alerts were never computed for this store.
    """
    if not store.has_table("lifecycle_alerts"):
        return None
    counts = _rows(store, "SELECT kind, count(*) AS n FROM lifecycle_alerts GROUP BY kind ORDER BY n DESC, kind")
    rows = _rows(store, 'SELECT * FROM lifecycle_alerts ORDER BY severity DESC, "when" DESC, item_id LIMIT ?',
                 [int(limit)])
    info = _item_info(store, sorted({r["item_id"] for r in rows if r.get("item_id") is not None}))
    for r in rows:
        r["title"] = info.get(r.get("item_id"), {}).get("title")
    as_of = rows[0].get("as_of") if rows else None
    return {"as_of": as_of, "total": sum(c["n"] for c in counts), "by_kind": counts, "alerts": rows}
