"""Every storage test runs on both backends: DuckDB always, PostgreSQL when a server can be had.

The PostgreSQL fixtures (``pg_server_url``, ``pg_store_url``) live in tests/conftest.py, so other areas
can run their SQL on PostgreSQL too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shelfwise.data.store import open_store

BACKENDS = ["duckdb", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for a fresh, empty store of each backend."""
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'shop.duckdb'}"
    return request.getfixturevalue("pg_store_url")


@pytest.fixture()
def store(store_url: str):
    """A fresh store of each backend (overrides the DuckDB-only ``store`` of tests/conftest.py here)."""
    s = open_store(store_url)
    yield s
    s.close()
