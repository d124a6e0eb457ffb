"""Demo steps for search, the shop assistant, pricing and order risk (issue 10).

Kept fast: search and the assistant run lexical + behaviour only (no encoding pass over the catalog),
pricing and risk run on the demo shop's events as they are. Each step adds a report section.
"""

from __future__ import annotations

import numpy as np

from ..demo import DemoContext, DemoStep

ORDER = 60


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 5:
        return word
    i = int(rng.integers(1, len(word) - 1))
    return word[:i] + word[i + 1:]   # drop one inner letter


def _search(ctx: DemoContext) -> str:
    from .. import search as svc

    store = ctx.require_store()
    items = store.query("SELECT item_id, title FROM items WHERE title IS NOT NULL ORDER BY item_id").to_pandas()
    rng = np.random.default_rng(ctx.options.seed)
    sample = items.sample(min(100, len(items)), random_state=ctx.options.seed)
    exact = typo = 0
    rows = []
    for r in sample.itertuples(index=False):
        words = r.title.split()[:4]
        hits = [h["item_id"] for h in svc.search(store, " ".join(words), k=10, dense=False)]
        exact += r.item_id in hits
        q2 = " ".join(_typo(w, rng) for w in words)
        hits2 = [h["item_id"] for h in svc.search(store, q2, k=10, dense=False)]
        typo += r.item_id in hits2
        if len(rows) < 5:
            rows.append((q2, r.item_id, hits2.index(r.item_id) + 1 if r.item_id in hits2 else "-"))
    n = len(sample)
    s = ctx.report.section("Search")
    s.text("Hybrid search (word BM25, character trigrams for typos, behaviour prior; embeddings are off in the "
           "demo to keep it fast). Known-item check: the first four words of an item's title as the query, "
           "then the same query with one letter dropped from every long word.")
    s.figures({"title queries: item in top 10": f"{exact / n:.0%}", "typo queries: item in top 10": f"{typo / n:.0%}"})
    s.table(["typo query", "item", "rank"], rows, caption="examples")
    ctx.figures["search_typo_top10"] = round(typo / n, 3)
    return f"{n} title queries: {exact / n:.0%} find their item in the top 10; with typos {typo / n:.0%}"


def _assistant(ctx: DemoContext) -> str:
    from .. import assistant as svc

    store = ctx.require_store()
    top = (store.query("SELECT item_id FROM reviews GROUP BY 1 ORDER BY count(*) DESC, item_id LIMIT 1").to_pylist()
           if store.has_table("reviews") else [])
    if not top:
        return "no reviews: skipped"
    item = top[0]["item_id"]
    questions = ["how fast is the delivery?", "does it work on induction hobs?", "is the packaging nice?",
                 "is it compatible with a submarine periscope?"]
    rows, answered = [], 0
    for q in questions:
        res = svc.ask(store, q, item_id=item)
        answered += res["answered"]
        src = ", ".join(f"{c['source']} {c['ref']}" for c in res["citations"][:2]) or "-"
        rows.append((q, res["answer"][:160], src))
    s = ctx.report.section("Shop assistant")
    s.text(f"Extractive answers about item {item} from its catalog text and reviews, each with its sources; "
           "the assistant says so when the data holds no answer.")
    s.table(["question", "answer", "sources"], rows)
    return f"{answered} of {len(questions)} questions answered about item {item}"


def _pricing(ctx: DemoContext) -> str:
    from .. import pricing as svc

    res = svc.suggestions(ctx.require_store())
    el, sug = res["items"], res["suggestions"]
    moved = sug[sug["price_change"].abs() > 1e-9] if len(sug) else sug
    own = int(el["raw"].notna().sum())
    s = ctx.report.section("Pricing")
    s.text("Price elasticity per item (shrunk to its category) from the shop's own price variation, with 90% "
           f"intervals; controls: {', '.join(res['controls'])}. Suggestions maximise expected margin within "
           "+/-10% (cost assumed 60% of price where items have no cost).")
    s.figures({"items with their own estimate": own, "items priced": len(sug), "new prices suggested": len(moved)})
    if len(res["categories"]):
        s.table(["category", "items", "elasticity", "90% interval"],
                [(r.category, r.items, f"{r.elasticity:.2f}", f"{r.lo90:.2f} .. {r.hi90:.2f}")
                 for r in res["categories"].head(10).itertuples()])
    return f"{own:,} items with own elasticity estimate, {len(moved):,} of {len(sug):,} get a new price"


def _risk(ctx: DemoContext) -> str:
    from .. import risk as svc
    from ...errors import InputError
    from ...jsonsafe import figure

    try:
        scored = svc.score(ctx.require_store())
    except InputError as exc:
        return f"skipped: {exc}"
    check = svc.check(scored)
    top = scored.sort_values("score", ascending=False).head(8)
    s = ctx.report.section("Order risk")
    s.text("Every order scored only from the events before it (bulk or odd quantities, price anomalies, new "
           "accounts with large baskets, return history), with its reasons; alerts are kept in the store "
           "(order_risk_alerts).")
    s.figures({"orders": check["orders"], "later returned": check["returned"],
               "AP (score)": check["peers"]["shelfwise"]["average_precision"],
               "AP (quantity only)": check["peers"]["quantity (units in order)"]["average_precision"]})
    s.table(["order", "score", "reasons"], [(r.order_id, f"{r.score:.2f}", r.reasons) for r in top.itertuples()])
    # AP is undefined (NaN) when no order was returned: "n/a", as the JSON's null
    return f"{check['orders']:,} orders scored, AP {figure(check['peers']['shelfwise']['average_precision'], '.3f')}"


STEPS = [
    DemoStep("search", "hybrid product search: title and typo queries", _search),
    DemoStep("assistant", "extractive answers with sources, or 'no answer'", _assistant),
    DemoStep("pricing", "elasticities with intervals, margin-maximising prices", _pricing),
    DemoStep("order risk", "score orders from what was known at order time", _risk),
]
