"""The one writer of result files (experiment tables and every command's --out file): formats, rules."""

from __future__ import annotations

import gzip
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from shelfwise.errors import InputError
from shelfwise.experiment.tables import check_writable, read_table, write_table

FRAME = pd.DataFrame({"item_id": ["007", "b"], "period_start": [date(2024, 1, 1), date(2024, 1, 8)],
                      "yhat": [1.5, 0.0]})


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.parquet", "t.jsonl", "t.jsonl.gz", "t.json", "T.CSV"])
def test_every_format_round_trips_with_ids_as_written(tmp_path: Path, name: str) -> None:
    path = write_table(FRAME, tmp_path / "sub" / name)
    assert path.exists()  # parent folders are made
    back = read_table(path)
    assert back["item_id"].tolist() == ["007", "b"] and len(back.columns) == 3  # no index column
    assert float(back["yhat"].iloc[0]) == 1.5


def test_json_files_carry_iso_dates(tmp_path: Path) -> None:
    """Dates in JSON are ISO text, readable by people and other tools (not epoch milliseconds)."""
    dt = pd.DataFrame({"when": pd.to_datetime(["2024-01-01"])})
    rows = json.loads(write_table(dt, tmp_path / "a.json").read_text())
    assert rows[0]["when"].startswith("2024-01-01T00:00:00")
    line = json.loads(write_table(dt, tmp_path / "a.jsonl").read_text().splitlines()[0])
    assert line["when"].startswith("2024-01-01T00:00:00")
    with gzip.open(write_table(dt, tmp_path / "a.jsonl.gz"), "rt") as fh:
        assert json.loads(fh.readline())["when"].startswith("2024-01-01")


def test_an_unknown_format_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.csv"):
        check_writable(tmp_path / "t.xlsx")
    with pytest.raises(InputError, match=r"\.parquet"):
        write_table(FRAME, tmp_path / "t.xlsx")
    assert not (tmp_path / "t.xlsx").exists()
    assert check_writable(None) is None and check_writable("x/y.csv.gz") == Path("x/y.csv.gz")


def test_the_lifecycle_service_writes_through_the_same_writer() -> None:
    """One implementation: the service layer has no writer of its own."""
    from shelfwise.service import experiment as experiment_service
    from shelfwise.service import lifecycle as lifecycle_service

    assert lifecycle_service.write_table is write_table and experiment_service.write_table is write_table
    assert not hasattr(lifecycle_service, "write_frame")
