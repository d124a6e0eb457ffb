"""Search used the way a shop's developer would: odd queries, odd files, every kind of --out."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.service import search as svc


@pytest.fixture()
def tiny(tmp_path: Path, store):
    shop = tmp_path / "shop"
    shop.mkdir()
    long_title = "long title " * 300 + "mug"
    pd.DataFrame({"item_id": ["a", "b", "c", "d"],
                  "title": ["Red coffee mug", None, "Ünïcödé Çafé Tässe 咖啡杯", long_title],
                  "description": [None, "A teapot without a title.", None, None]}
                 ).to_csv(shop / "items.csv", index=False)
    pd.DataFrame({"timestamp": ["2024-01-01T10:00:00"], "user_id": ["u1"], "item_id": ["a"],
                  "event": ["purchase"]}).to_csv(shop / "events.csv", index=False)
    ingest(shop, store)
    return store


def _db(store) -> str:
    """The store's URL for --db, after closing it here so the command opens it as a separate run would."""
    store.close()
    return store.url


def test_odd_items_and_queries(tiny):
    hits = svc.search(tiny, "teapot", k=100, dense=False)
    assert hits[0]["item_id"] == "b" and hits[0]["title"] == ""     # no title: found by its description
    assert len(hits) == 4                                             # k beyond the catalogue: all of it
    assert svc.search(tiny, "cafe tasse", k=1, dense=False)[0]["item_id"] == "c"
    assert svc.search(tiny, "咖啡", k=1, dense=False)[0]["item_id"] == "c"
    assert svc.search(tiny, "mug", k=4, dense=False)[0]["item_id"] == "a"


@pytest.mark.parametrize("name", ["r.csv", "r.csv.gz", "r.parquet", "r.jsonl", "r.json", "sub/dir/r.csv"])
def test_single_query_out_follows_the_name(tiny, tmp_path: Path, name: str):
    from shelfwise.experiment.tables import read_table

    out = tmp_path / name
    res = CliRunner().invoke(app, ["search", "mug", "--no-embeddings", "--db", _db(tiny), "--out", str(out)])
    assert res.exit_code == 0, res.output
    got = read_table(out)          # reads by the name: a CSV named .parquet would fail here
    assert list(got.columns) == svc.RESULT_COLUMNS and got["item_id"].iloc[0] == "a"


@pytest.mark.parametrize("mode", ["query", "file"])
def test_out_with_a_wrong_ending_or_a_folder_fails_before_work(tiny, tmp_path: Path, mode: str):
    q = tmp_path / "q.csv"
    q.write_text("query_id,query\nq1,mug\n")
    src = ["mug"] if mode == "query" else ["--queries", str(q)]
    folder = tmp_path / "adir"
    folder.mkdir()
    for out, words in ((tmp_path / "r.txt", "'.txt'"), (folder, "is a folder")):
        res = CliRunner().invoke(app, ["search", *src, "--no-embeddings", "--db", _db(tiny), "--out", str(out)])
        assert res.exit_code == 2, res.output
        assert words in res.output and str(out) in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r.txt").exists()


def test_queries_file_problems_are_named(tiny, tmp_path: Path):
    latin = tmp_path / "latin1.csv"
    latin.write_bytes(b"query_id,query\nq1,caf\xe9 mug\n")
    with pytest.raises(InputError, match="latin1.csv.*UTF-8"):
        svc.read_queries(latin)
    with pytest.raises(InputError, match="not a file"):
        svc.read_queries(tmp_path)
    ok = tmp_path / "ok.csv"
    ok.write_text("query_id,query\nq1,mug\n")
    with pytest.raises(InputError, match="k must be at least 1"):
        svc.search_file(_db(tiny), ok, k=0, dense=False)


def test_duplicate_query_ids_and_empty_files_are_refused(tmp_path: Path):
    # duplicates used to merge two queries' hits under one id (ranks 1..k twice); a header-only file
    # printed "Empty DataFrame" and wrote an empty table
    dup = tmp_path / "dup.csv"
    dup.write_text("query_id,query\nq1,mug\nq2,bag\nq1,teapot\n")
    with pytest.raises(InputError, match=r"dup.csv, line 4: query_id 'q1' already used on line 2"):
        svc.read_queries(dup)
    empty = tmp_path / "empty.csv"
    empty.write_text("query_id,query\n")
    with pytest.raises(InputError, match="empty.csv: no queries"):
        svc.read_queries(empty)


def test_query_without_searchable_words_says_so(tiny):
    import logging

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logger = logging.getLogger("shelfwise.service.search")
    logger.addHandler(handler)
    try:
        hits = svc.search(tiny, "the of and !!!", k=2, dense=False)
    finally:
        logger.removeHandler(handler)
    assert hits[0]["item_id"] == "a"      # the only item with events: popularity order
    assert any("no searchable words" in m for m in seen)


def test_json_output_is_strict(tiny):
    res = CliRunner().invoke(app, ["search", "the of and", "--no-embeddings", "--db", _db(tiny), "--json", "-k", "50"])
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert len(hits) == 4 and all(set(h["parts"]) <= {"popularity", "conversion"} for h in hits)


def test_item_seen_only_in_events_is_searchable_by_id(tmp_path: Path, store):
    """SHOP_FORMAT: an item that appears in events but not in items is still an item (with no text)."""
    import warnings

    shop = tmp_path / "shop2"
    shop.mkdir()
    pd.DataFrame({"item_id": ["z1"], "title": ["Thing"]}).to_csv(shop / "items.csv", index=False)
    pd.DataFrame({"timestamp": ["2024-01-01T10:00:00"], "user_id": ["u"], "item_id": ["widget99"],
                  "event": ["purchase"]}).to_csv(shop / "events.csv", index=False)
    ingest(shop, store)
    with warnings.catch_warnings():
        warnings.simplefilter("error")   # pandas' object-downcast FutureWarning used to reach the terminal
        hits = svc.search(store, "widget99", k=5, dense=False)
    assert hits[0]["item_id"] == "widget99" and hits[0]["title"] == ""
    assert {h["item_id"] for h in hits} == {"widget99", "z1"}


# --- second robustness pass (each failed on the code before it) -------------------------------------------


def test_an_encoder_asked_for_by_name_that_is_not_there_is_an_error(tiny, tmp_path: Path):
    # --encoder /no/such/folder (a typo) used to search without embeddings, exit 0, with a warning in the
    # log; the shop asked for meaning-matching and silently got lexical results
    with pytest.raises(InputError, match="no/such/enc"):
        svc.search(tiny, "mug", encoder=str(tmp_path / "no/such/enc"))
    res = CliRunner().invoke(app, ["search", "mug", "--db", _db(tiny), "--encoder", str(tmp_path / "no/such/enc")])
    assert res.exit_code == 2 and "Traceback" not in res.output and "--encoder" in res.output, res.output
