"""Known-item search on the real Amazon Gift_Cards 5-core reviews (lexical + behaviour, no encoder)."""

from __future__ import annotations

import pytest

from shelfwise.data.store import open_store
from shelfwise.search.known_item import evaluate


@pytest.mark.slow
def test_known_item_beats_bm25(gift_cards_db):
    with open_store(str(gift_cards_db)) as st:
        r = evaluate(st, None, with_reviews=True)
    assert r.queries > 500
    assert r.mrr["shelfwise"] >= 1.2 * r.mrr["bm25"], r.mrr
