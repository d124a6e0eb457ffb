"""Fixtures every test area shares: the real datasets beside the checkout, temporary stores."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SHELFWISE_SHARED_DATA", ROOT.parent / "shared" / "data"))


@contextmanager
def _records_of(logger_name: str) -> Iterator[list[logging.LogRecord]]:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


@pytest.fixture()
def log_records() -> Callable[[str], AbstractContextManager[list[logging.LogRecord]]]:
    """``with log_records("shelfwise.x") as records:`` collects that logger's records while the block
    runs (shelfwise's loggers do not propagate to the root, so pytest's caplog does not see them)."""
    return _records_of


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


def _converted(base: Path, convert) -> Path:  # type: ignore[no-untyped-def]
    """A store at ``base/shop.duckdb`` from the shop folder that ``convert(shop_dir)`` writes; built once."""
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store

    db = base / "shop.duckdb"
    if not db.exists():
        convert(base / "shop")
        with open_store(str(db)) as st:
            ingest(base / "shop", st)
    return db


#: the first rows of UCI Online Retail (about 2010-12-01 .. 2011-04): enough months for monthly refits
RETAIL_HEAD_ROWS = 200_000


@pytest.fixture(scope="session")
def retail_head_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A store of the first ~5 months of Online Retail (pricing and risk quality tests)."""
    import gzip

    from shelfwise.service.datasets import convert_dataset

    base = tmp_path_factory.mktemp("online_retail_head")

    def convert(shop: Path) -> None:
        src = base / "src"
        src.mkdir(parents=True, exist_ok=True)
        with gzip.open(shared_data / "uci-online-retail" / "online_retail.csv.gz", "rt", encoding="utf-8") as fh, \
                open(src / "online_retail_head.csv", "w", encoding="utf-8") as out:
            for i, line in enumerate(fh):
                if i > RETAIL_HEAD_ROWS:
                    break
                out.write(line)
        convert_dataset("online-retail", src, shop, overwrite=True)

    return _converted(base, convert)


@pytest.fixture(scope="session")
def gift_cards_db(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """A store of the Amazon 2018 Gift_Cards category (search and assistant quality tests)."""
    from shelfwise.service.datasets import convert_dataset

    base = tmp_path_factory.mktemp("amazon_gift_cards")
    return _converted(base, lambda shop: convert_dataset("amazon-2018", shared_data / "amazon-reviews-2018", shop,
                                                         options={"category": "Gift_Cards"}, overwrite=True))


# --- PostgreSQL -------------------------------------------------------------------------------
# The server is ``SHELFWISE_TEST_POSTGRES_URL`` when set (it must then be reachable), else a private
# cluster this session starts with the Debian binaries (``initdb``/``pg_ctl`` on loopback in a temporary
# folder; ``bash scripts/postgres.sh`` installs them). Each test gets its own schema, dropped afterwards.

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
