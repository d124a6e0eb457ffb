"""Every storage test runs on both backends: DuckDB always, PostgreSQL when a server can be had.

The PostgreSQL server is ``SHELFWISE_TEST_POSTGRES_URL`` when set (it must then be reachable), else a
private cluster this session starts with the Debian binaries (``initdb``/``pg_ctl`` on loopback in a
temporary folder; ``bash scripts/postgres.sh`` installs them). Each test gets its own schema, dropped
afterwards, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from shelfwise.data.store import open_store

BACKENDS = ["duckdb", "postgresql"]


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    """A PostgreSQL server URL for the session (a superuser on an empty database)."""
    env = os.environ.get("SHELFWISE_TEST_POSTGRES_URL")
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        pytest.skip(f"psycopg is not installed ({exc}): pip install 'psycopg[binary]'")
    if env:
        try:
            psycopg.connect(env, connect_timeout=10).close()
        except psycopg.Error as exc:
            pytest.fail(f"SHELFWISE_TEST_POSTGRES_URL is set but the server cannot be reached: {exc}")
        yield env
        return
    from shelfwise.data.store.pg_local import find_bin_dir, start_local_cluster
    from shelfwise.errors import StoreError

    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL tests skipped: no server binaries (initdb, pg_ctl) on PATH or under "
                    "/usr/lib/postgresql/*/bin, and SHELFWISE_TEST_POSTGRES_URL is not set; "
                    "run `bash scripts/postgres.sh` to install PostgreSQL from Debian packages")
    try:
        cluster = start_local_cluster(bin_dir)
    except StoreError as exc:
        pytest.skip(f"PostgreSQL tests skipped: could not start a private cluster: {exc}")
    try:
        yield cluster.url
    finally:
        cluster.stop()


def _drop_schema(server_url: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server_url, autocommit=True) as con:
        con.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture()
def pg_store_url(pg_server_url: str):
    """A fresh PostgreSQL store URL: its own schema on the session's server, dropped afterwards."""
    schema = "t_" + uuid.uuid4().hex[:12]
    sep = "&" if "?" in pg_server_url else "?"
    try:
        yield f"{pg_server_url}{sep}schema={schema}"
    finally:
        _drop_schema(pg_server_url, schema)


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
