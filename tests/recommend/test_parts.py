"""The parts checked against slow, obvious references and hand-computed answers."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from shelfwise.recommend import Interactions
from shelfwise.recommend.buy_again import BuyAgain
from shelfwise.recommend.candidates import _ranks, _top_n_mask
from shelfwise.recommend.covisit import CoVisit
from shelfwise.recommend.history import History
from shelfwise.recommend.itemknn import ItemKNN
from shelfwise.recommend.popular import Popular, Trending
from shelfwise.recommend.ranker import staged_predict
from shelfwise.recommend.similarity import top_n_per_row

NOW = datetime(2024, 3, 1)


def _frame(rows):
    return pd.DataFrame(rows, columns=["timestamp", "user_id", "item_id", "event", "quantity", "order_id"])


def test_history_matrix_matches_a_slow_reference(tiny):
    h = History.from_interactions(tiny)
    rows = np.array([0, 5, -1, 17])
    m = h.matrix(rows, {"purchase": 1.0, "view": 0.5}, half_life_days=20.0).toarray()
    ev = tiny.events
    now = pd.Timestamp(tiny.now)
    for r, u in enumerate(rows):
        expected = np.zeros(tiny.n_items)
        if u >= 0:
            for e in ev[ev.user_idx == u].itertuples():
                w = {"purchase": 1.0, "view": 0.5}.get(e.event, 0.0)
                age = (now - e.timestamp).total_seconds() / 86400
                expected[e.item_idx] += w * 0.5 ** (age / 20.0)
        np.testing.assert_allclose(m[r], expected, rtol=1e-9, atol=1e-12)


def test_history_days_since_first_and_last():
    ev = _frame([(NOW - timedelta(days=10), "a", "x", "purchase", 1, "o1"),
                 (NOW - timedelta(days=3), "a", "x", "purchase", 1, "o2"),
                 (NOW, "a", "y", "view", 1, None)])
    data = Interactions.from_frames(ev, now=NOW)
    h = History.from_interactions(data)
    last = h.days_since(np.array([0]), code=5).toarray()[0]
    first = h.days_since(np.array([0]), code=5, first=True).toarray()[0]
    x, y = data.item_index("x"), data.item_index("y")
    assert last[x] == pytest.approx(4.0) and first[x] == pytest.approx(11.0)  # 1 + days
    assert last[y] == 0.0  # never purchased
    assert h.days_since(np.array([0])).toarray()[0][y] == pytest.approx(1.0)  # viewed today


def test_history_add_and_overlay():
    ev = _frame([(NOW - timedelta(days=1), "a", "x", "purchase", 1, "o1")])
    data = Interactions.from_frames(ev, pd.DataFrame({"item_id": ["x", "y"]}), now=NOW)
    h = History.from_interactions(data)
    extra = _frame([(NOW, "b", "y", "purchase", 2, "o2"), (NOW, "b", "unknown", "purchase", 1, "o2")])
    with h.overlay(extra, data._item_index):
        row = h.rows(["b"])[0]
        assert row == 1 and h.matrix(np.array([row]), {"purchase": 1.0}).toarray()[0].tolist() == [0.0, 1.0]
    assert h.rows(["b"])[0] == -1 and h.n_rows == 1  # gone after the block
    assert h.add(extra, data._item_index) == 1  # the unknown item is skipped
    assert h.rows(["b"])[0] == 1


def test_buy_again_is_decayed_purchase_count():
    ev = _frame([(NOW - timedelta(days=100), "a", "old", "purchase", 1, "o1"),
                 (NOW - timedelta(days=200), "a", "old", "purchase", 1, "o0"),
                 (NOW - timedelta(days=1), "a", "new", "purchase", 1, "o2"),
                 (NOW - timedelta(days=1), "a", "seen", "view", 1, None)])
    data = Interactions.from_frames(ev, now=NOW)
    ids, scores = BuyAgain(half_life_days=100.0).fit(data).recommend("a", k=3)
    assert list(ids) == ["new", "old", None]  # 0.5 ** 0.01 > 0.5 + 0.25; a view is not a purchase
    assert scores[0] == pytest.approx(0.5 ** 0.01) and scores[1] == pytest.approx(0.75)


def test_popular_and_trending_known_answers():
    rows = [(NOW - timedelta(days=d), f"u{d}", "steady", "purchase", 1, f"s{d}") for d in range(0, 35)]
    rows += [(NOW - timedelta(days=d, hours=1), f"v{d}", "rising", "purchase", 1, f"r{d}") for d in range(0, 6)] * 3
    rows += [(NOW - timedelta(days=60), "w", "old", "purchase", 1, "x")] * 50
    data = Interactions.from_frames(_frame(rows), now=NOW)
    pop_all = Popular(half_life_days=None).fit(data).recommend("anyone", k=3)[0]
    assert pop_all[0] == "old"  # 50 sales, long ago
    assert Popular(half_life_days=60.0).fit(data).recommend("anyone", k=1)[0][0] == "steady"  # ~30 vs ~18
    assert Popular(half_life_days=7.0).fit(data).recommend("anyone", k=1)[0][0] == "rising"  # ~10.6 vs ~14.4
    trend = Trending().fit(data)
    assert trend.recommend("anyone", k=1)[0][0] == "rising"
    assert trend.trend_[data.item_index("old")] == pytest.approx(1.0)


def test_covisit_pairs_from_baskets():
    rows = []
    for o in range(20):  # a and b always together, c alone with a once
        rows += [(NOW - timedelta(days=1), f"u{o}", "a", "purchase", 1, f"o{o}"),
                 (NOW - timedelta(days=1), f"u{o}", "b", "purchase", 1, f"o{o}")]
    rows += [(NOW, "z", "a", "purchase", 1, "oz"), (NOW, "z", "c", "purchase", 1, "oz")]
    data = Interactions.from_frames(_frame(rows), now=NOW)
    model = CoVisit().fit(data)
    ids, _ = model.similar_items(["a"], k=2)
    assert list(ids[0]) == ["b", "c"]
    user_ids, _ = model.recommend("u0", k=3)
    assert user_ids[0] == "c" or set(user_ids[:2]) == {"a", "b"}


def test_itemknn_matches_cosine_reference(tiny):
    model = ItemKNN(neighbours=1000, shrink=0.0, include_self=False).fit(tiny)
    x = tiny.matrix({"purchase": 1.0, "cart": 1, "favorite": 1, "click": 1, "view": 1}).toarray() > 0
    x = x.astype(float)
    norms = np.sqrt(x.sum(axis=0))
    ref = (x.T @ x) / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(ref, 0.0)
    np.testing.assert_allclose(model.sim_.toarray(), ref, rtol=1e-5, atol=1e-6)


def test_top_n_helpers_against_sorting():
    rng = np.random.default_rng(3)
    s = rng.normal(size=(5, 40))
    s[:, :3] = -np.inf
    mask = _top_n_mask(s, 7)
    ranks = _ranks(s, 10)
    for r in range(5):
        order = np.argsort(-s[r], kind="stable")
        assert set(np.flatnonzero(mask[r])) == set(order[:7])
        assert [int(ranks[r, j]) for j in order[:10]] == list(range(1, 11))
    m = top_n_per_row(__import__("scipy.sparse", fromlist=["csr_matrix"]).csr_matrix(np.abs(s[:, 3:])), 4)
    assert (np.diff(m.indptr) == 4).all()


@pytest.mark.parametrize("k", [1, 3, 8, 30])
def test_top_k_against_sorting_with_ties(k):
    """Ties at the k-th score go to the earlier column (argpartition alone chose them by the rest of the
    row); -inf never makes a list."""
    from shelfwise.recommend.base import _top_k

    rng = np.random.default_rng(11)
    s = rng.integers(0, 4, size=(60, 25)).astype(float)  # four distinct values: ties everywhere
    s[rng.random(s.shape) < 0.3] = -np.inf
    item_ids = np.array([f"i{j:02d}" for j in range(25)], dtype=object)
    ids, top = _top_k(s, item_ids, k)
    for r in range(len(s)):
        want = sorted((j for j in range(25) if np.isfinite(s[r, j])), key=lambda j: (-s[r, j], j))[:k]
        got = [i for i in ids[r] if i is not None]
        assert got == [item_ids[j] for j in want]
        assert top[r, :len(want)].tolist() == [s[r, j] for j in want]
        assert np.isneginf(top[r, len(want):]).all()


def test_staged_predict_is_exact_when_groups_are_short():
    lgb = pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + 0.3 * rng.normal(size=600) > 0).astype(float)
    booster = lgb.train({"objective": "binary", "verbose": -1, "num_threads": 1}, lgb.Dataset(x, y), 60)
    group = np.repeat(np.arange(6), 100)
    full = booster.predict(x)
    np.testing.assert_allclose(staged_predict(booster, x, group, shortlist=100), full)
    staged = staged_predict(booster, x, group, shortlist=30)
    for g in range(6):
        sel = group == g
        shortlisted = np.argsort(-staged[sel])[:30]
        np.testing.assert_allclose(staged[sel][shortlisted], full[sel][shortlisted])  # all trees there
        assert staged[sel][np.argsort(-staged[sel])[30:]].max() < staged[sel][shortlisted].min()
        assert (np.sort(staged[sel])[-30:] == np.sort(full[sel][np.argsort(-staged[sel])[:30]])).all()


def test_hybrid_new_item_path_and_probability_scale(tiny, tiny_emb):
    """Whole-catalog lists take items without events only while they are new (unknown or recent launch);
    a listed item (``items=``) is always ranked; both rankers' probabilities carry their prior."""
    from shelfwise.recommend.data import Interactions
    from shelfwise.recommend.ranker import Hybrid

    items = tiny.items.copy()
    now = pd.Timestamp(tiny.now)
    items["launched_at"] = pd.NaT
    items.loc[items["item_id"] == "m_new", "launched_at"] = now - pd.Timedelta(days=400)  # ignored for a year
    items.loc[items["item_id"] == "s_new", "launched_at"] = now - pd.Timedelta(days=3)  # just launched
    data = Interactions(tiny.user_ids, tiny.item_ids, tiny.events, items, tiny.now, dict(tiny.event_weights))
    model = Hybrid(embeddings=tiny_emb, rounds=30).fit(data)
    new = dict(zip(data.item_ids, model.new_items()))
    assert not new["m_new"] and new["s_new"] and new["m0"]  # m0: no launch date, so not excluded
    ids, _ = model.recommend(list(data.user_ids), k=len(data.item_ids))
    assert "m_new" not in set(ids.ravel()) and "s_new" in set(ids.ravel())
    listed, scores = model.recommend("u0", k=2, items=["m_new", "s_new"])
    assert set(listed) == {"m_new", "s_new"} and np.isfinite(scores).all()
    for cal in (model.calibration_, model.cold_.calibration_):
        assert 0.0 < cal["prior"] <= 1.0


