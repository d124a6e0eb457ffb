"""The batch pipeline's learned ranker: features known by hand, and identical on DuckDB and Spark.

Given the same ALS candidates (the one part two implementations compute differently), the two engines
must build identical candidate and feature tables (rounded doubles compared exactly), train the
same LightGBM model from them, and score and rank identically.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.engines import batch_ranker, get_engine
from shelfwise.engines import pipeline as P
from shelfwise.engines import ranker_sql as R
from shelfwise.engines.sql import INTERACTIONS, BatchParams

from .conftest import MONDAY, write_shop

PARAMS = BatchParams(factors=8, iterations=4, label_days=7, train_users=300, rounds=40,
                     depth={"als": 20, "buy": 50, "cooc": 20, "pop": 10, "trend": 5})


def _rows(table: pa.Table) -> list[dict]:
    return sorted(table.to_pylist(), key=lambda r: (r["user_id"], r["item_id"]))


# --- known answers on the hand-made shop (DuckDB) ------------------------------------------------
@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], dict]:
    root = tmp_path_factory.mktemp("ranker_hand")
    with open_store(f"duckdb:///{root / 'shop.duckdb'}") as store:
        ingest(write_shop(root / "shop"), store)
        P.export_snapshot(store, root / "snap")
    with get_engine("duckdb") as eng:
        now = P.prepare(eng, root / "snap", PARAMS)
        P.build_aggregates(eng, PARAMS, now, None, names=("popularity", "user_profiles"))
        eng.materialise("als_cands", "SELECT 'u1' AS user_id, 'C' AS item_id, CAST(1 AS BIGINT) AS r, "
                                     "CAST(0.5 AS DOUBLE) AS score")
        batch_ranker.build_features(eng, PARAMS, now, P.StageTimes())
        return {(r["user_id"], r["item_id"]): r for r in eng.to_arrow("feats").to_pylist()}


def test_candidates_and_features_by_hand(hand: dict[tuple[str, str], dict]) -> None:
    now = MONDAY + timedelta(days=9, hours=11, seconds=1)  # one second after the last event
    a = hand[("u1", "A")]  # u1 bought A on day 0 (5) and day 2 (4); B on day 0
    assert a["buy_r"] == 1 and a["ui_purchases"] == 2 and a["ui_last_visit"] == 1 and a["ui_last3"] == 2
    assert a["ui_since_last"] == round((now - (MONDAY + timedelta(days=2, hours=10))) / timedelta(days=1), 6)
    assert a["ui_gap"] == 2.0 and a["u_visit_days"] == round(math.log(3), 6)
    assert hand[("u1", "B")]["buy_r"] == 2 and hand[("u1", "B")]["ui_last_visit"] == 0
    assert hand[("u1", "C")]["als_r"] == 1 and hand[("u1", "C")]["ui_purchases"] == 0
    # co-visitation: A and B share the baskets o1 and o2, so u3 (who bought A and C) gets B from A;
    # C and A share only u3's day, so C is u1's co-visitation candidate from A
    assert hand[("u3", "B")]["cooc_r"] is not None and hand[("u1", "C")]["cooc_r"] is not None
    # every known user gets the popular candidates; anonymous events make no user
    assert {u for u, _ in hand} == {"u1", "u2", "u3", "u4", "u5"}
    assert set(R.FEATURES) <= set(a)


# --- both engines on a synthetic shop --------------------------------------------------------------
@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, datetime, datetime]:
    """Snapshot, ALS candidates (Parquet, fitted by the DuckDB engine), the cut and the label end."""
    gen = importlib.import_module("shelfwise.data.synth.generate")
    root = tmp_path_factory.mktemp("ranker_synth")
    cfg = gen.SynthConfig(items=150, users=1200, days=28, seed=5)
    gen.write_shop(root / "shop", cfg)
    with open_store(f"duckdb:///{root / 'demo.duckdb'}") as store:
        ingest(root / "shop", store)
        P.export_snapshot(store, root / "snap")
    end = datetime.combine(cfg.start + timedelta(days=cfg.days), datetime.min.time())
    cut = end - timedelta(days=PARAMS.label_days)
    at_cut = replace(PARAMS, until=cut)
    with get_engine("duckdb") as eng:
        P.prepare(eng, root / "snap", at_cut)
        eng.materialise("interactions", INTERACTIONS)
        eng.fit_als("interactions", at_cut, root / "als_model")
        eng.als_candidates(root / "als_model", replace(at_cut, candidates=20), "als_cands")
        eng.write_parquet("als_cands", root / "als")
    return root / "snap", root / "als", cut, end


def _features_and_training_rows(engine, synth) -> tuple[list[dict], object]:
    snap, als, cut, end = synth
    at_cut = replace(PARAMS, until=cut)
    P.prepare(engine, snap, at_cut)
    P.build_aggregates(engine, at_cut, cut, None, names=("popularity", "user_profiles"))
    engine.register_parquet("als_raw", als)
    engine.materialise("als_cands", "SELECT * FROM als_raw")
    batch_ranker.build_features(engine, PARAMS, cut, P.StageTimes())
    engine.materialise("labels", R.labels(cut, end))
    engine.materialise("train_users", R.training_users(PARAMS))
    engine.materialise("train_rows", R.TRAINING_ROWS)
    return _rows(engine.to_arrow("feats")), engine.to_arrow("train_rows").to_pandas()


@pytest.fixture(scope="module")
def duck(synth) -> dict:
    with get_engine("duckdb") as eng:
        feats, train = _features_and_training_rows(eng, synth)
        booster, report = batch_ranker.fit(train, PARAMS)
        text = booster.model_to_string(num_iteration=booster.best_iteration or None)
        eng.score_booster("feats", text, list(R.FEATURES), "scored", synth[0].parent / "scored-duck")
        eng.materialise("recommendations", R.top_k(PARAMS, eng.dialect))
        return {"feats": feats, "model": text, "report": report, "scored": _rows(eng.to_arrow("scored")),
                "recs": _rows(eng.to_arrow("recommendations"))}


def test_duckdb_ranker_learns(duck: dict) -> None:
    assert duck["report"]["queries"] >= 20 and duck["report"]["positives"] > 0
    assert duck["report"]["valid_ndcg@10"] > 0.1
    users = {r["user_id"] for r in duck["feats"]}
    assert {r["user_id"] for r in duck["recs"]} == users and len(duck["recs"]) == PARAMS.k * len(users)


def test_spark_features_model_and_lists_identical(spark_engine, synth, duck: dict) -> None:
    feats, train = _features_and_training_rows(spark_engine, synth)
    assert len(feats) == len(duck["feats"])
    assert feats == duck["feats"]  # every candidate and every (rounded) feature, exactly
    booster, _ = batch_ranker.fit(train, PARAMS)
    assert booster.model_to_string(num_iteration=booster.best_iteration or None) == duck["model"]
    spark_engine.score_booster("feats", duck["model"], list(R.FEATURES), "scored", synth[0].parent / "scored-spark")
    scored = _rows(spark_engine.to_arrow("scored"))
    assert scored == duck["scored"]
    spark_engine.materialise("recommendations", R.top_k(PARAMS, spark_engine.dialect))
    assert _rows(spark_engine.to_arrow("recommendations")) == duck["recs"]
