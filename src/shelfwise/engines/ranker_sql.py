"""The learned ranker's candidates and features, written once as SQL that DuckDB and Spark SQL both run.

The batch twin of :mod:`shelfwise.recommend.candidates` / :mod:`shelfwise.recommend.features`: every
known user gets the union of ALS, buy-again, co-occurrence, popular and trending candidates, each
source's rank and score kept as features (NULL where the source does not reach the item), beside
user, item and user-item features that mirror the local hybrid's strongest ones.

The statements read the pipeline's tables (``ev``, ``it``, ``popularity``, ``user_profiles``,
``als_cands``), their own (``covisit``, ``cands``, ...) and a reference instant ``now``; they follow
sql.py's rules (ties broken by id, only constructs both dialects accept, the rest through
:class:`~.sql.Dialect`). Every double feature is rounded to 6 decimals: the engines may sum in
different orders (and their ``pow`` may differ in the last bit), and rounding makes the features,
hence the LightGBM models trained on them, identical on both engines.
"""

from __future__ import annotations

from datetime import datetime

from .sql import BatchParams, Dialect, non_product

#: event weights of the item demand features (recommend/popular.py DEMAND_WEIGHTS)
DEMAND_WEIGHTS: dict[str, float] = {"purchase": 1.0, "cart": 0.3, "favorite": 0.2, "click": 0.05, "view": 0.05}
#: event weights of interest that is not a purchase (the hybrid's ui_interest)
SOFT_WEIGHTS: dict[str, float] = {"cart": 0.5, "favorite": 0.5, "click": 0.2, "view": 0.2}
#: event weights of the user's items that seed co-visitation candidates (recommend/covisit.py)
BASKET_WEIGHTS: dict[str, float] = {"purchase": 1.0, "cart": 0.6, "favorite": 0.4, "click": 0.2, "view": 0.2}
#: co-visitation: neighbours kept per item, the largest basket counted, the half-lives (days) of the
#: baskets and of the user's items that seed the candidates
NEIGHBOURS = 100
COVISIT_MAX_BASKET = 200
COVISIT_HALF_LIFE = 90.0
SEED_HALF_LIFE = 30.0
#: ALS and co-visitation ranks and scores are features of every candidate they reach within this depth
#: (not only of the ones they proposed): a past purchase that ALS also ranks high is likelier bought again
FEATURE_DEPTH = 300

GENERATOR_FEATURES = ("als_r", "als_s", "als_rel", "buy_r", "cooc_r", "cooc_s", "cooc_rel", "pop_r", "trend_r")
USER_FEATURES = ("u_events", "u_purchases", "u_since_last", "u_span", "u_visit_days", "u_visit_rate", "u_items",
                 "u_repeat_share", "u_log_price")
ITEM_FEATURES = ("i_pop7", "i_pop30", "i_pop90", "i_pop_all", "i_buyers", "i_buyers30", "i_repeat_rate", "i_trend",
                 "i_age", "i_since_sale", "i_log_price")
USER_ITEM_FEATURES = ("ui_purchases", "ui_qty", "ui_decay14", "ui_decay60", "ui_interest", "ui_returns",
                      "ui_since_last", "ui_since_first", "ui_since_any", "ui_gap", "ui_overdue", "ui_share",
                      "ui_last_visit", "ui_last3", "ui_cat_share", "ui_price_gap")
#: the model's input columns, in order
FEATURES: tuple[str, ...] = GENERATOR_FEATURES + USER_FEATURES + ITEM_FEATURES + USER_ITEM_FEATURES

DEFAULT_DEPTH: dict[str, int] = {"als": 100, "buy": 200, "cooc": 100, "pop": 50, "trend": 30}


def _d(x: float) -> str:
    return f"CAST({float(x)!r} AS DOUBLE)"


def _case(weights: dict[str, float], col: str = "event") -> str:
    whens = " ".join(f"WHEN '{e}' THEN {_d(w)}" for e, w in weights.items())
    return f"(CASE {col} {whens} ELSE {_d(0)} END)"


def _events(d: Dialect, now: datetime) -> str:
    """Events with their age in days at ``now`` and their day (the CTE every feature starts from)."""
    now_s = f"{d.epoch.format(x=_ts(now))}"
    return f"""e AS (
            SELECT user_id, item_id, event, quantity, price, order_id, CAST(timestamp AS DATE) AS day,
                   ({now_s} - {d.epoch.format(x='timestamp')}) / {_d(86400)} AS age,
                   CASE WHEN event = 'purchase' THEN 1 ELSE 0 END AS p
            FROM ev)"""


