"""Fixtures every test area shares: the real datasets beside the checkout, temporary stores."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHELFWISE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (real public datasets). CI has it beside the checkout; elsewhere such tests skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real datasets not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def store(tmp_path: Path):
    """A fresh DuckDB store in a temporary folder."""
    from shelfwise.data.store import open_store

    s = open_store(f"duckdb:///{tmp_path / 'shop.duckdb'}")
    yield s
    s.close()
