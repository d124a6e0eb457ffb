"""tests/data/test_ingest.py again, on PostgreSQL: every SHOP_FORMAT rule must hold on both backends.

The tests are borrowed from that file (not copied), so a rule added there is checked here too. Only
the tests that take the ``store`` fixture run, on a PostgreSQL store only (tests/data runs DuckDB).
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

_SOURCE = Path(__file__).resolve().parents[1] / "data" / "test_ingest.py"
_spec = importlib.util.spec_from_file_location("_borrowed_test_ingest", _SOURCE)
assert _spec and _spec.loader
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)

# opens DuckDB stores of its own for each file format: nothing of it runs on the fixture's store
_DUCKDB_ONLY = {"test_every_file_format_loads_the_same_rows"}

for _name, _fn in vars(_module).items():
    if (_name.startswith("test_") and _name not in _DUCKDB_ONLY and callable(_fn)
            and "store" in inspect.signature(_fn).parameters):
        globals()[_name] = _fn


@pytest.fixture()
def store_url(pg_store_url: str) -> str:
    """PostgreSQL only: the DuckDB runs of these tests are tests/data/test_ingest.py itself."""
    return pg_store_url
