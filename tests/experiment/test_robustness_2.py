"""Second black-box pass over ``shelfwise ope`` and ``shelfwise position-bias``: target files that are empty,
folders or all zero, output paths, and time ranges.

Each test failed on the code before its fix (see docs/EXPERIMENTS.md, "Edge cases of ope and position-bias").
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.experiment.ope import evaluate
from shelfwise.experiment.targets import TargetPolicy

runner = CliRunner()


@pytest.fixture(scope="module")
def store_url(tmp_path_factory, store_of_events):
    """60 displays of two slots (items a and b, each shown with propensity 0.5), a few clicks."""
    root = tmp_path_factory.mktemp("ope_shop")
    rows = ["timestamp,user_id,session_id,item_id,event,position,surface,propensity"]
    for d in range(60):
        ts = f"2024-03-01T{d // 60:02d}:{d % 60:02d}:00"
        first, second = ("a", "b") if d % 2 else ("b", "a")
        rows.append(f"{ts},u{d},s{d},{first},impression,1,home,0.5")
        rows.append(f"{ts},u{d},s{d},{second},impression,2,home,0.5")
        if d % 5 == 0:
            rows.append(f"{ts},u{d},s{d},{first},click,,home,")
    return store_of_events(root, rows)


def _ope(url, *args):
    return runner.invoke(app, ["ope", "--db", url, "--resamples", "20", *args])


def test_an_empty_target_file_names_the_file(store_url, tmp_path):
    empty = tmp_path / "target.csv"
    empty.write_text("item_id,probability\n")
    r = _ope(store_url, "--target", str(empty))
    assert r.exit_code == 2, r.output  # was an IndexError traceback
    assert "target.csv" in r.output and "no rows" in r.output


@pytest.mark.parametrize("target", ["FOLDER", ""])
def test_a_folder_as_target_says_it_is_a_folder(store_url, tmp_path, target):
    r = _ope(store_url, "--target", str(tmp_path) if target == "FOLDER" else target)
    assert r.exit_code == 2, r.output
    assert "file not found" not in r.output  # was "<folder>: file not found" (and ".: file not found" for "")
    assert "--target" in r.output and ("is a folder" in r.output or "empty" in r.output)


def test_a_target_that_shows_nothing_warns_nothing_from_numpy_and_has_no_snipw():
    logged_n = 40
    from shelfwise.experiment.logged import LoggedDisplays

    rng = np.random.default_rng(0)
    logged = LoggedDisplays(item=rng.integers(0, 2, logged_n), position=np.tile([1, 2], logged_n // 2),
                            propensity=np.full(logged_n, 0.5), reward=(rng.random(logged_n) < 0.3).astype(float),
                            surface=np.zeros(logged_n, dtype=np.int64), cluster=np.repeat(np.arange(logged_n // 2), 2),
                            item_ids=np.array(["a", "b"]), surfaces=["home"], actions=np.ones((1, 2), dtype=bool))
    nothing = TargetPolicy("nothing", np.zeros(logged_n, dtype=np.int64), sp.csr_matrix((1, 2)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was "RuntimeWarning: invalid value encountered in divide" on stderr
        result = evaluate(logged, nothing, resamples=20)
    assert result.estimators["ipw"].value == 0.0
    assert np.isnan(result.estimators["snipw"].value)  # 0 / 0: undefined, written as null in JSON


@pytest.mark.parametrize("command", ["ope", "position-bias"])
@pytest.mark.parametrize("flag,name,message", [("--json", "FOLDER", "is a folder"),
                                               ("--html", "FOLDER", "is a folder"),
                                               ("--json", "result.txt", "unsupported file type"),
                                               ("--html", "report.json", "unsupported file type"),
                                               ("--json", "notes.txt/r.json", "is a file, not a folder")])
def test_output_paths_are_checked_before_the_work(store_url, tmp_path, command, flag, name, message):
    (tmp_path / "notes.txt").write_text("x")
    path = str(tmp_path) if name == "FOLDER" else str(tmp_path / name)
    r = runner.invoke(app, [command, "--db", store_url, "--resamples", "20", flag, path])
    assert r.exit_code == 2, r.output  # was an IsADirectoryError traceback, or JSON written under any name
    assert message in r.output and flag in r.output
    assert "Traceback" not in r.output and "attention by position" not in r.output and "estimator" not in r.output
    assert not (tmp_path / "result.txt").exists()


def test_json_and_html_outputs_still_write(store_url, tmp_path):
    r = _ope(store_url, "--json", str(tmp_path / "new" / "ope.json"), "--html", str(tmp_path / "new" / "ope.html"))
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "new" / "ope.json").read_text())["n"] == 120
    assert (tmp_path / "new" / "ope.html").read_text().startswith("<!")


@pytest.mark.parametrize("command", ["ope", "position-bias"])
def test_since_after_until_is_named_as_such(store_url, command):
    r = runner.invoke(app, [command, "--db", store_url, "--since", "2024-03-02", "--until", "2024-03-01"])
    assert r.exit_code == 2
    # was "no impressions with a position match the selection", as if the logs lacked positions
    assert "--since" in r.output and "--until" in r.output and "is not before" in r.output
