"""Second black-box pass over ``shelfwise simulate``: small shops, seeds, settings out of range, undefined figures.

Each test failed on the code before its fix (see docs/POLICIES.md, "Edge cases of simulate").
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from shelfwise.errors import InputError
from shelfwise.service.simulate import parse_policy
from shelfwise.simulate import SimConfig, Simulator
from shelfwise.simulate.compare import paired_item_bootstrap


@pytest.fixture(scope="module")
def tiny_synth(tmp_path_factory):
    """A synthetic shop of 3 days: almost nothing happens before the last days (no history to start from)."""
    from shelfwise.data.synth import SynthConfig, write_shop

    root = tmp_path_factory.mktemp("tiny_synth") / "shop"
    write_shop(root, SynthConfig(items=10, users=5, days=3, seed=0))
    return root


def _cli(*args: str):
    from shelfwise.cli.main import app

    return CliRunner().invoke(app, list(args))


def test_a_shop_without_history_before_the_simulated_days_simulates(tiny_synth):
    # was numpy's "Cannot cast ufunc 'multiply' output from dtype('float64') to dtype('int64')": the demand
    # counts of an empty history were integers (np.bincount of nothing ignores float weights)
    sim = Simulator(tiny_synth, SimConfig(days=2, k=3, max_sessions=20))
    result = sim.run(parse_policy("explore")[1], "explore")
    assert len(result.days.sessions) == 2
    assert result.days.arrays()["impressions"].sum() >= 0


def test_demo_and_simulate_check_the_seed_with_one_function(tmp_path):
    # the check was written twice (demo.py and simulate.py); one function keeps the rule and message one
    from shelfwise.service import checks, demo, simulate

    assert demo.check_seed is checks.check_seed and simulate.check_seed is checks.check_seed
    with pytest.raises(InputError, match=r"^--seed must be 0 or more \(got -1\)$") as exc:
        checks.check_seed(-1)
    assert exc.value.field == "seed"
    checks.check_seed(0)
    with pytest.raises(InputError, match=r"--seed must be 0 or more \(got -3\)"):
        demo.generate_synth_shop(tmp_path / "shop", 10, 5, 3, -3)


def test_a_negative_seed_is_an_input_error_naming_the_flag(tiny_synth):
    r = _cli("simulate", "--shop", str(tiny_synth), "--policy", "explore", "--days", "2", "--seed", "-5")
    assert r.exit_code == 2, r.output  # was a ValueError traceback from numpy ("expected non-negative integer")
    assert "--seed" in r.output and "-5" in r.output and "Traceback" not in r.output


def test_too_many_days_says_how_many_the_shop_allows(tiny_synth):
    r = _cli("simulate", "--shop", str(tiny_synth), "--policy", "explore", "--days", "3")
    assert r.exit_code == 2
    # was "needs a start day of at least 1", which names nothing the user can set
    assert "--days" in r.output and "at most 2" in r.output and "start day" not in r.output


def test_settings_refused_by_the_policy_name_the_policy_flag():
    with pytest.raises(InputError) as exc:
        parse_policy("explore:exploration_weight=5")
    assert exc.value.field == "policy"  # was field 'exploration_weight': no such flag, so no hint
    assert "exploration_weight" in str(exc.value) and "explore:exploration_weight=5" in str(exc.value)
    r = _cli("simulate", "--shop", "/nonexistent", "--policy", "explore:exploration_weight=5")
    assert r.exit_code == 2 and "--policy" in r.output


def test_no_new_item_sold_in_either_run_has_no_ratio_rather_than_an_infinite_one():
    out = paired_item_bootstrap(np.zeros(4), np.zeros(4), resamples=50)
    assert out["diff"] == 0.0
    assert np.isnan(out["ratio"])  # was inf: 0 / 0 read as "infinitely better"
    assert paired_item_bootstrap(np.zeros(2), np.ones(2), resamples=50)["ratio"] == float("inf")


def test_the_table_shows_undefined_figures_as_n_a_and_json_as_null(tiny_synth):
    r = _cli("simulate", "--shop", str(tiny_synth), "--policy", "explore", "--days", "2", "--max-sessions", "5")
    assert r.exit_code == 0, r.output
    assert "nan" not in r.output  # was "xnan" and "+nan" in the table
    assert "n/a" in r.output
    r = _cli("simulate", "--shop", str(tiny_synth), "--policy", "explore", "--days", "2", "--max-sessions", "5",
             "--json")
    assert r.exit_code == 0
    report = json.loads(r.stdout)
    assert report["differences"]["days_to_first_sale"]["diff"] is None


def test_more_slots_than_the_simulated_candidate_list_is_refused(tiny_synth):
    r = _cli("simulate", "--shop", str(tiny_synth), "--policy", "explore", "--days", "2", "-k", "1000")
    # was accepted and silently filled at most 50 slots, so "k 1000" and "k 60" gave the same figures
    assert r.exit_code == 2 and "-k" in r.output and "50" in r.output and "1000" in r.output


def test_a_store_that_cannot_be_opened_fails_before_the_simulation(tiny_synth, tmp_path, monkeypatch):
    def never(*a, **kw):
        raise AssertionError("simulated before checking --db")

    monkeypatch.setattr(Simulator, "run", never)
    (tmp_path / "notes.txt").write_text("x")
    r = _cli("simulate", "--shop", str(tiny_synth), "--policy", "explore", "--days", "2",
             "--db", str(tmp_path / "notes.txt" / "sim.duckdb"))
    assert r.exit_code == 2, r.output  # the store's error came only after both runs were simulated
    assert "notes.txt" in r.output
