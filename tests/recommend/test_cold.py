"""The new-item model's borrowed collaborative features and its safety fallback, against references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from shelfwise.recommend.cold import _C, FALLBACK_FEATURES, MIN_VALID_QUERIES, ColdItems, group_ndcg
from shelfwise.recommend.cold_cf import text_neighbours
from shelfwise.recommend.itemknn import INTEREST_WEIGHTS


def test_text_neighbours_are_the_most_similar_warm_items():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(30, 5)).astype(np.float32)
    warm = rng.random(30) < 0.6
    nb = text_neighbours(v, warm, 3).toarray()
    sparse = text_neighbours(sp.csr_matrix(v), warm, 3).toarray()
    np.testing.assert_allclose(nb, sparse, rtol=1e-5)
    assert not nb[warm].any()
    for c in np.flatnonzero(~warm):
        sims = v[c] @ v.T
        ranked = [j for j in np.argsort(-sims) if warm[j] and sims[j] > 0][:3]
        assert set(np.flatnonzero(nb[c])) == set(ranked)
        np.testing.assert_allclose(nb[c, ranked], sims[ranked], rtol=1e-5)


@pytest.fixture(scope="module")
def cold_model(tiny, tiny_emb):
    return ColdItems(embeddings=tiny_emb, rounds=20).fit(tiny)


def test_borrowed_collaborative_features_match_per_user_loops(tiny, cold_model):
    """c_nb_als_tf = the user's ALS factor . the similarity-weighted mean factor of the new item's
    word-TF-IDF neighbours; c_nb_user_tf = the user's bought neighbours, weighted by similarity."""
    m = cold_model
    items = np.flatnonzero(~m.stats_.has_events)
    users = np.arange(min(10, len(tiny.user_ids)))
    f = m._pair_features(m.history_, users, tiny.user_ids[users], items)
    rows = m.history_.rows(tiny.user_ids[users], users)
    bought = m.history_.matrix(rows, INTEREST_WEIGHTS, binary=True).toarray()
    nb = text_neighbours(m.bigrams_, m.stats_.has_events, m.neighbours).toarray()
    assert np.array_equal(nb, m.cf_.nb_.toarray()) and nb[items].any()
    factors = m.cf_.als_.item_factors_
    u_f = m.cf_.als_.user_factors_[rows]  # every test user is known and unchanged since the fit
    for r in range(len(users)):
        for c, item in enumerate(items):
            w = nb[item]
            mean = (w[:, None] * factors).sum(axis=0) / w.sum() if w.sum() > 0 else np.zeros(factors.shape[1])
            assert f[r, c, _C["c_nb_als_tf"]] == pytest.approx(float(u_f[r] @ mean), rel=1e-4, abs=1e-5)
            assert f[r, c, _C["c_nb_user_tf"]] == pytest.approx(float(bought[r] @ w), rel=1e-5, abs=1e-6)


def test_group_ndcg_matches_a_hand_computed_value():
    # group 1: the positive ranked 2nd of 3 -> 1/log2(3); group 2: both positives first -> 1
    scores = np.array([0.9, 0.5, 0.1, 0.3, 0.8, 0.7])
    labels = np.array([0, 1, 0, 0, 1, 1])
    np.testing.assert_allclose(group_ndcg(scores, labels, np.array([3, 3])), [1 / np.log2(3), 1.0])
    assert not group_ndcg(scores, np.zeros(6), np.array([3, 3])).any()


def test_the_lower_bound_needs_a_sure_gain():
    from shelfwise.recommend.cold import _lower_bound

    assert _lower_bound(np.full(400, 0.1) + np.random.default_rng(0).normal(0, 0.05, 400), 0) > 0
    assert _lower_bound(np.array([0.5, -0.3, 0.4, -0.2, 0.1]), 0) < 0  # five noisy queries prove nothing
    assert _lower_bound(np.zeros(0), 0) == float("-inf")


def test_training_reports_the_fallback_decision_and_serving_follows_it(tiny, cold_model):
    report = cold_model.train_report_
    assert set(report["ndcg@10_single_all_queries"]) == set(FALLBACK_FEATURES)
    # the tiny shop has far fewer held-out queries than the ranker needs: it serves a TF-IDF score
    assert report["valid_queries"] < MIN_VALID_QUERIES
    best = max(FALLBACK_FEATURES, key=lambda k: report["ndcg@10_single_all_queries"][k])
    assert report["serves"] == best == cold_model.fallback_
    # forced onto the fallback, the ranking is the feature's own ranking
    m = cold_model
    items = np.flatnonzero(~m.stats_.has_events)
    users = np.arange(6)
    x = m._pair_features(m.history_, users, tiny.user_ids[users], items)
    saved = m.fallback_
    try:
        m.fallback_ = "c_bigrams"
        p = m._predict(x)
    finally:
        m.fallback_ = saved
    feature = x[:, :, _C["c_bigrams"]]
    for r in range(len(users)):
        assert np.array_equal(np.argsort(-p[r], kind="stable"), np.argsort(-feature[r], kind="stable"))


