"""Off-policy learning: on contextual logs where the best item depends on the context, the learned policy
beats the uniform one (truly and by the estimators), and it saves, loads and exports without loss."""

from __future__ import annotations

import numpy as np
import pytest

from shelfwise.errors import InputError
from shelfwise.experiment.logged import LoggedDisplays
from shelfwise.experiment.opl import LearnedPolicy, learn_and_evaluate, learn_policy
from shelfwise.experiment.targets import policy_from_table, policy_table, uniform_policy

N_ITEMS, THETA = 6, np.array([1.0, 0.7])


def _contextual(n_displays=6000, seed=0):
    """Two user segments with opposite tastes; the logger draws items at random with known, unequal odds."""
    rng = np.random.default_rng(seed)
    appeal = np.array([[0.30, 0.20, 0.05, 0.05, 0.02, 0.02],
                       [0.02, 0.02, 0.05, 0.05, 0.20, 0.30]])
    seg = np.repeat(rng.integers(0, 2, n_displays), 2)
    pos = np.tile([1, 2], n_displays)
    logging = np.array([0.1, 0.1, 0.3, 0.3, 0.1, 0.1])
    item = rng.choice(N_ITEMS, size=pos.size, p=logging)
    reward = (rng.random(pos.size) < THETA[pos - 1] * appeal[seg, item]).astype(float)
    d = LoggedDisplays(item=item, position=pos, propensity=logging[item], reward=reward,
                       surface=np.zeros(pos.size, dtype=np.int64), cluster=np.repeat(np.arange(n_displays), 2),
                       item_ids=np.array([f"i{a}" for a in range(N_ITEMS)]), surfaces=["home"],
                       actions=np.ones((1, N_ITEMS), dtype=bool),
                       context={"segment": np.array(["a", "b"], dtype=object)[seg]})
    return d, appeal, seg


def _true_value(target, d, appeal, seg):
    probs = target.probs[target.group].toarray()
    return float(np.mean((probs * appeal[seg]).sum(axis=1) * THETA[d.position - 1]))


@pytest.mark.parametrize("greedy", [False, True])
def test_learned_policy_beats_uniform(greedy):
    d, appeal, seg = _contextual()
    result = learn_and_evaluate(d, context=["segment"], greedy=greedy, resamples=300, seed=1)
    uni_truth = _true_value(uniform_policy(d), d, appeal, seg)
    learned = result.policy.as_target(d)
    assert _true_value(learned, d, appeal, seg) > 1.8 * uni_truth
    for name in ("ipw", "snipw", "dr"):
        assert result.learned.estimators[name].value > result.uniform.estimators[name].value
    assert result.learned.estimators["snipw"].low > result.uniform.estimators["snipw"].value
    # it picked each segment's favourite
    probs = learned.probs[learned.group].toarray()
    assert probs[seg == 0].mean(axis=0).argmax() == 0 and probs[seg == 1].mean(axis=0).argmax() == 5
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs.min() >= 0.1 / N_ITEMS - 1e-12  # exploration keeps every item possible


def test_without_context_the_policy_cannot_separate_segments():
    d, appeal, seg = _contextual(seed=2)
    with_ctx = _true_value(learn_policy(d, context=["segment"]).as_target(d), d, appeal, seg)
    without = _true_value(learn_policy(d).as_target(d), d, appeal, seg)
    assert with_ctx > without


def test_save_load_and_export_roundtrip(tmp_path):
    d, _, _ = _contextual(n_displays=2000, seed=3)
    policy = learn_policy(d, context=["segment"], epsilon=0.2)
    policy.save(tmp_path / "policy")
    again = LearnedPolicy.load(tmp_path / "policy")
    a, b = policy.as_target(d), again.as_target(d)
    np.testing.assert_allclose(a.prob_of_logged(d), b.prob_of_logged(d))
    table = policy_table(a, d, ["surface", "position", "segment"])
    assert set(table.columns) == {"surface", "position", "segment", "item_id", "probability"}
    assert len(table) == 2 * 2 * N_ITEMS
    np.testing.assert_allclose(policy_from_table(table, d).prob_of_logged(d), a.prob_of_logged(d))


def test_refuses_logs_without_clicks_or_propensities():
    d, _, _ = _contextual(n_displays=100, seed=4)
    d.reward[:] = 0
    with pytest.raises(InputError, match="no clicks"):
        learn_policy(d)
    d.propensity[0] = np.nan
    with pytest.raises(InputError, match="no propensity"):
        learn_policy(d)
