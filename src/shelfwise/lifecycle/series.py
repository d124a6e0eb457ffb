"""Sales series: units sold per item and period, net of returns, with zero-filled gaps.

Every lifecycle capability (stages, forecasts, inventory advice, alerts) starts from the same series,
so they are built here once, in SQL, from the ``events`` table: ``purchase`` rows add ``quantity``,
``return`` rows take it away. The stored tables (``sales_daily``, ``sales_weekly`` and their category
twins) serve the dashboard and other readers; :func:`refresh_sales_series` rebuilds them after a load.

Lifecycle computations take an ``as_of`` date and use only events strictly before it, so a store that
already holds the future can be used to test a forecast honestly. They read the stored daily table
when it is fresh (it was built from exactly the events now in the store) and aggregate the events
directly otherwise, so a stale table can never leak into a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from ..data.schema import LIST_PRICE_SQL
from ..data.store import Store
from ..errors import InputError, StoreError
from ..logs import get_logger

log = get_logger(__name__)

#: period code -> (name, days per period). Stored weekly series use ISO weeks (Monday); panels anchor
#: their weeks at the as-of date (see load_panel).
FREQS: dict[str, tuple[str, int]] = {"D": ("day", 1), "W": ("week", 7)}

META_TABLE = "sales_series_meta"
NO_CATEGORY = "(none)"
#: an item first seen this many days after the store's first complete period began was probably on sale
#: before the data starts: its launch (and early curve) is not observed.
CENSOR_DAYS = 14
#: this many quiet days (or more) between the last sale or return and the as-of date are worth a warning
QUIET_WARN_DAYS = 7

# Daily net sales per item from the events before an optional cutoff, without zero rows; revenue by
# the shared catalogue-price rule (data.schema.LIST_PRICE_SQL).
_DAILY_SPARSE = """
    SELECT e.item_id, CAST(e.timestamp AS DATE) AS day,
           sum(CASE WHEN e.event = 'purchase' THEN coalesce(e.quantity, 1) ELSE 0 END) AS units,
           sum(CASE WHEN e.event = 'return' THEN coalesce(e.quantity, 1) ELSE 0 END) AS returned,
           sum(CASE WHEN e.event = 'purchase' THEN coalesce(e.quantity, 1) * coalesce(e.price, c.list_price, 0)
                    ELSE 0 END) AS revenue,
           count(*) FILTER (WHERE e.event = 'purchase') AS purchase_lines,
           count(DISTINCT e.user_id) FILTER (WHERE e.event = 'purchase') AS buyers
    FROM events e
    LEFT JOIN (""" + LIST_PRICE_SQL + """) c ON c.item_id = e.item_id
    WHERE e.event IN ('purchase', 'return') {cond}
    GROUP BY e.item_id, CAST(e.timestamp AS DATE)
