"""The report sections that describe a shop as it sits in the store, with its ground truth if synthetic.

Everything is read back from the store with SQL (not taken from the generator's memory), so the report
shows what every later capability will see: counts per table and event type, daily traffic,
click-through rate by display position, sales by category, new items over time and review ratings.
When the ``synth_*`` truth tables are present it adds what only a synthetic shop can show: the true
position-bias curve beside the one measured on randomised lists, and the true lifecycle stages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data.schema import LIST_PRICE_SQL
from ..data.store import LoadResult, Store
from ..data.synth import STAGES, SyntheticWorld, Truth
from ..evaluate.charts import bar_chart, line_chart, stacked_area_chart
from ..evaluate.report import Report


def _rows(store: Store, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    return store.query(sql, params).to_pylist()


def add_shop_sections(report: Report, store: Store, load: LoadResult | None = None,
                      truth: Truth | None = None) -> int:
    """Append the shop's sections to ``report``; returns how many were added."""
    before = len(report.sections)
    _overview(report, store, load)
    _traffic(report, store)
    _positions(report, store, truth)
    _sales(report, store)
    _new_items(report, store)
    _reviews(report, store)
    if truth is not None:
        _lifecycle_truth(report, truth)
    return len(report.sections) - before


def _overview(report: Report, store: Store, load: LoadResult | None) -> None:
    s = report.section("The shop")
    span = _rows(store, "SELECT min(timestamp) AS first, max(timestamp) AS last, count(DISTINCT session_id) AS sessions, "
                        "count(DISTINCT order_id) AS orders, "
                        "sum(price * quantity) FILTER (WHERE event = 'purchase') AS revenue FROM events")[0]
    s.figures({"items": store.count("items"), "users": store.count("users"), "events": store.count("events"),
               "sessions": span["sessions"] or 0, "orders": span["orders"] or 0,
               "revenue": round(float(span["revenue"] or 0.0)), "reviews": store.count("reviews")})
    if span["first"] is not None:
        s.text(f"Events from {span['first']:%Y-%m-%d} to {span['last']:%Y-%m-%d}.")
    if load is not None:
        s.table(["table", "file", "read", "loaded", "rejected"],
                [[t.table, t.file.rsplit("/", 1)[-1], t.read, t.loaded, t.rejected] for t in load.tables],
                caption="What the load read, loaded and rejected")
    by_type = _rows(store, "SELECT event, count(*) AS n, count(DISTINCT user_id) AS users, "
                           "count(DISTINCT item_id) AS items FROM events GROUP BY event ORDER BY n DESC")
    s.table(["event", "rows", "users", "items"], [[r["event"], r["n"], r["users"], r["items"]] for r in by_type],
            caption="Events by type")


def _traffic(report: Report, store: Store) -> None:
    daily = _rows(store, f"""
        SELECT CAST(timestamp AS DATE) AS day, count(DISTINCT session_id) AS sessions,
               count(*) FILTER (WHERE event = 'impression') AS impressions,
               count(*) FILTER (WHERE event = 'click') AS clicks,
               count(*) FILTER (WHERE event = 'cart') AS carts,
               count(*) FILTER (WHERE event = 'purchase') AS purchases,
               coalesce(sum(coalesce(e.price, c.list_price, 0) * e.quantity) FILTER (WHERE event = 'purchase'), 0) AS revenue
        FROM events e LEFT JOIN ({LIST_PRICE_SQL}) c ON c.item_id = e.item_id
        GROUP BY 1 ORDER BY 1""")
    s = report.section("Daily traffic")
    if not daily:
        s.text("No events.")
        return
    days = [r["day"] for r in daily]
    s.chart(line_chart(days, {"sessions": [r["sessions"] for r in daily], "clicks": [r["clicks"] for r in daily]},
                       title="Sessions and clicks per day", y_label="per day"))
    s.chart(line_chart(days, {"carts": [r["carts"] for r in daily], "purchases": [r["purchases"] for r in daily]},
                       title="Carts and purchases per day", y_label="per day"))
    s.chart(line_chart(days, {"revenue": [r["revenue"] for r in daily]}, title="Revenue per day", y_label="revenue"))


