"""Black-box robustness of ``shelfwise evaluate`` and ``evaluate score``: bad options and files give one
clear error before any work, never a traceback (each test pins a defect found by probing the commands)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.ingest import ingest
from shelfwise.data.store import open_store
from shelfwise.errors import InputError
from shelfwise.service import evaluate as svc

from .test_evaluate_service import db  # noqa: F401  (the same small shop as a store)

CUTOFF = "2024-01-10"


def _recs(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _evaluate(db: str, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["evaluate", "--db", db, "--cutoff", CUTOFF, "--models", "popularity", *args])


# --- --window-days ---------------------------------------------------------------------------------
@pytest.mark.parametrize("days", [float("nan"), float("inf")])
def test_window_days_must_be_a_finite_number(db: str, days: float) -> None:
    # nan and inf used to end in "ValueError: cannot convert float NaN to integer" / OverflowError
    with pytest.raises(InputError, match="--window-days"):
        svc.evaluate_models(db, CUTOFF, window_days=days, models=["popularity"])
    res = _evaluate(db, "--window-days", str(days))
    assert res.exit_code == 2 and "--window-days" in res.output
    assert isinstance(res.exception, SystemExit)  # a clean exit, not an exception


# --- --json is checked before the work --------------------------------------------------------------
def test_json_to_a_folder_is_refused_before_the_work(db: str, tmp_path: Path) -> None:
    # a folder used to be found only when writing, after every model was fitted: IsADirectoryError
    folder = tmp_path / "out"
    folder.mkdir()
    res = _evaluate(db, "--json", str(folder))
    assert res.exit_code == 2
    assert "is a folder" in res.output and "evaluation @" not in res.output
    assert list(folder.iterdir()) == []


def test_json_with_another_suffix_is_refused(db: str, tmp_path: Path) -> None:
    # '--json result.csv' used to write JSON into a .csv file
    res = _evaluate(db, "--json", str(tmp_path / "result.csv"))
    assert res.exit_code == 2 and ".json" in res.output
    assert not (tmp_path / "result.csv").exists()


def test_json_under_a_file_is_refused_and_missing_folders_are_made(db: str, tmp_path: Path) -> None:
    (tmp_path / "plain.txt").write_text("x")
    res = _evaluate(db, "--json", str(tmp_path / "plain.txt" / "r.json"))
    assert res.exit_code == 2 and "plain.txt" in res.output and "evaluation @" not in res.output
    res = _evaluate(db, "--json", str(tmp_path / "new" / "deeper" / "r.json"))
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "new" / "deeper" / "r.json").read_text())["k"] == 10


def test_score_json_is_checked_before_reading(db: str, tmp_path: Path) -> None:
    recs = _recs(tmp_path / "recs.csv", "user_id,rank,item_id\nu1,1,a\n")
    res = CliRunner().invoke(app, ["evaluate", "score", "--db", db, "--cutoff", CUTOFF, "--recs", str(recs),
                                   "--json", str(tmp_path)])
    assert res.exit_code == 2 and "is a folder" in res.output


# --- -k and ranks that cannot be held ---------------------------------------------------------------
def test_k_far_beyond_the_catalog_is_an_error_not_a_memory_error(db: str) -> None:
    # -k 10**10 used to try to allocate (test users x K) and die with a MemoryError
    with pytest.raises(InputError, match="-k 10000000000 is longer than the catalog"):
        svc.evaluate_models(db, CUTOFF, k=10**10, models=["popularity"])
    # a K above a tiny catalog is still fine (lists are padded): the default 10 on 5 items
    assert svc.evaluate_models(db, CUTOFF, k=10, models=["popularity"])["k"] == 10


def test_score_rank_far_beyond_the_catalog_names_the_line(db: str, tmp_path: Path) -> None:
    recs = _recs(tmp_path / "recs.csv", "user_id,rank,item_id\nu1,1,a\nu1,10000000000,b\n")
    with pytest.raises(InputError, match=r"line 3.*rank 10000000000.*-k"):
        svc.score_recommendations(recs, db, CUTOFF)
    # with -k only the first K ranks are read, so the far rank does not matter
    assert svc.score_recommendations(recs, db, CUTOFF, k=1)["k"] == 1


@pytest.mark.parametrize("rank", ["inf", "-inf", "nan", "1e400"])
def test_score_non_finite_rank_is_a_line_error(db: str, tmp_path: Path, rank: str) -> None:
    # 'inf' passed the whole-number check and ended in IntCastingNaNError
    recs = _recs(tmp_path / "recs.csv", f"user_id,rank,item_id\nu1,1,a\nu1,{rank},b\n")
    with pytest.raises(InputError, match=rf"line 3.*rank '{rank}'"):
        svc.read_recommendations(recs)


def test_score_header_only_file_is_a_clear_error(db: str, tmp_path: Path) -> None:
    # a header without rows used to end in "ValueError: cannot convert float NaN to integer"
    recs = _recs(tmp_path / "recs.csv", "user_id,rank,item_id,score\n")
    with pytest.raises(InputError, match="no recommendations"):
        svc.score_recommendations(recs, db, CUTOFF)
    res = CliRunner().invoke(app, ["evaluate", "score", "--db", db, "--cutoff", CUTOFF, "--recs", str(recs)])
    assert res.exit_code == 2 and "no recommendations" in res.output


class _TooLittleData:
    """A peer that cannot train on a small shop, as the hybrid cannot ("too few users bought ...")."""

    def __init__(self, **params):  # type: ignore[no-untyped-def]
        pass

    def fit(self, data):  # type: ignore[no-untyped-def]
        raise InputError("too few users bought anything in the last 3 days of the training data")


def test_a_model_that_cannot_be_fitted_is_reported_beside_the_others(db: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # one model that could not train stopped the whole evaluation, so no peer's figures were shown
    monkeypatch.setitem(svc.PEERS, "needy", _TooLittleData)
    out = svc.evaluate_models(db, CUTOFF, models=["popularity", "needy", "buy-again"])
    assert list(out["models"]) == ["popularity", "buy-again"]
    assert out["failed"] == {"needy": "too few users bought anything in the last 3 days of the training data"}
    # nothing evaluated at all is still an error, naming each model and why
    with pytest.raises(InputError, match="no model could be evaluated.*'needy': too few users.*--cutoff"):
        svc.evaluate_models(db, CUTOFF, models=["needy"])


def test_cli_shows_the_peers_and_marks_the_model_that_failed(db: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(svc.PEERS, "needy", _TooLittleData)
    out = tmp_path / "eval.json"
    res = _evaluate(db, "--models", "popularity,needy,buy-again", "-k", "2", "--json", str(out))
    assert res.exit_code == 0, res.output  # something was evaluated
    assert "buy-again" in res.stdout and "ndcg@2" in res.stdout and "failed" in res.stdout
    assert "needy" in res.output and "too few users" in res.output
    data = json.loads(out.read_text())
    assert set(data["models"]) == {"popularity", "buy-again"} and "too few users" in data["failed"]["needy"]
    res = _evaluate(db, "--models", "needy")
    assert res.exit_code == 2 and "no model could be evaluated" in res.output  # nothing was evaluated


def test_the_hybrid_on_a_tiny_shop_leaves_the_peers_shown(db: str) -> None:
    # the reported defect: 'shelfwise evaluate' on a tiny shop stopped with the hybrid's error
    res = CliRunner().invoke(app, ["evaluate", "--db", db, "--cutoff", CUTOFF, "-k", "2", "--models",
                                   "shelfwise,popularity,buy-again"])
    assert res.exit_code == 0, res.output
    assert "popularity" in res.stdout and "buy-again" in res.stdout and "ndcg@2" in res.stdout
    assert "shelfwise" in res.output and "too few users" in res.output


def test_items_file_with_a_byte_order_mark_or_bad_bytes(db: str, tmp_path: Path) -> None:
    # a BOM used to stick to the first id ('\ufeffe', not in the catalog, dropped silently); bytes that
    # are not UTF-8 ended in a UnicodeDecodeError traceback
    from shelfwise.errors import SchemaError

    recs = _recs(tmp_path / "recs.csv", "user_id,rank,item_id\nu1,1,e\nu2,1,c\n")
    bom = tmp_path / "items.txt"
    bom.write_bytes("\ufeffe\r\nc\r\n".encode())
    out = svc.score_recommendations(recs, db, CUTOFF, items=bom)
    assert out["split"]["candidate_items"] == 2
    bad = tmp_path / "latin1.txt"
    bad.write_bytes(b"item_id\ne\ncaf\xe9\n")
    with pytest.raises(SchemaError, match=r"latin1.txt, line 3: is not valid UTF-8"):
        svc.score_recommendations(recs, db, CUTOFF, items=bad)


# --- --cutoff -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("text", ["09/11/2011", "Nov 9", "2011.11.09", "2011-11-09 10:00 CET", "today"])
def test_cutoff_must_be_iso_8601(text: str) -> None:
    # pandas guessed: '09/11/2011' became 11 September (US order), 'Nov 9' the year 1, and
    # '... CET' dropped the zone with a FutureWarning on stderr
    import warnings

    from shelfwise.evaluate.split import parse_cutoff

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no FutureWarning may leak out
        with pytest.raises(InputError, match=rf"--cutoff '{text}' is not a date: use ISO 8601"):
            parse_cutoff(text)


@pytest.mark.parametrize("text, expected", [
    ("2011-11-09", "2011-11-09 00:00:00"), ("2011-11-09T10:30", "2011-11-09 10:30:00"),
    ("2011-11-09 10:30:15.5", "2011-11-09 10:30:15.500000"), ("2011-11-09T10:30:00Z", "2011-11-09 10:30:00"),
    ("2011-11-09T10:30:00+02:00", "2011-11-09 08:30:00"), ("2011-11-09 10:30:00 UTC", "2011-11-09 10:30:00"),
    (" 2011-1-9 ", "2011-01-09 00:00:00"),
])
def test_cutoff_iso_forms_still_parse(text: str, expected: str) -> None:
    from shelfwise.evaluate.split import parse_cutoff

    assert str(parse_cutoff(text)) == expected


# --- splits with nobody to test -------------------------------------------------------------------------
def test_no_user_seen_before_the_cutoff_is_a_clear_error(tmp_path: Path) -> None:
    # only impressions before the cutoff (not training data): the split indexed an empty user table
    # and died with "IndexError: index 0 is out of bounds for axis 0 with size 0"
    folder = tmp_path / "shop"
    folder.mkdir()
    (folder / "events.csv").write_text("timestamp,user_id,item_id,event,position\n"
                                       "2011-01-01,u1,i1,impression,1\n2011-01-02,u2,i2,impression,1\n"
                                       "2011-01-03,u1,i2,purchase,\n2011-01-04,u2,i1,purchase,\n")
    db = str(tmp_path / "shop.duckdb")
    with open_store(db) as store:
        ingest(folder, store)
    with pytest.raises(InputError, match="no test user"):
        svc.evaluate_models(db, "2011-01-03", models=["popularity"])
    res = CliRunner().invoke(app, ["evaluate", "--db", db, "--cutoff", "2011-01-03", "--models", "popularity"])
    assert res.exit_code == 2 and "no test user" in res.output


def test_score_prints_a_bracketed_file_name_as_written(db: str, tmp_path: Path) -> None:
    # the file name went to Rich as markup: '[red]recs.csv' printed as a red 'recs.csv'
    recs = _recs(tmp_path / "[red]recs.csv", "user_id,rank,item_id\nu1,1,a\n")
    res = CliRunner().invoke(app, ["evaluate", "score", "--db", db, "--cutoff", CUTOFF, "--recs", str(recs)])
    assert res.exit_code == 0, res.output
    assert "[red]recs.csv: 1 rows" in res.output.replace("\n", "")