"""


def check_freq(freq: str) -> str:
    """The period code in upper case, or an error naming the ones there are."""
    f = freq.upper()
    if f not in FREQS:
        raise InputError(f"unknown frequency --freq '{freq}': use D (days) or W (weeks, starting on the --as-of "
                         "weekday: ISO weeks for a Monday)", field="freq")
    return f


def period_start(d: date, freq: str) -> date:
    """The first day of the ISO period that holds ``d`` (Monday for weeks), as the stored series use."""
    if check_freq(freq) == "W":
        return d - timedelta(days=d.weekday())
    return d


def _events_fingerprint(store: Store) -> dict[str, Any]:
    row = store.query("SELECT count(*) AS n, max(timestamp) AS last, min(timestamp) AS first "
                      "FROM events WHERE event IN ('purchase', 'return')").to_pylist()[0]
    return {"n_events": int(row["n"]), "last_event": row["last"], "first_event": row["first"]}


def refresh_sales_series(store: Store) -> dict[str, int]:
    """Rebuild the stored sales series from the events now in the store; call it after every ingest.

    Writes ``sales_daily`` and ``sales_weekly`` (one row per item and period from the item's first
    sale, launch or return to the last event day, zero-filled), ``sales_category_daily`` and
    ``sales_category_weekly`` (the same summed per category), and ``sales_series_meta`` (what they were
    built from). Returns the rows written per table.
    """
    fp = _events_fingerprint(store)
    counts: dict[str, int] = {}
    if fp["n_events"] == 0:
        log.info("no purchase or return events: sales series are empty")
    daily = store.query(_dense_daily_sql(), None) if fp["n_events"] else _empty_daily()
    counts["sales_daily"] = store.write("sales_daily", daily)
    weekly = store.query("""
        SELECT item_id, CAST(date_trunc('week', CAST(day AS TIMESTAMP)) AS DATE) AS period_start, count(*) AS days,
               sum(units) AS units, sum(returned) AS returned, sum(net_units) AS net_units,
               sum(revenue) AS revenue, sum(purchase_lines) AS purchase_lines
        FROM sales_daily GROUP BY 1, 2 ORDER BY item_id, period_start""")
    counts["sales_weekly"] = store.write("sales_weekly", weekly)
    counts.update(write_category_series(store))
    write_series_meta(store, fp)
    log.info("sales series refreshed: %s", ", ".join(f"{k} {v:,}" for k, v in counts.items()))
    return counts


def write_category_series(store: Store) -> dict[str, int]:
    """Per-category sums of the stored item series (``sales_category_daily`` / ``_weekly``).

    Derived from ``sales_daily`` and ``sales_weekly`` whichever engine built them (the Spark engine
    calls this after loading its item series), so categories are summed one way only.
    """
    counts: dict[str, int] = {}
    for period, table in (("day", "sales_daily"), ("period_start", "sales_weekly")):
        out = f"sales_category_{'daily' if period == 'day' else 'weekly'}"
        cat = store.query(f"""
            SELECT coalesce(nullif(trim(i.category), ''), '{NO_CATEGORY}') AS category, s.{period},
                   count(DISTINCT s.item_id) AS items, sum(s.units) AS units, sum(s.returned) AS returned,
                   sum(s.net_units) AS net_units, sum(s.revenue) AS revenue
            FROM {table} s LEFT JOIN (SELECT item_id, min(category) AS category FROM all_items GROUP BY 1) i
                 USING (item_id)
            GROUP BY 1, 2 ORDER BY 1, 2""")
        counts[out] = store.write(out, cat)
    return counts


def write_series_meta(store: Store, fp: dict[str, Any] | None = None) -> None:
    """Record which events the stored series were built from (``sales_series_meta``)."""
    fp = fp or _events_fingerprint(store)
    store.write(META_TABLE, pa.table({
        "n_events": [fp["n_events"]], "last_event": pa.array([fp["last_event"]], pa.timestamp("us")),
        "first_event": pa.array([fp["first_event"]], pa.timestamp("us")),
        "refreshed_at": pa.array([datetime.now().replace(microsecond=0)], pa.timestamp("us"))}))


def _dense_daily_sql() -> str:
    """Zero-filled daily rows from each item's start (first sale, return or launch) to the last event day."""
    return f"""
        WITH sparse AS ({_DAILY_SPARSE.format(cond='')}),
        bounds AS (SELECT max(day) AS last_day FROM sparse),
        starts AS (
            SELECT s.item_id, least(min(s.day), coalesce(min(CAST(i.launched_at AS DATE)), min(s.day))) AS first_day
            FROM sparse s LEFT JOIN all_items i USING (item_id) GROUP BY 1),
        grid AS (
            SELECT st.item_id, CAST(g.day AS DATE) AS day
            FROM starts st, bounds b, generate_series(CAST(st.first_day AS TIMESTAMP), CAST(b.last_day AS TIMESTAMP),
                                                      INTERVAL '1 day') AS g(day))
        SELECT g.item_id, g.day, coalesce(s.units, 0) AS units, coalesce(s.returned, 0) AS returned,
               coalesce(s.units, 0) - coalesce(s.returned, 0) AS net_units, coalesce(s.revenue, 0) AS revenue,
               coalesce(s.purchase_lines, 0) AS purchase_lines, coalesce(s.buyers, 0) AS buyers
        FROM grid g LEFT JOIN sparse s USING (item_id, day)
        ORDER BY g.item_id, g.day"""


