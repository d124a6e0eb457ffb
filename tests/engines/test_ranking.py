"""The batch recommender on both engines: lists for every known user, ranking quality within tolerance.

A small demo shop is split in time; each engine learns from the days before the cutoff (ALS, then the
learned ranker on the last week before it) and writes lists for all users; the independent scorer
(``shelfwise evaluate score``) scores the CSVs against the purchases after the cutoff. The DuckDB
engine's ranked lists must beat popularity; end to end on both engines (without the ranker, to keep
Spark time small) the NDCG@10 must agree within ``TOLERANCE`` (relative): the candidates come from
the same SQL, ALS from ``implicit`` (DuckDB engine) and MLlib (Spark). With the ranker, given the same
ALS candidates, the engines agree exactly (test_batch_ranker.py).
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from pathlib import Path

import pytest

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.service import engine as E
from shelfwise.service import evaluate as ev

#: relative NDCG@10 tolerance between engines on this small shop (on Online Retail it is 2 %: docs/SCALE.md)
TOLERANCE = 0.10
#: small ALS; a 7-day label window (28 days of training data cannot hold the default 28) so the learned
#: ranker is trained, and fewer rounds to keep the test fast
SMALL = {"factors": 16, "iterations": 8, "label_days": 7, "rounds": 60}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    gen = importlib.import_module("shelfwise.data.synth.generate")
    root = tmp_path_factory.mktemp("engine_demo")
    cfg = gen.SynthConfig(items=300, users=800, days=35, seed=7)
    gen.write_shop(root / "shop", cfg)
    db = f"duckdb:///{root / 'demo.duckdb'}"
    with open_store(db) as store:
        ingest(root / "shop", store)
    cutoff = (cfg.start + timedelta(days=28)).isoformat()
    return db, cutoff, root


def _run(engine: str, db: str, cutoff: str, root: Path, ranker: bool = True) -> dict:
    tag = f"{engine}-{'ranker' if ranker else 'fusion'}"
    models = root / f"models-{tag}"
    report = E.train(db, engine, until=cutoff, out_dir=root / "out", model_dir=models, master="local[1]",
                     ranker=ranker, **SMALL)
    recs = E.recommend_all(db, engine, out=root / f"recs-{tag}.csv", model_dir=models, master="local[1]")
    scored = ev.score_recommendations(root / f"recs-{tag}.csv", db, cutoff, k=10)
    return {"train": report, "recs": recs, "metrics": scored["metrics"], "coverage": scored["coverage_of_file"]}


@pytest.fixture(scope="module")
def duck(demo: tuple[str, str, Path]) -> dict:
    return _run("duckdb", *demo)


def test_duckdb_lists_for_every_user_and_beat_popularity(demo: tuple[str, str, Path], duck: dict) -> None:
    db, cutoff, _ = demo
    assert duck["train"]["ranker"] is not None and duck["train"]["ranker"]["queries"] >= 20
    assert duck["coverage"]["test_users_without_recs"] == 0
    with open_store(db, read_only=True) as store:
        per_user = store.query("SELECT count(*) AS n FROM engine_recommendations GROUP BY user_id").column(0)
        assert set(per_user.to_pylist()) == {10}
        assert store.has_table("engine_popularity") and store.has_table("engine_user_profiles")
    pop = ev.evaluate_models(db, cutoff, k=10, models=["popularity"])["models"]["popularity"]["ndcg@10"]
    assert duck["metrics"]["ndcg@10"] > pop


def test_spark_ranking_agrees_with_duckdb(spark_engine, demo: tuple[str, str, Path]) -> None:
    # end to end without the learned ranker: with it, the Spark run took ~3 minutes of the suite; the
    # ranker's parity (identical features, model and lists given the same ALS) is test_batch_ranker.py's
    duck = _run("duckdb", *demo, ranker=False)
    spark = _run("spark", *demo, ranker=False)
    a, b = duck["metrics"]["ndcg@10"], spark["metrics"]["ndcg@10"]
    assert abs(a - b) <= TOLERANCE * max(a, b), (a, b)
    assert spark["recs"]["users"] == duck["recs"]["users"]
    assert spark["train"]["ranker"] is None
    assert spark["train"]["stored"] == duck["train"]["stored"]  # the same aggregate row counts in the store
