"""The commands: ope, position-bias, experiment analyze|create|assign|list|stop|outcomes|learn-policy, --html."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    from .conftest import make_logs, write_shop  # noqa: PLC0415

    tmp = tmp_path_factory.mktemp("cli")
    syn = make_logs(n_displays=1500, n_items=6, seed=8)
    url = f"duckdb:///{tmp / 'shop.duckdb'}"
    with open_store(url) as store:
        ingest(write_shop(tmp / "shop", syn.logged), store)
    return url


def _ok(args):
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return result.stdout  # logs go to stderr


def _html_ok(path):
    text = path.read_text()
    HTMLParser().feed(text)
    assert text.startswith("<!DOCTYPE html>") and "<svg" in text
    return text


def test_ope_json_and_html(db, tmp_path):
    out = tmp_path / "ope.json"
    _ok(["ope", "--db", db, "--target", "uniform", "--json", str(out), "--html", str(tmp_path / "ope.html"),
         "--resamples", "200", "--where", "policy=bandit"])
    data = json.loads(out.read_text())
    for name in ("ipw", "snipw", "dm", "dr"):
        assert set(data["estimators"][name]) == {"value", "ci_low", "ci_high"}
    assert "snipw" in _html_ok(tmp_path / "ope.html")
    printed = json.loads(_ok(["ope", "--db", db, "--json", "-", "--resamples", "100"]))
    assert printed["n"] == data["n"]
    table = _ok(["ope", "--db", db, "--resamples", "100"])
    assert "snipw" in table and "effective sample size" in table


def test_errors_are_one_line_with_exit_code_2(db, tmp_path):
    result = runner.invoke(app, ["ope", "--db", db, "--where", "nonsense"])
    assert result.exit_code == 2 and "KEY=VALUE" in result.output
    result = runner.invoke(app, ["ope", "--db", db, "--where", "policy=none"])
    assert result.exit_code == 2 and "no impressions" in result.output


def test_position_bias(db, tmp_path):
    out = tmp_path / "pb.json"
    _ok(["position-bias", "--db", db, "--method", "pbm", "--resamples", "20", "--json", str(out),
         "--html", str(tmp_path / "pb.html")])
    curve = json.loads(out.read_text())
    assert curve["positions"] == [1, 2, 3] and curve["attention"][0] == 1.0
    assert "Relative attention" in _html_ok(tmp_path / "pb.html")
    assert "attention" in _ok(["position-bias", "--db", db, "--resamples", "50"])


def test_learn_policy_writes_a_target_file_for_ope(db, tmp_path):
    probs = tmp_path / "learned.csv"
    out = json.loads(_ok(["experiment", "learn-policy", "--db", db, "--probabilities", str(probs), "--model-dir",
                          str(tmp_path / "model"), "--json", "-", "--html", str(tmp_path / "learn.html")]))
    assert set(out) >= {"learned", "uniform", "logged"}
    assert (tmp_path / "model" / "manifest.json").exists()
    assert "held-out" in (tmp_path / "learn.html").read_text()
    res = json.loads(_ok(["ope", "--db", db, "--target", str(probs), "--json", "-", "--resamples", "100"]))
    assert res["policy"] == "learned.csv" and res["diagnostics"]["support_share"] == pytest.approx(1.0)


def test_analyze_command(tmp_path):
    rng = np.random.default_rng(0)
    n = 3000
    df = pd.DataFrame({"group": rng.choice(["A", "B"], n), "conv": (rng.random(n) < 0.1).astype(int),
                       "spend": rng.gamma(1, 5, n), "pre": rng.gamma(1, 5, n)})
    df.to_csv(tmp_path / "t.csv", index=False)
    out = tmp_path / "ab.json"
    _ok(["experiment", "analyze", str(tmp_path / "t.csv"), "--arm-col", "group", "--control", "A",
         "--metrics", "conv,spend", "--covariate", "pre", "--json", str(out), "--html", str(tmp_path / "ab.html")])
    data = json.loads(out.read_text())
    assert set(data["arms"]) == {"A", "B"} and set(data["arms"]["A"]["conv"]) >= {"mean", "n"}
    keys = {"arm", "metric", "lift_abs", "lift_rel", "ci_low", "ci_high", "p_value", "p_value_adjusted"}
    assert all(keys <= set(c) for c in data["comparisons"]) and "srm_p_value" in data
    _html_ok(tmp_path / "ab.html")
    text = _ok(["experiment", "analyze", str(tmp_path / "t.csv"), "--arm-col", "group", "--control", "A",
                "--metrics", "conv", "--expected-split", "A=1,B=1", "--correction", "bh"])
    assert "sample-ratio check" in text
    bad = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "t.csv"), "--arm-col", "group",
                              "--control", "Z", "--metrics", "conv"])
    assert bad.exit_code == 2 and "control arm 'Z' not found" in bad.output


def test_experiment_lifecycle_commands(tmp_path):
    db = f"duckdb:///{tmp_path / 'x.duckdb'}"
    assert "created 'e'" in _ok(["experiment", "create", "e", "--arms", "old,new", "--weights", "1,1", "--db", db])
    arms = json.loads(_ok(["experiment", "assign", "e", "u1", "u2", "u3", "--db", db, "--json"]))
    assert set(arms) == {"u1", "u2", "u3"} and set(arms.values()) <= {"old", "new"}
    listed = json.loads(_ok(["experiment", "list", "--db", db, "--json"]))
    assert sum(listed[0]["exposed"].values()) == 3
    assert "wrote 3 units" in _ok(["experiment", "outcomes", "e", "--out", str(tmp_path / "u.csv"), "--db", db])
    _ok(["experiment", "stop", "e", "--db", db])
    again = json.loads(_ok(["experiment", "assign", "e", "u9", "--db", db, "--json"]))
    assert again == {"u9": "old"}


def test_every_command_and_option_has_help():
    for args in (["ope"], ["position-bias"], ["experiment"], ["experiment", "analyze"], ["experiment", "create"],
                 ["experiment", "assign"], ["experiment", "list"], ["experiment", "stop"], ["experiment", "outcomes"],
                 ["experiment", "learn-policy"]):
        out = _ok(args + ["--help"])
        assert "Usage" in out


def test_analyze_checks_its_outputs_before_the_work(tmp_path):
    # --json to a folder was an IsADirectoryError traceback after the analysis (and an --html written)
    pd.DataFrame({"group": ["A", "B"] * 50, "conv": [0, 1] * 50}).to_csv(tmp_path / "t.csv", index=False)
    bad = runner.invoke(app, ["experiment", "analyze", str(tmp_path / "t.csv"), "--arm-col", "group", "--control",
                              "A", "--metrics", "conv", "--json", str(tmp_path), "--html", str(tmp_path / "ab.html")])
    assert bad.exit_code == 2 and "is a folder" in bad.output and "Traceback" not in bad.output
    assert not (tmp_path / "ab.html").exists()
