"""The --engine options of the batch commands (DuckDB engine here; Spark runs the same service code)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.store import open_store
from shelfwise.errors import InputError
from shelfwise.service import engine as E

from .conftest import write_shop

runner = CliRunner()


def test_engine_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from shelfwise.config import get_settings

    assert E.batch_engine(None) is None          # the default keeps each command's own path
    assert E.batch_engine("local") is None
    assert E.batch_engine("duckdb") == "duckdb"
    assert E.batch_engine("SPARK") == "spark"
    with pytest.raises(InputError, match="unknown engine 'flink'"):
        E.batch_engine("flink")
    monkeypatch.setenv("SHELFWISE_ENGINE", "spark")
    get_settings.cache_clear()
    try:
        assert E.batch_engine(None) == "spark"   # the setting, when no option is given
    finally:
        monkeypatch.delenv("SHELFWISE_ENGINE")
        get_settings.cache_clear()


def test_train_recommend_lifecycle_with_engine(tmp_path: Path) -> None:
    db = f"duckdb:///{tmp_path / 'shop.duckdb'}"
    models, out = tmp_path / "models", tmp_path / "recs.csv"
    res = runner.invoke(app, ["ingest", str(write_shop(tmp_path / "shop")), "--db", db, "--engine", "duckdb"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["train", "--db", db, "--engine", "duckdb", "--model-dir", str(models), "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["recommend", "--db", db, "--engine", "duckdb", "--all-users", "-k", "3",
                              "--model-dir", str(models), "--out", str(out)])
    assert res.exit_code == 0, res.output
    recs = pd.read_csv(out)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"]
    assert set(recs["user_id"]) == {"u1", "u2", "u3", "u4", "u5"} and recs.groupby("user_id").size().max() == 3
    assert (recs.groupby("user_id")["score"].apply(lambda s: s.is_monotonic_decreasing)).all()
    res = runner.invoke(app, ["recommend", "--db", db, "--engine", "duckdb", "--user", "u1",
                              "--model-dir", str(models)])
    assert res.exit_code == 0, res.output
    lines = [line for line in res.output.splitlines()[1:] if line.strip()]
    assert len(lines) == 10 and all(line.split(",")[0].strip('"') == "u1" for line in lines)
    res = runner.invoke(app, ["recommend", "--db", db, "--engine", "duckdb", "--model-dir", str(models)])
    assert res.exit_code == 2 and "--all-users" in res.output
    res = runner.invoke(app, ["lifecycle", "--db", db, "--engine", "duckdb", "--json"])
    assert res.exit_code == 0, res.output
    with open_store(db, read_only=True) as store:
        assert store.has_table("engine_recommendations") and store.count("engine_cooccurrence") == 2  # A-B both ways (min 2 baskets)
        assert store.count("sales_daily") > 0


def test_recommend_without_an_engine_model(tmp_path: Path) -> None:
    db = tmp_path / "shop.duckdb"
    open_store(f"duckdb:///{db}").close()
    res = runner.invoke(app, ["recommend", "--engine", "duckdb", "--all-users", "--model-dir", str(tmp_path),
                              "--db", str(db)])
    assert res.exit_code == 2 and "train --engine" in res.output


def test_demo_step(tmp_path: Path) -> None:
    from shelfwise.data.ingest import ingest
    from shelfwise.evaluate.report import Report
    from shelfwise.service.demo import DemoContext, DemoOptions
    from shelfwise.service.demo_steps import engine as step

    with open_store(f"duckdb:///{tmp_path / 'd.duckdb'}") as store:
        ingest(write_shop(tmp_path / "shop"), store)
        ctx = DemoContext(DemoOptions(tmp_path), tmp_path, tmp_path / "shop", tmp_path / "d.duckdb",
                          Report("demo"), store=store)
        summary = step.STEPS[0].run(ctx)
        assert store.count("engine_recommendations") == 5 * 10 and "aggregates" in summary
    assert ctx.report.sections and ctx.figures["batch pipeline seconds"] > 0
