"""The batch aggregations, written once as SQL that DuckDB and Spark SQL both run.

Each engine registers two input views, ``ev`` (the shop's events: timestamp, user_id, item_id, event,
quantity, price, order_id, session_id) and ``it`` (every item: item_id, category, price, launched_at), and
runs the statements below. Only the few constructs the two dialects spell differently go through a
:class:`Dialect` (the day grid that zero-fills gaps). Everything else is plain ANSI-style SQL that
both accept, so the two engines cannot drift apart in what a table means: the shared pipeline test
(tests/engines) runs the same statements on both and asserts equal results.

Rules that every statement follows, so results never depend on the engine's row order:
- ties are broken by id (``ORDER BY ..., item_id``), so ranks are total orders;
- counts are integers; sums of doubles may differ in the last bits between engines (summation order),
  which is why the pipeline test compares floats to 1e-9 relative and everything else exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: how much each event type says about interest (the same weights as the item-kNN and ALS generators)
INTEREST_WEIGHTS: dict[str, float] = {"purchase": 1.0, "cart": 0.5, "favorite": 0.5, "click": 0.2, "view": 0.2}
NO_CATEGORY = "(none)"


@dataclass(frozen=True)
class Dialect:
    """What differs between the engines' SQL: the expression that expands one row per day."""

    name: str
    #: ``{a}`` and ``{b}`` are DATE expressions; the result is a set-returning expression of DATEs
    day_grid: str
    #: ``{x}`` is a TIMESTAMP expression; the result is whole seconds since 1970-01-01 as DOUBLE
    epoch: str = ""
    #: ``{x}`` is JSON text, ``{key}`` a top-level key; the result is that value as text (NULL when absent)
    json_field: str = ""


DUCKDB = Dialect("duckdb",
                 "CAST(unnest(generate_series(CAST({a} AS TIMESTAMP), CAST({b} AS TIMESTAMP), INTERVAL 1 DAY)) AS DATE)",
                 "floor(epoch({x}))", "json_extract_string({x}, '$.{key}')")
SPARK = Dialect("spark", "explode(sequence({a}, {b}, INTERVAL 1 DAY))", "CAST(unix_timestamp({x}) AS DOUBLE)",
                "get_json_object({x}, '$.{key}')")


def non_product(d: Dialect) -> str:
    """Ids of the lines the catalogue marks as not goods (the items' extra column ``non_product`` read as
    :mod:`shelfwise.data.attrs` reads it): no list offers them, as no local recommender does."""
    flag = d.json_field.format(x="attrs", key="non_product")
    return f"SELECT DISTINCT item_id FROM it WHERE lower(trim({flag})) IN ('true', 't', '1', 'yes', 'y')"


@dataclass(frozen=True)
class BatchParams:
    """The knobs of the batch pipeline; the same values give the same tables on every engine."""

    until: datetime | None = None   # use only events strictly before this instant (None: all)
    recent_days: int = 14           # trend window: the last N days against the N before them
    max_basket: int = 50            # baskets with more distinct items are left out of co-occurrence
    min_pair_count: int = 2         # co-occurring pairs seen in fewer baskets are not kept
    candidates: int = 50            # ALS, buy-again and popular candidates per user
    k: int = 10                     # items per user in the final lists
    rrf: int = 60                   # reciprocal-rank-fusion constant
    weights: dict[str, float] = field(default_factory=lambda: {"als": 1.0, "buy": 1.0, "pop": 0.5})
    factors: int = 64
    iterations: int = 15
    regularization: float = 0.05
    alpha: float = 1.0
    seed: int = 42
    # the learned ranker (engines/batch_ranker.py); without it, or when the label window is too thin,
    # the lists are the reciprocal-rank fusion above
    ranker: bool = True
    label_days: int = 28            # the held-back window whose purchases are the ranker's labels
    label_windows: int = 1          # how many such windows, back to back before now, supply labels
    train_users: int = 3000         # users sampled for training (the driver holds only their rows)
    rounds: int = 300               # LightGBM rounds at most (early stopping on a fifth of the queries)
    depth: dict[str, int] | None = None  # candidates per source (ranker_sql.DEFAULT_DEPTH when None)


