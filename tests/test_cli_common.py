"""What every command shares: a --db that names no store is refused before any work (nothing is created
in its place), JSON output is strict, and error messages print as written."""

from __future__ import annotations

from pathlib import Path

import json

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from shelfwise.cli.common import dumps, handled
from shelfwise.cli.main import app
from shelfwise.errors import InputError

runner = CliRunner()


@pytest.mark.parametrize("args", [
    ["lifecycle"], ["forecast", "--freq", "W", "--horizon", "4"], ["recommend", "--user", "u1", "-k", "3"],
    ["train"], ["info"], ["evaluate", "--cutoff", "2024-01-01"], ["sentiment"],
])
def test_reading_commands_refuse_a_missing_duckdb_file(tmp_path: Path, args: list[str]) -> None:
    missing = tmp_path / "typo.duckdb"
    result = runner.invoke(app, [*args, "--db", str(missing)] if args[0] != "sentiment" else
                           ["sentiment", "--db", str(missing)])
    assert result.exit_code == 2
    assert "no store at" in result.output and "shelfwise ingest" in result.output
    assert not missing.exists()


def test_the_environment_default_is_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "env.duckdb"
    monkeypatch.setenv("SHELFWISE_DB", str(missing))
    result = runner.invoke(app, ["alerts"])
    assert result.exit_code == 2 and "no store at" in result.output
    assert not missing.exists()


def test_evaluate_score_checks_the_store_it_resolves(tmp_path: Path) -> None:
    recs = tmp_path / "recs.csv"
    recs.write_text("user_id,rank,item_id,score\nu1,1,i1,1.0\n", encoding="utf-8")
    missing = tmp_path / "gone.duckdb"
    for args in (["evaluate", "--db", str(missing), "score"], ["evaluate", "score", "--db", str(missing)]):
        result = runner.invoke(app, [*args, "--recs", str(recs), "--cutoff", "2024-01-01"])
        assert result.exit_code == 2 and "no store at" in result.output, result.output
    assert not missing.exists()


def test_ingest_still_starts_a_new_store(tmp_path: Path) -> None:
    shop = tmp_path / "shop"
    shop.mkdir()
    (shop / "items.csv").write_text("item_id,title\ni1,Red mug\n", encoding="utf-8")
    (shop / "events.csv").write_text("timestamp,user_id,item_id,event\n2024-01-02T10:00:00,u1,i1,purchase\n",
                                     encoding="utf-8")
    db = tmp_path / "new.duckdb"
    result = runner.invoke(app, ["ingest", str(shop), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert db.exists()
    assert runner.invoke(app, ["info", "--db", str(db)]).exit_code == 0


def test_json_output_is_strict_with_null_for_nan_and_infinity() -> None:
    text = dumps({"lift": float("nan"), "hi": np.float64("inf"), "lo": np.float32(-np.inf), "n": np.int64(3),
                  "ci": [1.5, float("nan")], "ok": np.float32(0.5)})
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"lift": None, "hi": None, "lo": None, "n": 3, "ci": [1.5, None], "ok": 0.5}


def test_error_messages_print_brackets_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        with handled():
            raise InputError("interval [nan, 1.0] in [bold]file[/bold].csv")
    err = capsys.readouterr().err
    assert "[nan, 1.0]" in err and "[bold]file[/bold].csv" in err


def test_an_error_about_a_field_without_such_option_is_printed_as_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        with handled():      # no running command: nothing to name
            raise InputError("k must be at least 1 (got 0)", field="k")
    assert capsys.readouterr().err.strip().endswith("(got 0)")


def test_table_figures_never_print_nan_or_infinity() -> None:
    from shelfwise.jsonsafe import bound, figure

    # the JSON beside a table has null for both; the table printed "inf", "+inf%" and "xinf"
    assert figure(float("inf"), ".2f", "x") == "n/a" and figure(-np.inf, "+.1%") == "n/a"
    assert figure(float("nan")) == "n/a" and figure(None) == "n/a" and figure(1.5, ".2f", "x") == "x1.50"
    # an interval limit that is infinite has no bound, which says more than "n/a"
    assert bound(float("inf"), ".3f") == "unbounded" and bound(-np.inf) == "unbounded"
    assert bound(float("nan")) == "n/a" and bound(0.25, ".3f") == "0.250"
