"""Each adapter on the real files in ../shared/data: counts against the dataset's SOURCE.md, and the
converted folder ingests with ``read = loaded + rejected`` (and nothing rejected) for every table.

Mapping rules on tiny fixtures are in test_adapters_rules.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.data.ingest import ingest
from shelfwise.service.datasets import convert_dataset


def ingest_clean(shop: Path, store, report) -> None:
    """Ingest the converted folder: every written row is read and loaded, none rejected."""
    result = ingest(shop, store)
    assert {t.table for t in result.tables} == set(report.written)
    for t in result.tables:
        assert t.read == t.loaded + t.rejected
        assert (t.read, t.rejected) == (report.written[t.table], 0), t


def one(store, sql: str):
    return store.query(sql).column(0)[0].as_py()


def pairs(store, sql: str) -> dict:
    """A two-column query as {first: second}."""
    t = store.query(sql)
    return dict(zip(t.column(0).to_pylist(), t.column(1).to_pylist()))


@pytest.mark.slow
def test_online_retail(shared_data: Path, tmp_path: Path, store) -> None:
    report = convert_dataset("online-retail", shared_data / "uci-online-retail", tmp_path / "shop")
    assert report.source_rows == {"online_retail.csv.gz": 541_909}
    assert report.written["events"] + report.total_dropped == 541_909  # every source row accounted for
    assert report.dropped == {"negative UnitPrice (the format rejects negative prices)": 2}  # "Adjust bad debt"
    assert report.written["users"] == 4_372
    assert report.written["items"] == 4_070
    # conversion time is measured in benchmarks/ingest.py, not asserted here (machines are noisy)
    ingest_clean(tmp_path / "shop", store, report)
    by_type = pairs(store, "SELECT event, count(*) FROM events GROUP BY 1")
    assert by_type == {"return": 10_624, "purchase": 541_907 - 10_624}  # 10,624 negative-quantity rows
    kind = "json_extract_string(attrs, '$.line_kind')"
    assert one(store, f"SELECT count(*) FROM events WHERE {kind} = 'cancellation'") == 9_288
    # both dropped rows were anonymous
    assert one(store, "SELECT count(*) FROM events WHERE user_id IS NULL") == 135_080 - 2
    assert one(store, "SELECT count(DISTINCT order_id) FROM events") == 25_900 - 2
    assert one(store, "SELECT count(DISTINCT json_extract_string(attrs, '$.country')) FROM events") == 38
    assert one(store, "SELECT count(*) FROM events WHERE quantity <= 0") == 0
    assert one(store, "SELECT min(timestamp)::VARCHAR || ' ' || max(timestamp)::VARCHAR FROM events") == \
        "2010-12-01 08:26:00 2011-12-09 12:50:00"
    assert one(store, "SELECT count(*) FROM items WHERE json_extract_string(attrs, '$.non_product') = 'true'") == 11
    assert one(store, "SELECT title FROM items WHERE item_id = '85123A'") == "WHITE HANGING HEART T-LIGHT HOLDER"
    assert one(store, "SELECT count(*) FROM users WHERE user_id LIKE '%.%'") == 0


def test_amazon_magazine(shared_data: Path, tmp_path: Path, store) -> None:
    report = convert_dataset("amazon-2018", shared_data / "amazon-reviews-2018", tmp_path / "shop",
                             options={"category": "Magazine_Subscriptions"})
    assert report.source_rows == {"Magazine_Subscriptions.csv.gz": 89_689, "Magazine_Subscriptions_5.json.gz": 2_375,
                                  "meta_Magazine_Subscriptions.json.gz": 3_385}
    assert report.written == {"items": 2_320, "events": 89_689, "reviews": 2_375 - 42}
    assert report.dropped["metadata row repeats an asin already listed (first row kept)"] == 3_385 - 2_320
    ingest_clean(tmp_path / "shop", store, report)
    assert one(store, "SELECT count(DISTINCT user_id) FROM events") == 72_098
    assert one(store, "SELECT count(DISTINCT item_id) FROM events") == 2_428
    assert one(store, "SELECT count(*) FROM all_items") == 2_320 + 108  # 108 rated items without metadata
    assert one(store, "SELECT min(timestamp)::DATE::VARCHAR FROM events") == "2001-10-26"
    assert one(store, "SELECT count(DISTINCT user_id) FROM reviews") == 348
    assert one(store, "SELECT count(DISTINCT item_id) FROM reviews") == 157
    assert one(store, "SELECT count(*) FROM reviews") == 2_333  # review ids are unique: nothing collapsed


def test_amazon_gift_cards(shared_data: Path, tmp_path: Path, store) -> None:
    report = convert_dataset("amazon-2018", shared_data / "amazon-reviews-2018", tmp_path / "shop",
                             options={"category": "Gift_Cards"})
    assert report.source_rows == {"Gift_Cards_5.json.gz": 2_972, "meta_Gift_Cards.json.gz": 1_547}
    assert report.written == {"items": 1_547, "events": 2_972, "reviews": 2_972}  # no ratings CSV: reviews as events
    assert report.total_dropped == 0
    ingest_clean(tmp_path / "shop", store, report)
    assert one(store, "SELECT count(DISTINCT user_id) FROM events") == 458
    assert one(store, "SELECT count(DISTINCT item_id) FROM events") == 148
    assert one(store, "SELECT count(*) FROM all_items") == 1_547  # all 148 5-core items have metadata
    # SOURCE.md: price filled for 362; 4 of those are page fragments, not amounts
    assert one(store, "SELECT count(*) FROM items WHERE price IS NOT NULL") == 362 - 4


def test_taobao(shared_data: Path, tmp_path: Path, store) -> None:
    report = convert_dataset("taobao", shared_data / "taobao-user-behavior-sample", tmp_path / "shop")
    assert report.source_rows == {"UserBehavior_sample.csv.gz": 84_287}
    assert report.written == {"items": 55_233, "events": 84_287}
    ingest_clean(tmp_path / "shop", store, report)
    counts = pairs(store, "SELECT event, count(*) FROM events GROUP BY 1")
    assert counts == {"view": 75_693, "cart": 4_494, "favorite": 2_351, "purchase": 1_749}
    assert one(store, "SELECT count(DISTINCT user_id) FROM events") == 814
    assert one(store, "SELECT count(DISTINCT json_extract_string(attrs, '$.category_id')) FROM events") == 2_911
    # SOURCE.md: 35 rows before the window (2017-11-25 00:00 Beijing = 11-24 16:00 UTC)
    assert one(store, "SELECT count(*) FROM events WHERE timestamp < '2017-11-24 16:00:00'") == 35


BANDIT = {  # SOURCE.md: rows, clicks, items
    "random/all": (10_000, 38, 80), "random/men": (10_000, 46, 34), "random/women": (10_000, 46, 46),
    "bts/all": (10_000, 42, 80), "bts/men": (10_000, 69, 34), "bts/women": (10_000, 46, 46),
}


@pytest.mark.parametrize("folder", sorted(BANDIT))
def test_open_bandit(shared_data: Path, tmp_path: Path, store, folder: str) -> None:
    rows, clicks, items = BANDIT[folder]
    policy, campaign = folder.split("/")
    report = convert_dataset("open-bandit", shared_data / "open-bandit-dataset" / folder, tmp_path / "shop")
    assert report.written == {"items": items, "events": rows + clicks}
    assert report.total_dropped == 0
    ingest_clean(tmp_path / "shop", store, report)
    got = store.query("""
        SELECT count(*) FILTER (WHERE event = 'impression') AS shown,
               count(*) FILTER (WHERE event = 'click') AS clicked,
               min(position) AS lo, max(position) AS hi, count(*) FILTER (WHERE propensity IS NULL) AS no_prop,
               count(DISTINCT json_extract_string(attrs, '$.policy')) AS policies,
               min(json_extract_string(attrs, '$.policy')) AS policy, min(surface) AS surface,
               count(DISTINCT item_id) AS n_items, count(*) FILTER (WHERE user_id IS NOT NULL) AS users
        FROM events""").to_pylist()[0]
    assert got == {"shown": rows, "clicked": clicks, "lo": 1, "hi": 3, "no_prop": 0, "policies": 1,
                   "policy": policy, "surface": campaign, "n_items": items, "users": 0}
    # every click joins back to exactly one impression at the same session and position
    assert one(store, """SELECT count(*) FROM events c JOIN events i ON i.session_id = c.session_id
                         AND i.position = c.position AND i.item_id = c.item_id AND i.event = 'impression'
                         WHERE c.event = 'click'""") == clicks
    if policy == "random":  # uniform over 80 items: the logged propensity is 1/80 everywhere
        assert one(store, "SELECT count(DISTINCT propensity) FROM events") == 1


def test_chinese_reviews(shared_data: Path, tmp_path: Path, store) -> None:
    report = convert_dataset("chinese-reviews", shared_data / "chinese-online-shopping-10-cats", tmp_path / "shop")
    assert report.source_rows == {"online_shopping_10_cats.csv.gz": 62_774}
    assert report.written == {"items": 10, "reviews": 62_773}
    assert report.dropped == {"empty review text (the format requires text)": 1}
    ingest_clean(tmp_path / "shop", store, report)
    by_label = pairs(store, "SELECT label, count(*) FROM reviews GROUP BY 1")
    assert by_label == {"negative": 31_046, "positive": 31_728 - 1}  # the empty review was a positive 热水器 row
    per_cat = pairs(store, "SELECT item_id, count(*) FROM reviews GROUP BY 1")
    assert per_cat == {"书籍": 3_851, "平板": 10_000, "手机": 2_323, "水果": 10_000, "洗发水": 10_000,
                       "热水器": 574, "蒙牛": 2_033, "衣服": 10_000, "计算机": 3_992, "酒店": 10_000}
    assert one(store, "SELECT count(*) FROM reviews WHERE starts_with(text, chr(65279))") == 0
