"""Black-box robustness of data intake: inputs a shop's developer really produces, and what each must do.

Each test pins one defect found by probing ``shelfwise ingest / info / rejects`` with hand-made shop
folders; the reasons are in the test names and comments.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.errors import InputError
from shelfwise.service import shop as shop_service


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def events_by_line(store) -> dict[int, dict]:
    rows = store.query("SELECT source_line, timestamp, user_id, item_id FROM events").to_pylist()
    return {r["source_line"]: r for r in rows}


def rejects_by_line(store) -> dict[int, dict]:
    rows = store.query("SELECT source_line, reason, raw FROM rejects").to_pylist()
    return {r["source_line"]: r for r in rows}


# --- timestamps -----------------------------------------------------------------------------------
def test_a_named_time_zone_does_not_leak_into_later_naive_timestamps(tmp_path, store):
    # DuckDB 1.5 keeps the zone of the last named-zone value it parsed for the naive values that follow
    # in the same batch: naive rows after a 'CET' row were stored one hour early.
    write(tmp_path / "shop", "events.csv",
          "timestamp,user_id,item_id,event\n"
          "2011-01-01 10:00:00,u1,i1,view\n"
          "2011-01-01 10:00:00 CET,u1,i1,view\n"
          "2011-01-01 10:00:00,u2,i1,view\n"
          "2011-01-01T10:00,u3,i1,view\n"
          "2011-06-01 10:00:00 America/New_York,u4,i1,view\n"
          "2011-06-01 10:00:00+02:00,u5,i1,view\n"
          "2011-06-01 10:00:00,u6,i1,view\n"
          "2011-01-01 10:00:00 UTC,u7,i1,view\n")
    ingest(tmp_path / "shop", store)
    ts = {line: r["timestamp"] for line, r in events_by_line(store).items()}
    assert ts == {
        2: datetime(2011, 1, 1, 10), 3: datetime(2011, 1, 1, 9), 4: datetime(2011, 1, 1, 10),
        5: datetime(2011, 1, 1, 10), 6: datetime(2011, 6, 1, 14), 7: datetime(2011, 6, 1, 8),
        8: datetime(2011, 6, 1, 10), 9: datetime(2011, 1, 1, 10),
    }


@pytest.mark.parametrize("text", ["infinity", "-infinity", "290000-01-01", "-2011-01-01", "-253402300799"])
def test_timestamps_outside_years_1_to_9999_are_rejected_not_stored(tmp_path, store, text):
    # 'infinity' and far dates used to be stored; every later read of the events then failed with
    # "OverflowError: date value out of range" (shelfwise info, evaluate, ...).
    write(tmp_path / "shop", "events.csv",
          f"timestamp,user_id,item_id,event\n2011-01-01,u1,i1,view\n{text},u1,i1,view\n")
    result = ingest(tmp_path / "shop", store)
    t = result.tables[0]
    assert (t.read, t.loaded, t.rejected) == (2, 1, 1)
    reason = rejects_by_line(store)[3]["reason"]
    assert f"cannot parse {text} in column 'timestamp'" in reason
    summary = shop_service.store_summary(store.url)  # reads the events back without an overflow
    assert summary["first_event"] == summary["last_event"] == datetime(2011, 1, 1)


def test_items_launch_date_out_of_range_is_rejected(tmp_path, store):
    write(tmp_path / "shop", "items.csv", "item_id,launched_at\ni1,2011-01-01\ni2,infinity\n")
    ingest(tmp_path / "shop", store)
    assert store.query("SELECT item_id FROM items").column(0).to_pylist() == ["i1"]
    assert "cannot parse infinity in column 'launched_at'" in rejects_by_line(store)[3]["reason"]


# --- CSV quoting ----------------------------------------------------------------------------------
def test_unterminated_quote_does_not_swallow_the_rest_of_the_file(tmp_path, store):
    # 'i1,"Mug' opens a quote that is never closed: the rows after it used to become part of i1's
    # title, loaded silently (read 2, loaded 2, rejected 0) and lost as rows. Now that one line is a
    # reject with its text and the rows after it load.
    write(tmp_path / "shop", "items.csv", 'item_id,title\ni0,ok\ni1,"Mug\ni2,Cup\ni3,Bowl\n')
    result = ingest(tmp_path / "shop", store)
    t = result.tables[0]
    assert (t.read, t.loaded, t.rejected) == (4, 3, 1)
    rows = store.query("SELECT item_id, title, source_line FROM items ORDER BY item_id").to_pylist()
    assert rows == [{"item_id": "i0", "title": "ok", "source_line": 2},
                    {"item_id": "i2", "title": "Cup", "source_line": 4},
                    {"item_id": "i3", "title": "Bowl", "source_line": 5}]
    rej = rejects_by_line(store)
    assert list(rej) == [3]
    assert "quote opened on line 3 is never closed" in rej[3]["reason"]
    assert rej[3]["raw"] == 'i1,"Mug'


def test_stray_quote_that_joins_two_lines_is_a_reject_with_its_line(tmp_path, store):
    # 'i1,"Mug' ... 'i2,"Cup"': the stray quote closes on the next line, which used to turn two rows
    # into one item i1 titled 'Mug\ni2,Cup"' (i2 vanished without a reject).
    write(tmp_path / "shop", "items.csv", 'item_id,title\ni1,"Mug\ni2,"Cup"\ni3,Bowl\n')
    ingest(tmp_path / "shop", store)
    rows = store.query("SELECT item_id, title FROM items ORDER BY item_id").to_pylist()
    assert rows == [{"item_id": "i2", "title": "Cup"}, {"item_id": "i3", "title": "Bowl"}]
    rej = rejects_by_line(store)
    assert list(rej) == [2]
    assert "quoted field from line 2 to 3 is broken" in rej[2]["reason"]
    assert rej[2]["raw"] == 'i1,"Mug'


def test_quoted_multiline_fields_still_load(tmp_path, store):
    write(tmp_path / "shop", "items.csv", 'item_id,title\r\ni1,"two\r\nlines, one comma"\r\ni2,"say ""hi"""\r\n')
    ingest(tmp_path / "shop", store)
    rows = store.query("SELECT item_id, title, source_line FROM items ORDER BY item_id").to_pylist()
    assert rows == [{"item_id": "i1", "title": "two\r\nlines, one comma", "source_line": 2},
                    {"item_id": "i2", "title": 'say "hi"', "source_line": 4}]
    assert store.count("rejects") == 0


