"""The assistant on the real Amazon Gift_Cards catalog and reviews."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelfwise.service import assistant as svc


def gift_cards_store(tmp_path_factory, shared_data: Path):
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.service.datasets import convert_dataset

    base = tmp_path_factory.getbasetemp() / "amazon_gift_cards"
    db = base / "shop.duckdb"
    if not db.exists():
        convert_dataset("amazon-2018", shared_data / "amazon-reviews-2018", base / "shop",
                        options={"category": "Gift_Cards"}, overwrite=True)
        with open_store(str(db)) as st:
            ingest(base / "shop", st)
    return open_store(str(db))


@pytest.mark.slow
def test_answers_abstains_and_cites(tmp_path_factory, shared_data):
    with gift_cards_store(tmp_path_factory, shared_data) as st:
        res = svc.ask(st, "does the gift card expire?")
        assert res["answered"] and all("expir" in c["text"].lower() for c in res["citations"])
        assert not svc.ask(st, "is it waterproof for scuba diving?")["answered"]
        # a review sentence asked back verbatim must be answered by quoting that very sentence
        from shelfwise.assistant.passages import load_passages

        frame = load_passages(st).frame
        sample = frame[(frame["source"] == "review") & (frame["text"].str.len() > 40)].sample(40, random_state=0)
        found = []
        for t in sample["text"]:
            res = svc.ask(st, t)
            found.append(res["answered"] and any(c["text"] == t for c in res["citations"]))
        assert np.mean(found) >= 0.8
