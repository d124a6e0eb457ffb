"""Metrics: hand-computed answers on tiny cases, and the vectorised code against the slow reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from shelfwise.evaluate import metrics as M
from shelfwise.evaluate import reference as R


def _rel(sets: list[set[int]], n_items: int) -> sp.csr_matrix:
    rows = [u for u, s in enumerate(sets) for _ in s]
    cols = [i for s in sets for i in sorted(s)]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), n_items))


# --- hand-computed --------------------------------------------------------------------------------
def test_accuracy_by_hand() -> None:
    recs = np.array([[3, 2, 1], [2, -1, -1], [0, 0, 4]])
    rel = _rel([{1, 3}, {0}, {0, 1, 2, 4}], 5)
    pu = M.per_user_accuracy(recs, rel)
    # user 0: hits at slots 0 and 2; user 1: none; user 2: item 0 counts once, then 4 hits at slot 2
    ndcg0 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    ndcg2 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3) + 1 / math.log2(4))
    np.testing.assert_allclose(pu["ndcg"], [ndcg0, 0.0, ndcg2])
    np.testing.assert_allclose(pu["recall"], [1.0, 0.0, 0.5])
    np.testing.assert_allclose(pu["mrr"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(pu["hit_rate"], [1.0, 0.0, 1.0])
    np.testing.assert_allclose(pu["precision"], [2 / 3, 0.0, 2 / 3])


def test_ideal_dcg_is_capped_at_k() -> None:
    # five relevant items, a perfect list of three: NDCG 1, recall 3/5
    pu = M.per_user_accuracy(np.array([[0, 1, 2]]), _rel([{0, 1, 2, 3, 4}], 6))
    assert pu["ndcg"][0] == pytest.approx(1.0)
    assert pu["recall"][0] == pytest.approx(0.6)


def test_mrr_later_hit() -> None:
    pu = M.per_user_accuracy(np.array([[5, 6, 2, 7]]), _rel([{2}], 8))
    assert pu["mrr"][0] == pytest.approx(1 / 3)


def test_users_without_relevant_items_are_left_out() -> None:
    recs = np.array([[0, 1], [0, 1]])
    out = M.evaluate_lists(recs, _rel([{0}, set()], 3), _catalog(3))
    assert out["users"] == 1
    assert out["ndcg@2"] == pytest.approx(1.0)


def test_gini_by_hand() -> None:
    assert M.gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)
    assert M.gini(np.array([2, 2, 2])) == pytest.approx(0.0)
    assert M.gini(np.array([1, 3])) == pytest.approx(0.25)
    assert math.isnan(M.gini(np.zeros(3)))


def test_tail_by_hand() -> None:
    # 50 + 30 = 80 % of interactions: items 0 and 1 are the head
    np.testing.assert_array_equal(M.tail_mask(np.array([10, 50, 30, 10])), [True, False, False, True])
    np.testing.assert_array_equal(M.tail_mask(np.array([50, 30, 10, 10])), [False, False, True, True])
    # ties are broken by index, so exactly one of two equal items is in the head
    np.testing.assert_array_equal(M.tail_mask(np.array([40, 40, 20]), head_share=0.4), [False, True, True])


def test_coverage_aplt_novelty_by_hand() -> None:
    recs = np.array([[0, 1], [0, 3], [-1, -1]])
    assert M.coverage(recs, 5) == pytest.approx(3 / 5)
    assert M.coverage(recs, 5, candidates=np.array([False, False, True, True, True])) == pytest.approx(1 / 3)
    np.testing.assert_array_equal(M.exposure(recs, 5), [2, 1, 0, 1, 0])
    tail = np.array([False, True, True, True, True])
    assert M.aplt(recs, tail) == pytest.approx((0.5 + 0.5) / 2)  # the empty list is not counted
    degree = np.array([3, 1, 0, 0, 0])
    # n_users 3: -log2(4/4) = 0, -log2(2/4) = 1, -log2(1/4) = 2
    assert M.novelty(recs, degree, 3) == pytest.approx(((0 + 1) / 2 + (0 + 2) / 2) / 2)


def test_cold_recall_by_hand() -> None:
    recs = np.array([[4, 0], [1, 2], [3, 0]])
    rel = _rel([{0, 4}, {0, 1}, {3}], 5)
    cold = np.array([False, False, False, False, True])
    # only user 0 bought a cold item (4), and it is recommended
    assert M.cold_recall(recs, rel, cold) == (pytest.approx(1.0), 1)
    value, users = M.cold_recall(recs, rel, np.zeros(5, dtype=bool))
    assert math.isnan(value) and users == 0


def test_duplicates_count_once() -> None:
    recs = np.array([[1, 1, 2]])
    np.testing.assert_array_equal(M.hit_matrix(recs, _rel([{1, 2}], 3)), [[True, False, True]])
    np.testing.assert_array_equal(M.exposure(recs, 3), [0, 1, 1])


def test_bad_shapes_raise() -> None:
    with pytest.raises(ValueError):
        M.hit_matrix(np.array([0, 1]), _rel([{0}], 2))
    with pytest.raises(ValueError):
        M.hit_matrix(np.array([[0, 1]]), _rel([{0}, {1}], 2))
    with pytest.raises(ValueError):
        M.hit_matrix(np.array([[0, 7]]), _rel([{0}], 2))


# --- against the reference ------------------------------------------------------------------------
def _catalog(n_items: int, rng: np.random.Generator | None = None) -> M.Catalog:
    rng = rng or np.random.default_rng(0)
    degree = rng.integers(0, 20, n_items)
    return M.Catalog(n_items=n_items, degree=degree, interactions=degree * rng.integers(1, 4, n_items),
                     n_train_users=25, cold=degree == 0)


def _check_against_reference(recs: np.ndarray, sets: list[set[int]], n_items: int, catalog: M.Catalog) -> None:
    k = recs.shape[1]
    rel = _rel(sets, n_items)
    out = M.evaluate_lists(recs, rel, catalog)
    lists = [[int(i) for i in row if i >= 0] for row in recs]
    for name, fn in (("ndcg", R.ndcg_at_k), ("recall", R.recall_at_k), ("mrr", R.mrr_at_k),
                     ("hit_rate", R.hit_at_k), ("precision", R.precision_at_k)):
        # the reference sees the raw rows (with -1 padding) so empty slots keep their place
        expected = R.mean_over_users(fn, [list(r) for r in recs.tolist()], sets, k)
        got = out[f"{name}@{k}"]
        assert (math.isnan(expected) and math.isnan(got)) or got == pytest.approx(expected, abs=1e-12), name
    assert out["coverage"] == pytest.approx(R.coverage(lists, n_items))
    exp_gini = R.gini(R.exposure(lists, n_items))
    assert (math.isnan(exp_gini) and math.isnan(out["gini"])) or out["gini"] == pytest.approx(exp_gini)
    tail = R.tail_items(list(catalog.interactions))
    np.testing.assert_array_equal(np.flatnonzero(M.tail_mask(catalog.interactions)), sorted(tail))
    for got, exp in ((out["aplt"], R.aplt(lists, tail)),
                     (out["novelty"], R.novelty(lists, list(catalog.degree), catalog.n_train_users))):
        assert (math.isnan(exp) and math.isnan(got)) or got == pytest.approx(exp)
    exp_cr, exp_users = R.cold_recall([list(r) for r in recs.tolist()], sets,
                                      set(np.flatnonzero(catalog.cold).tolist()), k)
    assert out["cold_users"] == exp_users
    assert (math.isnan(exp_cr) and math.isnan(out[f"cold_recall@{k}"])) or \
        out[f"cold_recall@{k}"] == pytest.approx(exp_cr)


@pytest.mark.parametrize("seed", range(40))
def test_random_cases_match_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_items = int(rng.integers(1, 30))
    n_users = int(rng.integers(1, 15))
    k = int(rng.integers(1, 12))
    recs = rng.integers(-1, n_items, (n_users, k))  # -1 padding and repeated items on purpose
    sets = [set(rng.choice(n_items, int(rng.integers(0, n_items + 1)), replace=False).tolist())
            for _ in range(n_users)]
    _check_against_reference(recs, sets, n_items, _catalog(n_items, rng))


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_hypothesis_cases_match_reference(data: st.DataObject) -> None:
    n_items = data.draw(st.integers(1, 12))
    k = data.draw(st.integers(1, 8))
    n_users = data.draw(st.integers(1, 6))
    recs = np.array(data.draw(st.lists(st.lists(st.integers(-1, n_items - 1), min_size=k, max_size=k),
                                       min_size=n_users, max_size=n_users)), dtype=np.int64)
    sets = data.draw(st.lists(st.sets(st.integers(0, n_items - 1)), min_size=n_users, max_size=n_users))
    degree = np.array(data.draw(st.lists(st.integers(0, 9), min_size=n_items, max_size=n_items)))
    catalog = M.Catalog(n_items=n_items, degree=degree, interactions=degree.astype(float), n_train_users=10,
                        cold=degree == 0)
    _check_against_reference(recs, sets, n_items, catalog)


@pytest.mark.parametrize("seed", range(10))
def test_gini_matches_pairwise_definition(seed: int) -> None:
    x = np.random.default_rng(seed).integers(0, 50, 40)
    assert M.gini(x) == pytest.approx(R.gini(x.tolist()))
