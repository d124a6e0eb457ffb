"""Order risk on the first ~5 months of UCI Online Retail: ranks later-cancelled invoices better than
quantity alone, with every score computed from what was known at order time."""

from __future__ import annotations

import pytest

from shelfwise.data.store import open_store


@pytest.mark.slow
def test_risk_beats_quantity_only(retail_head_db):
    from shelfwise.service import risk as svc

    with open_store(str(retail_head_db)) as st:
        scored = svc.score(st, keep=False)
    res = svc.check(scored, since="2011-01-01")
    assert res["orders"] > 5000 and res["returned"] > 300
    peers = res["peers"]
    assert peers["shelfwise"]["average_precision"] > 1.1 * peers["quantity (units in order)"]["average_precision"], res
    assert peers["shelfwise"]["precision_at_top"] > peers["quantity (units in order)"]["precision_at_top"], res
    top = scored.sort_values("score", ascending=False).head(20)
    assert (top["reasons"].str.len() > 0).all()