def _positions(report: Report, store: Store, truth: Truth | None) -> None:
    rows = _rows(store, """
        SELECT position, count(*) FILTER (WHERE event = 'impression') AS shown,
               count(*) FILTER (WHERE event = 'click') AS clicks
        FROM events WHERE position IS NOT NULL GROUP BY 1 ORDER BY 1""")
    rows = [r for r in rows if r["shown"] > 0]
    s = report.section("Click-through rate by position")
    if not rows:
        s.text("The events have no impressions with a display position.")
        return
    positions = [int(r["position"]) for r in rows]
    ctr = [r["clicks"] / r["shown"] for r in rows]
    series: dict[str, list[float]] = {"all lists": ctr}
    random_ctr: dict[int, tuple[int, int]] = {}
    if store.has_table("synth_displays"):
        for r in _rows(store, """
                WITH imp AS (
                    SELECT e.session_id, e.item_id, e.position, e.timestamp FROM events e
                    JOIN synth_displays d ON d.session_id = e.session_id AND d.timestamp = e.timestamp
                    WHERE e.event = 'impression' AND d.policy = 'random'),
                clk AS (SELECT session_id, item_id, position, timestamp FROM events WHERE event = 'click')
                SELECT imp.position, count(*) AS shown, count(clk.session_id) AS clicks FROM imp
                LEFT JOIN clk ON clk.session_id = imp.session_id AND clk.item_id = imp.item_id
                     AND clk.position = imp.position
                     AND clk.timestamp BETWEEN imp.timestamp AND imp.timestamp + INTERVAL 90 SECOND
                GROUP BY 1 ORDER BY 1"""):
            random_ctr[int(r["position"])] = (r["shown"], r["clicks"])
        series["randomised lists"] = [random_ctr[p][1] / random_ctr[p][0] if random_ctr.get(p, (0, 0))[0] else float("nan")
                                      for p in positions]
    s.text("Lists ranked by the shop put attractive items first, so their click-through rate falls with position "
           "for two reasons: attention and relevance. On the randomised lists (a small share of uniformly "
           "shuffled traffic) relevance is the same at every position, so their fall is the position bias alone.")
    s.chart(line_chart(positions, series, title="Click-through rate by display position", x_label="position",
                       y_label="clicks per impression"))
    table = []
    for p, r, c in zip(positions, rows, ctr):
        row: list[Any] = [p, r["shown"], r["clicks"], round(c, 4)]
        if random_ctr:
            shown, clicks = random_ctr.get(p, (0, 0))
            first = random_ctr.get(positions[0], (0, 0))
            rel = (clicks / shown) / (first[1] / first[0]) if shown and first[0] and first[1] else float("nan")
            row.append(round(rel, 3))
        if truth is not None:
            row.append(round(float(truth.examination[p - 1] / truth.examination[0]), 3) if p <= len(truth.examination) else None)
        table.append(row)
    cols = ["position", "impressions", "clicks", "CTR"]
    if random_ctr:
        cols.append("randomised CTR / position 1")
    if truth is not None:
        cols.append("true position bias / position 1")
    s.table(cols, table, caption="By position")


def _sales(report: Report, store: Store) -> None:
    rows = _rows(store, """
        SELECT coalesce(i.category, '(none)') AS category, split_part(coalesce(i.category, '(none)'), ' > ', 1) AS department,
               count(*) FILTER (WHERE e.event = 'purchase') AS purchases,
               coalesce(sum(e.quantity) FILTER (WHERE e.event = 'purchase'), 0) AS units,
               coalesce(sum(coalesce(e.price, i.price, 0) * e.quantity) FILTER (WHERE e.event = 'purchase'), 0) AS revenue,
               count(*) FILTER (WHERE e.event = 'return') AS returns
        FROM events e LEFT JOIN items i ON i.item_id = e.item_id
        WHERE e.event IN ('purchase', 'return') GROUP BY 1, 2 ORDER BY revenue DESC""")
    s = report.section("Sales by category")
    if not rows:
        s.text("No purchases.")
        return
    top = rows[:16]
    s.chart(bar_chart([r["category"] for r in top], [r["revenue"] for r in top], horizontal=True,
                      title="Revenue by category" + (" (top 16)" if len(rows) > 16 else ""), x_label="revenue"))
    depts: dict[str, list[float]] = {}
    for r in rows:
        d = depts.setdefault(r["department"], [0, 0, 0.0, 0])
        d[0] += r["purchases"]
        d[1] += r["units"]
        d[2] += r["revenue"]
        d[3] += r["returns"]
    s.table(["department", "purchases", "units", "revenue", "return rate"],
            [[k, int(v[0]), int(v[1]), round(v[2]), round(v[3] / v[0], 3) if v[0] else None]
             for k, v in sorted(depts.items(), key=lambda kv: -kv[1][2])], caption="By department")