def _ts(value: datetime) -> str:
    return f"TIMESTAMP '{value:%Y-%m-%d %H:%M:%S}'"


def candidates(d: Dialect, p: BatchParams, now: datetime) -> str:
    """One row per (known user, candidate item) with each source's rank and score.

    Candidates are each source's top ``depth``; the ALS and co-visitation rank, score and score
    relative to the user's best are kept for any candidate within ``FEATURE_DEPTH`` (NULL beyond).
    ``als_cands`` must hold each user's top ``FEATURE_DEPTH`` ALS items.
    """
    dp = {**DEFAULT_DEPTH, **(p.depth or {})}
    return f"""
        WITH {_events(d, now)},
        buy AS (
            SELECT user_id, item_id, r FROM (
                SELECT user_id, item_id,
                       row_number() OVER (PARTITION BY user_id ORDER BY count(*) DESC, max(age) ASC, item_id) AS r
                FROM e WHERE p = 1 AND user_id IS NOT NULL GROUP BY user_id, item_id) x
            WHERE r <= {int(dp['buy'])}),
        mass AS (SELECT item_a, sum(c) AS n FROM covisit GROUP BY item_a),
        sim AS (
            SELECT item_a, item_b, s FROM (
                SELECT item_a, item_b, s, row_number() OVER (PARTITION BY item_a ORDER BY s DESC, item_b) AS r
                FROM (SELECT c.item_a, c.item_b, round(c.c / sqrt(ma.n * mb.n), 12) AS s
                      FROM covisit c JOIN mass ma ON ma.item_a = c.item_a JOIN mass mb ON mb.item_a = c.item_b) y) x
            WHERE r <= {NEIGHBOURS}),
        seeds AS (
            SELECT user_id, item_id, sum({_case(BASKET_WEIGHTS)} * pow({_d(0.5)}, age / {_d(SEED_HALF_LIFE)})) AS w
            FROM e WHERE user_id IS NOT NULL GROUP BY user_id, item_id
            HAVING sum({_case(BASKET_WEIGHTS)}) > 0),
        cooc AS (
            SELECT user_id, item_id, s, r, s / max(s) OVER (PARTITION BY user_id) AS rel FROM (
                SELECT sd.user_id, sm.item_b AS item_id, round(sum(sd.w * sm.s), 9) AS s,
                       row_number() OVER (PARTITION BY sd.user_id ORDER BY round(sum(sd.w * sm.s), 9) DESC,
                                          sm.item_b) AS r
                FROM seeds sd JOIN sim sm ON sm.item_a = sd.item_id GROUP BY sd.user_id, sm.item_b) x
            WHERE r <= {FEATURE_DEPTH}),
        als AS (SELECT user_id, item_id, r, score, score / max(score) OVER (PARTITION BY user_id) AS rel
                FROM als_cands),
        trend AS (
            SELECT item_id, row_number() OVER (ORDER BY trend DESC, recent_buyers DESC, item_id) AS r
            FROM popularity WHERE recent_buyers > 0),
        merged AS (
            SELECT user_id, item_id FROM als WHERE r <= {int(dp['als'])}
            UNION SELECT user_id, item_id FROM buy
            UNION SELECT user_id, item_id FROM cooc WHERE r <= {int(dp['cooc'])}
            UNION SELECT u.user_id, q.item_id FROM user_profiles u CROSS JOIN popularity q
                  WHERE q.pop_rank <= {int(dp['pop'])}
            UNION SELECT u.user_id, t.item_id FROM user_profiles u CROSS JOIN trend t WHERE t.r <= {int(dp['trend'])})
        SELECT m.user_id, m.item_id, a.r AS als_r, a.score AS als_s, a.rel AS als_rel, b.r AS buy_r,
               c.r AS cooc_r, c.s AS cooc_s, c.rel AS cooc_rel, q.pop_rank AS pop_r, t.r AS trend_r
        FROM merged m JOIN user_profiles u ON u.user_id = m.user_id
        LEFT JOIN als a ON a.user_id = m.user_id AND a.item_id = m.item_id
        LEFT JOIN buy b ON b.user_id = m.user_id AND b.item_id = m.item_id
        LEFT JOIN cooc c ON c.user_id = m.user_id AND c.item_id = m.item_id
        LEFT JOIN popularity q ON q.item_id = m.item_id LEFT JOIN trend t ON t.item_id = m.item_id"""


