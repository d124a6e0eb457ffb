"""The recommend service with policies on a small synthetic shop, through the CLI's own code path."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shelfwise.data.store import open_store
from shelfwise.errors import InputError
from shelfwise.recommend import Interactions
from shelfwise.recommend.popular import Popular
from shelfwise.service import policy as policy_service
from shelfwise.service import recommend as rec_service


@pytest.fixture(scope="module")
def shop(small_shop):
    _, url = small_shop
    with open_store(url, read_only=True) as store:
        data = Interactions.from_store(store)
    model = Popular().fit(data)
    return url, model, [str(u) for u in data.user_ids[:60]]


def test_without_policies_the_output_is_unchanged(shop):
    url, model, users = shop
    plain = rec_service.recommend(users, 10, db=url, model=model)
    off = rec_service.recommend(users, 10, db=url, model=model, policy={"exploration_weight": 0.0})
    pd.testing.assert_frame_equal(plain, off)
    assert list(plain.columns) == ["user_id", "rank", "item_id", "score"]


def test_knobs_change_new_item_and_tail_share(shop):
    url, model, users = shop
    with open_store(url, read_only=True) as store:
        pctx = policy_service.context_from_store(store)
    ctx = pctx.items
    new, tail = ctx.new(14), ctx.tail()

    def shares(frame: pd.DataFrame) -> tuple[float, float]:
        j = ctx.indices(frame["item_id"].to_numpy())
        return float(new[j].mean()), float(tail[j].mean())

    plain = rec_service.recommend(users, 10, db=url, model=model)
    explored = rec_service.recommend(users, 10, db=url, model=model,
                                     policy={"exploration_weight": 0.3, "item_age_cutoff_days": 14})
    tailed = rec_service.recommend(users, 10, db=url, model=model, policy={"long_tail_weight": 0.5, "tail_share_target": 0.4})
    assert shares(explored)[0] >= shares(plain)[0] + 0.25
    assert (explored["source"] == "exploration").mean() == pytest.approx(0.3, abs=0.06)
    assert shares(tailed)[1] >= max(0.4, shares(plain)[1])
    assert explored.groupby("user_id").size().eq(10).all()
    assert not explored.duplicated(["user_id", "item_id"]).any()


def test_exploration_respects_the_items_restriction(shop):
    url, model, users = shop
    allowed = [str(i) for i in model.data_.item_ids[:150]]
    out = rec_service.recommend(users[:10], 10, items=allowed, db=url, model=model,
                                policy={"exploration_weight": 1.0, "item_age_cutoff_days": 365})
    assert set(out["item_id"]) <= set(allowed)


def test_feedback_reaches_the_context(shop, tmp_path):
    url, model, users = shop
    with open_store(url) as store:
        before = policy_service.context_from_store(store, with_vectors=False).items
        j = int(np.flatnonzero(before.new(30))[0])
        item = str(before.item_ids[j])
        policy_service.record_feedback(pd.DataFrame({"item_id": [item] * 3, "event": ["impression", "impression", "click"]}),
                                       store=store)
        after = policy_service.context_from_store(store, with_vectors=False).items
        store.execute("DROP TABLE exploration_stats")
    assert after.impressions[j] == 2 and after.clicks[j] == 1


def test_cli_flags_reach_the_service(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from shelfwise.cli.main import app

    seen = {}

    def fake(ids, k, allowed, filter_purchased, db, model_dir, version, policy=None):
        seen.update(policy)
        return pd.DataFrame({"user_id": ids, "rank": [1] * len(ids), "item_id": ["x"] * len(ids), "score": [1.0] * len(ids)})

    monkeypatch.setattr(rec_service, "recommend", fake)
    db = tmp_path / "shop.duckdb"
    open_store(f"duckdb:///{db}").close()  # --db must name an existing store
    monkeypatch.setenv("SHELFWISE_DB", str(db))
    result = CliRunner().invoke(app, ["recommend", "--user", "u1", "--exploration-weight", "0.2",
                                      "--item-age-cutoff-days", "14", "--long-tail-weight", "0.4", "--tail-share", "0.3",
                                      "--category-cap", "2", "--diversity", "0.25"])
    assert result.exit_code == 0, result.output
    assert seen == {"exploration_weight": 0.2, "item_age_cutoff_days": 14.0, "long_tail_weight": 0.4,
                    "tail_share_target": 0.3, "category_cap": 2, "mmr_relevance": 0.75}
    bad = CliRunner().invoke(app, ["recommend", "--user", "u1", "--exploration-weight", "1.5"])
    assert bad.exit_code != 0


def test_ids_given_by_hand_are_trimmed_like_ingest(shop):
    url, model, users = shop
    # with bought items filtered the lists are personal: a padded id used to be an unknown user, unfiltered
    plain = rec_service.recommend(users, 5, filter_purchased=True, db=url, model=model, policy=False)
    assert not plain.equals(rec_service.recommend(users, 5, filter_purchased=False, db=url, model=model, policy=False))
    padded = rec_service.recommend([f" {u}\t" for u in users], 5, filter_purchased=True, db=url, model=model,
                                   policy=False)
    pd.testing.assert_frame_equal(plain, padded)
    only = plain["item_id"].iloc[:2].tolist()
    limited = rec_service.recommend(users[:1], 5, [f" {i} " for i in only], db=url, model=model, policy=False)
    assert set(limited["item_id"]) == set(only)    # padded --items used to match nothing
    with pytest.raises(InputError, match="user_id is empty"):
        rec_service.recommend(["  "], 5, db=url, model=model)
