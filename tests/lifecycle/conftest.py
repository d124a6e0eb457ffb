"""Tiny shops with known answers, written as shop folders and loaded through the real ingest."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

MONDAY = date(2024, 1, 1)  # a Monday: week k starts at MONDAY + 7k

EVENT_COLS = ["timestamp", "user_id", "item_id", "event", "quantity", "price", "order_id"]


def ts(week: int, day: int = 1, hour: int = 12) -> str:
    """ISO timestamp of ``day`` (0 = Monday) in week ``week`` after MONDAY."""
    return (datetime.combine(MONDAY, datetime.min.time()) + timedelta(weeks=week, days=day, hours=hour)).isoformat()


def weekly_events(item: str, units_per_week: Sequence[float], first_week: int = 0, price: float = 2.0,
                  user: str = "u1") -> list[list[object]]:
    """One purchase line per week with the given units (weeks with 0 have no event)."""
    rows = []
    for k, u in enumerate(units_per_week):
        if u > 0:
            rows.append([ts(first_week + k), user, item, "purchase", u, price, f"o-{item}-{k}"])
    return rows


def write_table(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow(["" if v is None else v for v in r])


@pytest.fixture()
def make_shop(tmp_path: Path):
    """Build a store from event rows (and optional items / stock rows); returns its URL."""
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store

    counter = {"n": 0}

    def build(events: Sequence[Sequence[object]], items: Sequence[Sequence[object]] | None = None,
              stock: Sequence[Sequence[object]] | None = None, refresh: bool = False) -> str:
        counter["n"] += 1
        shop = tmp_path / f"shop{counter['n']}"
        shop.mkdir()
        write_table(shop / "events.csv", EVENT_COLS, events)
        if items:
            write_table(shop / "items.csv", ["item_id", "category", "price", "launched_at"], items)
        if stock:
            write_table(shop / "stock.csv", ["item_id", "stock", "lead_time_days", "unit_cost"], stock)
        url = f"duckdb:///{shop}.duckdb"
        with open_store(url) as store:
            ingest(shop, store)
            if refresh:
                from shelfwise.lifecycle.series import refresh_sales_series

                refresh_sales_series(store)
        return url

    return build
