"""The peers, the model loop, the independent CSV scorer and the ``shelfwise evaluate`` commands."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.errors import InputError, SchemaError
from shelfwise.evaluate.baselines import BuyAgainPeer, ImplicitALS, ImplicitBM25, Popularity, TfidfContent
from shelfwise.evaluate.split import split_frames
from shelfwise.recommend.data import Interactions
from shelfwise.service import evaluate as svc

from .test_split import EVENTS, ITEMS


@pytest.fixture()
def db(tmp_path: Path) -> str:
    folder = tmp_path / "shop"
    folder.mkdir()
    ITEMS.to_csv(folder / "items.csv", index=False)
    EVENTS.to_csv(folder / "events.csv", index=False)
    path = str(tmp_path / "shop.duckdb")
    with open_store(path) as store:
        ingest(folder, store)
    return path


def _train() -> Interactions:
    return split_frames(EVENTS, ITEMS, "2024-01-10").train


# --- peers ----------------------------------------------------------------------------------------
def test_popularity_counts_distinct_buyers() -> None:
    ids, scores = Popularity().fit(_train()).recommend(["u3", "nobody"], k=3)
    assert list(ids[0]) == ["a", "b", None]  # a: u1 and u2; views (c, d) are not purchases
    assert list(ids[1]) == ["a", "b", None]  # the same list for a user never seen


def test_buy_again_frequency_then_recency() -> None:
    events = pd.DataFrame([("2024-01-01", "u", "x", "purchase"), ("2024-01-02", "u", "x", "purchase"),
                           ("2024-01-03", "u", "y", "purchase"), ("2024-01-04", "u", "z", "purchase"),
                           ("2024-01-05", "v", "w", "purchase")],
                          columns=["timestamp", "user_id", "item_id", "event"])
    model = BuyAgainPeer().fit(Interactions.from_frames(events))
    ids, _ = model.recommend("u", k=4)
    assert list(ids) == ["x", "z", "y", None]  # bought twice first; then the later single purchase
    assert list(model.recommend("nobody", k=2)[0]) == [None, None]


def _blocks(seed: int = 0) -> Interactions:
    """Two groups of users, each buying only within its own half of the catalog."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(60):
        group = u % 2
        for i in rng.choice(10, 4, replace=False):
            rows.append(("2024-01-01", f"u{u}", f"i{group * 10 + i}", "purchase"))
    return Interactions.from_frames(pd.DataFrame(rows, columns=["timestamp", "user_id", "item_id", "event"]))


