"""A --db that names no store is refused before any work, and nothing is created in its place."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app

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