def _empty_daily() -> pa.Table:
    return pa.table({"item_id": pa.array([], pa.string()), "day": pa.array([], pa.date32()),
                     "units": pa.array([], pa.float64()), "returned": pa.array([], pa.float64()),
                     "net_units": pa.array([], pa.float64()), "revenue": pa.array([], pa.float64()),
                     "purchase_lines": pa.array([], pa.int64()), "buyers": pa.array([], pa.int64())})


def stored_series_fresh(store: Store) -> bool:
    """Whether ``sales_daily`` was built from exactly the purchase and return events now in the store."""
    if not (store.has_table(META_TABLE) and store.has_table("sales_daily")):
        return False
    meta = store.read(META_TABLE).to_pylist()
    if len(meta) != 1:
        return False
    fp = _events_fingerprint(store)
    return int(meta[0]["n_events"]) == fp["n_events"] and meta[0]["last_event"] == fp["last_event"]


def daily_sales(store: Store, as_of: date | None = None) -> pa.Table:
    """Daily (item_id, day, units, returned, purchase_lines) rows with sales or returns, only from days before ``as_of``."""
    if stored_series_fresh(store):
        where = "(units <> 0 OR returned <> 0)" + (" AND day < ?" if as_of else "")
        return store.query(f"SELECT item_id, day, units, returned, purchase_lines FROM sales_daily WHERE {where}",
                           [as_of] if as_of else None)
    cond = "AND e.timestamp < ?" if as_of else ""
    return store.query(f"SELECT item_id, day, units, returned, purchase_lines FROM ({_DAILY_SPARSE.format(cond=cond)}) AS sparse",
                       [datetime.combine(as_of, datetime.min.time())] if as_of else None)


def default_as_of(store: Store) -> date:
    """The day after the last purchase or return: with it, every event in the store is used."""
    last = _events_fingerprint(store)["last_event"]
    if last is None:
        raise StoreError(f"the store {store.url} has no purchase or return events: ingest a shop with sales first")
    return last.date() + timedelta(days=1)


@dataclass
class SalesPanel:
    """Net units per item (rows) and whole period (columns) before ``as_of``, zero-filled.

    ``start[i]`` is the column of item ``i``'s first period (its first sale, return or launch); values
    before it are zero and are not part of its history. ``closed`` marks periods in which the whole
    shop sold nothing *between* two periods with sales (a holiday closure, not a demand signal); models
    skip them for weekly data. Quiet periods after the shop's last sale before ``as_of`` are never
    closed: at the as-of date nobody can tell a closure from a shop that stopped selling, so they count
    as zero sales for every frequency and every computation (:func:`shop_closed`).
    """

    item_ids: list[str]
    periods: list[date]
    freq: str
    as_of: date
    net: np.ndarray       # (items, periods) net units (purchases minus returns)
    units: np.ndarray     # (items, periods) purchased units
    returned: np.ndarray  # (items, periods) returned units
    lines: np.ndarray     # (items, periods) purchase lines (orders of the item): popularity without bulk size
    start: np.ndarray     # (items,) first period index of each item's history
    closed: np.ndarray    # (periods,) bool
    launched: dict[str, date]  # item -> launch day (launched_at, else first sale)
    next_period: date     # as_of: the first forecast period starts here
    left_censored: np.ndarray  # (items,) True when the item already sold in the store's first period
    #: (items,) True when the history's first period holds the item's first sale and nothing (a launch
    #: date, a return, a sale before the first whole period) came earlier. Such a period is in the data
    #: *because* the item sold, so it is not a fair sample of its demand: one sale followed by one quiet
    #: week would read "sold in 1 of 1 weeks". Stage rates and short-history medians leave it out.
    opens_with_sale: np.ndarray

    def index(self) -> dict[str, int]:
        return {it: i for i, it in enumerate(self.item_ids)}

    def truncate(self, k: int) -> "SalesPanel":
        """The panel as it stood ``k`` periods earlier (the last ``k`` periods removed)."""
        if not 0 < k < len(self.periods):
            raise InputError(f"cannot step back {k} periods in a panel of {len(self.periods)}", field="periods")
        n = len(self.periods) - k
        nxt = self.periods[n]
        keep = [i for i in range(len(self.item_ids)) if self.start[i] < n]
        ids = [self.item_ids[i] for i in keep]
        units = self.units[keep, :n]
        # recomputed, not cut: a closure the later periods ended may be the shop's last quiet weeks now
        return SalesPanel(ids, self.periods[:n], self.freq, nxt, self.net[keep, :n], units,
                          self.returned[keep, :n], self.lines[keep, :n], self.start[keep], shop_closed(units),
                          {it: self.launched[it] for it in ids}, nxt, self.left_censored[keep],
                          self.opens_with_sale[keep])

    def history(self, i: int, skip_closed: bool = True, what: str = "net") -> np.ndarray:
        """Item ``i``'s series (``net``, ``units``, ``returned`` or ``lines``) from its first period on,
        closed periods removed when asked."""
        y = getattr(self, what)[i, self.start[i]:]
        if skip_closed:
            y = y[~self.closed[self.start[i]:]]
        return y