# --- counts and commands --------------------------------------------------------------------------
def test_header_only_file_is_named_in_the_counts(tmp_path):
    write(tmp_path / "shop", "events.csv", "timestamp,user_id,item_id,event\n")
    write(tmp_path / "shop", "items.csv", "item_id\ni1\n")
    db = str(tmp_path / "shop.duckdb")
    result = shop_service.ingest_shop(tmp_path / "shop", db)
    ev = next(t for t in result.tables if t.table == "events")
    assert (ev.read, ev.loaded, ev.rejected) == (0, 0, 0)
    assert ev.file.endswith("events.csv")
    with open_store(db) as st:
        files = st.query("SELECT file FROM load_log WHERE table_name = 'events'").column(0).to_pylist()
    assert files == [ev.file]


def test_rejects_limit(tmp_path):
    write(tmp_path / "shop", "events.csv",
          "timestamp,user_id,item_id,event\nx,u1,i1,view\ny,u1,i1,view\nz,u1,i1,view\n")
    db = str(tmp_path / "shop.duckdb")
    shop_service.ingest_shop(tmp_path / "shop", db)
    assert len(shop_service.list_rejects(db, limit=2)) == 2
    assert len(shop_service.list_rejects(db, limit=0)) == 3  # 0: all of them
    with pytest.raises(InputError, match="--limit"):
        shop_service.list_rejects(db, limit=-1)
    runner = CliRunner()
    res = runner.invoke(app, ["rejects", "--db", db, "--limit", "-1"])
    assert res.exit_code == 2
    assert "--limit" in res.output and "Binder Error" not in res.output
    res = runner.invoke(app, ["rejects", "--db", db, "--limit", "2"])
    assert res.exit_code == 0 and "2 of 3" in res.output
    res = runner.invoke(app, ["rejects", "--db", db, "--json"])
    assert len(json.loads(res.stdout)) == 3


