"""The extractive assistant on a tiny shop: quotes with sources, or a plain 'no answer'."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from shelfwise.assistant.passages import sentences
from shelfwise.data.ingest import ingest
from shelfwise.errors import InputError
from shelfwise.service import assistant as svc


@pytest.fixture()
def qa_store(tmp_path: Path, store):
    shop = tmp_path / "shop"
    shop.mkdir()
    pd.DataFrame({"item_id": ["tent", "mug", "kettle"],
                  "title": ["Trail tent 2P", "Travel mug", "电热水壶"],
                  "description": ["A two person tent. The tent weighs 1.8 kg and packs small. Poles are aluminium.",
                                  "Keeps coffee hot for 6 hours. Dishwasher safe lid.",
                                  "容量1.7升，不锈钢内胆。烧水很快。"]}).to_csv(shop / "items.csv", index=False)
    pd.DataFrame({"item_id": ["tent", "tent", "mug"], "review_id": ["r1", "r2", "r3"],
                  "text": ["Stayed completely dry in heavy rain all night. Great tent.",
                           "Setup takes about five minutes with two people.",
                           "The lid leaks if you shake it."],
                  "rating": [5, 4, 2]}).to_csv(shop / "reviews.csv", index=False)
    ingest(shop, store)
    return store


def test_sentences_split_english_and_chinese():
    assert sentences("One two three. Four five six! ok") == ["One two three.", "Four five six!"]
    assert sentences("容量1.7升，不锈钢内胆。烧水很快。") == ["容量1.7升，不锈钢内胆。", "烧水很快。"]


def test_answers_with_sources(qa_store):
    res = svc.ask(qa_store, "how much does the tent weigh?")
    assert res["answered"] and "1.8 kg" in res["answer"]
    assert res["citations"][0]["item_id"] == "tent" and res["citations"][0]["source"] == "catalog"
    res = svc.ask(qa_store, "does it stay dry in rain?", item_id="tent")
    assert res["answered"] and res["citations"][0]["ref"] == "r1" and res["items"] == ["tent"]
    res = svc.ask(qa_store, "does the lid leak?")
    assert res["answered"] and res["citations"][0]["item_id"] == "mug"
    res = svc.ask(qa_store, "不锈钢内胆吗")
    assert res["answered"] and res["citations"][0]["item_id"] == "kettle"


def test_abstains_when_the_data_has_no_answer(qa_store):
    res = svc.ask(qa_store, "is the tent compatible with bluetooth speakers?")
    assert not res["answered"] and res["answer"].startswith("The catalog and the reviews hold no answer")
    assert res["citations"] == [] and res["closest"]
    res = svc.ask(qa_store, "is it dishwasher safe?", item_id="tent")   # the mug is, the tent says nothing
    assert not res["answered"]
    with pytest.raises(InputError, match="not in the catalog"):
        svc.ask(qa_store, "weight?", item_id="nope")