def shop_closed(units: np.ndarray) -> np.ndarray:
    """Periods (columns of ``units``) in which the whole shop sold nothing between two periods with sales.

    Only such interior silences are closures (a holiday); the quiet periods after the last sale are
    left open, so that a shop looked at as of today sees its recent quiet weeks as zeros (see SalesPanel).
    """
    sold = units.sum(axis=0) > 0
    if not sold.any():  # nothing sold at all (only returns): no silence lies between two sales
        return np.zeros(len(sold), dtype=bool)
    closed = ~sold
    closed[int(np.nonzero(sold)[0][-1]) + 1:] = False
    return closed


#: (store, last sale day, as-of) already warned about in this process
_QUIET_WARNED: set[tuple[str, date, date]] = set()


def check_quiet_tail(first_day: date, last_day: date, as_of: date, where: str = "") -> int:
    """Days between the store's last sale or return before ``as_of`` (``last_day``) and ``as_of``.

    They count as zero sales (:func:`shop_closed`). A week or more of them is logged as a warning, once
    per store (``where``) and dates in a process (the events may simply not be loaded yet); more quiet days than days of sales before them is an input
    error, because every rate, stage and forecast would then describe the silence rather than the shop.
    """
    quiet = (as_of - last_day).days - 1
    span = (last_day - first_day).days + 1
    if quiet > span:
        raise InputError(f"--as-of {as_of} is {quiet} days after the store's last sale or return ({last_day}), "
                         f"more than the {span} days of sales before it: load the recent events or choose an "
                         f"as-of date up to {last_day + timedelta(days=span + 1)}", field="as_of")
    if quiet >= QUIET_WARN_DAYS and (where, last_day, as_of) not in _QUIET_WARNED:
        # one report reads the panel for stages, forecasts, advice and alerts: say it once, not four times
        _QUIET_WARNED.add((where, last_day, as_of))
        log.warning("no sale or return in the %d days before %s (the last on %s): they count as zero sales; "
                    "if the recent events are not loaded yet, use --as-of %s", quiet, as_of, last_day,
                    last_day + timedelta(days=1))
    return quiet