@pytest.mark.parametrize("model,floor", [(ImplicitALS(factors=8, iterations=10), 0.95), (ImplicitBM25(K=20), 1.0)])
def test_collaborative_peers_stay_in_the_users_group(model, floor: float) -> None:
    data = _blocks()
    model.fit(data)
    ids, _ = model.recommend([f"u{u}" for u in range(60)], k=5)
    same = [int(i[1:]) // 10 == u % 2 for u, row in enumerate(ids) for i in row if i is not None]
    assert len(same) >= 0.9 * 60 * 5
    assert np.mean(same) >= floor  # item-kNN has no path between the groups at all; ALS almost none


def test_tfidf_ranks_by_shared_words() -> None:
    items = pd.DataFrame({"item_id": ["p", "q", "r", "s"],
                          "title": ["ceramic tea cup", "ceramic tea pot", "garden hose", "steel garden rake"]})
    events = pd.DataFrame([("2024-01-01", "u", "p", "purchase"), ("2024-01-01", "v", "r", "purchase")],
                          columns=["timestamp", "user_id", "item_id", "event"])
    model = TfidfContent().fit(Interactions.from_frames(events, items))
    assert model.recommend("u", k=1, items=["q", "s"])[0][0] == "q"
    assert model.recommend("v", k=1, items=["q", "s"])[0][0] == "s"


# --- the model loop -------------------------------------------------------------------------------
def test_evaluate_models_on_tiny_store(db: str) -> None:
    out = svc.evaluate_models(db, "2024-01-10", k=2, models=["popularity", "buy-again"])
    assert out["split"]["test_users"] == 3
    pop = out["models"]["popularity"]
    # everyone gets [a, b]: u1 {a, e} hits a at rank 1, u2 {c} and u3 {d} nothing
    assert pop["ndcg@2"] == pytest.approx((1 / (1 + 1 / math.log2(3))) / 3)
    assert pop["coverage"] == pytest.approx(2 / 5)
    assert pop["fit_s"] >= 0 and pop["recommend_s"] >= 0
    with pytest.raises(InputError, match="unknown model 'nope'"):
        svc.evaluate_models(db, "2024-01-10", models=["nope"])


def test_model_names_cover_peers_and_shelfwise() -> None:
    names = svc.model_names()
    assert {"shelfwise", "popularity", "buy-again", "implicit-als", "implicit-bm25", "tfidf"} <= set(names)
    assert all(n.startswith("shelfwise") or n in svc.PEERS for n in names)


# --- the independent scorer -----------------------------------------------------------------------
def _write(path: Path, rows: list[tuple]) -> Path:
    pd.DataFrame(rows, columns=["user_id", "rank", "item_id", "score"]).to_csv(path, index=False)
    return path


def test_score_csv_by_hand(db: str, tmp_path: Path) -> None:
    recs = _write(tmp_path / "recs.csv", [("u1", 1, "a", 0.9), ("u1", 2, "b", 0.5), ("u2", 1, "c", 0.7),
                                          ("u5", 1, "a", 0.3)])
    out = svc.score_recommendations(recs, db, "2024-01-10")
    m, info = out["metrics"], out["coverage_of_file"]
    assert out["k"] == 2
    # u1 hits a at rank 1 of {a, e}; u2 hits c; u3 has no list and scores 0
    assert m["ndcg@2"] == pytest.approx((1 / (1 + 1 / math.log2(3)) + 1 + 0) / 3)
    assert m["recall@2"] == pytest.approx((0.5 + 1 + 0) / 3)
    assert m["hit_rate@2"] == pytest.approx(2 / 3)
    assert info["test_users_without_recs"] == 1 and info["users_not_tested"] == 1
    assert m["coverage"] == pytest.approx(3 / 5)
    # -k 1 keeps only the first rank
    assert svc.score_recommendations(recs, db, "2024-01-10", k=1)["metrics"]["precision@1"] == pytest.approx(2 / 3)
    # --items: only e and c may be recommended and tested (u1 bought e, u2 bought c)
    (tmp_path / "items.txt").write_text("item_id\ne\nc\n")
    restricted = svc.score_recommendations(recs, db, "2024-01-10", items=tmp_path / "items.txt")
    assert restricted["metrics"]["users"] == 2
    assert restricted["coverage_of_file"]["items_not_candidates"] == 2  # a and b in u1's list


def test_score_csv_errors_name_the_line(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("user_id,rank,item_id,score\nu1,1,a,0.5\nu1,x,b,0.4\n")
    with pytest.raises(InputError, match=r"line 3.*rank 'x'"):
        svc.read_recommendations(bad)
    bad.write_text("user_id,rank,item_id\nu1,1,a\nu1,1,b\n")
    with pytest.raises(InputError, match="line 3.*twice"):
        svc.read_recommendations(bad)
    bad.write_text("user,rank,item\nu1,1,a\n")
    with pytest.raises(SchemaError, match="missing column"):
        svc.read_recommendations(bad)
    with pytest.raises(InputError, match="does not exist"):
        svc.read_recommendations(tmp_path / "none.csv")


# --- the commands ---------------------------------------------------------------------------------
def test_cli_evaluate_and_score(db: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out_json = tmp_path / "eval.json"
    res = runner.invoke(app, ["evaluate", "--db", db, "--cutoff", "2024-01-10", "-k", "2",
                              "--models", "popularity,buy-again", "--json", str(out_json)])
    assert res.exit_code == 0, res.output
    assert "buy-again" in res.output and "ndcg@2" in res.output
    assert set(json.loads(out_json.read_text())["models"]) == {"popularity", "buy-again"}

    recs = _write(tmp_path / "recs.csv", [("u1", 1, "a", 0.9), ("u2", 1, "c", 0.7)])
    res = runner.invoke(app, ["evaluate", "score", "--recs", str(recs), "--db", db, "--cutoff", "2024-01-10",
                              "--json", str(tmp_path / "score.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "score.json").read_text())["metrics"]["hit_rate@1"] == pytest.approx(2 / 3)

    # the group's --db names the store for the subcommand too
    res = runner.invoke(app, ["evaluate", "--db", db, "score", "--recs", str(recs), "--cutoff", "2024-01-10",
                              "--json", str(tmp_path / "score2.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "score2.json").read_text())["metrics"]["hit_rate@1"] == pytest.approx(2 / 3)

    res = runner.invoke(app, ["evaluate", "--db", db, "--cutoff", "2024-01-10", "--models", "nope"])
    assert res.exit_code == 2 and "unknown model" in res.output
    res = runner.invoke(app, ["evaluate", "score", "--help"])
    assert res.exit_code == 0 and "--recs" in res.output