def test_code_neighbours_are_the_nearest_warm_ids_on_each_side():
    from shelfwise.recommend.cold import _code_neighbours

    ids = np.array(["85123A", "85123B", "85124", "85125", "20", "21B", "22"], dtype=object)
    warm = np.array([True, False, True, False, True, False, True])
    nb = _code_neighbours(ids, warm, 1).toarray()
    # id order: 20, 21B, 22, 85123A, 85123B, 85124, 85125
    assert set(np.flatnonzero(nb[1])) == {0, 2}  # 85123B: its sibling 85123A and the next code 85124
    assert set(np.flatnonzero(nb[5])) == {4, 6}  # 21B: 20 and 22
    assert set(np.flatnonzero(nb[3])) == {2}  # 85125: last id, nothing after it
    assert not nb[warm].any()  # only new items have rows
    rng = np.random.default_rng(0)
    ids = np.array([f"{rng.integers(100, 999)}{rng.choice(['', 'A', 'b'])}" for _ in range(400)], dtype=object)
    ids = np.unique(ids)
    warm = rng.random(len(ids)) < 0.6
    order = np.argsort([i.lower() for i in ids], kind="stable")
    warm_at = [p for p in range(len(ids)) if warm[order[p]]]
    expected = np.zeros((len(ids), len(ids)))
    for p in range(len(ids)):
        if not warm[order[p]]:
            before = [q for q in warm_at if q < p][-3:]
            after = [q for q in warm_at if q > p][:3]
            expected[order[p], order[before + after]] = 1
    assert np.array_equal(_code_neighbours(ids, warm, 3).toarray(), expected)


