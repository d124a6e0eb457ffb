"""Pricing for the CLI and the API: elasticities (item and category), price suggestions, the backtest.

``suggestions(db, bounds, out)`` estimates elasticities from all events, takes each item's recent
units and price (the last ``recent_days`` of sales, as the demand curve's anchor) and suggests the
margin-maximising price within the bounds. Results are kept in the derived tables
``price_elasticity`` and ``price_suggestions``.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from ..data.attrs import extra, non_product
from ..data.store import Store, open_store
from ..errors import InputError
from ..evaluate.split import parse_cutoff
from ..experiment.tables import check_writable, write_table
from ..logs import get_logger
from ..pricing.backtest import backtest
from ..pricing.elasticity import CONTROLS, ElasticityConfig, categories, category_elasticities, item_elasticities, price_cells
from ..pricing.optimize import PriceBounds, suggest

log = get_logger(__name__)

FILE_COLUMNS = ["item_id", "category", "price", "suggested_price", "price_change", "elasticity", "lo90", "hi90",
                "units", "expected_units", "units_change", "units_change_range", "revenue_change", "margin_change",
                "cost_basis", "reason", "elasticity_source"]


def _store(db: Store | str | None) -> tuple[Store, bool]:
    return (db, False) if isinstance(db, Store) else (open_store(db), True)


#: a recent window at least this long is all history (about 2,700 years); longer ones overflow a date
MAX_RECENT_DAYS = 1_000_000

#: the column types of ``price_suggestions``, so a run without suggestions still replaces the table
SUGGESTION_SCHEMA = pa.schema([(c, pa.string() if c in ("item_id", "category", "units_change_range", "cost_basis",
                                                         "reason", "elasticity_source") else pa.float64())
                               for c in FILE_COLUMNS])


def _recent(store: Store, days: int) -> pd.DataFrame:
    """Each product's recent units and mean price: the ``days`` before the last purchase.

    ``days`` is capped at :data:`MAX_RECENT_DAYS`, which already reaches before any shop's first sale:
    a bigger window (``--recent-days 10000000000``) means "all history" and used to end in an
    OverflowError traceback when turned into a date interval.
    """
    days = min(int(days), MAX_RECENT_DAYS)
    df = store.query("""
        WITH last AS (SELECT max(timestamp) AS t FROM events WHERE event = 'purchase')
        SELECT e.item_id, sum(e.quantity) AS units, sum(e.quantity * e.price) / sum(e.quantity) AS price
        FROM events e, last WHERE e.event = 'purchase' AND e.price > 0 AND e.quantity > 0
          AND e.timestamp >= last.t - ? GROUP BY e.item_id""", [timedelta(days=int(days))]).to_pandas()
    items = store.query("SELECT item_id, attrs FROM items").to_pandas()
    items["cost"] = pd.to_numeric(pd.Series([extra(a).get("cost") for a in items["attrs"]], index=items.index,
                                            dtype=object), errors="coerce")
    items = items[~non_product(items["attrs"])]  # postage, fees, manual lines: not products to price
    return df.merge(items[["item_id", "cost"]], on="item_id", how="inner")


def check_bounds(b: PriceBounds, recent_days: int = 90) -> None:
    """Refuse bounds that make no price (:meth:`PriceBounds.check`) and a recent window under one day,
    which anchored demand on nothing (no suggestions at all) or on the last second of sales. Called
    before any work, so a bad flag costs nothing."""
    b.check()
    if recent_days < 1:
        raise InputError(f"recent_days must be at least 1 (got {recent_days})", field="recent_days")


def _six_digits(df: pd.DataFrame) -> pd.DataFrame:
    """Numbers to 6 significant digits, as the CSV has always been written (more is noise), in any format."""
    out = df.copy()
    for c in out.columns:
        if pd.api.types.is_float_dtype(out[c]):
            out[c] = [float(f"{v:.6g}") if isinstance(v, float) and math.isfinite(v) else v for v in out[c]]
    return out


def suggestions(db: Store | str | None = None, bounds: PriceBounds | None = None, out: str | Path | None = None,
                recent_days: int = 90, config: ElasticityConfig | None = None, keep: bool = True) -> dict[str, Any]:
    """Elasticities per item and category and price suggestions; ``out`` gets the suggestions file."""
    b = bounds or PriceBounds()
    check_bounds(b, recent_days)
    check_writable(out)  # a wrong name or a folder fails before any work, and before anything is stored
    st, close = _store(db)
    try:
        cells = price_cells(st)
        if cells.empty:
            raise InputError("no purchase events with a positive price and quantity: pricing needs events.price",
                             field="price")
        el = item_elasticities(cells, categories(st), config)
        cats = category_elasticities(el)
        sug = suggest(el, _recent(st, recent_days), b)
        if keep:
            st.write("price_elasticity", pa.Table.from_pandas(el, preserve_index=False), mode="replace")
            # replaced even when empty: a run without suggestions used to leave the previous run's prices
            # in the table, to be read as current
            table = (pa.Table.from_pandas(sug, preserve_index=False) if len(sug)
                     else pa.Table.from_pylist([], schema=SUGGESTION_SCHEMA))
            st.write("price_suggestions", table, mode="replace")
    finally:
        if close:
            st.close()
    if out:
        write_table(_six_digits(sug.reindex(columns=FILE_COLUMNS)), out)
        log.info("wrote %d price suggestions to %s", len(sug), out)
    return {"controls": CONTROLS, "items": el, "categories": cats, "suggestions": sug, "bounds": b}


def check(db: Store | str | None = None, split: str | datetime = "2011-07-01", like_for_like: bool = False) -> dict:
    """The backtest on real price changes after ``split`` against the no-elasticity baseline."""
    when = parse_cutoff(split, "check")  # a bad date is an input error naming --check, before any work
    st, close = _store(db)
    try:
        return backtest(st, when, like_for_like=like_for_like)
    finally:
        if close:
            st.close()
