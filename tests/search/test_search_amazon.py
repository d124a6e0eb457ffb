"""Known-item search on the real Amazon Gift_Cards 5-core reviews (lexical + behaviour, no encoder)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.search.known_item import evaluate


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
def test_known_item_beats_bm25(tmp_path_factory, shared_data):
    with gift_cards_store(tmp_path_factory, shared_data) as st:
        r = evaluate(st, None, with_reviews=True)
    assert r.queries > 500
    assert r.mrr["shelfwise"] >= 1.2 * r.mrr["bm25"], r.mrr
