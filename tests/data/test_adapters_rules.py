"""The mapping rules of the dataset adapters, each on a tiny inline fixture with a known answer.

The real files are covered by tests/data/test_adapters.py; here every rule the adapters document
(CustomerID normalisation, C invoices -> returns, most common description, median price, position
base, sessions, labels, price parsing, ...) is pinned down on a handful of rows.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.service.datasets import convert_dataset, list_datasets


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def table(report, name: str) -> pl.DataFrame:
    path = report.files[name]
    return pl.read_parquet(path) if path.endswith(".parquet") else pl.read_csv(path, infer_schema=False)


# --- online-retail ----------------------------------------------------------------------------

RETAIL_HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
RETAIL = RETAIL_HEADER + "\n".join([
    "536365,85123A,WHITE HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom",
    "536366,85123A,WHITE HEART,2,2010-12-02 09:00:00,2.95,17850.0,United Kingdom",
    "536367,85123A,white heart holder,1,2010-12-03 10:00:00,3.25,,France",
    "536368,85123A,damaged,-3,2010-12-04 10:00:00,0,,United Kingdom",
    "536369,85123A,damaged,-3,2010-12-04 11:00:00,0,,United Kingdom",
    "536370,85123A,damaged,-3,2010-12-04 12:00:00,0,,United Kingdom",
    "C536371,85123A,WHITE HEART,-2,2010-12-05 10:00:00,2.55,17850.0,United Kingdom",
    "536372,POST,POSTAGE,1,2010-12-06 10:00:00,18,12346,Germany",
    "536373,22000,B DESC,1,2010-12-07 10:00:00,1.00,12346,Germany",
    "536374,22000,A DESC,1,2010-12-07 11:00:00,1.00,12346,France",
    "536375,22000,,5,2010-12-08 10:00:00,0,12346,France",
    "A563186,B,Adjust bad debt,1,2011-08-12 14:51:00,-11062.06,,United Kingdom",
]) + "\n"


@pytest.fixture()
def retail(tmp_path: Path):
    src = write(tmp_path / "src" / "online_retail.csv", RETAIL)
    return convert_dataset("online-retail", src.parent, tmp_path / "shop")


def test_retail_accounts_for_every_row(retail) -> None:
    assert retail.source_rows == {"online_retail.csv": 12}
    assert retail.written["events"] + retail.total_dropped == 12
    assert retail.dropped == {"negative UnitPrice (the format rejects negative prices)": 1}


def test_retail_customer_id_is_normalised_and_missing_customers_stay_anonymous(retail) -> None:
    ev = table(retail, "events")
    assert set(ev["user_id"].drop_nulls()) == {"17850", "12346"}
    assert ev["user_id"].null_count() == 4  # 536367 and the three write-offs: kept, not dropped
    users = table(retail, "users").sort("user_id")
    assert users.to_dicts() == [{"user_id": "12346", "country": "France"},  # 2 France vs 2 Germany: latest wins
                                {"user_id": "17850", "country": "United Kingdom"}]


def test_retail_c_invoices_and_negative_quantities_become_returns(retail) -> None:
    ev = table(retail, "events")
    returns = ev.filter(pl.col("event") == "return").sort("order_id")
    assert returns["order_id"].to_list() == ["536368", "536369", "536370", "C536371"]
    assert returns["quantity"].to_list() == [3.0, 3.0, 3.0, 2.0]  # made positive
    assert returns["line_kind"].to_list() == ["adjustment"] * 3 + ["cancellation"]
    assert (ev.filter(pl.col("event") == "purchase")["quantity"] > 0).all()


def test_retail_title_is_most_common_description_among_priced_lines(retail) -> None:
    items = {r["item_id"]: r for r in table(retail, "items").to_dicts()}
    # "damaged" occurs 3 times but only on zero-price lines; "WHITE HEART" 3 times on priced lines
    assert items["85123A"]["title"] == "WHITE HEART"
    assert items["22000"]["title"] == "A DESC"  # tie between A DESC and B DESC: alphabetical
    ev = table(retail, "events")
    notes = ev.filter(pl.col("item_id") == "85123A")["note"].drop_nulls().to_list()
    assert sorted(notes) == ["damaged"] * 3 + ["white heart holder"]


def test_retail_price_is_median_of_priced_purchases_and_launch_is_first_sale(retail) -> None:
    items = {r["item_id"]: r for r in table(retail, "items").to_dicts()}
    assert items["85123A"]["price"] == pytest.approx(2.95)  # median of 2.55, 2.95, 3.25 (not the 0s, not the C line)
    assert items["22000"]["price"] == pytest.approx(1.0)  # the 0-price line is left out
    assert str(items["85123A"]["launched_at"]) == "2010-12-01 08:26:00"
    assert items["POST"]["non_product"] is True and items["POST"]["service"] == "postage"
    assert items["85123A"]["non_product"] is False and items["85123A"]["service"] is None
    assert "B" not in items  # its only line was dropped


def test_retail_us_dates_and_folder_of_daily_files(tmp_path: Path) -> None:
    src = tmp_path / "by-day"
    write(src / "2010-12-01.csv", RETAIL_HEADER + "536365,85123A,X,6,12/1/2010 8:26,2.55,17850.0,UK\n")
    write(src / "2010-12-02.csv.gz", RETAIL_HEADER + "536366,85123A,X,1,2010-12-02 09:00:00,2.55,17850.0,UK\n")
    report = convert_dataset("online-retail", src, tmp_path / "shop")
    assert report.source_rows == {"2010-12-01.csv": 1, "2010-12-02.csv.gz": 1}
    stamps = sorted(str(t) for t in table(report, "events")["timestamp"])
    assert stamps == ["2010-12-01 08:26:00", "2010-12-02 09:00:00"]


def test_retail_missing_column_names_the_file(tmp_path: Path) -> None:
    write(tmp_path / "src" / "x.csv", "InvoiceNo,StockCode\n1,2\n")
    with pytest.raises(InputError, match=r"x\.csv.*Quantity"):
        convert_dataset("online-retail", tmp_path / "src", tmp_path / "shop")
    assert not (tmp_path / "shop").exists()  # the folder it would have created is gone again


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_retail_folder_ingests_cleanly_in_both_formats(tmp_path: Path, store, fmt: str) -> None:
    src = write(tmp_path / "src" / "online_retail.csv", RETAIL)
    report = convert_dataset("online-retail", src, tmp_path / "shop", fmt=fmt)
    assert all(Path(f).name.endswith(".parquet" if fmt == "parquet" else ".csv.gz") for f in report.files.values())
    result = ingest(tmp_path / "shop", store)
    for t in result.tables:
        assert t.read == t.loaded + t.rejected == report.written[t.table]
        assert t.rejected == 0
    row = store.query("SELECT user_id, quantity, price, order_id, attrs FROM events "
                      "WHERE order_id = 'C536371'").to_pylist()[0]
    assert (row["user_id"], row["quantity"], row["price"]) == ("17850", 2.0, 2.55)
    assert json.loads(row["attrs"])["country"] == "United Kingdom"
    attrs = json.loads(store.query("SELECT attrs FROM items WHERE item_id = 'POST'").column(0)[0].as_py())
    assert attrs["non_product"] == "true"


# --- the writer -------------------------------------------------------------------------------

def test_existing_tables_are_kept_unless_forced(tmp_path: Path) -> None:
    src = write(tmp_path / "src" / "online_retail.csv", RETAIL)
    shop = tmp_path / "shop"
    write(shop / "events.csv", "timestamp,user_id,item_id,event\n")
    write(shop / "README.txt", "mine")
    with pytest.raises(InputError, match="already holds shop tables.*--force"):
        convert_dataset("online-retail", src, shop)
    assert sorted(p.name for p in shop.iterdir()) == ["README.txt", "events.csv"]
    convert_dataset("online-retail", src, shop, overwrite=True)
    assert sorted(p.name for p in shop.iterdir()) == ["README.txt", "events.parquet", "items.parquet", "users.parquet"]


def test_unknown_dataset_and_option_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown dataset 'nope'.*online-retail"):
        convert_dataset("nope", tmp_path, tmp_path / "shop")
    src = write(tmp_path / "src" / "online_retail.csv", RETAIL)
    with pytest.raises(InputError, match="does not take --category"):
        convert_dataset("online-retail", src, tmp_path / "shop", options={"category": "x"})
    with pytest.raises(InputError, match="does not exist"):
        convert_dataset("taobao", tmp_path / "missing", tmp_path / "shop")


# --- taobao -----------------------------------------------------------------------------------

def test_taobao_behaviour_mapping_and_item_category(tmp_path: Path) -> None:
    write(tmp_path / "src" / "ub.csv", "\n".join([
        "1,10,100,pv,1511544070", "1,10,100,cart,1511544080", "1,11,101,fav,1511544090",
        "2,10,100,buy,1511544100", "2,10,200,pv,1511544200", "2,12,102,click,1511544300",
        "3,13,103,pv,notatime"]) + "\n")
    report = convert_dataset("taobao", tmp_path / "src", tmp_path / "shop")
    ev = table(report, "events")
    assert ev["event"].to_list() == ["view", "cart", "favorite", "purchase", "view"]
    assert str(ev["timestamp"][0]) == "2017-11-24 17:21:10"  # 1511544070 s in UTC
    assert report.dropped == {"unknown behavior_type (expected pv, cart, fav or buy)": 1,
                              "unreadable timestamp (expected Unix seconds)": 1}
    items = dict(zip(*table(report, "items").select("item_id", "category")))
    assert items == {"10": "100", "11": "101"}  # item 10: 3 rows in 100, 1 in 200


# --- open-bandit ------------------------------------------------------------------------------

def _bandit(folder: Path, positions: tuple[int, int, int]) -> Path:
    a, b, c = positions
    write(folder / "all.csv", "\n".join([
        ",timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0,user-item_affinity_1",
        f"0,2019-11-24 00:00:17.004101+00:00,0,{a},0,0.5,u1,0.0,0.0",
        f"1,2019-11-24 00:00:17.004101+00:00,1,{b},1,0.25,u1,0.0,2.0",
        f"2,2019-11-24 00:00:18.000000+00:00,1,{c},0,0.125,u2,1.0,0.0",
    ]) + "\n")
    write(folder / "item_context.csv", ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,abc\n1,1,0.25,def\n")
    return folder


def test_bandit_positions_sessions_clicks_and_policy(tmp_path: Path) -> None:
    report = convert_dataset("open-bandit", _bandit(tmp_path / "bts" / "all", (0, 1, 2)), tmp_path / "shop")
    assert any("0-based" in n for n in report.notes)
    ev = table(report, "events")
    imp = ev.filter(pl.col("event") == "impression").sort("source_row")
    assert imp["position"].to_list() == [1, 2, 3]  # shifted from 0-based
    assert imp["propensity"].to_list() == [0.5, 0.25, 0.125]
    assert imp["session_id"][0] == imp["session_id"][1] != imp["session_id"][2]  # same time and user features
    assert imp["user_item_affinity"].to_list() == [None, '{"1":2.0}', '{"0":1.0}']
    clicks = ev.filter(pl.col("event") == "click")
    assert clicks.height == 1
    click = clicks.row(0, named=True)
    shown = imp.row(1, named=True)
    for col in ("timestamp", "position", "session_id", "propensity", "item_id", "surface", "policy"):
        assert click[col] == shown[col], col
    assert (click["policy"], click["surface"]) == ("bts", "all")
    assert ev["user_id"].null_count() == ev.height
    items = table(report, "items").sort("item_id")
    assert items["item_feature_0"].to_list() == [-0.5, 0.25]


def test_bandit_one_based_positions_survive_ingest(tmp_path: Path, store) -> None:
    convert_dataset("open-bandit", _bandit(tmp_path / "random" / "men", (1, 2, 3)), tmp_path / "shop")
    result = ingest(tmp_path / "shop", store)
    assert all(t.rejected == 0 and t.read == t.loaded for t in result.tables)
    rows = store.query("""SELECT event, position, propensity, surface, session_id,
                                 json_extract_string(attrs, '$.policy') AS policy
                          FROM events ORDER BY event, position""").to_pylist()
    assert [(r["event"], r["position"], r["propensity"]) for r in rows] == [
        ("click", 2, 0.25), ("impression", 1, 0.5), ("impression", 2, 0.25), ("impression", 3, 0.125)]
    assert {r["policy"] for r in rows} == {"random"} and {r["surface"] for r in rows} == {"men"}


def test_bandit_wants_one_campaign_folder(tmp_path: Path) -> None:
    _bandit(tmp_path / "bts" / "all", (1, 2, 3))
    with pytest.raises(InputError, match="not a folder"):
        convert_dataset("open-bandit", tmp_path / "bts" / "all" / "all.csv", tmp_path / "shop")
    with pytest.raises(InputError, match="no log CSV"):
        convert_dataset("open-bandit", tmp_path / "bts", tmp_path / "shop")


# --- chinese-reviews --------------------------------------------------------------------------

def test_chinese_labels_ids_and_empty_reviews(tmp_path: Path) -> None:
    write(tmp_path / "src" / "r.csv", "cat,label,review\n"
          "书籍,1,\ufeff好书\n书籍,0,很差\n热水器,1,\n"
          "水果,1,\"甜,\n好吃\"\n水果,1,\"甜,\n好吃\"\n水果,2,怪\n")
    report = convert_dataset("chinese-reviews", tmp_path / "src", tmp_path / "shop")
    assert report.dropped == {"empty review text (the format requires text)": 1, "label is not 0 or 1": 1}
    rv = {r["text"]: r for r in table(report, "reviews").to_dicts()}
    assert rv["好书"]["label"] == "positive" and rv["很差"]["label"] == "negative"  # BOM removed
    fruit = table(report, "reviews").filter(pl.col("item_id") == "水果")["review_id"].sort().to_list()
    assert len(fruit) == 2 and fruit[1] == fruit[0] + "-1"  # identical content: suffix, not a collision
    again = convert_dataset("chinese-reviews", tmp_path / "src", tmp_path / "shop2")
    ids = table(report, "reviews")["review_id"].sort().to_list()
    assert table(again, "reviews")["review_id"].sort().to_list() == ids  # stable across runs
    items = table(report, "items").sort("item_id")
    assert items["item_id"].to_list() == ["书籍", "水果"]  # 热水器's only review was empty
    assert items["category_en"].to_list() == ["books", "fruit"]


# --- amazon-2018 ------------------------------------------------------------------------------

def _amazon(folder: Path) -> Path:
    def jl(rows: list[dict]) -> str:
        return "\n".join(json.dumps(r) for r in rows) + "\n"

    write(folder / "Toys.csv", "A1,u1,5.0,1500000000\nA1,u2,3.0,1500000100\nA2,u1,4.0,1500000200\n")
    review = {"overall": 5.0, "verified": True, "reviewerID": "u1", "asin": "A1", "reviewText": "great",
              "summary": "Five", "unixReviewTime": 1500000000, "style": {"Format:": " Print"}}
    write(folder / "Toys_5.json.gz", jl([review, review, {**review, "reviewerID": "u2", "reviewText": None,
                                                           "summary": "meh", "overall": 3.0}]))
    write(folder / "meta_Toys.json.gz", jl([
        {"asin": "A1", "title": "Robot &amp; Dog", "category": ["Toys", "Toys", "Robots"], "brand": "",
         "price": "$1,250.00", "description": ["<b>Big</b> robot", ""], "details": {" Publisher:": "Acme "},
         "date": "May 15, 2009", "image": ["http://x/1.jpg", "http://x/2.jpg"], "also_buy": ["A2"]},
        {"asin": "A1", "title": "dup"},
        {"asin": "A2", "title": "<span class=\"a-size-medium\"", "price": "$10.00 - $20.00"},
        {"asin": "A3", "title": "Kite", "price": ".a-box-inner{background-color:#fff}"},
    ]))
    write(folder / "Gifts_5.json", jl([{**review, "asin": "G1"}]))
    return folder


def test_amazon_items_reviews_and_events(tmp_path: Path) -> None:
    report = convert_dataset("amazon-2018", _amazon(tmp_path / "src"), tmp_path / "shop", options={"category": "Toys"})
    items = {r["item_id"]: r for r in table(report, "items").to_dicts()}
    a1 = items["A1"]
    assert (a1["title"], a1["category"], a1["brand"], a1["price"]) == ("Robot & Dog", "Toys > Robots", "Acme", 1250.0)
    assert a1["description"] == "Big robot" and a1["image_url"] == "http://x/1.jpg"
    assert str(a1["launched_at"]) == "2009-05-15 00:00:00" and a1["also_buy"] == ["A2"]
    assert json.loads(a1["details"]) == {"Publisher": "Acme"}
    assert items["A2"]["title"] is None and items["A2"]["price"] == 10.0  # HTML title; a range's low end
    assert items["A3"]["price"] is None
    assert report.dropped == {"metadata row repeats an asin already listed (first row kept)": 1,
                              "review repeats another review row exactly (same item, user, time, text and style)": 1}
    ev = table(report, "events")
    assert ev.height == 3 and set(ev["event"]) == {"purchase"} and ev["rating"].sort().to_list() == [3.0, 4.0, 5.0]
    rv = table(report, "reviews").sort("rating")
    assert rv["text"].to_list() == ["meh", "great"] and rv["text_from_summary"].to_list() == [True, False]
    assert rv["style"][1] == '{"Format":"Print"}' and all(r.startswith("amz-") for r in rv["review_id"])


def test_amazon_category_without_ratings_uses_reviews_as_events(tmp_path: Path) -> None:
    src = _amazon(tmp_path / "src")
    with pytest.raises(InputError, match="choose a category.*Gifts, Toys"):
        convert_dataset("amazon-2018", src, tmp_path / "shop")
    with pytest.raises(InputError, match="no ratings CSV or 5-core file for category 'Books'"):
        convert_dataset("amazon-2018", src, tmp_path / "shop", options={"category": "Books"})
    report = convert_dataset("amazon-2018", src, tmp_path / "shop", options={"category": "Gifts"})
    assert set(report.written) == {"events", "reviews"}  # no meta_Gifts: no items table
    ev = table(report, "events")
    assert ev.select("item_id", "user_id", "event", "rating").row(0) == ("G1", "u1", "purchase", 5.0)


# --- listing and the command line -------------------------------------------------------------

def test_list_names_every_adapter_with_origin_and_expected_path(tmp_path: Path) -> None:
    (tmp_path / "taobao-user-behavior-sample").mkdir()
    rows = {r["name"]: r for r in list_datasets(tmp_path)}
    assert set(rows) == {"online-retail", "amazon-2018", "taobao", "open-bandit", "chinese-reviews"}
    assert rows["taobao"]["found"] and not rows["online-retail"]["found"]
    assert rows["online-retail"]["source_path"] == str(tmp_path / "uci-online-retail")
    assert all(r["origin"] and r["licence"] and r["summary"] for r in rows.values())
    assert list(rows["amazon-2018"]["options"]) == ["category"] and rows["taobao"]["options"] == {}


def test_cli_convert_and_list(tmp_path: Path) -> None:
    from shelfwise.cli.main import app

    src = write(tmp_path / "src" / "online_retail.csv", RETAIL)
    runner = CliRunner()
    res = runner.invoke(app, ["-q", "datasets", "convert", "online-retail", str(src), str(tmp_path / "shop"), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["written"]["events"] == 11 and out["total_dropped"] == 1
    res = runner.invoke(app, ["-q", "datasets", "convert", "online-retail", str(src), str(tmp_path / "shop")])
    assert res.exit_code == 2 and "--force" in res.output
    res = runner.invoke(app, ["-q", "datasets", "list", "--json", "--shared-dir", str(tmp_path)])
    assert res.exit_code == 0 and len(json.loads(res.output)) == 5