def test_cold_text_and_code_features_match_references(tiny, tiny_emb):
    """The TF-IDF profile features (log1p counts of the whole history, word 1-2-grams) and the
    code-neighbour features, against per-user loops."""
    from shelfwise.recommend.cold import _C, ColdItems
    from shelfwise.recommend.itemknn import INTEREST_WEIGHTS

    model = ColdItems(embeddings=tiny_emb, rounds=20).fit(tiny)
    items = np.flatnonzero(~model.stats_.has_events)
    assert len(items) > 0
    users = np.arange(min(12, len(tiny.user_ids)))
    f = model._pair_features(model.history_, users, tiny.user_ids[users], items)
    vec = model.bigrams_.toarray()
    code_nb = model.code_nb_.toarray()
    ev = tiny.events
    pop = np.nan_to_num(model.stats_.values["i_pop30"])
    for r, u in enumerate(users):
        mine = ev[ev.user_idx == u]
        counts = np.zeros(tiny.n_items)
        for e in mine.itertuples():
            counts[e.item_idx] += INTEREST_WEIGHTS.get(e.event, 0.0)
        bought = np.flatnonzero(counts > 0)
        profile = np.log1p(counts) @ vec
        norm = np.linalg.norm(profile)
        expected = vec[items] @ profile / norm if norm > 0 else np.zeros(len(items))
        np.testing.assert_allclose(f[r, :, _C["c_bigrams"]], expected, atol=1e-5)
        if len(bought):
            sims = vec[bought] @ vec[items].T
            np.testing.assert_allclose(f[r, :, _C["c_bigrams_max"]], sims.max(axis=0), atol=1e-5)
            np.testing.assert_allclose(f[r, :, _C["c_bigrams_mean"]], sims.mean(axis=0), atol=1e-5)
        np.testing.assert_allclose(f[r, :, _C["c_code_user"]], (counts > 0) @ code_nb[items].T, atol=1e-6)
        ids = [str(i).lower() for i in tiny.item_ids]
        lcp = [max((len(os.path.commonprefix([ids[c], ids[b]])) for b in bought), default=0) for c in items]
        np.testing.assert_allclose(f[r, :, _C["c_code_prefix"]], np.maximum(np.array(lcp) - 2, 0))
    w = np.maximum(code_nb[items].sum(axis=1), 1e-9)
    np.testing.assert_allclose(f[0, :, _C["i_code_pop30"]], code_nb[items] @ pop / w, rtol=1e-5)


