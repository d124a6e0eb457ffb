"""One pipeline, two engines: the aggregates are identical on DuckDB and Spark, and known by hand.

The hand-made shop (conftest.EVENTS) has returns, a gap day, a launch before the first sale,
anonymous and impression rows, order and user-day baskets and one oversized basket, so each rule of
the SQL is exercised. DuckDB's sales series must also equal the lifecycle's own stored series.
"""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.engines import AGGREGATES, get_engine
from shelfwise.engines import pipeline as P
from shelfwise.engines.sql import BatchParams

from .conftest import MONDAY, write_shop

PARAMS = BatchParams(recent_days=7, max_basket=5, min_pair_count=1, candidates=5, k=3, factors=4, iterations=3)
D0 = MONDAY.date()

KEYS = {"sales_daily": ["item_id", "day"], "sales_weekly": ["item_id", "period_start"],
        "cooccurrence": ["item_a", "item_b"], "popularity": ["item_id"], "user_profiles": ["user_id"]}


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("engine_shop")
    with open_store(f"duckdb:///{root / 'shop.duckdb'}") as store:
        ingest(write_shop(root / "shop"), store)
        P.export_snapshot(store, root / "snap")
    return root / "snap"


def run_aggregates(engine, snapshot: Path, params: BatchParams = PARAMS) -> dict[str, list[dict]]:
    now = P.prepare(engine, snapshot, params)
    P.build_aggregates(engine, params, now, None)
    return {name: rows(engine.to_arrow(name), KEYS[name]) for name in AGGREGATES}


def rows(table: pa.Table, keys: list[str]) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: tuple(str(r[k]) for k in keys))


@pytest.fixture(scope="module")
def duck(snapshot: Path) -> dict[str, list[dict]]:
    with get_engine("duckdb") as engine:
        return run_aggregates(engine, snapshot)


def _by(rows_: list[dict], *keys: str) -> dict:
    return {tuple(r[k] for k in keys) if len(keys) > 1 else r[keys[0]]: r for r in rows_}


def test_sales_series_by_hand(duck: dict[str, list[dict]]) -> None:
    daily = _by(duck["sales_daily"], "item_id", "day")
    a0 = daily[("A", D0)]
    assert (a0["units"], a0["returned"], a0["net_units"], a0["revenue"], a0["purchase_lines"], a0["buyers"]) == \
        (8.0, 1.0, 7.0, 16.0, 2, 2)
    assert daily[("A", D0 + timedelta(days=1))]["net_units"] == 0  # the gap day is a zero row
    assert daily[("B", D0 + timedelta(days=9))]["revenue"] == 3.0  # priceless purchase: catalogue price
    a_days = sorted(d for (i, d) in daily if i == "A")
    assert a_days == [D0 + timedelta(days=k) for k in range(10)]  # day 0 .. the last event day (9)
    b_days = sorted(d for (i, d) in daily if i == "B")
    assert b_days[0] == D0 - timedelta(days=2)  # B starts at its launch, before its first sale
    assert not any(i.startswith("W") and daily[(i, d)]["units"] != (1.0 if d == D0 + timedelta(days=5) else 0)
                   for (i, d) in daily)
    weekly = _by(duck["sales_weekly"], "item_id", "period_start")
    assert weekly[("A", D0)]["net_units"] == 7 + 4 + 1 and weekly[("A", D0)]["days"] == 7
    assert weekly[("B", D0 - timedelta(days=7))]["days"] == 2  # Sat + Sun before the first Monday


def test_cooccurrence_popularity_profiles_by_hand(duck: dict[str, list[dict]]) -> None:
    pairs = {(r["item_a"], r["item_b"]): r["baskets"] for r in duck["cooccurrence"]}
    # o1 and o2 hold A+B; u3's day-3 purchases (no order id) hold C+A; the 6-item basket is too big
    assert pairs == {("A", "B"): 2, ("B", "A"): 2, ("A", "C"): 1, ("C", "A"): 1}
    pop = _by(duck["popularity"], "item_id")
    b = pop["B"]
    assert (b["buyers"], b["recent_buyers"], b["prior_buyers"]) == (2, 1, 2)
    assert b["trend"] == pytest.approx(math.log(2 / 3))
    assert b["interest"] == pytest.approx(3 * 1.0 + 0.2 + 0.5)
    assert pop["A"]["net_units"] == 5 + 3 - 1 + 4 + 1
    assert "D" in pop and pop["D"]["interest"] == pytest.approx(0.2)  # anonymous view counts, impression not
    assert sorted(r["pop_rank"] for r in duck["popularity"]) == list(range(1, len(pop) + 1))
    users = _by(duck["user_profiles"], "user_id")
    assert set(users) == {"u1", "u2", "u3", "u4", "u5"}  # no anonymous profile
    u3 = users["u3"]
    assert (u3["events"], u3["purchase_lines"], u3["items"], u3["spend"]) == (4, 2, 3, 11.0)
    assert (u3["top_category"], u3["top_category_weight"]) == ("(none)", 1.0)  # tie broken by name
    assert users["u4"]["events"] == 1  # the impression is not an event of interest
    assert users["u2"]["spend"] == 3 * 2.0 + 2 * 3.0 + 1 * 3.0  # o9 has no price: B's catalogue price


