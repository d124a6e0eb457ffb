"""The text commands end to end on tiny files: finetune classify, classify, sentiment (file and store)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from shelfwise.cli.main import app

from .conftest import make_reviews, write_csv

runner = CliRunner()


def _train_file(path: Path, lang: str, n: int = 200, seed: int = 0) -> Path:
    texts, labels = make_reviews(n, lang, seed)
    return write_csv(path, ["review", "sentiment"], [[t, lab] for t, lab in zip(texts, labels)])


def test_help_on_every_command() -> None:
    for cmd in (["finetune", "classify"], ["finetune", "items"], ["classify"], ["sentiment"], ["sentiment", "train"]):
        res = runner.invoke(app, [*cmd, "--help"])
        assert res.exit_code == 0, res.output
        assert "--help" in res.output


def test_finetune_then_classify_in_input_order(tmp_path: Path) -> None:
    train = _train_file(tmp_path / "train.csv", "en")
    model = tmp_path / "model"
    res = runner.invoke(app, ["finetune", "classify", "--train", str(train), "--text-col", "review",
                              "--label-col", "sentiment", "--out", str(model), "--method", "tfidf", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["valid"]["accuracy"] == 1.0
    inp = write_csv(tmp_path / "in.csv", ["id", "review"], [[1, "the mug is terrible"], [2, ""],
                                                           [3, "this gift is fantastic"]])
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["classify", "--model", str(model), "--input", str(inp), "--text-col", "review",
                              "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert [r["label"] for r in rows] == ["negative", "", "positive"]
    assert rows[1]["score"] == "" and float(rows[0]["score"]) > 0.5


def test_bad_input_gives_one_clear_line(tmp_path: Path) -> None:
    one_class = write_csv(tmp_path / "one.csv", ["review", "sentiment"], [["good", "positive"]] * 5)
    res = runner.invoke(app, ["finetune", "classify", "--train", str(one_class), "--text-col", "review",
                              "--label-col", "sentiment", "--out", str(tmp_path / "m"), "--method", "tfidf"])
    assert res.exit_code == 2 and "single class" in res.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"review,sentiment\ngood,positive\n\xff\xfe,negative\n")
    res = runner.invoke(app, ["finetune", "classify", "--train", str(bad), "--text-col", "review",
                              "--label-col", "sentiment", "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "bad.csv" in res.output and "line 3" in res.output
    res = runner.invoke(app, ["classify", "--model", str(tmp_path / "none"), "--input", str(bad),
                              "--text-col", "review", "--out", str(tmp_path / "o.csv")])
    assert res.exit_code == 2 and "finetune classify" in res.output


def test_sentiment_file_and_missing_models(tmp_path: Path, monkeypatch) -> None:
    from shelfwise.config import get_settings

    monkeypatch.setenv("SHELFWISE_MODEL_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    try:
        inp = write_csv(tmp_path / "in.csv", ["text"], [["the lamp is awful"], ["水果收到了，很满意"]])
        res = runner.invoke(app, ["sentiment", "--input", str(inp), "--out", str(tmp_path / "o.csv")])
        assert res.exit_code == 2 and "shelfwise sentiment train" in res.output
        for lang in ("en", "zh"):
            train = _train_file(tmp_path / f"{lang}.csv", lang, seed=5)
            res = runner.invoke(app, ["sentiment", "train", "--lang", lang, "--train", str(train), "--text-col",
                                      "review", "--label-col", "sentiment", "--method", "tfidf"])
            assert res.exit_code == 0, res.output
        assert (tmp_path / "models" / "sentiment" / "zh" / "manifest.json").exists()
        res = runner.invoke(app, ["sentiment", "--input", str(inp), "--out", str(tmp_path / "o.csv"), "--json"])
        assert res.exit_code == 0, res.output
        rows = list(csv.DictReader((tmp_path / "o.csv").open(encoding="utf-8")))
        assert [(r["label"], r["language"]) for r in rows] == [("negative", "en"), ("positive", "zh")]
    finally:
        get_settings.cache_clear()