def _new_items(report: Report, store: Store) -> None:
    s = report.section("New items over time")
    first = _rows(store, "SELECT min(timestamp) AS first FROM events")[0]["first"]
    if first is None:
        s.text("No events.")
        return
    launches = _rows(store, """
        SELECT CAST(date_trunc('week', launched_at) AS DATE) AS week,
               split_part(coalesce(category, '(none)'), ' > ', 1) AS department, count(*) AS n
        FROM items WHERE launched_at >= ? GROUP BY 1, 2 ORDER BY 1, 2""", [first])
    total = store.count("items")
    new = sum(r["n"] for r in launches)
    s.figures({"items launched during the period": new, "share of the catalogue": f"{new / max(total, 1):.0%}"})
    if launches:
        weeks = sorted({r["week"] for r in launches})
        depts = sorted({r["department"] for r in launches})
        grid = {(r["week"], r["department"]): r["n"] for r in launches}
        s.chart(stacked_area_chart(weeks, {d: [grid.get((w, d), 0) for w in weeks] for d in depts},
                                   title="Items launched per week, by department", y_label="items"))
    share = _rows(store, """
        SELECT CAST(date_trunc('week', e.timestamp) AS DATE) AS week, count(*) AS purchases,
               count(*) FILTER (WHERE i.launched_at >= ?) AS new_purchases
        FROM events e JOIN items i ON i.item_id = e.item_id WHERE e.event = 'purchase' GROUP BY 1 ORDER BY 1""", [first])
    if share:
        s.chart(line_chart([r["week"] for r in share],
                           {"share of purchases": [r["new_purchases"] / r["purchases"] for r in share]},
                           title="Share of purchases from items launched during the period", y_label="share"))


def _reviews(report: Report, store: Store) -> None:
    s = report.section("Review ratings")
    rows = _rows(store, "SELECT CAST(round(rating) AS INTEGER) AS rating, count(*) AS n FROM reviews "
                        "WHERE rating IS NOT NULL GROUP BY 1 ORDER BY 1")
    if not rows:
        s.text("No rated reviews.")
        return
    n = sum(r["n"] for r in rows)
    mean = sum(r["rating"] * r["n"] for r in rows) / n
    s.figures({"rated reviews": n, "mean rating": f"{mean:.2f}"})
    counts = {r["rating"]: r["n"] for r in rows}
    s.chart(bar_chart([f"{k} star{'s' if k > 1 else ''}" for k in range(1, 6)], [counts.get(k, 0) for k in range(1, 6)],
                      title="Reviews by rating", y_label="reviews"))
    examples = _rows(store, """
        SELECT CAST(round(rating) AS INTEGER) AS rating, any_value(text ORDER BY review_key) AS text
        FROM reviews WHERE rating IS NOT NULL GROUP BY 1 ORDER BY 1 DESC""")
    s.table(["rating", "example"], [[r["rating"], r["text"]] for r in examples], caption="One review per rating")


def _lifecycle_truth(report: Report, truth: Truth) -> None:
    world = SyntheticWorld(truth)
    items = np.arange(truth.n_items)
    days = list(range(0, truth.days, 7))
    counts = {stage: [] for stage in STAGES[1:]}
    for d in days:
        stages = world.stage(items, float(d))
        for stage in counts:
            counts[stage].append(int((stages == stage).sum()))
    s = report.section("Ground truth: lifecycle stages")
    s.text("What only a synthetic shop can show: the true lifecycle stage of every item (launch, growth, "
           "maturity, decline), as kept in the synth_items table and in the shop's _truth folder. A lifecycle "
           "model fitted on the events should find the same stages.")
    weeks = [truth.start.fromordinal(truth.start.toordinal() + d) for d in days]
    s.chart(stacked_area_chart(weeks, counts, title="Items by true lifecycle stage", y_label="items"))
