"""``shelfwise train``, ``recommend`` and ``similar`` end to end on the tiny shop, through the CLI.

Checks what the issue's acceptance run relies on: a versioned, pickle-free model set; the CSV
``user_id,rank,item_id,score`` with ranks from 1; ``--items`` restricting candidates (new items with
no events included); the purchased filter as a flag and as a setting; a new user getting popular
items and then personal ones as soon as their events reach the store, without a retrain.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.config import get_settings
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store

from .conftest import DAYS, START, _embeddings

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_frames: tuple[pd.DataFrame, pd.DataFrame]) -> dict:
    root = tmp_path_factory.mktemp("rec_cli")
    events, items = tiny_frames
    shop = root / "shop"
    shop.mkdir()
    items.to_csv(shop / "items.csv", index=False)
    events.assign(user_id=events["user_id"].fillna("")).to_csv(shop / "events.csv", index=False)
    db = str(root / "shop.duckdb")
    with open_store(db) as store:
        ingest(shop, store)
    models = root / "models"
    # hand-made embeddings instead of loading the sentence encoder (tens of seconds on a busy machine);
    # the real encoder runs in the slow quality test and in the demo
    with pytest.MonkeyPatch.context() as mp:
        for module in ("shelfwise.recommend.ranker", "shelfwise.recommend.cold", "shelfwise.recommend.content"):
            mp.setattr(f"{module}.item_embeddings", lambda data, encoder=None, store=None: _embeddings(data))
        res = runner.invoke(app, ["train", "--db", db, "--model-dir", str(models), "--label-days", "40"])
    assert res.exit_code == 0, res.output
    return {"db": db, "models": models, "root": root}


def _recommend(trained: dict, *args: str) -> pd.DataFrame:
    out = trained["root"] / "recs.csv"
    res = runner.invoke(app, ["recommend", "--db", trained["db"], "--model-dir", str(trained["models"]),
                              "--out", str(out), *args])
    assert res.exit_code == 0, res.output
    return pd.read_csv(out, dtype={"user_id": str, "item_id": str})


def test_model_set_is_versioned_and_pickle_free(trained: dict) -> None:
    models: Path = trained["models"]
    version = (models / "current").read_text().strip()
    assert (models / version / "manifest.json").exists()
    files = [p for p in (models / version).rglob("*") if p.is_file()]
    assert files and all(p.suffix in {".json", ".npy", ".txt"} for p in files), {p.suffix for p in files}
    for p in files:
        if p.suffix == ".npy":
            with p.open("rb") as fh:  # object arrays would need pickle: none may be saved
                assert b"'descr': '|O'" not in fh.read(128), p


def test_recommend_csv_for_a_users_file(trained: dict) -> None:
    users = trained["root"] / "users.csv"
    users.write_text("user_id\nu0\nu1\nu2\n")
    recs = _recommend(trained, "--users", str(users), "-k", "5")
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"]
    assert recs.groupby("user_id")["rank"].apply(list).to_dict() == {u: [1, 2, 3, 4, 5] for u in ("u0", "u1", "u2")}
    assert (recs.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
    # u0 is a mug buyer whose staples are m0 and m2: repeat purchases are not filtered by default
    top = recs[recs["user_id"] == "u0"]["item_id"].tolist()
    assert {"m0", "m2"} <= set(top[:3])


def test_users_file_with_duplicates_unknowns_and_blank_lines(trained: dict) -> None:
    users = trained["root"] / "users_dup.csv"
    users.write_text("user_id\nu1\n\nu0\nu1\nstranger\nu0\n")
    recs = _recommend(trained, "--users", str(users), "-k", "3")
    assert recs["user_id"].drop_duplicates().tolist() == ["u1", "u0", "stranger"]  # one list each, first order
    assert recs.groupby("user_id")["rank"].apply(list).to_dict() == {u: [1, 2, 3] for u in ("u0", "u1", "stranger")}


def test_items_limits_candidates_and_reaches_new_items(trained: dict) -> None:
    allowed = trained["root"] / "allowed.csv"
    allowed.write_text("item_id\nm_new\ns_new\nl0\n")
    recs = _recommend(trained, "--user", "u0", "-k", "3", "--items", str(allowed))
    assert set(recs["item_id"]) == {"m_new", "s_new", "l0"}
    assert recs["item_id"].iloc[0] == "m_new"  # the new mug, from its text, for a mug buyer


def test_filter_purchased_flag_and_setting(trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    bought = {"m0", "m2"}
    flagged = _recommend(trained, "--user", "u0", "-k", "5", "--filter-purchased")
    assert not bought & set(flagged["item_id"])
    monkeypatch.setenv("SHELFWISE_FILTER_PURCHASED", "true")
    get_settings.cache_clear()
    try:
        by_setting = _recommend(trained, "--user", "u0", "-k", "5")
        assert not bought & set(by_setting["item_id"])
        overridden = _recommend(trained, "--user", "u0", "-k", "5", "--no-filter-purchased")
        assert bought <= set(overridden["item_id"])
    finally:
        monkeypatch.delenv("SHELFWISE_FILTER_PURCHASED")
        get_settings.cache_clear()


def test_new_user_popular_then_personal(trained: dict) -> None:
    before = _recommend(trained, "--user", "newbie", "-k", "3")
    assert len(before) == 3 and before["score"].max() <= 0.01  # popular, scaled below personal scores
    ts = START + timedelta(days=DAYS, hours=1)
    fresh = pd.DataFrame({"timestamp": [ts, ts], "user_id": ["newbie", "newbie"], "item_id": ["s1", "s3"],
                          "event": ["purchase", "purchase"], "quantity": [1.0, 1.0]})
    later = trained["root"] / "later"
    later.mkdir()
    fresh.to_csv(later / "events.csv", index=False)
    with open_store(trained["db"]) as store:  # the events arrive the ordinary way: an ingest
        ingest(later, store)
    after = _recommend(trained, "--user", "newbie", "-k", "3")
    assert after["score"].max() > 0.01
    warm = after[~after["item_id"].str.endswith("_new")]["item_id"]  # new items may join, from their text
    assert len(warm) >= 2 and warm.str.startswith("s").all()  # a sock buyer now gets socks
    assert set(after["item_id"]) != set(before["item_id"])


def test_similar(trained: dict) -> None:
    res = runner.invoke(app, ["similar", "m0", "-k", "3", "--csv", "--model-dir", str(trained["models"])])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[0] == "item_id,rank,similar_item_id,score" and len(lines) == 4
    assert all(line.split(",")[2].startswith("m") for line in lines[1:])  # mugs are like mugs
    res = runner.invoke(app, ["similar", "nope", "--model-dir", str(trained["models"])])
    assert res.exit_code != 0 and "unknown item" in res.output
