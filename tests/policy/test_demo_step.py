"""The exposure-policy demo steps run on a small demo shop and add their report sections."""

from __future__ import annotations

from shelfwise.data.store import open_store
from shelfwise.data.synth import load_truth
from shelfwise.evaluate.report import Report
from shelfwise.service.demo import DemoContext, DemoOptions, all_steps
from shelfwise.service.demo_steps import policy as steps


def test_demo_steps(small_shop, tmp_path):
    shop, url = small_shop
    options = DemoOptions(out_dir=tmp_path, items=300, users=800, days=30, seed=3)
    with open_store(url) as store:
        ctx = DemoContext(options, tmp_path, shop, tmp_path / "demo.duckdb", Report("t"), store=store,
                          truth=load_truth(shop))
        summaries = [step.run(ctx) for step in steps.STEPS]
        assert store.count("launch_plans") == ctx.state["launch_plans"] > 0
    assert "launch plans" in summaries[0] and "CTR" in summaries[1]
    titles = [s.title for s in ctx.report.sections]
    assert titles == ["Launch plans", "Exposure policies: simulated A/B"]
    assert {s.name for s in steps.STEPS} <= {s.name for s in all_steps()}