def test_duckdb_series_equal_the_lifecycle_series(tmp_path: Path, duck: dict[str, list[dict]]) -> None:
    from shelfwise.lifecycle.series import refresh_sales_series

    with open_store(f"duckdb:///{tmp_path / 'l.duckdb'}") as store:
        ingest(write_shop(tmp_path / "shop"), store)
        refresh_sales_series(store)
        theirs = rows(store.read("sales_daily"), KEYS["sales_daily"])
    assert len(theirs) == len(duck["sales_daily"])
    for mine, ref in zip(duck["sales_daily"], theirs):
        for col, value in ref.items():
            if isinstance(value, (int, float)):
                assert float(mine[col]) == pytest.approx(float(value)), (col, mine, ref)
            else:
                assert mine[col] == value, (col, mine, ref)


def assert_same_tables(left: dict[str, list[dict]], right: dict[str, list[dict]]) -> None:
    """Equal row for row: exact for ids, dates, timestamps and counts; doubles to 1e-9 relative."""
    for name in AGGREGATES:
        a, b = left[name], right[name]
        assert len(a) == len(b), name
        assert list(a[0]) == list(b[0]), f"{name}: columns differ"
        for ra, rb in zip(a, b):
            for col in ra:
                va, vb = ra[col], rb[col]
                if isinstance(va, float) or isinstance(vb, float):
                    assert va == pytest.approx(vb, rel=1e-9, abs=1e-12), (name, col, ra, rb)
                else:
                    assert va == vb and type(va) is type(vb), (name, col, ra, rb)


def test_spark_aggregates_identical_to_duckdb(spark_engine, snapshot: Path, duck: dict[str, list[dict]]) -> None:
    spark = run_aggregates(spark_engine, snapshot)
    assert_same_tables(duck, spark)


def test_until_cuts_on_both_engines(spark_engine, snapshot: Path) -> None:
    params = BatchParams(**{**PARAMS.__dict__, "until": MONDAY + timedelta(days=3)})
    with get_engine("duckdb") as engine:
        before = run_aggregates(engine, snapshot, params)
    assert max(r["day"] for r in before["sales_daily"]) == date(2024, 1, 3)  # day 2: no later event
    assert_same_tables(before, run_aggregates(spark_engine, snapshot, params))


@pytest.mark.parametrize("engine_name", ["duckdb", "spark"])
def test_lists_never_offer_a_non_product_line(engine_name: str, request, tmp_path: Path) -> None:
    """A (the best seller) is marked non_product: neither the fused lists nor the ranker's top k offer it,
    on either engine, while B, C, ... still fill the lists."""
    import csv as _csv

    shop = write_shop(tmp_path / "shop")
    items = list(_csv.reader((shop / "items.csv").open()))
    with (shop / "items.csv").open("w", newline="") as fh:
        _csv.writer(fh).writerows([items[0] + ["non_product"]] + [r + ["yes" if r[0] == "A" else ""] for r in items[1:]])
    with open_store(f"duckdb:///{tmp_path / 's.duckdb'}") as store:
        ingest(shop, store)
        P.export_snapshot(store, tmp_path / "snap")
    params = BatchParams(**{**PARAMS.__dict__, "ranker": False})
    if engine_name == "spark":
        engine = request.getfixturevalue("spark_engine")
        lists = _fused(engine, tmp_path, params)
    else:
        with get_engine("duckdb") as engine:
            lists = _fused(engine, tmp_path, params)
            engine.materialise("scored", "SELECT user_id, item_id, CAST(1.0 AS DOUBLE) AS score FROM recommendations "
                                         "UNION ALL SELECT user_id, 'A', CAST(9.0 AS DOUBLE) FROM user_profiles")
            from shelfwise.engines import ranker_sql as R

            engine.materialise("ranked", R.top_k(params, engine.dialect))
            assert "A" not in {r["item_id"] for r in engine.to_arrow("ranked").to_pylist()}
    assert lists and "A" not in {r["item_id"] for r in lists}
    assert {r["item_id"] for r in lists} >= {"B", "C"}


def _fused(engine, root: Path, params: BatchParams) -> list[dict]:
    P.train(engine, root / "snap", params, root / f"agg-{engine.name}", root / f"model-{engine.name}")
    P.recommend_all(engine, root / "snap", params, root / f"model-{engine.name}", root / f"out-{engine.name}",
                    prepared=True)
    return engine.to_arrow("recommendations").to_pylist()