def covisitation(d: Dialect, now: datetime) -> str:
    """Item pairs bought in one basket, each basket weighing ``0.5^(age/90) / log2(1 + size)``.

    As recommend/covisit.py: big wholesale orders count (up to ``COVISIT_MAX_BASKET`` items) but
    weigh less, and old baskets fade. A basket is an order, else a known user's day.
    """
    return f"""
        WITH {_events(d, now)},
        lines AS (
            SELECT coalesce(order_id, concat(user_id, '|', CAST(day AS STRING))) AS basket, item_id, min(age) AS age
            FROM e WHERE p = 1 AND (order_id IS NOT NULL OR user_id IS NOT NULL)
            GROUP BY coalesce(order_id, concat(user_id, '|', CAST(day AS STRING))), item_id),
        sizes AS (SELECT basket, count(*) AS n, min(age) AS age FROM lines GROUP BY basket),
        kept AS (
            SELECT l.basket, l.item_id, pow({_d(0.5)}, s.age / {_d(COVISIT_HALF_LIFE)}) * ln({_d(2)}) / ln(1 + s.n) AS w
            FROM lines l JOIN sizes s ON s.basket = l.basket WHERE s.n BETWEEN 2 AND {COVISIT_MAX_BASKET})
        SELECT a.item_id AS item_a, b.item_id AS item_b, round(sum(a.w), 9) AS c
        FROM kept a JOIN kept b ON a.basket = b.basket AND a.item_id <> b.item_id
        GROUP BY a.item_id, b.item_id"""


def item_features(d: Dialect, now: datetime) -> str:
    """Per item: demand over 7/30/90 days and all time, buyers, repeat rate, trend, age, price (logs)."""
    return f"""
        WITH {_events(d, now)},
        dem AS (
            SELECT item_id,
                   sum(CASE WHEN age < 7 THEN w ELSE {_d(0)} END) AS d7,
                   sum(CASE WHEN age < 30 THEN w ELSE {_d(0)} END) AS d30,
                   sum(CASE WHEN age < 90 THEN w ELSE {_d(0)} END) AS d90,
                   sum(w) AS d_all,
                   sum(CASE WHEN age >= 7 AND age < 35 THEN w ELSE {_d(0)} END) AS d_before,
                   max(age) AS first_age,
                   min(CASE WHEN p = 1 THEN age END) AS sale_age,
                   avg(CASE WHEN p = 1 AND price > 0 THEN price END) AS price
            FROM (SELECT e.*, {_case(DEMAND_WEIGHTS)} AS w FROM e) x GROUP BY item_id),
        bu AS (
            SELECT item_id, user_id, count(DISTINCT day) AS days, min(age) AS last_age
            FROM e WHERE p = 1 AND user_id IS NOT NULL GROUP BY item_id, user_id),
        buyers AS (
            SELECT item_id, count(*) AS buyers, sum(CASE WHEN days > 1 THEN 1 ELSE 0 END) AS repeaters,
                   sum(CASE WHEN last_age < 30 THEN 1 ELSE 0 END) AS buyers30
            FROM bu GROUP BY item_id)
        SELECT m.item_id,
               ln(1 + d7) AS i_pop7, ln(1 + d30) AS i_pop30, ln(1 + d90) AS i_pop90, ln(1 + d_all) AS i_pop_all,
               ln(1 + coalesce(b.buyers, 0)) AS i_buyers, ln(1 + coalesce(b.buyers30, 0)) AS i_buyers30,
               CAST(b.repeaters AS DOUBLE) / b.buyers AS i_repeat_rate,
               (d7 + 1) / (d_before / 4 + 1) AS i_trend,
               first_age AS i_age, sale_age AS i_since_sale, ln(1 + price) AS i_log_price
        FROM dem m LEFT JOIN buyers b ON b.item_id = m.item_id"""