def test_rejects_show_the_latest_load_first(tmp_path):
    # rejects used to be listed by file name, so after loading a second folder the default 20 rows
    # could all be old ones from the first
    db = str(tmp_path / "shop.duckdb")
    write(tmp_path / "a_old", "events.csv", "timestamp,user_id,item_id,event\nx,u1,i1,view\n")
    write(tmp_path / "b_new", "events.csv", "timestamp,user_id,item_id,event\ny,u1,i1,view\n")
    shop_service.ingest_shop(tmp_path / "a_old", db)
    shop_service.ingest_shop(tmp_path / "b_new", db)
    rows = shop_service.list_rejects(db, limit=1)
    assert [Path(r["source_file"]).parent.name for r in rows] == ["b_new"]


def test_rejects_on_a_store_without_rejects_says_so(tmp_path):
    write(tmp_path / "shop", "items.csv", "item_id\ni1\n")
    db = str(tmp_path / "shop.duckdb")
    shop_service.ingest_shop(tmp_path / "shop", db)
    res = CliRunner().invoke(app, ["rejects", "--db", db])
    assert res.exit_code == 0 and "no rejected rows" in res.output


# --- datasets convert -----------------------------------------------------------------------------
@pytest.mark.parametrize("name, content", [
    ("online-retail", b"not gzip at all"),
    ("chinese-reviews", b"not gzip at all"),
    ("taobao", "timestamp,user_id,item_id,event,quantity,price\n2011-01-01,u1,i1,view,1,\n".encode()),
])
def test_convert_of_an_unreadable_source_is_a_clear_error(tmp_path, name, content):
    # a corrupt .gz or a file of another shape used to end in a DuckDB traceback (IOException,
    # InvalidInputException "Error when sniffing file")
    from shelfwise.errors import SchemaError
    from shelfwise.service.datasets import convert_dataset

    src = tmp_path / ("source.csv.gz" if content.startswith(b"not gzip") else "source.csv")
    src.write_bytes(content)
    with pytest.raises(SchemaError) as err:
        convert_dataset(name, src, tmp_path / "out")
    assert str(src) in str(err.value) and "Traceback" not in str(err.value)
    assert not (tmp_path / "out").exists()
    res = CliRunner().invoke(app, ["datasets", "convert", name, str(src), str(tmp_path / "out")])
    assert res.exit_code == 2 and "error:" in res.output


@pytest.mark.parametrize("sep, word", [(";", "semicolon"), ("\t", "tab")])
def test_a_csv_with_another_separator_says_so(tmp_path, store, sep, word):
    # the message used to be only "missing the required column 'item_id' (found: item_id;title)"
    from shelfwise.errors import SchemaError

    write(tmp_path / "shop", "items.csv", f"item_id{sep}title\ni1{sep}Mug\n")
    with pytest.raises(SchemaError, match=f"items.csv: .*{word}-separated, but a shop CSV is comma-separated"):
        ingest(tmp_path / "shop", store)
    assert store.count("items") == 0


# --- JSON lines -----------------------------------------------------------------------------------
def test_jsonl_text_with_unicode_line_separators_is_one_record(tmp_path, store):
    # U+2028 and U+0085 are valid inside a JSON string (scraped review text has them), but the reader
    # split lines with str.splitlines(), which breaks at them: both records became two "invalid JSON"
    # rejects each and the line numbers after them were off
    lines = [json.dumps({"item_id": "i1", "text": "great\u2028product"}, ensure_ascii=False),
             json.dumps({"item_id": "i2", "text": "ok\x85fine"}, ensure_ascii=False),
             json.dumps({"item_id": "i3", "text": "plain"})]
    write(tmp_path / "shop", "items.jsonl", '{"item_id": "i1"}\n')
    write(tmp_path / "shop", "reviews.jsonl", "\r\n".join(lines) + "\r\n")
    result = ingest(tmp_path / "shop", store)
    t = next(t for t in result.tables if t.table == "reviews")
    assert (t.read, t.loaded, t.rejected) == (3, 3, 0)
    rows = store.query("SELECT item_id, text, source_line FROM reviews ORDER BY item_id").to_pylist()
    assert rows == [{"item_id": "i1", "text": "great\u2028product", "source_line": 1},
                    {"item_id": "i2", "text": "ok\x85fine", "source_line": 2},
                    {"item_id": "i3", "text": "plain", "source_line": 3}]


