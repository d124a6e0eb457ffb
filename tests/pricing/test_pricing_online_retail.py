"""Pricing on the first ~5 months of UCI Online Retail: elasticities estimated before March predict
the unit change after real price changes better than assuming no elasticity."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

ROWS = 200_000


def retail_store(tmp_path_factory, shared_data: Path):
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.service.datasets import convert_dataset

    base = tmp_path_factory.getbasetemp() / "online_retail_head"
    db = base / "shop.duckdb"
    if not db.exists():
        src = base / "src"
        src.mkdir(parents=True, exist_ok=True)
        with gzip.open(shared_data / "uci-online-retail" / "online_retail.csv.gz", "rt", encoding="utf-8") as fh, \
                open(src / "online_retail_head.csv", "w", encoding="utf-8") as out:
            for i, line in enumerate(fh):
                if i > ROWS:
                    break
                out.write(line)
        convert_dataset("online-retail", src, base / "shop", overwrite=True)
        with open_store(str(db)) as st:
            ingest(base / "shop", st)
    return open_store(str(db))


@pytest.mark.slow
def test_backtest_beats_no_elasticity(tmp_path_factory, shared_data):
    from shelfwise.service import pricing as svc

    with retail_store(tmp_path_factory, shared_data) as st:
        res = svc.check(st, "2011-03-01")
        sug = svc.suggestions(st, keep=False)
    assert res["cases"] > 200
    assert res["market_adjusted"]["improvement"] > 0.02, res
    items = sug["items"]
    assert items["elasticity"].median() < 0
    assert (items["lo90"] <= items["elasticity"]).all() and (items["elasticity"] <= items["hi90"]).all()
    moved = sug["suggestions"]
    assert (moved["suggested_price"] <= moved["price"] * 1.1 + 1e-6).all()
