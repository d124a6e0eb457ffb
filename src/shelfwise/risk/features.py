"""Per-order features, each computed only from events strictly before the order's timestamp.

Why SQL windows: ``RANGE ... PRECEDING`` over a time-ordered partition gives, for every order, the
item's and the customer's history up to (not including) that moment in one pass, so no order is ever
scored with knowledge of itself or of the future. An order is the set of ``purchase`` events that
share an ``order_id``; its time is its earliest line.

Outcome (for learning and for the check, never a feature): an order is *returned* when a later
``return`` event names the same ``order_id``, or, when returns carry their own order id (Online
Retail's ``C`` invoices), when a later return of the same customer and item matches it as that
customer's latest earlier purchase of the item (an as-of join). ``returned_at`` is when that
became known.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import pyarrow as pa

from ..data.store import Store
from ..errors import InputError

#: the features the model uses, in order; each is explained in :data:`FEATURE_TEXT`
FEATURES = ["log_lines", "log_qty", "log_value", "max_qty_ratio", "qty_z", "odd_qty_share", "price_dev",
            "new_account", "new_x_value", "log_prior_orders", "prior_return_rate", "log_prior_returns",
            "anonymous"]

FEATURE_TEXT = {
    "log_lines": "lines in the order", "log_qty": "units in the order", "log_value": "order value",
    "max_qty_ratio": "largest line vs the item's usual quantity", "qty_z": "quantity z-score vs the item's history",
    "odd_qty_share": "lines with a quantity the item was never bought in", "price_dev": "price off the item's usual",
    "new_account": "new account", "new_x_value": "new account with a large basket",
    "log_prior_orders": "customer's earlier orders", "prior_return_rate": "customer's earlier return rate",
    "log_prior_returns": "customer's earlier returns", "anonymous": "no customer id",
}


def order_features(store: Store, since: datetime | None = None) -> pd.DataFrame:
    """One row per order (``order_id, user_id, ts`` + :data:`FEATURES` + evidence columns + outcome)."""
    if not store.has_table("events"):
        raise InputError("the store has no events table: load a shop first (shelfwise ingest SHOP_FOLDER)")
    n = store.query("SELECT count(*) AS n FROM events WHERE order_id IS NOT NULL AND event = 'purchase'").to_pylist()[0]["n"]
    if not n:
        raise InputError("no purchase events carry an order_id: order risk needs events.order_id "
                         "(see SHOP_FORMAT.md, events table)", field="order_id")
    since_sql = "WHERE o.ts >= ?" if since is not None else ""
    df = _query(store, f"""
    WITH lines AS (
        SELECT order_id, nullif(user_id, '') AS user_id, item_id, timestamp AS ts,
               greatest(coalesce(quantity, 1), 1e-9) AS qty, price, event
        FROM events WHERE order_id IS NOT NULL AND event IN ('purchase', 'return')),
    purch AS (
        SELECT l.*, min(ts) OVER (PARTITION BY order_id) AS ots FROM lines l WHERE event = 'purchase'),
    item_hist AS (
        SELECT *,
            avg(ln(qty)) OVER w AS i_logq, stddev_samp(ln(qty)) OVER w AS i_logq_sd, count(*) OVER w AS i_n,
            median(qty) OVER w AS i_med_qty,
            median(CASE WHEN price > 0 THEN price END) OVER w AS i_med_price,
            list(DISTINCT qty) OVER w AS i_qtys
        FROM purch
        WINDOW w AS (PARTITION BY item_id ORDER BY ots RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL 1 SECOND PRECEDING)),
    line_feats AS (
        SELECT *,
            CASE WHEN i_n >= 3 THEN qty / nullif(i_med_qty, 0) END AS qty_ratio,
            CASE WHEN i_n >= 3 AND i_logq_sd > 0 THEN (ln(qty) - i_logq) / i_logq_sd END AS qz,
            CASE WHEN i_n >= 5 THEN NOT list_contains(i_qtys, qty) END AS odd,
            CASE WHEN i_n >= 3 AND price > 0 AND i_med_price > 0 THEN ln(price / i_med_price) END AS pdev
        FROM item_hist),
    orders AS (
        SELECT order_id, any_value(user_id) AS user_id, min(ots) AS ts, count(*) AS lines, sum(qty) AS qty,
               sum(qty * coalesce(price, 0)) AS value,
               max(qty_ratio) AS max_qty_ratio, arg_max(item_id, coalesce(qty_ratio, 0)) AS bulk_item,
               max(qz) AS qty_z, avg(CASE WHEN odd THEN 1.0 WHEN NOT odd THEN 0.0 END) AS odd_qty_share,
               max(abs(pdev)) AS price_dev, arg_max(item_id, abs(coalesce(pdev, 0))) AS price_item,
               arg_max(pdev, abs(coalesce(pdev, 0))) AS price_dev_signed
        FROM line_feats GROUP BY order_id),
    activity AS (
        SELECT user_id, ts, 1 AS is_order, lines AS plines, 0 AS rlines FROM orders WHERE user_id IS NOT NULL
        UNION ALL
        SELECT user_id, ts, 0, 0, 1 FROM lines WHERE event = 'return' AND user_id IS NOT NULL),
    user_hist AS (
        SELECT user_id, ts, is_order,
            sum(is_order) OVER w AS prior_orders, sum(plines) OVER w AS prior_lines,
            sum(rlines) OVER w AS prior_returns, min(CASE WHEN is_order = 1 THEN ts END) OVER w AS first_order
        FROM activity
        WINDOW w AS (PARTITION BY user_id ORDER BY ts RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL 1 SECOND PRECEDING)),
    uh AS (SELECT DISTINCT user_id, ts, prior_orders, prior_lines, prior_returns, first_order FROM user_hist WHERE is_order = 1),
    ret AS (SELECT user_id, item_id, ts, order_id FROM lines WHERE event = 'return'),
    direct AS (
        SELECT p.order_id, min(r.ts) AS returned_at FROM ret r JOIN purch p ON r.order_id = p.order_id AND r.ts >= p.ots
        GROUP BY 1),
    matched AS (
        SELECT p.order_id, min(r.ts) AS returned_at
        FROM ret r ASOF JOIN purch p ON r.user_id = p.user_id AND r.item_id = p.item_id AND r.ts > p.ots
        WHERE r.order_id IS DISTINCT FROM p.order_id AND r.user_id IS NOT NULL GROUP BY 1),
    outcome AS (SELECT order_id, min(returned_at) AS returned_at FROM (SELECT * FROM direct UNION ALL SELECT * FROM matched) GROUP BY 1)
    SELECT o.*, coalesce(uh.prior_orders, 0)::DOUBLE AS prior_orders, coalesce(uh.prior_lines, 0)::DOUBLE AS prior_lines,
           coalesce(uh.prior_returns, 0)::DOUBLE AS prior_returns, uh.first_order, oc.returned_at
    FROM orders o LEFT JOIN uh ON o.user_id = uh.user_id AND o.ts = uh.ts
    LEFT JOIN outcome oc ON o.order_id = oc.order_id
    {since_sql}
    ORDER BY o.ts, o.order_id""", [since] if since is not None else None).to_pandas()
    return _derive(df)


def _query(store: Store, sql: str, params: list[object] | None) -> pa.Table:
    """Run the feature SQL in the store when it is DuckDB, else in a local DuckDB over the order lines.

    The time windows above need DuckDB (``median() OVER``, ``list``, ``ASOF JOIN``); another backend
    (PostgreSQL) hands over just the order lines as Arrow, so the features are the same on both, bounded
    by this machine's memory.
    """
    if getattr(store, "dialect", "duckdb") == "duckdb":
        return store.query(sql, params)
    lines = store.query("""SELECT order_id, user_id, item_id, timestamp, quantity, price, event FROM events
                           WHERE order_id IS NOT NULL AND event IN ('purchase', 'return')""")
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("events", lines)
        return con.execute(sql, params or []).fetch_arrow_table()
    finally:
        con.close()


def _derive(df: pd.DataFrame) -> pd.DataFrame:
    import numpy as np

    anon = df["user_id"].isna()
    df["anonymous"] = anon.astype(float)
    df["new_account"] = ((df["prior_orders"] == 0) & ~anon).astype(float)
    df["log_lines"] = np.log1p(df["lines"].astype(float))
    df["log_qty"] = np.log1p(df["qty"].astype(float))
    df["log_value"] = np.log1p(df["value"].clip(lower=0).astype(float))
    df["new_x_value"] = df["new_account"] * df["log_value"]
    df["log_prior_orders"] = np.log1p(df["prior_orders"].astype(float))
    df["log_prior_returns"] = np.log1p(df["prior_returns"].astype(float))
    df["prior_return_rate"] = df["prior_returns"] / (df["prior_lines"] + df["prior_returns"] + 5.0)
    df["max_qty_ratio"] = np.log(df["max_qty_ratio"].astype(float)).fillna(0.0)
    for c in ("qty_z", "odd_qty_share", "price_dev"):
        df[c] = df[c].astype(float).fillna(0.0)
    df["returned"] = df["returned_at"].notna()
    return df
