"""Every SHOP_FORMAT rule, one test each: rejects with reasons, fatal file errors, idempotence, zones."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError, SchemaError

EVENTS_HEADER = "timestamp,user_id,item_id,event,quantity,price,position,propensity\n"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


def counts(result, table: str):
    return next(t for t in result.tables if t.table == table)


def rejects(store) -> list[dict]:
    return store.query("SELECT table_name, source_line, reason FROM rejects ORDER BY source_line").to_pylist()


def one_bad_row(tmp_path: Path, store, row: str) -> tuple[object, list[dict]]:
    shop = tmp_path / "shop"
    write(shop, "events.csv", EVENTS_HEADER + "2011-01-01 10:00:00,u1,i1,view,,,,\n" + row + "\n")
    result = ingest(shop, store)
    return counts(result, "events"), rejects(store)


@pytest.mark.parametrize("row, reason", [
    (",u1,i1,view,,,,", "missing required value in column 'timestamp'"),
    ("2011-01-01,u1,,view,,,,", "missing required value in column 'item_id'"),
    ("2011-01-01,u1,i1,,,,,", "missing required value in column 'event'"),
    ("2011-13-45 10:00,u1,i1,view,,,,", "cannot parse 2011-13-45 10:00 in column 'timestamp'"),
    ("yesterday,u1,i1,view,,,,", "cannot parse yesterday in column 'timestamp'"),
    ("2011-01-01,u1,i1,purchase,two,,,", "cannot parse two in column 'quantity' as a number"),
    ("2011-01-01,u1,i1,purchase,1,abc,,", "cannot parse abc in column 'price' as a number"),
    ("2011-01-01,u1,i1,purchase,1,-3.5,,", "negative price -3.5"),
    ("2011-01-01,u1,i1,purchase,-2,,,", "quantity -2 is not above 0 (a return is a return event"),
    ("2011-01-01,u1,i1,return,0,,,", "quantity 0 is not above 0"),
    ("2011-01-01,u1,i1,checkout,1,,,", "unknown event type checkout"),
    ("2011-01-01,u1,i1,impression,,,0,0.5", "position 0 is not a 1-based slot"),
    ("2011-01-01,u1,i1,impression,,,1.5,0.5", "cannot parse 1.5 in column 'position' as a whole number"),
    ("2011-01-01,u1,i1,impression,,,1,1.5", "propensity 1.5 is not in (0, 1]"),
    ("2011-01-01,u1,i1,impression,,,1,0", "propensity 0 is not in (0, 1]"),
    ("2011-01-01,u1,i1,view", "malformed row: expected 8 fields, found 4"),
    ("2011-01-01,u1,i1,view,,,,,,", "malformed row: expected 8 fields, found 10"),
])
def test_each_rule_rejects_the_row_with_its_reason(tmp_path, store, row, reason):
    c, rej = one_bad_row(tmp_path, store, row)
    assert (c.read, c.loaded, c.rejected) == (2, 1, 1)
    assert len(rej) == 1
    assert rej[0]["source_line"] == 3
    assert reason in rej[0]["reason"]
    assert store.count("events") == 1


def test_reject_keeps_the_raw_row_and_file(tmp_path, store):
    one_bad_row(tmp_path, store, "2011-01-01,u7,i1,teleport,,,,")
    row = store.query("SELECT source_file, raw FROM rejects").to_pylist()[0]
    assert row["source_file"].endswith("events.csv")
    assert json.loads(row["raw"])["user_id"] == "u7"


def test_several_problems_in_one_row_are_all_named(tmp_path, store):
    _, rej = one_bad_row(tmp_path, store, "2011-01-01,u1,,checkout,1,-1,,")
    reason = rej[0]["reason"]
    assert "item_id" in reason and "checkout" in reason and "negative price" in reason


def test_empty_user_is_anonymous_traffic_not_a_reject(tmp_path, store):
    c, rej = one_bad_row(tmp_path, store, "2011-01-01,,i2,view,,,,")
    assert c.rejected == 0 and rej == []
    users = store.query("SELECT user_id FROM events ORDER BY item_id").column(0).to_pylist()
    assert users == ["u1", None]


def test_quantity_defaults_to_one_and_event_case_is_normalised(tmp_path, store):
    one_bad_row(tmp_path, store, "2011-01-01,u2,i2,PURCHASE,,,,")
    rows = store.query("SELECT event, quantity FROM events WHERE user_id = 'u2'").to_pylist()
    assert rows == [{"event": "purchase", "quantity": 1.0}]


@pytest.mark.parametrize("text, expected", [
    ("2011-01-01 10:00:00", "2011-01-01 10:00:00"),          # naive means UTC
    ("2011-01-01T10:00:00Z", "2011-01-01 10:00:00"),
    ("2011-01-01T12:00:00+02:00", "2011-01-01 10:00:00"),    # converted to UTC
    ("2011-01-01T05:00:00-05:00", "2011-01-01 10:00:00"),
    ("1293876000", "2011-01-01 10:00:00"),                    # Unix epoch seconds
    ("1293876000.5", "2011-01-01 10:00:00.5"),
    ("2011-01-01", "2011-01-01 00:00:00"),
])
def test_timestamps_with_and_without_zone_are_stored_as_utc(tmp_path, store, text, expected):
    shop = tmp_path / "shop"
    write(shop, "events.csv", "timestamp,user_id,item_id,event\n" + f"{text},u1,i1,view\n")
    ingest(shop, store)
    got = store.query("SELECT timestamp FROM events").column(0).to_pylist()[0]
    assert pd.Timestamp(got) == pd.Timestamp(expected)


def test_extra_columns_are_kept_as_attributes(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "items.csv", "item_id,title,colour,weight_g\ni1,Mug,red,350\n")
    ingest(shop, store)
    attrs = json.loads(store.query("SELECT attrs FROM items").column(0).to_pylist()[0])
    assert attrs == {"colour": "red", "weight_g": "350"}


def test_item_only_in_events_is_still_an_item(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "items.csv", "item_id,title\ni1,Mug\n")
    write(shop, "events.csv", "timestamp,user_id,item_id,event\n2011-01-01,u1,i2,view\n")
    ingest(shop, store)
    ids = sorted(store.query("SELECT item_id FROM all_items").column(0).to_pylist())
    assert ids == ["i1", "i2"]


def test_ids_are_strings_as_given(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "events.csv", "timestamp,user_id,item_id,event\n2011-01-01,17850.0,007,view\n")
    ingest(shop, store)
    row = store.query("SELECT user_id, item_id FROM events").to_pylist()[0]
    assert row == {"user_id": "17850.0", "item_id": "007"}


def test_second_ingest_adds_nothing(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "items.csv", "item_id,title\ni1,Mug\ni2,Cup\n")
    write(shop, "events.csv", EVENTS_HEADER + "2011-01-01,u1,i1,view,,,,\n2011-01-01,u1,i1,view,,,,\n"
          "bad,u1,i1,view,,,,\n")
    write(shop, "reviews.csv", "item_id,text,rating\ni1,Lovely mug,5\ni2,Chipped,1\n")
    first = ingest(shop, store)
    sizes = {t: store.count(t) for t in ("items", "events", "reviews", "rejects")}
    second = ingest(shop, store)
    assert {t: store.count(t) for t in sizes} == sizes
    assert sizes == {"items": 2, "events": 2, "reviews": 2, "rejects": 1}  # two equal rows stay two events
    assert all(t.new == 0 for t in second.tables)
    assert [t.read for t in first.tables] == [t.read for t in second.tables]
    assert store.count("load_log") == 6


def test_reload_with_changed_item_replaces_it(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "items.csv", "item_id,title,price\ni1,Mug,3\n")
    ingest(shop, store)
    write(shop, "items.csv", "item_id,title,price\ni1,Mug,4\n")
    ingest(shop, store)
    assert store.query("SELECT price FROM items").to_pylist() == [{"price": 4.0}]


def test_missing_required_column_is_fatal_and_store_unchanged(tmp_path, store):
    good = tmp_path / "good"
    write(good, "events.csv", "timestamp,user_id,item_id,event\n2011-01-01,u1,i1,view\n")
    ingest(good, store)
    before = {t: store.count(t) for t in ("items", "events", "rejects", "load_log")}
    bad = tmp_path / "bad"
    write(bad, "items.csv", "item_id,title\ni9,Plate\n")   # fine on its own
    write(bad, "events.csv", "timestamp,user_id,sku,event\n2011-01-01,u1,i1,view\n")
    with pytest.raises(SchemaError) as err:
        ingest(bad, store)
    msg = str(err.value)
    assert "events.csv" in msg and "'item_id'" in msg
    assert {t: store.count(t) for t in before} == before


@pytest.mark.parametrize("name, content, words", [
    ("events.csv", b"timestamp,user_id,item_id,event\n2011-01-01,u\xff1,i1,view\n", ["UTF-8", "line 2"]),
    ("events.csv", b"", ["empty"]),
    ("events.csv.gz", b"not gzip at all", ["cannot read"]),
    ("events.parquet", b"PAR1 garbage", ["Parquet"]),
    ("events.csv", b"timestamp,user_id,item_id,item_id,event\n", ["twice"]),
])
def test_unreadable_files_are_fatal_with_a_clear_message(tmp_path, store, name, content, words):
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / name).write_bytes(content)
    with pytest.raises(SchemaError) as err:
        ingest(shop, store)
    assert name in str(err.value)
    for w in words:
        assert w in str(err.value)
    assert store.count("events") == 0


def test_not_a_folder_and_no_tables(tmp_path, store):
    with pytest.raises(InputError, match="does not exist"):
        ingest(tmp_path / "nope", store)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="neither an items nor an events table"):
        ingest(tmp_path / "empty", store)


def test_two_files_for_one_table_is_fatal(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "events.csv", "timestamp,user_id,item_id,event\n2011-01-01,u1,i1,view\n")
    write(shop, "events.csv.gz", "timestamp,user_id,item_id,event\n2011-01-01,u1,i1,view\n")
    with pytest.raises(SchemaError, match="two files for table 'events'"):
        ingest(shop, store)


def test_every_file_format_loads_the_same_rows(tmp_path, store):
    rows = [{"timestamp": "2011-01-01T10:00:00Z", "user_id": "u1", "item_id": "i1", "event": "purchase",
             "quantity": 2, "price": 1.5},
            {"timestamp": "2011-01-02 10:00:00", "user_id": "", "item_id": "i2", "event": "view",
             "quantity": None, "price": None}]
    df = pd.DataFrame(rows)
    fmts = {
        "csv": lambda p: df.to_csv(p / "events.csv", index=False),
        "csv.gz": lambda p: df.to_csv(p / "events.csv.gz", index=False, compression="gzip"),
        "jsonl": lambda p: (p / "events.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n"),
        "jsonl.gz": lambda p: (p / "events.jsonl.gz").write_bytes(
            gzip.compress(("\n".join(json.dumps(r) for r in rows) + "\n").encode())),
        "parquet": lambda p: pq.write_table(pa.Table.from_pandas(df.assign(
            timestamp=pd.to_datetime(df["timestamp"], utc=True, format="mixed"))), p / "events.parquet"),
    }
    seen = []
    for fmt, make in fmts.items():
        shop = tmp_path / fmt
        shop.mkdir()
        make(shop)
        from shelfwise.data.store import open_store

        with open_store(f"duckdb:///{tmp_path / (fmt + '.duckdb')}") as s:
            result = ingest(shop, s)
            assert counts(result, "events").loaded == 2, fmt
            got = s.query("SELECT timestamp, user_id, item_id, event, quantity, price FROM events "
                          "ORDER BY timestamp").to_pylist()
            seen.append(got)
    assert all(s == seen[0] for s in seen), seen
    assert seen[0][0]["quantity"] == 2.0 and seen[0][1]["quantity"] == 1.0


def test_a_parquet_file_with_floating_point_ids_is_named_in_a_warning(tmp_path, log_records):
    # pandas writes an id column with gaps as floats: 17850.0 is read as '17850', a CSV of it says
    # '17850.0'; the ids are kept as they were read (stored text must keep matching), the shop is told
    import logging

    from shelfwise.data.readers import read_parquet

    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"timestamp": ["2011-01-01"], "user_id": [17850.0], "item_id": ["i1"],
                             "event": ["view"], "price": [1.5]}), path)
    with log_records("shelfwise.data.readers") as records:
        raw = read_parquet(path)
    assert raw.data.column(raw.columns.index("user_id")).to_pylist() == ["17850"]
    warned = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "'user_id'" in warned[0] and "events.parquet" in warned[0]
    assert "price" not in warned[0]  # a float that is not an id is not mentioned


def test_a_quoted_empty_field_in_a_one_column_file_is_a_record_not_a_blank_line(tmp_path):
    # texts to score, one per line: the empty text on line 3 must come back as a row (it used to vanish,
    # so output rows no longer matched input rows); an unquoted blank line is still no record
    from shelfwise.data.readers import read_csv

    path = tmp_path / "texts.csv"
    path.write_text('text\ngood\n""\n\n   \nbad\n', encoding="utf-8")
    raw = read_csv(path)
    assert raw.data.column(0).to_pylist() == ["good", "", "bad"]
    assert raw.data.column(raw.data.num_columns - 1).to_pylist() == [2, 3, 6]


def test_a_quoted_empty_id_in_a_one_column_items_file_is_rejected_not_skipped(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "items.csv", 'item_id\ni1\n""\ni2\n')
    c = counts(ingest(shop, store), "items")
    assert (c.read, c.loaded, c.rejected) == (3, 2, 1)
    assert [r["source_line"] for r in rejects(store)] == [3]


def test_jsonl_bad_lines_are_rejected_with_line_numbers(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "events.jsonl", '{"timestamp": "2011-01-01", "user_id": "u1", "item_id": "i1", "event": "view"}\n'
          "{not json\n[1, 2]\n"
          '{"timestamp": "2011-01-01", "user_id": "u1", "event": "view"}\n')
    result = ingest(shop, store)
    c = counts(result, "events")
    assert (c.read, c.loaded, c.rejected) == (4, 1, 3)
    lines = [r["source_line"] for r in rejects(store)]
    assert lines == [2, 3, 4]


def test_quoted_newlines_keep_line_numbers_right(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "items.csv", 'item_id,title,description,price\ni1,Mug,"two\nlines",3\ni2,Cup,x,-1\n')
    ingest(shop, store)
    assert rejects(store)[0]["source_line"] == 4
    assert store.query("SELECT description FROM items").column(0).to_pylist() == ["two\nlines"]


def test_reviews_and_users_and_stock_load(tmp_path, store):
    shop = tmp_path / "shop"
    write(shop, "users.csv", "user_id,country\nu1,UK\n,FR\n")
    write(shop, "reviews.csv", "item_id,text,rating,review_id\ni1,Great,5,r1\ni1,Bad,7,r2\ni2,,3,r3\n")
    write(shop, "stock.csv", "item_id,stock\ni1,10\ni2,lots\n")
    write(shop, "items.csv", "item_id\ni1\n")
    result = ingest(shop, store)
    assert (counts(result, "users").loaded, counts(result, "users").rejected) == (1, 1)
    assert (counts(result, "reviews").loaded, counts(result, "reviews").rejected) == (1, 2)
    assert (counts(result, "stock").loaded, counts(result, "stock").rejected) == (1, 1)
    reasons = " ".join(r["reason"] for r in rejects(store))
    assert "rating 7 is not between 1 and 5" in reasons
    assert "missing required value in column 'text'" in reasons
    assert "missing required value in column 'user_id'" in reasons
