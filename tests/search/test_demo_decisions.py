"""The issue-10 demo steps (search, assistant, pricing, risk) run on a small synthetic shop."""

from __future__ import annotations

from pathlib import Path

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.data.synth import SynthConfig, load_truth, write_shop
from shelfwise.evaluate.report import Report
from shelfwise.service.demo import DemoContext, DemoOptions
from shelfwise.service.demo_steps import decisions


def test_decision_steps_run_and_report(tmp_path: Path):
    opts = DemoOptions(out_dir=tmp_path, items=200, users=300, days=20, seed=3)
    shop = tmp_path / "shop"
    write_shop(shop, SynthConfig(items=opts.items, users=opts.users, days=opts.days, seed=opts.seed))
    ctx = DemoContext(options=opts, out_dir=tmp_path, shop_dir=shop, db_path=tmp_path / "d.duckdb",
                      report=Report("demo"))
    ctx.truth = load_truth(shop)
    ctx.store = open_store(str(ctx.db_path))
    try:
        ingest(shop, ctx.store)
        summaries = {s.name: s.run(ctx) for s in decisions.STEPS}
    finally:
        ctx.store.close()
    assert set(summaries) == {"search", "assistant", "pricing", "order risk"}
    assert {"Search", "Pricing"} <= {s.title for s in ctx.report.sections}
    assert ctx.figures["search_typo_top10"] > 0.5, summaries
