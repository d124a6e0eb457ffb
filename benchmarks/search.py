"""Known-item search on the Amazon 2018 5-core reviews: a review's summary is the query, its item the answer.

Peers in the same run, on the same documents and the same time split (queries = latest 20% of
reviews; behaviour and review text in the index only from before the cutoff): BM25 alone,
embeddings alone (all-MiniLM-L6-v2), popularity alone, shelfwise. Target: shelfwise MRR@10 >= 1.2 x
the better of BM25 alone and embeddings alone, per category.

    .venv/bin/python benchmarks/search.py [--work DIR] [--limit N]

Writes benchmarks/results/search.json. Each category is converted with the amazon-2018 adapter and
ingested into DIR (default: a temporary folder; give --work to reuse it between runs).
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
CATEGORIES = ("Gift_Cards", "Magazine_Subscriptions")


def store_for(category: str, work: Path):
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.service.datasets import convert_dataset

    shop, db = work / category, work / f"{category}.duckdb"
    if not db.exists():
        convert_dataset("amazon-2018", DATA / "amazon-reviews-2018", shop, options={"category": category},
                        overwrite=True)
        with open_store(str(db)) as st:
            ingest(shop, st)
    return open_store(str(db))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--limit", type=int, default=None, help="at most this many queries per category")
    args = ap.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    import torch

    torch.set_num_threads(1)
    from shelfwise.search.index import SearchConfig
    from shelfwise.search.known_item import evaluate, no_behaviour
    from shelfwise.text.encoder import Encoder

    work = args.work or Path(tempfile.mkdtemp(prefix="shelfwise-search-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    enc = Encoder()
    config = SearchConfig()
    out: dict = {"benchmark": "known-item search, Amazon 2018 5-core (summary -> item)", "encoder": enc.model_id,
                 "config": config.__dict__, "categories": {}}
    ok = True
    print(f"{'category':24s} {'queries':>7s} {'items':>6s} " + " ".join(f"{p:>12s}" for p in
          ("bm25", "embeddings", "popularity", "no-behaviour", "shelfwise")) + "  ratio")
    for cat in CATEGORIES:
        t0 = time.perf_counter()
        with store_for(cat, work) as st:
            r = evaluate(st, enc, config=config, with_reviews=True, limit=args.limit,
                         extra={"no-behaviour": no_behaviour(config)})
        best_peer = max(r.mrr["bm25"], r.mrr.get("embeddings", 0.0))
        ratio = r.mrr["shelfwise"] / best_peer if best_peer > 0 else float("inf")
        ok &= ratio >= 1.2
        row = r.as_dict() | {"ratio_vs_best_single": round(ratio, 3), "target_met": ratio >= 1.2,
                             "seconds": round(time.perf_counter() - t0, 1)}
        out["categories"][cat] = row
        print(f"{cat:24s} {r.queries:7d} {r.items:6d} " + " ".join(f"{r.mrr.get(p, float('nan')):12.4f}" for p in
              ("bm25", "embeddings", "popularity", "no-behaviour", "shelfwise")) + f"  {ratio:.2f}x")
    out["target_met_all"] = ok
    res = ROOT / "benchmarks" / "results" / "search.json"
    res.parent.mkdir(parents=True, exist_ok=True)
    res.write_text(json.dumps(out, indent=2))
    print(f"wrote {res}; target (>= 1.2x the better single retriever) {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
