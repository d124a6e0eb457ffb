"""The shop sections of the demo's HTML report count revenue as the rest of shelfwise does."""

from __future__ import annotations

import csv
from pathlib import Path

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.evaluate.report import Report
from shelfwise.service.demo_report import add_shop_sections


def test_purchase_without_price_counts_at_the_catalogue_price(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    with (shop / "events.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "user_id", "item_id", "event", "quantity", "price"])
        w.writerow(["2024-03-04T10:00:00", "u1", "A", "purchase", 3, ""])      # 3 x catalogue 70
        w.writerow(["2024-03-04T11:00:00", "u2", "A", "purchase", 1, 55])      # its own price
        w.writerow(["2024-03-04T12:00:00", "u2", "Z", "purchase", 1, ""])      # no price anywhere: 0
    with (shop / "items.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item_id", "title", "category", "price"])
        w.writerow(["A", "Lamp", "Home", 70])
    report = Report("t")
    with open_store(f"duckdb:///{tmp_path / 'shop.duckdb'}") as store:
        ingest(shop, store)
        add_shop_sections(report, store)
    html = report.render()
    # the department table holds the rounded revenue: 3 x 70 + 55 = 265 (the old sum ignored the 210)
    assert "<td>265</td>" in html.replace(" class=\"num\"", "")