def _ts(value: datetime) -> str:
    return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S}'"


def events_view(until: datetime | None) -> str:
    """The events the pipeline may use: typed, impressions dropped, strictly before ``until``."""
    cond = f" AND timestamp < {_ts(until)}" if until is not None else ""
    return f"""
        SELECT timestamp, user_id, item_id, event, coalesce(quantity, 1.0) AS quantity, price, order_id
        FROM ev_raw WHERE event <> 'impression'{cond}"""


#: each item's catalogue price (the lowest listed): what a purchase row without a price is counted at in
#: revenue and spend; data.schema.LIST_PRICE_SQL is the same rule over the store's ``items`` table
LIST_PRICE = "SELECT item_id, CAST(min(price) AS DOUBLE) AS list_price FROM it GROUP BY item_id"


def _weight_case() -> str:
    # literals like 0.2 are DECIMAL in both dialects: cast, so weights are DOUBLE on both engines
    whens = " ".join(f"WHEN '{e}' THEN CAST({w} AS DOUBLE)" for e, w in INTEREST_WEIGHTS.items())
    return f"(CASE event {whens} ELSE CAST(0 AS DOUBLE) END)"


def sales_daily(d: Dialect) -> str:
    """Units per item and day net of returns, zero-filled from the item's start to the last event day.

    Revenue counts a purchase without a price at the item's catalogue price (the lowest listed), as the
    embedded series do. The start is the first sale or return, or the launch when that is earlier (as the lifecycle series).
    """
    grid = d.day_grid.format(a="st.first_day", b="b.last_day")
    return f"""
        WITH sparse AS (
            SELECT e.item_id, CAST(e.timestamp AS DATE) AS day,
                   sum(CASE WHEN e.event = 'purchase' THEN e.quantity ELSE 0.0 END) AS units,
                   sum(CASE WHEN e.event = 'return' THEN e.quantity ELSE 0.0 END) AS returned,
                   sum(CASE WHEN e.event = 'purchase' THEN e.quantity * coalesce(e.price, c.list_price, 0.0)
                            ELSE 0.0 END) AS revenue,
                   sum(CASE WHEN e.event = 'purchase' THEN 1 ELSE 0 END) AS purchase_lines,
                   count(DISTINCT CASE WHEN e.event = 'purchase' THEN e.user_id END) AS buyers
            FROM ev e
            LEFT JOIN ({LIST_PRICE}) c ON c.item_id = e.item_id
            WHERE e.event IN ('purchase', 'return')
            GROUP BY e.item_id, CAST(e.timestamp AS DATE)),
        bounds AS (SELECT max(day) AS last_day FROM sparse),
        launch AS (SELECT item_id, min(CAST(launched_at AS DATE)) AS launch_day FROM it GROUP BY item_id),
        starts AS (
            SELECT s.item_id, least(min(s.day), coalesce(min(l.launch_day), min(s.day))) AS first_day
            FROM sparse s LEFT JOIN launch l ON l.item_id = s.item_id GROUP BY s.item_id),
        grid AS (SELECT st.item_id, {grid} AS day FROM starts st CROSS JOIN bounds b)
        SELECT g.item_id, g.day, coalesce(s.units, 0.0) AS units, coalesce(s.returned, 0.0) AS returned,
               coalesce(s.units, 0.0) - coalesce(s.returned, 0.0) AS net_units, coalesce(s.revenue, 0.0) AS revenue,
               CAST(coalesce(s.purchase_lines, 0) AS BIGINT) AS purchase_lines,
               CAST(coalesce(s.buyers, 0) AS BIGINT) AS buyers
        FROM grid g LEFT JOIN sparse s ON s.item_id = g.item_id AND s.day = g.day"""


SALES_WEEKLY = """
    SELECT item_id, CAST(date_trunc('week', day) AS DATE) AS period_start, count(*) AS days,
           sum(units) AS units, sum(returned) AS returned, sum(net_units) AS net_units,
           sum(revenue) AS revenue, CAST(sum(purchase_lines) AS BIGINT) AS purchase_lines
    FROM sales_daily GROUP BY item_id, CAST(date_trunc('week', day) AS DATE)"""