# --- file names -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Items.csv", "items.CSV", "ITEMS.CSV.GZ"])
def test_a_table_file_in_another_case_is_warned_about(tmp_path, store, name):
    # 'items.CSV' was skipped with an info line only ("not a table file"): the catalog silently
    # missing from the load. It is still skipped (names are case-sensitive) but with a warning that
    # says what to rename it to.
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("shelfwise.data.ingest")
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        write(tmp_path / "shop", "events.csv", "timestamp,user_id,item_id,event\n2011-01-01,u1,i1,view\n")
        (tmp_path / "shop" / name).write_text("item_id\ni1\n")
        ingest(tmp_path / "shop", store)
    finally:
        logger.removeHandler(handler)
    warned = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert len(warned) == 1 and name in warned[0] and "rename it to items.csv" in warned[0]


def test_a_store_path_under_a_file_is_a_store_error(tmp_path):
    # '--db shop/items.csv/x.duckdb' ended in a FileExistsError traceback from making the folder
    from shelfwise.errors import StoreError

    write(tmp_path / "shop", "items.csv", "item_id\ni1\n")
    with pytest.raises(StoreError, match=r"cannot open the DuckDB store .*items.csv"):
        shop_service.ingest_shop(tmp_path / "shop", str(tmp_path / "shop" / "items.csv" / "x.duckdb"))
    res = CliRunner().invoke(app, ["ingest", str(tmp_path / "shop"), "--db",
                                   str(tmp_path / "shop" / "items.csv" / "x.duckdb")])
    assert res.exit_code == 2 and "error:" in res.output


def test_a_utf16_file_is_named_as_utf16(tmp_path, store):
    # Excel's "Unicode text" is UTF-16; the message used to be "not valid UTF-8 (byte 0xff at line 1)"
    from shelfwise.errors import SchemaError

    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "items.csv").write_bytes("item_id,title\ni1,Mug\n".encode("utf-16"))
    with pytest.raises(SchemaError, match="items.csv: is UTF-16 encoded; save it as UTF-8"):
        ingest(folder, store)


# --- extra columns whose names the loader uses itself ------------------------------------------------
@pytest.mark.parametrize("name", ["t_item_id", "_attrs", "_reason", "_raw", "_line", "t_price"])
def test_extra_columns_named_like_internal_ones_are_plain_attributes(tmp_path, store, name):
    # the validation query named its working columns t_<column>, _attrs, _reason, _raw and _line next
    # to the file's own: an extra column 't_item_id' replaced the item id, '_attrs' the attributes,
    # '_reason' rejected the row with its value as the reason, and '_line' crashed the load
    write(tmp_path / "shop", "items.csv", f"item_id,price,{name}\ni1,2.5,hello\ni2,,\n")
    result = ingest(tmp_path / "shop", store)
    t = result.tables[0]
    assert (t.read, t.loaded, t.rejected) == (2, 2, 0)
    rows = store.query("SELECT item_id, price, attrs, source_line FROM items ORDER BY item_id").to_pylist()
    assert [(r["item_id"], r["price"], r["source_line"]) for r in rows] == [("i1", 2.5, 2), ("i2", None, 3)]
    assert [json.loads(r["attrs"]) for r in rows] == [{name: "hello"}, {name: None}]


def test_a_rejected_row_keeps_columns_named_like_internal_ones(tmp_path, store):
    write(tmp_path / "shop", "items.csv", "item_id,price,_raw,_line\ni1,-1,a,b\n")
    ingest(tmp_path / "shop", store)
    rej = rejects_by_line(store)
    assert list(rej) == [2] and rej[2]["reason"] == "negative price -1 in column 'price'"
    assert json.loads(rej[2]["raw"]) == {"item_id": "i1", "price": "-1", "_raw": "a", "_line": "b"}


def test_loading_one_folder_by_relative_and_absolute_path_stores_its_rejects_once(tmp_path, store, monkeypatch):
    # files were named as the folder was spelt: 'shop/events.csv' and '/tmp/.../shop/events.csv' made
    # two reject keys for one rejected row (and a relative source_file says nothing without the cwd)
    write(tmp_path / "shop", "events.csv", "timestamp,user_id,item_id,event\n2011-01-01,u1,i1,view\nx,u1,i1,view\n")
    monkeypatch.chdir(tmp_path)
    ingest(Path("shop"), store)
    ingest(tmp_path / "shop", store)
    ingest(Path("./shop/"), store)
    assert store.count("events") == 1
    files = store.query("SELECT source_file FROM rejects").column(0).to_pylist()
    assert files == [str((tmp_path / "shop" / "events.csv").resolve())]
    assert store.query("SELECT DISTINCT source_file FROM events").column(0).to_pylist() == files