def user_features(d: Dialect, now: datetime) -> str:
    """Per known user: activity, recency, span, visit days and rate, items, repeat habit, price level."""
    return f"""
        WITH {_events(d, now)},
        base AS (
            SELECT user_id, count(*) AS n, sum(p) AS purchases, min(age) AS last_age, max(age) - min(age) AS span
            FROM e WHERE user_id IS NOT NULL GROUP BY user_id),
        ud AS (
            SELECT user_id, item_id, count(DISTINCT day) AS days
            FROM e WHERE p = 1 AND user_id IS NOT NULL GROUP BY user_id, item_id),
        items AS (
            SELECT user_id, count(*) AS items, avg(CASE WHEN days > 1 THEN {_d(1)} ELSE {_d(0)} END) AS repeat_share
            FROM ud GROUP BY user_id),
        visits AS (
            SELECT user_id, count(DISTINCT day) AS visit_days FROM e WHERE p = 1 AND user_id IS NOT NULL
            GROUP BY user_id),
        price AS (
            SELECT e.user_id, avg(i.i_log_price) AS lp FROM e JOIN item_feats i ON i.item_id = e.item_id
            WHERE e.p = 1 AND e.user_id IS NOT NULL GROUP BY e.user_id)
        SELECT b.user_id, ln(1 + b.n) AS u_events, ln(1 + b.purchases) AS u_purchases, b.last_age AS u_since_last,
               b.span AS u_span, ln(1 + coalesce(v.visit_days, 0)) AS u_visit_days,
               coalesce(v.visit_days, 0) / (b.span + 30) * 30 AS u_visit_rate,
               ln(1 + coalesce(it.items, 0)) AS u_items, it.repeat_share AS u_repeat_share, pr.lp AS u_log_price,
               coalesce(v.visit_days, 0) AS visit_days
        FROM base b LEFT JOIN visits v ON v.user_id = b.user_id LEFT JOIN items it ON it.user_id = b.user_id
        LEFT JOIN price pr ON pr.user_id = b.user_id"""


def user_item_features(d: Dialect, now: datetime) -> str:
    """Per (user, item) the user touched: purchase counts, decays, recency, gaps, last visits, category share."""
    soft = _case(SOFT_WEIGHTS)
    return f"""
        WITH {_events(d, now)},
        k AS (SELECT * FROM e WHERE user_id IS NOT NULL),
        ui AS (
            SELECT user_id, item_id, sum(p) AS purchases, sum(CASE WHEN p = 1 THEN quantity ELSE {_d(0)} END) AS qty,
                   sum(CASE WHEN p = 1 THEN pow({_d(0.5)}, age / 14) ELSE {_d(0)} END) AS decay14,
                   sum(CASE WHEN p = 1 THEN pow({_d(0.5)}, age / 60) ELSE {_d(0)} END) AS decay60,
                   sum({soft}) AS interest, sum(CASE WHEN event = 'return' THEN 1 ELSE 0 END) AS returns,
                   min(CASE WHEN p = 1 THEN age END) AS since_last, max(CASE WHEN p = 1 THEN age END) AS since_first,
                   min(age) AS since_any
            FROM k GROUP BY user_id, item_id),
        pdays AS (SELECT DISTINCT user_id, item_id, day FROM k WHERE p = 1),
        udays AS (
            SELECT user_id, day, dense_rank() OVER (PARTITION BY user_id ORDER BY day DESC) AS rk
            FROM (SELECT DISTINCT user_id, day FROM pdays) x),
        lv AS (
            SELECT pd.user_id, pd.item_id, sum(CASE WHEN u.rk = 1 THEN 1 ELSE 0 END) AS last1,
                   sum(CASE WHEN u.rk <= 3 THEN 1 ELSE 0 END) AS last3
            FROM pdays pd JOIN udays u ON u.user_id = pd.user_id AND u.day = pd.day GROUP BY pd.user_id, pd.item_id)
        SELECT ui.user_id, ui.item_id, ui.purchases AS ui_purchases, ln(1 + ui.qty) AS ui_qty,
               ui.decay14 AS ui_decay14, ui.decay60 AS ui_decay60, ui.interest AS ui_interest,
               ui.returns AS ui_returns, ui.since_last AS ui_since_last, ui.since_first AS ui_since_first,
               ui.since_any AS ui_since_any,
               CASE WHEN ui.purchases > 1 THEN (ui.since_first - ui.since_last) / (ui.purchases - 1) END AS ui_gap,
               coalesce(lv.last1, 0) AS ui_last_visit, coalesce(lv.last3, 0) AS ui_last3
        FROM ui LEFT JOIN lv ON lv.user_id = ui.user_id AND lv.item_id = ui.item_id"""


