"""New items beside established ones in whole-catalog lists: the launch check and the cap on their slots.

- The launch check measures, at the start of the label window, how the new-item model's probabilities for
  the items that were new then compare with what those items sold, per group (with a launch date, without
  one), and the hybrid scales new items' probabilities by that factor in whole-catalog lists.
- At most ``new_item_max_share`` of a whole-catalog list's slots go to items without events.
- Lists restricted to given items (``items=``, the item cold-start protocol) are left as they were.

The Gift-Cards-like shop below is the tiny shop of ``conftest`` plus 30 catalog items with text that
never sold and carry no launch date (Amazon Gift Cards: 1,401 of 1,547 items), 15 items launched 10 days
before the label window that never sold, and 2 items launched 3 days before the end that have no events
yet. Before the launch check the never-sold items took about half of the slots of every top-10 list.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from shelfwise.config import get_settings
from shelfwise.recommend import Interactions
from shelfwise.recommend.launch import LAUNCH_PRIOR, launch_factor
from shelfwise.recommend.ranker import Hybrid, cap_new_items

from .conftest import DAYS, GROUPS, START, _catalog, _embeddings, _events

NOW = pd.Timestamp(START + timedelta(days=DAYS))
CUT = NOW - pd.Timedelta(days=28)  # the start of the default label window (the tiny shop keeps 28 days)


@pytest.fixture
def share_setting(monkeypatch):
    """Set ``SHELFWISE_NEW_ITEM_MAX_SHARE`` (None: unset) and re-read the settings."""
    def set_share(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("SHELFWISE_NEW_ITEM_MAX_SHARE", raising=False)
        else:
            monkeypatch.setenv("SHELFWISE_NEW_ITEM_MAX_SHARE", value)
        get_settings.cache_clear()

    set_share(None)
    yield set_share
    monkeypatch.delenv("SHELFWISE_NEW_ITEM_MAX_SHARE", raising=False)
    get_settings.cache_clear()


def _gift_like_catalog() -> pd.DataFrame:
    rows = []
    for g, titles in GROUPS.items():
        for j in range(10):  # never sold, no launch date
            rows.append({"item_id": f"old_{g}{j}", "title": f"{titles[j % 6]} gift edition {j}",
                         "category": f"home > {g}", "price": 10.0, "launched_at": pd.NaT})
        for j in range(5):  # launched 10 days before the label window, never sold
            rows.append({"item_id": f"flop_{g}{j}", "title": f"{titles[j]} limited {j}", "category": f"home > {g}",
                         "price": 10.0, "launched_at": CUT - pd.Timedelta(days=10)})
    for item_id, title in (("fresh_mug", "spotted mug"), ("fresh_sock", "spotted socks")):  # just launched
        rows.append({"item_id": item_id, "title": title, "category": "home > " + title.split()[1].rstrip("s"),
                     "price": 6.0, "launched_at": NOW - pd.Timedelta(days=3)})
    base = _catalog().assign(launched_at=pd.NaT)
    return pd.concat([base, pd.DataFrame(rows)], ignore_index=True)


@pytest.fixture(scope="module")
def gift_like() -> tuple[Interactions, Hybrid]:
    data = Interactions.from_frames(_events(), _gift_like_catalog(), now=NOW.to_pydatetime())
    return data, Hybrid(embeddings=_embeddings(data), rounds=30).fit(data)


def _scores(ids: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {i: float(s) for i, s in zip(ids, scores) if i is not None}


def _share(ids: np.ndarray, prefixes: tuple[str, ...]) -> float:
    flat = [str(i) for i in ids.ravel() if i is not None]
    return float(np.mean([i.startswith(prefixes) for i in flat]))


def test_launch_factor_is_the_gamma_posterior_mean():
    assert launch_factor(0.0, 0.0) == 1.0  # no evidence: the model's scale
    assert launch_factor(3.0, 1.0) == pytest.approx((3 + LAUNCH_PRIOR) / (1 + LAUNCH_PRIOR))
    assert launch_factor(0.0, 99.0, prior=1.0) == pytest.approx(0.01)
    assert launch_factor(40.0, 90.0, prior=1.0) == pytest.approx(41 / 91)


def test_cap_keeps_the_best_new_items_and_never_shortens_a_list():
    inf = np.inf
    scores = np.array([[0.9, 0.8, 0.7, 0.6, 0.5, 0.95, 0.85, 0.75],    # 3 new items (cols 5-7) beat most
                       [0.9, -inf, -inf, -inf, -inf, 0.95, 0.85, 0.75],  # one other item: new ones fill the list
                       [0.9, 0.8, 0.7, 0.6, 0.5, -inf, 0.1, -inf]])       # one new item, low: unchanged
    new = np.array([5, 6, 7])
    out = cap_new_items(scores, new, k=5, share=0.2)  # floor(0.2 * 5) = 1 new item
    assert out[0, 5] == 0.95 and np.isneginf(out[0, [6, 7]]).all()
    np.testing.assert_array_equal(out[0, :5], scores[0, :5])
    np.testing.assert_array_equal(out[1], scores[1])  # 1 other + 3 new < 5 slots: all kept
    np.testing.assert_array_equal(out[2], scores[2])
    assert np.isneginf(cap_new_items(scores, new, k=5, share=0.0)[0, new]).all()
    np.testing.assert_array_equal(cap_new_items(scores, new, k=10, share=0.3), scores)  # 3 allowed
    np.testing.assert_array_equal(cap_new_items(scores, new[:0], k=5, share=0.0), scores)


def test_never_sold_catalog_items_do_not_fill_whole_catalog_lists(gift_like):
    """Gift Cards' symptom: the launch check sees the never-sold items sell nothing at the cut, so they
    no longer take half of every list; lists of given items rank them exactly as before."""
    data, model = gift_like
    users = list(data.user_ids)
    ids, _ = model.recommend(users, k=10)
    assert _share(ids, ("old_", "flop_", "m_new", "s_new", "fresh_")) <= 0.2
    assert _share(ids, ("old_",)) < 0.05
    launch = model.cold_.launch_
    undated, dated = launch["undated"], launch["dated"]
    # at the cut: the 30 never-sold undated items and the tiny shop's two new items (no events either)
    assert undated["items"] == 32 and undated["observed"] == 0.0 and undated["expected"] > 0
    assert undated["factor"] == pytest.approx(launch_factor(0.0, undated["expected"])) and undated["factor"] < 0.1
    assert dated["items"] == 15 and dated["observed"] == 0.0  # the flops, launched 10 days before the cut
    assert dated["factor"] == pytest.approx(launch_factor(0.0, dated["expected"])) and dated["factor"] < 1.0
    # the same model without the check (the old merge) and without the cap gave them about half the slots
    saved = model.cold_.launch_
    try:
        model.cold_.launch_ = None
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SHELFWISE_NEW_ITEM_MAX_SHARE", "1")
            get_settings.cache_clear()
            old_ids, _ = model.recommend(users, k=10)
    finally:
        model.cold_.launch_ = saved
        get_settings.cache_clear()
    assert _share(old_ids, ("old_",)) > 0.3


def test_whole_catalog_scales_new_items_and_listed_items_are_untouched(gift_like, share_setting):
    data, model = gift_like
    share_setting("1")  # no cap: every score visible
    listed = ["old_mug0", "old_sock3", "fresh_mug", "fresh_sock", "m_new"]
    n = data.n_items
    factors = dict(zip(data.item_ids, model.cold_.launch_factors()))
    assert factors["fresh_mug"] == model.cold_.launch_["dated"]["factor"]
    assert factors["old_mug0"] == factors["m_new"] == model.cold_.launch_["undated"]["factor"]
    whole = _scores(*model.recommend("u0", k=n))
    restricted = _scores(*model.recommend("u0", k=n, items=listed))
    assert set(restricted) == set(listed) and all(np.isfinite(v) for v in restricted.values())
    for item in listed:
        assert whole[item] == pytest.approx(restricted[item] * factors[item], rel=1e-9)
    # listed items are ranked as without the check (the item cold-start protocol)
    saved = model.cold_.launch_
    try:
        model.cold_.launch_ = None
        before = _scores(*model.recommend("u0", k=n, items=listed))
    finally:
        model.cold_.launch_ = saved
    assert before == restricted


def test_new_items_take_at_most_the_configured_share_of_slots(tiny, tiny_emb, share_setting, monkeypatch):
    """New items that outrank everything still get at most floor(share * k) slots of a whole-catalog list
    (the setting, or ``SHELFWISE_NEW_ITEM_MAX_SHARE``); a list of given items is not capped."""
    model = Hybrid(embeddings=tiny_emb, rounds=30).fit(tiny)
    cold = model.cold_
    real = cold._score_within

    def sure(user_idx, user_ids, allowed):  # the new items are certain purchases, m_new a little more
        out = real(user_idx, user_ids, allowed)
        for item, p in (("m_new", 0.99), ("s_new", 0.98)):
            j = int(tiny.item_indices([item])[0])
            if allowed is None or allowed[j]:
                out[:, j] = p
        return out

    monkeypatch.setattr(cold, "_score_within", sure)
    monkeypatch.setattr(cold, "launch_", None, raising=False)  # as sure as that beside established items, too
    users = ["u0", "u1", "u2"]
    ids, scores = model.recommend(users, k=5)  # floor(0.2 * 5) = 1 new item, the better one
    for row, row_scores in zip(ids, scores):
        assert row[0] == "m_new" and "s_new" not in set(row)
        assert all(i is not None for i in row) and np.all(np.diff(row_scores) <= 0)
    ids, _ = model.recommend(users, k=10)  # 2 of 10
    assert all({"m_new", "s_new"} <= set(row) for row in ids)
    assert get_settings().new_item_max_share == 0.2  # the default
    share_setting("0")
    ids, _ = model.recommend(users, k=10)
    assert not ({"m_new", "s_new"} & set(ids.ravel()))
    listed, _ = model.recommend(users, k=3, items=["m_new", "s_new", "m0"])  # not capped
    assert all(list(row[:2]) == ["m_new", "s_new"] for row in listed)
    share_setting("1")
    ids, _ = model.recommend(users, k=5)
    assert all(list(row[:2]) == ["m_new", "s_new"] for row in ids)


def test_the_launch_check_survives_a_save_and_load(gift_like, tmp_path):
    from shelfwise.artifacts import load_json, save_json
    from shelfwise.recommend.persist import load_component, load_data, save_component, save_data

    data, model = gift_like
    save_data(tmp_path / "data", model.data_, model.history_)
    save_component(model.cold_, tmp_path / "cold")
    loaded_data, history = load_data(tmp_path / "data")
    cold = load_component(tmp_path / "cold", loaded_data, history)
    assert cold.launch_ == model.cold_.launch_
    np.testing.assert_array_equal(cold.launch_factors(), model.cold_.launch_factors())
    meta = load_json(tmp_path / "cold", "ranker")  # a model set saved before the check: factor 1
    del meta["launch"]
    save_json(tmp_path / "cold", "ranker", meta)
    old = load_component(tmp_path / "cold", loaded_data, history)
    assert old.launch_ is None and (old.launch_factors() == 1.0).all()
