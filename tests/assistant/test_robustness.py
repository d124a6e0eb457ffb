"""The assistant used the way a shop's developer would: odd k, odd questions, items without text."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.service import assistant as svc


@pytest.fixture()
def shop(tmp_path: Path, store):
    d = tmp_path / "shop"
    d.mkdir()
    pd.DataFrame({"item_id": ["mug", "bare"], "title": ["Travel mug", None],
                  "description": ["Keeps coffee hot for six hours. The lid is dishwasher safe. "
                                  "The handle is dishwasher safe too. The body is dishwasher safe as well.", None]}
                 ).to_csv(d / "items.csv", index=False)
    ingest(d, store)
    return store


@pytest.mark.parametrize("k", [0, -2])
def test_k_below_one_is_refused(shop, k: int):
    # k = 0 used to quote every supporting sentence (the stop test never matched), k < 0 cut the list oddly
    with pytest.raises(InputError, match="k must be at least 1"):
        svc.ask(shop, "is it dishwasher safe?", k=k)


def test_k_is_honoured(shop):
    res = svc.ask(shop, "is it dishwasher safe?", k=1)
    assert res["answered"] and len(res["citations"]) == 1
    assert len(svc.ask(shop, "is it dishwasher safe?", k=100)["citations"]) == 3


def test_item_without_text_and_unknown_item(shop):
    res = svc.ask(shop, "is it dishwasher safe?", item_id="bare")
    assert not res["answered"] and res["citations"] == []
    with pytest.raises(InputError, match="'nope' is not in the catalog"):
        svc.ask(shop, "is it dishwasher safe?", item_id="nope")


def test_closest_lists_only_passages_that_share_something(shop):
    # a question of stop words and punctuation matches nothing: no passage is "closest" to it
    res = svc.ask(shop, "the of and ???")
    assert not res["answered"] and res["closest"] == []
    res = svc.ask(shop, "is the handle made of steel?")
    assert not res["answered"] and res["closest"] and all(c["score"] > 0 for c in res["closest"])


def test_cli_json_is_strict_and_k_error_is_one_line(shop):
    store_url = shop.url
    shop.close()
    res = CliRunner().invoke(app, ["ask", "is it dishwasher safe?", "--db", store_url, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout, parse_constant=lambda c: pytest.fail(c))["answered"]
    res = CliRunner().invoke(app, ["ask", "is it dishwasher safe?", "--db", store_url, "-k", "0"])
    assert res.exit_code == 2 and "k must be at least 1" in res.output and "Traceback" not in res.output


def test_a_very_long_title_is_cut_like_any_sentence(tmp_path: Path, store):
    d = tmp_path / "long"
    d.mkdir()
    pd.DataFrame({"item_id": ["l"], "title": ["Ünïcödé LONG title " * 100 + "mug"]}).to_csv(d / "items.csv", index=False)
    ingest(d, store)
    res = svc.ask(store, "long unicode title mug?")
    assert res["answered"] and all(len(c["text"]) <= 400 for c in res["citations"])


def test_item_id_is_read_as_ingest_reads_it(shop):
    # " mug " used to be "not in the catalog" although ingest stored the item as "mug"
    assert svc.ask(shop, "is it dishwasher safe?", item_id=" mug ")["answered"]
    with pytest.raises(InputError, match="item_id is empty"):
        svc.ask(shop, "is it dishwasher safe?", item_id="  ")
