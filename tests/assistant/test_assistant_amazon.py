"""The assistant on the real Amazon Gift_Cards catalog and reviews."""

from __future__ import annotations

import numpy as np
import pytest

from shelfwise.data.store import open_store
from shelfwise.service import assistant as svc


@pytest.mark.slow
def test_answers_abstains_and_cites(gift_cards_db):
    with open_store(str(gift_cards_db)) as st:
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
