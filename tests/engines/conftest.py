"""Fixtures of the engine tests: a tiny hand-made shop with known answers, and one SparkSession.

Spark starts once per test session (local[1], 2 shuffle partitions) and is stopped at the end; when
PySpark or Java is missing the Spark tests skip with the reason, the DuckDB ones still run.
"""

from __future__ import annotations

import csv
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

MONDAY = datetime(2024, 1, 1)  # a Monday


def ts(day: int, hour: int = 10) -> str:
    return (MONDAY + timedelta(days=day, hours=hour)).isoformat()


# timestamp, user, item, event, quantity, price, order_id
EVENTS: list[list[object]] = [
    [ts(0), "u1", "A", "purchase", 5, 2.0, "o1"],
    [ts(0), "u1", "B", "purchase", 1, 3.0, "o1"],          # o1 = {A, B}
    [ts(0, 12), "u2", "A", "purchase", 3, 2.0, "o2"],
    [ts(0, 13), "u2", "A", "return", 1, 2.0, "c1"],
    [ts(0, 13), "u2", "B", "purchase", 2, 3.0, "o2"],      # o2 = {A, B}: the pair A-B is in 2 baskets
    [ts(2), "u1", "A", "purchase", 4, 2.0, "o3"],          # day 1 has no sale of A: a zero row
    [ts(1), "u3", "B", "view", 1, None, None],
    [ts(1, 11), "u3", "B", "cart", 1, None, None],
    [ts(3), "u3", "C", "purchase", 1, 9.0, None],          # no order id: basket = u3 that day
    [ts(3, 14), "u3", "A", "purchase", 1, 2.0, None],      # u3 day 3 = {C, A}: one basket only
    [ts(3), "", "D", "view", 1, None, None],               # anonymous
    [ts(4), "u4", "D", "impression", 1, None, None],       # impressions are not interest
    [ts(9), "u2", "B", "purchase", 1, None, "o9"],         # the trend window (last 7 days: days 3..9);
    # no price on the row: revenue and spend count B's catalogue price (3.0)
    [ts(9, 11), "u4", "C", "favorite", 1, None, None],
] + [[ts(5), "u5", f"W{j}", "purchase", 1, 1.0, "bulk"] for j in range(6)]  # a 6-item basket


def write_shop(folder: Path, events: list[list[object]] = EVENTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "events.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "user_id", "item_id", "event", "quantity", "price", "order_id"])
        w.writerows(events)
    with (folder / "items.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item_id", "category", "price", "launched_at"])
        w.writerows([["A", "toys>cars", 2.0, ""], ["B", "toys>dolls", 3.0, (MONDAY - timedelta(days=2)).date()],
                     ["C", "", 9.0, ""], ["E", "books", 1.0, ""]])
    return folder


@pytest.fixture(scope="session")
def spark_engine():
    """One Spark engine for the whole test session (local[1]); skips when Spark cannot start here."""
    pytest.importorskip("pyspark")
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        pytest.skip("Java is not installed: the Spark engine needs Java 17")
    from shelfwise.engines.spark_engine import EngineUnavailable, SparkEngine, stop_session

    try:
        engine = SparkEngine("local[1]", shuffle_partitions=2)
    except EngineUnavailable as exc:
        pytest.skip(str(exc))
    yield engine
    engine.close()
    stop_session()