def test_id_prefix_overlap_is_the_common_prefix_length():
    from shelfwise.recommend.cold import _id_prefixes

    ids = np.array(["85123A", "85123b", "85124", "99", "851", "22"], dtype=object)
    p = _id_prefixes(ids)
    shared = (p @ p.T).toarray()
    low = [i.lower() for i in ids]
    expected = [[max(len(os.path.commonprefix([a, b])) - 2, 0) for b in low] for a in low]
    assert np.array_equal(shared, expected)
    assert shared[0, 1] == 3 and shared[0, 2] == 2 and shared[0, 3] == 0  # 85123, 8512 / 851


@pytest.mark.parametrize("chunk", [1, 3, 256])
def test_cold_max_similarity_features_match_whole_tables(tiny, tiny_emb, monkeypatch, chunk):
    """The most-similar-bought-item features, computed chunk by chunk of users, equal the maxima over
    whole-catalog similarity tables (what they were computed from before the tables were dropped)."""
    from shelfwise.recommend import cold
    from shelfwise.recommend.cold import _C, ColdItems
    from shelfwise.recommend.itemknn import INTEREST_WEIGHTS

    monkeypatch.setattr(cold, "MAX_CHUNK_USERS", chunk)
    model = ColdItems(embeddings=tiny_emb, rounds=20).fit(tiny)
    items = np.flatnonzero(~model.stats_.has_events)
    users = np.arange(min(12, len(tiny.user_ids)))
    f = model._pair_features(model.history_, users, tiny.user_ids[users], items)
    rows = model.history_.rows(tiny.user_ids[users], users)
    bought = model.history_.matrix(rows, INTEREST_WEIGHTS, binary=True)
    whole = {"c_tfidf_max": (model.tfidf_ @ model.tfidf_[items].T).toarray(),
             "c_words_max": (model.words_ @ model.words_[items].T).toarray(),
             "c_max_sim": model.emb_ @ model.emb_[items].T,
             "c_bigrams_max": (model.bigrams_ @ model.bigrams_[items].T).toarray()}
    checked = 0
    for r in range(len(users)):
        mine = bought.indices[bought.indptr[r]:bought.indptr[r + 1]]
        if not len(mine):
            assert np.isnan(f[r, :, _C["c_max_sim"]]).all()
            continue
        checked += 1
        for name, table in whole.items():
            np.testing.assert_allclose(f[r, :, _C[name]], table[mine].max(axis=0), atol=1e-6)
        np.testing.assert_allclose(f[r, :, _C["c_bigrams_mean"]], whole["c_bigrams_max"][mine].mean(axis=0),
                                   atol=1e-6)
    assert checked > 0


