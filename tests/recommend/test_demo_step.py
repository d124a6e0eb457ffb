"""The recommender's demo steps on a small synthetic shop: an evaluation section and a saved model set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.data.synth import SynthConfig, write_shop
from shelfwise.evaluate.report import Report
from shelfwise.service.demo import DemoContext, DemoOptions, all_steps
from shelfwise.service.demo_steps import recommend as step


def _random_embeddings(data, encoder=None, store=None) -> np.ndarray:
    """Stand-in for the sentence encoder (slow to load on a busy machine); the real one runs in the demo."""
    v = np.random.default_rng(0).normal(size=(data.n_items, 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_steps_are_registered_in_order() -> None:
    names = [s.name for s in all_steps()]
    assert names.index("evaluate recommendations") < names.index("train recommender") < names.index("write report")


def test_evaluate_and_train_on_a_small_shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("shelfwise.recommend.ranker", "shelfwise.recommend.cold", "shelfwise.recommend.content"):
        monkeypatch.setattr(f"{module}.item_embeddings", _random_embeddings)
    shop = tmp_path / "shop"
    write_shop(shop, SynthConfig(items=200, users=2000, days=50, seed=5))
    store = open_store(f"duckdb:///{tmp_path / 'demo.duckdb'}")
    try:
        ingest(shop, store)
        ctx = DemoContext(options=DemoOptions(out_dir=tmp_path, items=200, users=2000, days=50), out_dir=tmp_path,
                          shop_dir=shop, db_path=tmp_path / "demo.duckdb", report=Report("t", "demo"), store=store)
        summary = step._evaluate(ctx)
        assert "skipped" not in summary, summary
        ev = ctx.state["recommend_eval"]
        assert set(ev["models"]) == set(step.MODELS)
        assert all(0.0 <= r["ndcg@10"] <= 1.0 for r in ev["models"].values())
        assert ev["models"]["shelfwise"]["ndcg@10"] > ev["models"]["popularity"]["ndcg@10"] * 0.5
        summary = step._train(ctx)
        assert "skipped" not in summary, summary
        model_dir = Path(ctx.state["recommend"]["model_dir"])
        assert (model_dir / "current").read_text().strip() == ctx.state["recommend"]["version"]
    finally:
        store.close()
    html = ctx.report.render()
    assert "Recommendations: offline evaluation" in html and "Recommendations: the model set" in html