def test_jsonl_with_old_mac_line_ends_still_loads(tmp_path, store):
    write(tmp_path / "shop", "items.jsonl", '{"item_id": "i1"}\r{"item_id": "i2"}\r')
    ingest(tmp_path / "shop", store)
    rows = store.query("SELECT item_id, source_line FROM items ORDER BY item_id").to_pylist()
    assert rows == [{"item_id": "i1", "source_line": 1}, {"item_id": "i2", "source_line": 2}]


def test_duplicate_keys_in_one_file_are_warned_about(tmp_path, store):
    # the last row of a key wins (documented), but the earlier rows vanished without a word: no reject,
    # no log, only "loaded 3, new 2" in the counts
    import logging

    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("shelfwise.data.ingest")
    handler = Keep(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        write(tmp_path / "shop", "items.csv", "item_id,title\ni1,old\ni2,x\n i1 ,new\ni1,newest\n")
        ingest(tmp_path / "shop", store)
    finally:
        logger.removeHandler(handler)
    assert store.query("SELECT title FROM items WHERE item_id = 'i1'").column(0).to_pylist() == ["newest"]
    warned = [r.getMessage() for r in records if r.levelno >= logging.WARNING]
    assert len(warned) == 1
    assert "items.csv" in warned[0] and "1 item_id" in warned[0] and "'i1' on lines 2, 4, 5" in warned[0]


def test_info_shows_the_span_of_the_events(tmp_path):
    # the span (which a --cutoff must fall inside) was only in --json; on an empty store nothing said why
    # every count was 0
    db = str(tmp_path / "shop.duckdb")
    write(tmp_path / "shop", "items.csv", "item_id\ni1\n")
    shop_service.ingest_shop(tmp_path / "shop", db)
    res = CliRunner().invoke(app, ["info", "--db", db])
    assert res.exit_code == 0 and "no events yet" in res.output
    write(tmp_path / "shop", "events.csv", "timestamp,user_id,item_id,event\n2011-01-01T10:00:00+01:00,u1,i1,view\n"
                                            "2011-02-03 04:05:06,u1,i1,view\n")
    shop_service.ingest_shop(tmp_path / "shop", db)
    res = CliRunner().invoke(app, ["info", "--db", db])
    assert res.exit_code == 0 and "events from 2011-01-01 09:00:00 to 2011-02-03 04:05:06 (UTC)" in res.output


def test_rejects_and_ingest_print_bracketed_values_as_written(tmp_path):
    # values and file names went to Rich as markup: '[/]' in a rejected value crashed 'shelfwise rejects'
    # (MarkupError) and '[red]x' printed as a red 'x'
    db = str(tmp_path / "shop.duckdb")
    write(tmp_path / "[shop]", "events.csv", "timestamp,user_id,item_id,event\n[/],u1,i1,view\n[red]x,u1,i1,view\n")
    res = CliRunner().invoke(app, ["ingest", str(tmp_path / "[shop]"), "--db", db])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["rejects", "--db", db])
    assert res.exit_code == 0, res.output
    assert "cannot parse [/] in" in res.output and "cannot parse [red]x in" in res.output


def test_a_folder_with_an_unusable_file_creates_no_store(tmp_path):
    """README: a fatal file error names the file and writes nothing. The store file used to be created
    (with an empty schema) before the folder was read."""
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "items.csv").write_text("item_id,title\ni1,Mug\n", encoding="utf-8")
    (shop / "events.csv").write_text("timestamp;user_id;item_id;event\n", encoding="utf-8")  # wrong separator
    db = tmp_path / "new.duckdb"
    result = CliRunner().invoke(app, ["ingest", str(shop), "--db", str(db)])
    assert result.exit_code == 2 and "events.csv" in result.output
    assert not db.exists() and not list(tmp_path.glob("new.duckdb*"))