def test_hybrid_similar_items_of_an_item_without_events_are_its_text_neighbours(tiny, tiny_emb):
    """An item nobody interacted with has no co-visitation and no ALS evidence (its ALS row is all zeros),
    so its similar items are its text neighbours. The zero row used to rank every item in catalogue order
    and vote for the first ones, so a new pair of socks was "similar" to the first mugs of the catalogue
    (on the demo shop: a hand cream's neighbours were a towel and a brain teaser)."""
    from shelfwise.recommend.ranker import Hybrid

    model = Hybrid(embeddings=tiny_emb, rounds=30).fit(tiny)
    ids, scores = model.similar_items(["s_new"], k=5)
    assert all(str(i).startswith("s") for i in ids[0]), list(ids[0])
    content_ids, _ = model.generators_["content"].similar_items(["s_new"], k=5)
    assert list(ids[0]) == list(content_ids[0])
    # a warm item keeps its fused neighbours: bought with it, and described alike
    warm, _ = model.similar_items(["s0"], k=3)
    assert all(str(i).startswith("s") for i in warm[0]), list(warm[0])


def test_hybrid_similar_fusion_keeps_a_single_neighbour_and_drops_a_constant_row():
    """The fusion's rule, on fixed generator scores: a row whose every score is equal says nothing (no
    votes), but one neighbour among -inf (an item bought with exactly one other) is still a neighbour."""
    from types import SimpleNamespace

    from shelfwise.recommend.ranker import Hybrid

    rows = {"covisit": np.array([[-np.inf, 0.3, -np.inf, -np.inf]]),  # one co-visited neighbour: item 1
            "als": np.zeros((1, 4)),                                    # no ALS evidence at all
            "content": np.array([[1.0, 0.1, 0.2, 0.9]])}
    model = Hybrid.__new__(Hybrid)
    model.generators_ = {name: SimpleNamespace(_item_scores=lambda idx, s=s: s) for name, s in rows.items()}
    model.data_ = SimpleNamespace(n_items=4)
    fused = model._item_scores(np.array([0]))[0]
    content_only = {j: 0.5 / (60.0 + r) for j, r in zip((0, 3, 2, 1), (1, 2, 3, 4))}
    assert fused[1] == pytest.approx(1.0 / 61.0 + content_only[1])   # the co-visited item keeps its vote
    for j in (0, 2, 3):
        assert fused[j] == pytest.approx(content_only[j])           # and the zero ALS row gave nobody one
