"""Pricing on UCI Online Retail: do elasticities predict the unit change when a price really changed?

Elasticities are estimated from events before 2011-07-01 only. Each later item-month whose average
price moved >= 5% against the month before (>= 3 purchase lines both months) is a case; the model
predicts log(units ratio) = elasticity x log(price ratio), the no-elasticity baseline predicts no
change. Reported raw and market-adjusted (both get that month's median unit change of items whose
price held), on all lines and like-for-like (registered customers, 3-24 units a line), plus the
suggestion run on all data (how many items move, expected revenue change).

    .venv/bin/python benchmarks/pricing.py [--work DIR]
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
sys.path.insert(0, str(ROOT / "benchmarks"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--split", default="2011-07-01")
    args = ap.parse_args()
    from risk import online_retail_store

    from shelfwise.service import pricing as svc

    work = args.work or Path(tempfile.mkdtemp(prefix="shelfwise-pricing-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    out: dict = {"benchmark": "pricing backtest, UCI Online Retail", "split": args.split, "runs": {}}
    with online_retail_store(work) as st:
        for lfl in (False, True):
            r = svc.check(st, args.split, like_for_like=lfl)
            out["runs"]["like_for_like" if lfl else "all_lines"] = r
        res = svc.suggestions(st, keep=False)
    sug = res["suggestions"]
    moved = sug[sug["price_change"].abs() > 1e-9]
    out["suggestions"] = {"items": int(len(sug)), "moved": int(len(moved)),
                          "raised": int((moved["price_change"] > 0).sum()), "cut": int((moved["price_change"] < 0).sum()),
                          "median_revenue_change_moved": round(float(moved["revenue_change"].median()), 4) if len(moved) else 0.0,
                          "median_elasticity": round(float(res["items"]["elasticity"].median()), 4),
                          "controls": res["controls"]}
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"{'run':14s} {'variant':16s} {'cases':>6s} {'MAE elastic':>12s} {'MAE no-elast':>13s} {'improv':>7s} {'better':>7s}")
    for run, r in out["runs"].items():
        for variant in ("raw", "market_adjusted"):
            v = r[variant]
            print(f"{run:14s} {variant:16s} {r['cases']:6d} {v['mae_log_units_elasticity']:12.4f} "
                  f"{v['mae_log_units_no_elasticity']:13.4f} {v['improvement']:7.1%} {v['cases_better']:7.1%}")
        print(f"{run:14s} direction accuracy {r['direction_accuracy']:.1%}, median elasticity {r['elasticity_median']}")
    s = out["suggestions"]
    print(f"suggestions: {s['moved']:,} of {s['items']:,} items move ({s['raised']:,} up, {s['cut']:,} down); "
          f"median expected revenue change of those {s['median_revenue_change_moved']:+.1%}")
    res_path = ROOT / "benchmarks" / "results" / "pricing.json"
    res_path.write_text(json.dumps(out, indent=2))
    print(f"wrote {res_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
