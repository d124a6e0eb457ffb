"""The text layer's demo step: scores a small synthetic shop's reviews without any default model."""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.config import get_settings
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.data.synth import SynthConfig, write_shop
from shelfwise.evaluate.report import Report
from shelfwise.service.demo import DemoContext, DemoOptions, all_steps
from shelfwise.service.demo_steps import text as text_step


def _ctx(tmp_path: Path, review_rate: float) -> DemoContext:
    shop = tmp_path / "shop"
    write_shop(shop, SynthConfig(items=120, users=400, days=30, seed=3, review_rate=review_rate))
    store = open_store(f"duckdb:///{tmp_path / 'demo.duckdb'}")
    ingest(shop, store)
    return DemoContext(options=DemoOptions(out_dir=tmp_path), out_dir=tmp_path, shop_dir=shop,
                       db_path=tmp_path / "demo.duckdb", report=Report("t", "demo"), store=store)


def test_step_is_registered() -> None:
    assert "sentiment" in [s.name for s in all_steps()]


@pytest.fixture()
def no_default_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SHELFWISE_MODEL_DIR", str(tmp_path / "no-default-models"))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_trains_from_ratings_and_writes_tables(tmp_path: Path, no_default_models: None) -> None:
    ctx = _ctx(tmp_path, review_rate=1.0)
    summary = text_step._sentiment(ctx)
    store = ctx.require_store()
    n = store.count("reviews")
    assert n >= 40 and "trained on" in summary, summary
    assert store.count("review_sentiment") == n
    rows = store.query("SELECT r.label, v.rating FROM review_sentiment r JOIN reviews v USING (review_key) "
                       "WHERE v.rating <> 3").to_pylist()
    agree = sum((r["label"] == "positive") == (r["rating"] >= 4) for r in rows) / len(rows)
    assert agree >= 0.9, agree  # the synthetic reviews' words follow their ratings
    assert store.count("item_sentiment") > 0
    assert (tmp_path / "models" / "sentiment" / "en" / "manifest.json").exists()
    assert any(s.title == "Review sentiment" for s in ctx.report.sections)
    store.close()
