"""Order risk on UCI Online Retail: does the score, known at order time, rank the later-cancelled invoices?

Every purchase invoice is scored from events strictly before it (monthly refits on returns already
observed; rule-of-thumb weights in the first month). Outcome: a later cancellation (C invoice) of the
same customer and stock code matched to the invoice as that customer's latest earlier purchase of it.
Peers in the same run: quantity only (units in the invoice; largest line vs the item's usual).
Figures: precision in the top 1% of invoices and average precision, on invoices from 2011-01-01 (the
first month has no history) and on all invoices.

    .venv/bin/python benchmarks/risk.py [--work DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SHELFWISE_SHARED_DATA", ROOT.parent / "shared" / "data"))


def online_retail_store(work: Path):
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.service.datasets import convert_dataset

    shop, db = work / "online_retail", work / "online_retail.duckdb"
    if not db.exists():
        convert_dataset("online-retail", DATA / "uci-online-retail", shop, overwrite=True)
        with open_store(str(db)) as st:
            ingest(shop, st)
    return open_store(str(db))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()
    from shelfwise.service import risk as svc

    work = args.work or Path(tempfile.mkdtemp(prefix="shelfwise-risk-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with online_retail_store(work) as st:
        scored = svc.score(st, keep=False)
    out = {"benchmark": "order risk, UCI Online Retail, later-cancelled invoices",
           "from_2011": svc.check(scored, since="2011-01-01"), "all": svc.check(scored),
           "seconds": round(time.perf_counter() - t0, 1)}
    for name in ("from_2011", "all"):
        r = out[name]
        print(f"\n{name}: {r['orders']:,} invoices, {r['returned']:,} later cancelled (base rate {r['base_rate']:.3f})")
        print(f"{'peer':42s} {'P@top1%':>8s} {'AP':>8s}")
        for peer, m in r["peers"].items():
            print(f"{peer:42s} {m['precision_at_top']:8.4f} {m['average_precision']:8.4f}")
        print(f"ratio vs quantity-only: P@1% {r['ratio_precision_at_top']:.2f}x, AP {r['ratio_average_precision']:.2f}x")
    res = ROOT / "benchmarks" / "results" / "risk.json"
    res.write_text(json.dumps(out, indent=2))
    print(f"wrote {res}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
