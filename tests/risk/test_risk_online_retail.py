"""Order risk on the first ~5 months of UCI Online Retail: ranks later-cancelled invoices better than
quantity alone, with every score computed from what was known at order time."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

ROWS = 200_000  # about 2010-12-01 .. 2011-04: enough months for the monthly refits


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
def test_risk_beats_quantity_only(tmp_path_factory, shared_data):
    from shelfwise.service import risk as svc

    with retail_store(tmp_path_factory, shared_data) as st:
        scored = svc.score(st, keep=False)
    res = svc.check(scored, since="2011-01-01")
    assert res["orders"] > 5000 and res["returned"] > 300
    peers = res["peers"]
    assert peers["shelfwise"]["average_precision"] > 1.1 * peers["quantity (units in order)"]["average_precision"], res
    assert peers["shelfwise"]["precision_at_top"] > peers["quantity (units in order)"]["precision_at_top"], res
    top = scored.sort_values("score", ascending=False).head(20)
    assert (top["reasons"].str.len() > 0).all()
