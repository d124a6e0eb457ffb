"""Shop operations: ingest a folder, summarise a store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.ingest import load_validated, shop_path, validate_shop
from ..data.store import LoadResult, open_store
from ..errors import InputError
from ..logs import get_logger

log = get_logger(__name__)


def ingest_shop(shop_dir: str | Path, db: str | None = None, refresh_series: bool = True) -> LoadResult:
    """Validate and load a shop folder into the store at ``db``; idempotent.

    The stored sales series (daily / weekly, per item and category) are derived from the events, so
    they are rebuilt here whenever a load added events; the lifecycle commands then read them as-is.
    """
    shop = shop_path(shop_dir)
    batches = validate_shop(shop)  # a file that cannot be loaded stops here, before a new store is created
    with open_store(db) as store:
        result = load_validated(shop, batches, store)
        added = sum(t.new for t in result.tables if t.table == "events")
        if refresh_series and (added or not store.has_table("sales_daily")):
            from ..lifecycle.series import refresh_sales_series

            refresh_sales_series(store)
        return result


def store_summary(db: str | None = None) -> dict[str, Any]:
    """Row counts per shop table and events per type: what the store holds."""
    with open_store(db) as store:
        counts = {t: store.count(t) for t in ("items", "all_items", "users", "events", "reviews", "stock", "rejects")}
        by_type = store.query("SELECT event, count(*) AS n FROM events GROUP BY event ORDER BY n DESC").to_pylist()
        span = store.query("SELECT min(timestamp) AS first, max(timestamp) AS last FROM events").to_pylist()[0]
    return {"counts": counts, "events_by_type": {r["event"]: r["n"] for r in by_type},
            "first_event": span["first"], "last_event": span["last"]}


def list_rejects(db: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """Rejected rows with their reasons, those of the latest load first; ``limit`` 0 means all of them."""
    if limit < 0:
        raise InputError(f"--limit must be 0 (all rows) or more, got {limit}", field="limit")
    sql = ("SELECT r.table_name, r.source_file, r.source_line, r.reason, r.raw FROM rejects r "
           "LEFT JOIN (SELECT load_id, max(loaded_at) AS loaded_at FROM load_log GROUP BY load_id) l "
           "ON l.load_id = r.load_id ORDER BY l.loaded_at DESC NULLS LAST, r.source_file, r.source_line")
    with open_store(db) as store:
        if limit:
            return store.query(sql + " LIMIT ?", [limit]).to_pylist()
        return store.query(sql).to_pylist()


def count_rejects(db: str | None = None) -> int:
    """How many rejected rows the store keeps (from every load)."""
    with open_store(db) as store:
        return store.count("rejects")