def load_panel(store: Store, as_of: date | None = None, freq: str = "W") -> SalesPanel:
    """The sales panel of every item that sold (or was launched) before ``as_of``.

    Periods are anchored at ``as_of``: the last one ends the day before it and forecasts start on it,
    so every event before the cut-off counts and none after (with a Monday cut-off the weeks are ISO
    weeks; with another day, weeks run from that weekday). They start at the first whole period after
    the store's first event, so no period is half-counted.
    """
    freq = check_freq(freq)
    unit, days = FREQS[freq]
    as_of = as_of or default_as_of(store)
    rows = daily_sales(store, as_of)
    fp = _events_fingerprint(store)
    if rows.num_rows == 0 or fp["first_event"] is None:
        raise StoreError(f"the store {store.url} has no purchase or return events before {as_of}: "
                         "nothing to build sales series from")
    first_day = fp["first_event"].date()
    day_col = rows.column("day").to_pylist()
    check_quiet_tail(first_day, max(day_col), as_of, where=store.url)
    n_periods = (as_of - first_day).days // days
    if n_periods < 1:
        have = (as_of - first_day).days
        raise InputError(f"only {have} day{'s' if have != 1 else ''} of sales before {as_of} (the store's first "
                         f"sale or return is on {first_day}), no complete {unit} to work with: load more events, "
                         f"or choose a later --as-of", field="as_of")
    next_period = as_of
    first_period = as_of - timedelta(days=days * n_periods)
    periods = [first_period + timedelta(days=days * k) for k in range(n_periods)]

    launches = store.query("""
        SELECT item_id, CAST(min(launched_at) AS DATE) AS launched FROM all_items
        WHERE launched_at IS NOT NULL AND launched_at < ? GROUP BY 1""",
                           [datetime.combine(as_of, datetime.min.time())]).to_pylist()
    launched_at = {r["item_id"]: r["launched"] for r in launches}
    item_col = rows.column("item_id").to_pylist()
    units_col = np.asarray(rows.column("units").to_numpy(zero_copy_only=False), dtype=float)
    ret_col = np.asarray(rows.column("returned").to_numpy(zero_copy_only=False), dtype=float)
    line_col = np.asarray(rows.column("purchase_lines").to_numpy(zero_copy_only=False), dtype=float)

    items = sorted(set(item_col) | set(launched_at))
    idx = {it: i for i, it in enumerate(items)}
    n = len(items)
    units = np.zeros((n, n_periods))
    returned = np.zeros((n, n_periods))
    lines = np.zeros((n, n_periods))
    r_idx = np.fromiter((idx[it] for it in item_col), dtype=np.int64, count=len(item_col))
    day_off = np.fromiter(((d - first_period).days for d in day_col), dtype=np.int64, count=len(day_col))
    p_idx = np.floor_divide(day_off, days)
    keep = (p_idx >= 0) & (p_idx < n_periods)
    np.add.at(units, (r_idx[keep], p_idx[keep]), units_col[keep])
    np.add.at(returned, (r_idx[keep], p_idx[keep]), ret_col[keep])
    np.add.at(lines, (r_idx[keep], p_idx[keep]), line_col[keep])
    never = np.iinfo(np.int64).max
    first_seen = np.full(n, never)       # day offset of the first sale or return
    first_sale = np.full(n, never)       # day offset of the first sale
    np.minimum.at(first_seen, r_idx, day_off)
    sold = units_col > 0
    np.minimum.at(first_sale, r_idx[sold], day_off[sold])
    start = np.zeros(n, dtype=np.int64)
    launched: dict[str, date] = {}
    left_censored = np.zeros(n, dtype=bool)
    opens_with_sale = np.zeros(n, dtype=bool)
    for it, i in idx.items():
        la = launched_at.get(it)
        la_off = (la - first_period).days if la is not None else never
        begin = min(int(first_seen[i]), la_off)
        sale_off = int(first_sale[i]) if first_sale[i] != never else begin
        launched[it] = first_period + timedelta(days=min(la_off, sale_off))
        start[i] = min(max(begin // days, 0), n_periods)
        # sold (or launched) before the store's first complete period ended: its launch is not observed
        left_censored[i] = begin < max(days, CENSOR_DAYS)
        opens_with_sale[i] = 0 <= begin == int(first_sale[i])
    closed = shop_closed(units)
    # items whose first period is not complete yet (launched in the current period) keep start = n
    return SalesPanel(items, periods, freq, as_of, units - returned, units, returned, lines, start, closed,
                      launched, next_period, left_censored, opens_with_sale)