def user_category_share(d: Dialect, now: datetime) -> str:
    """Share of each known user's interest (purchases and softer events) in each category."""
    interest = _case({"purchase": 1.0, **SOFT_WEIGHTS})
    return f"""
        WITH {_events(d, now)},
        cat AS (SELECT item_id, min(nullif(trim(category), '')) AS category FROM it GROUP BY item_id),
        uc AS (
            SELECT e.user_id, c.category, sum({interest.replace('event', 'e.event')}) AS w
            FROM e JOIN cat c ON c.item_id = e.item_id
            WHERE e.user_id IS NOT NULL AND c.category IS NOT NULL GROUP BY e.user_id, c.category),
        ut AS (SELECT user_id, sum({interest}) AS w FROM e WHERE user_id IS NOT NULL GROUP BY user_id)
        SELECT uc.user_id, uc.category, uc.w / ut.w AS share
        FROM uc JOIN ut ON ut.user_id = uc.user_id WHERE ut.w > 0"""


def features() -> str:
    """Candidates joined with every feature; doubles rounded to 6 decimals (see the module docstring)."""
    def r(expr: str) -> str:
        return f"round(CAST({expr} AS DOUBLE), 6)"

    cols = {name: f"c.{name}" for name in GENERATOR_FEATURES}
    cols.update({name: f"u.{name}" for name in USER_FEATURES})
    cols.update({name: f"i.{name}" for name in ITEM_FEATURES})
    cols.update({name: f"coalesce(x.{name}, 0)" for name in ("ui_purchases", "ui_qty", "ui_decay14", "ui_decay60",
                                                              "ui_interest", "ui_returns", "ui_last_visit",
                                                              "ui_last3")})
    cols.update({name: f"x.{name}" for name in ("ui_since_last", "ui_since_first", "ui_since_any", "ui_gap")})
    cols["ui_overdue"] = "x.ui_since_last / (x.ui_gap + 1)"
    cols["ui_share"] = "coalesce(x.ui_purchases, 0) / greatest(u.visit_days, 1)"
    cols["ui_cat_share"] = "cs.share"
    cols["ui_price_gap"] = "i.i_log_price - u.u_log_price"
    select = ",\n               ".join(f"{r(cols[name])} AS {name}" for name in FEATURES)
    return f"""
        SELECT c.user_id, c.item_id,
               {select}
        FROM cands c
        LEFT JOIN user_feats u ON u.user_id = c.user_id
        LEFT JOIN item_feats i ON i.item_id = c.item_id
        LEFT JOIN ui_feats x ON x.user_id = c.user_id AND x.item_id = c.item_id
        LEFT JOIN (SELECT item_id, min(nullif(trim(category), '')) AS category FROM it GROUP BY item_id) ic
               ON ic.item_id = c.item_id
        LEFT JOIN user_cat_share cs ON cs.user_id = c.user_id AND cs.category = ic.category"""


def labels(start: datetime, end: datetime) -> str:
    """Purchases in [start, end) per known user and item, from the unrestricted events (``ev_raw``)."""
    return f"""
        SELECT user_id, item_id, count(*) AS bought FROM ev_raw
        WHERE event = 'purchase' AND user_id IS NOT NULL AND timestamp >= {_ts(start)} AND timestamp < {_ts(end)}
        GROUP BY user_id, item_id"""


def training_users(p: BatchParams) -> str:
    """Up to ``train_users`` known users who bought in the label window, in an engine-independent order.

    md5 of the id and the seed is the same hex string on both engines, so both pick the same sample.
    """
    return f"""
        SELECT user_id FROM (
            SELECT u.user_id, row_number() OVER (ORDER BY md5(concat(u.user_id, '|', '{int(p.seed)}')), u.user_id) AS r
            FROM user_profiles u JOIN (SELECT DISTINCT user_id FROM labels) l ON l.user_id = u.user_id) x
        WHERE r <= {int(p.train_users)}"""


TRAINING_ROWS = """
    SELECT f.*, CAST(coalesce(l.bought, 0) AS BIGINT) AS bought
    FROM feats f JOIN train_users s ON s.user_id = f.user_id
    LEFT JOIN labels l ON l.user_id = f.user_id AND l.item_id = f.item_id"""


def top_k(p: BatchParams, d: Dialect) -> str:
    """Each user's ``k`` best scored candidates (ties by item id), in the recommendations layout; lines
    marked non-product (postage) are scored like any candidate but never listed."""
    return f"""
        SELECT user_id, CAST(rank AS BIGINT) AS rank, item_id, score FROM (
            SELECT user_id, item_id, score,
                   row_number() OVER (PARTITION BY user_id ORDER BY score DESC, item_id) AS rank
            FROM scored WHERE item_id NOT IN ({non_product(d)})) x
        WHERE rank <= {int(p.k)}"""
