"""Pricing on the first ~5 months of UCI Online Retail: elasticities estimated before March predict
the unit change after real price changes better than assuming no elasticity."""

from __future__ import annotations

import pytest

from shelfwise.data.store import open_store


@pytest.mark.slow
def test_backtest_beats_no_elasticity(retail_head_db):
    from shelfwise.service import pricing as svc

    with open_store(str(retail_head_db)) as st:
        res = svc.check(st, "2011-03-01")
        sug = svc.suggestions(st, keep=False)
    assert res["cases"] > 200
    assert res["market_adjusted"]["improvement"] > 0.02, res
    items = sug["items"]
    assert items["elasticity"].median() < 0
    assert (items["lo90"] <= items["elasticity"]).all() and (items["elasticity"] <= items["hi90"]).all()
    moved = sug["suggestions"]
    assert (moved["suggested_price"] <= moved["price"] * 1.1 + 1e-6).all()