def cooccurrence(p: BatchParams) -> str:
    """Baskets holding both items, for every ordered pair of distinct items bought together.

    A basket is an order (``order_id``) or, without one, a known user's purchases of one day. Baskets
    of more than ``max_basket`` distinct items (wholesale orders, bots) say little about affinity and
    would make the pair count quadratic, so they are left out; pairs in fewer than ``min_pair_count``
    baskets are dropped.
    """
    return f"""
        WITH lines AS (
            SELECT DISTINCT coalesce(order_id, concat(user_id, '|', CAST(CAST(timestamp AS DATE) AS STRING))) AS basket,
                   item_id
            FROM ev WHERE event = 'purchase' AND (order_id IS NOT NULL OR user_id IS NOT NULL)),
        sizes AS (SELECT basket, count(*) AS n FROM lines GROUP BY basket),
        kept AS (SELECT l.basket, l.item_id FROM lines l JOIN sizes s ON s.basket = l.basket
                 WHERE s.n BETWEEN 2 AND {int(p.max_basket)})
        SELECT a.item_id AS item_a, b.item_id AS item_b, count(*) AS baskets
        FROM kept a JOIN kept b ON a.basket = b.basket AND a.item_id <> b.item_id
        GROUP BY a.item_id, b.item_id
        HAVING count(*) >= {int(p.min_pair_count)}"""


def popularity(p: BatchParams, now: datetime) -> str:
    """Per item: interest, buyers, net units, and the trend of buyers (last window against the one before)."""
    recent = f"{_ts(now)} - INTERVAL {int(p.recent_days)} DAY"
    prior = f"{_ts(now)} - INTERVAL {2 * int(p.recent_days)} DAY"
    return f"""
        WITH agg AS (
            SELECT item_id,
                   count(*) AS events,
                   count(DISTINCT user_id) AS users,
                   sum({_weight_case()}) AS interest,
                   sum(CASE WHEN event = 'purchase' THEN 1 ELSE 0 END) AS purchase_lines,
                   sum(CASE WHEN event = 'purchase' THEN quantity WHEN event = 'return' THEN -quantity ELSE 0.0 END)
                       AS net_units,
                   count(DISTINCT CASE WHEN event = 'purchase' THEN user_id END) AS buyers,
                   count(DISTINCT CASE WHEN event = 'purchase' AND timestamp >= {recent} THEN user_id END)
                       AS recent_buyers,
                   count(DISTINCT CASE WHEN event = 'purchase' AND timestamp >= {prior} AND timestamp < {recent}
                                       THEN user_id END) AS prior_buyers
            FROM ev GROUP BY item_id)
        SELECT item_id, events, users, interest, CAST(purchase_lines AS BIGINT) AS purchase_lines, net_units,
               buyers, recent_buyers, prior_buyers,
               ln(CAST(recent_buyers + 1 AS DOUBLE) / CAST(prior_buyers + 1 AS DOUBLE)) AS trend,
               row_number() OVER (ORDER BY recent_buyers DESC, buyers DESC, interest DESC, item_id) AS pop_rank
        FROM agg"""


USER_PROFILES = f"""
    WITH known AS (
        SELECT e.*, coalesce(e.price, c.list_price, 0.0) AS paid FROM ev e LEFT JOIN ({LIST_PRICE}) c
               ON c.item_id = e.item_id
        WHERE e.user_id IS NOT NULL),
    base AS (
        SELECT user_id, count(*) AS events,
               sum(CASE WHEN event = 'purchase' THEN 1 ELSE 0 END) AS purchase_lines,
               count(DISTINCT item_id) AS items,
               count(DISTINCT CASE WHEN event = 'purchase' THEN item_id END) AS items_bought,
               sum(CASE WHEN event = 'purchase' THEN quantity * paid ELSE 0.0 END) AS spend,
               min(timestamp) AS first_seen, max(timestamp) AS last_seen
        FROM known GROUP BY user_id),
    cats AS (
        SELECT k.user_id, coalesce(nullif(trim(i.category), ''), '{NO_CATEGORY}') AS category,
               sum({_weight_case().replace('event', 'k.event')}) AS w
        FROM known k LEFT JOIN it i ON i.item_id = k.item_id
        GROUP BY k.user_id, coalesce(nullif(trim(i.category), ''), '{NO_CATEGORY}')),
    top AS (
        SELECT user_id, category, w,
               row_number() OVER (PARTITION BY user_id ORDER BY w DESC, category) AS r FROM cats)
    SELECT b.user_id, b.events, CAST(b.purchase_lines AS BIGINT) AS purchase_lines, b.items, b.items_bought,
           b.spend, b.first_seen, b.last_seen, t.category AS top_category, t.w AS top_category_weight
    FROM base b LEFT JOIN top t ON t.user_id = b.user_id AND t.r = 1"""