def test_family_features_on_a_hand_built_catalog():
    """Siblings: same length, one word apart, warm only; head: the last word, its share of the user's
    purchases and the mean recent sales of its warm items."""
    from shelfwise.recommend.cold_family import Families

    titles = ["PINK RETROSPOT CAKE STAND",  # 0 new
              "RED RETROSPOT CAKE STAND",  # 1 sibling of 0
              "RED RETROSPOT MUG",  # 2 new: two words from 3, so no sibling of it
              "BLUE SPOTTY MUG",  # 3
              "MUG",  # 4 one word: no siblings, head "mug"
              "RED RETROSPOT CAKE STAND LARGE",  # 5 one word longer: no sibling of 0 or 1
              "GREEN RETROSPOT CAKE STAND",  # 6 new sibling of 0: new items do not count
              None]  # 7 no title
    warm = np.array([False, True, False, True, True, True, False, True])
    pop30 = np.array([0.0, 2.0, 0.0, 3.0, 5.0, 4.0, 0.0, np.nan])
    fam = Families().fit(titles, warm, pop30)
    assert fam.sib_n_.tolist() == [1, 0, 0, 0, 0, 0, 1, 0]  # 1's siblings 0 and 6 are both new
    assert fam.sib_pop_[0] == pytest.approx(2.0) and fam.sib_pop_[6] == pytest.approx(2.0)
    assert fam.head_pop_[0] == pytest.approx(2.0)  # "stand": item 1 only (5's head is "large")
    assert fam.head_pop_[2] == pytest.approx(4.0)  # "mug": warm items 3 and 4, (3 + 5) / 2
    bought = sp.csr_matrix(np.array([[0, 1, 0, 1, 0, 0, 0, 0],    # a cake stand and a mug
                                     [0, 0, 0, 1, 1, 0, 0, 0]], dtype=float))  # two mugs
    f = fam.features(bought, np.array([0, 2, 6]))
    np.testing.assert_allclose(f["c_sib_user"], [[1, 0, 1], [0, 0, 0]])
    np.testing.assert_allclose(f["c_head_share"], [[0.5, 0.5, 0.5], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(f["i_sib_n"], [[1, 0, 1]] * 2)
    np.testing.assert_allclose(f["i_head_pop30"], [[2.0, 4.0, 2.0]] * 2)


def test_family_features_reach_the_model_and_survive_saving(tiny, cold_model, tmp_path):
    """The model's family columns are the Families features of the user's bought items; saved and loaded
    they are the same numbers."""
    from shelfwise.recommend.cold_family import FAMILY_FEATURES, Families

    m = cold_model
    items = np.flatnonzero(~m.stats_.has_events)
    users = np.arange(min(8, len(tiny.user_ids)))
    f = m._pair_features(m.history_, users, tiny.user_ids[users], items)
    rows = m.history_.rows(tiny.user_ids[users], users)
    bought = m.history_.matrix(rows, INTEREST_WEIGHTS, binary=True)
    expected = m.family_.features(bought, items)
    for name in FAMILY_FEATURES:
        np.testing.assert_allclose(f[:, :, _C[name]], expected[name], rtol=1e-6)
    m.family_.save(tmp_path)
    back = Families.load(tmp_path).features(bought, items)
    for name in FAMILY_FEATURES:
        np.testing.assert_allclose(back[name], expected[name])


def test_a_model_set_saved_before_the_families_loads_them_rebuilt(tiny, cold_model, tmp_path):
    """Older model sets have no families folder: loading rebuilds the same families from the catalog."""
    import shutil

    from shelfwise.recommend.persist import load_component, load_data, save_component, save_data

    m = cold_model
    save_data(tmp_path / "data", m.data_, m.history_)
    save_component(m, tmp_path / "model")
    shutil.rmtree(tmp_path / "model" / "families")
    data, history = load_data(tmp_path / "data")
    loaded = load_component(tmp_path / "model", data, history)
    for name in ("sib_", "head_"):
        assert (getattr(loaded.family_, name) != getattr(m.family_, name)).nnz == 0
    for name in ("sib_n_", "sib_pop_", "head_pop_"):
        np.testing.assert_allclose(getattr(loaded.family_, name), getattr(m.family_, name))