#: the user x item interest matrix ALS learns from, as rows (user_id, item_id, weight > 0)
INTERACTIONS = f"""
    SELECT user_id, item_id, sum({_weight_case()}) AS weight
    FROM ev WHERE user_id IS NOT NULL
    GROUP BY user_id, item_id
    HAVING sum({_weight_case()}) > 0"""


def buy_again(p: BatchParams) -> str:
    """Each user's own purchases as candidates, most bought first, then most recent, then by id."""
    return f"""
        SELECT user_id, item_id, r FROM (
            SELECT user_id, item_id,
                   row_number() OVER (PARTITION BY user_id ORDER BY count(*) DESC, max(timestamp) DESC, item_id) AS r
            FROM ev WHERE event = 'purchase' AND user_id IS NOT NULL GROUP BY user_id, item_id) x
        WHERE r <= {int(p.candidates)}"""


def fuse(p: BatchParams, d: Dialect) -> str:
    """Final lists: reciprocal-rank fusion of ALS, buy-again and popular candidates, top ``k`` per user.

    Needs the views ``als_cands`` (user_id, item_id, r), ``buy_cands`` (same) and ``popularity``; every
    known user (a row of ``user_profiles``) gets a list, so a user ALS cannot place still gets popular
    items. Ties are broken by item id, so both engines write the same lists.
    """
    w = p.weights
    c = int(p.rrf)
    return f"""
        WITH pop AS (SELECT item_id, pop_rank AS r FROM popularity WHERE pop_rank <= {int(p.candidates)}),
        allc AS (
            SELECT user_id, item_id, CAST({float(w['als'])} AS DOUBLE) / ({c} + r) AS s FROM als_cands
            UNION ALL SELECT user_id, item_id, CAST({float(w['buy'])} AS DOUBLE) / ({c} + r) AS s FROM buy_cands
            UNION ALL SELECT u.user_id, p.item_id, CAST({float(w['pop'])} AS DOUBLE) / ({c} + p.r) AS s
                      FROM user_profiles u CROSS JOIN pop p),
        summed AS (SELECT user_id, item_id, sum(s) AS score FROM allc
                   WHERE item_id NOT IN ({non_product(d)}) GROUP BY user_id, item_id),
        ranked AS (SELECT user_id, item_id, score,
                          row_number() OVER (PARTITION BY user_id ORDER BY score DESC, item_id) AS rank
                   FROM summed)
        SELECT user_id, CAST(rank AS BIGINT) AS rank, item_id, score FROM ranked WHERE rank <= {int(p.k)}"""


#: aggregate tables in the order they are built (later ones may read earlier ones by name)
AGGREGATES = ("sales_daily", "sales_weekly", "cooccurrence", "popularity", "user_profiles")


def aggregate_sql(name: str, d: Dialect, p: BatchParams, now: datetime) -> str:
    """The statement that builds the aggregate ``name`` on dialect ``d``."""
    if name == "sales_daily":
        return sales_daily(d)
    if name == "sales_weekly":
        return SALES_WEEKLY
    if name == "cooccurrence":
        return cooccurrence(p)
    if name == "popularity":
        return popularity(p, now)
    if name == "user_profiles":
        return USER_PROFILES
    raise KeyError(name)


#: the stored name of each aggregate (prefixed so they never collide with the lifecycle's own tables)
def stored_name(name: str) -> str:
    return f"engine_{name}"
