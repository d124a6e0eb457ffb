"""The store interface every backend implements, and the URL switch that picks one.

Callers never import a backend: they call :func:`open_store` with a URL (or a plain path, taken as a
DuckDB file) and use the :class:`Store` methods. Reads come back as Arrow; ``read_pandas`` and
``read_polars`` convert.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ...errors import StoreError

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

    from ..validate import Validated


@dataclass
class TableCounts:
    """What one load did to one table. ``read == loaded + rejected`` always holds."""

    table: str
    file: str
    read: int
    loaded: int
    rejected: int
    new: int = 0  # loaded rows that were not in the store before (the rest were already there)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class LoadResult:
    load_id: str
    source: str
    tables: list[TableCounts] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"load_id": self.load_id, "source": self.source, "tables": [t.as_dict() for t in self.tables]}


class Store(abc.ABC):
    """A shop store: the SHOP_FORMAT tables, rejects, the load log and derived tables."""

    url: str
    # the SQL dialect that query()/execute() speak: "duckdb" or "postgresql". Portable SQL (the common
    # subset: no QUALIFY, arg_min, list functions, ...) runs on both; code that needs one dialect's
    # functions checks this, or reads Arrow and computes in a local DuckDB.
    dialect: str = "duckdb"

    # --- shop loading -------------------------------------------------------------------------
    @abc.abstractmethod
    def apply_load(self, load_id: str, source: str, batches: Sequence["Validated"]) -> LoadResult:
        """Write validated batches in one transaction: all of it lands, or none of it does.

        Keyed tables are upserted by key, events are added only when their content key is new, so a
        reload of the same folder adds nothing.
        """

    # --- generic access -----------------------------------------------------------------------
    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a read query (``?`` placeholders, bound parameters only) and return Arrow."""

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        """Run a statement with bound parameters."""

    @abc.abstractmethod
    def write(self, name: str, table: pa.Table, mode: str = "replace", key: Sequence[str] | None = None) -> int:
        """Store a derived table. ``mode``: 'replace' the whole table, 'append' rows, or 'upsert' by ``key``."""

    @abc.abstractmethod
    def has_table(self, name: str) -> bool: ...

    @abc.abstractmethod
    def tables(self) -> list[str]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    # --- conveniences built on the above ------------------------------------------------------
    def read(self, table: str, columns: Sequence[str] | None = None, where: str | None = None,
             params: Sequence[Any] | None = None, order_by: str | None = None) -> pa.Table:
        """Read a table (or view). ``where`` is a SQL condition with ``?`` placeholders."""
        if not self.has_table(table):
            raise StoreError(f"the store {self.url} has no table '{table}': ingest a shop first "
                             f"(shelfwise ingest SHOP_DIR)")
        cols = ", ".join(_ident(c) for c in columns) if columns else "*"
        sql = f"SELECT {cols} FROM {_ident(table)}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        return self.query(sql, params)

    def read_pandas(self, table: str, **kw: Any) -> "pd.DataFrame":
        return self.read(table, **kw).to_pandas()

    def read_polars(self, table: str, **kw: Any) -> "pl.DataFrame":
        import polars as pl

        return pl.from_arrow(self.read(table, **kw))  # type: ignore[return-value]

    def count(self, table: str) -> int:
        if not self.has_table(table):
            return 0
        return int(self.query(f"SELECT count(*) AS n FROM {_ident(table)}").column(0)[0].as_py())

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise StoreError(f"'{name}' is not a valid table or column name")
    return '"' + name + '"'


_BACKENDS: dict[str, Callable[[str], Store]] = {}


def register_backend(scheme: str, factory: Callable[[str], Store]) -> None:
    """Make ``scheme://...`` URLs open with ``factory`` (used by backends that are optional extras)."""
    _BACKENDS[scheme] = factory


def normalise_url(url: str) -> str:
    """A plain path means a DuckDB file; URLs are returned as given."""
    if "://" not in url:
        return "duckdb:///" + url
    return url


def open_store(url: str | None = None, read_only: bool = False) -> Store:
    """Open the store at ``url`` (default: the ``db`` setting, ``SHELFWISE_DB``)."""
    if url is None:
        from ...config import get_settings

        url = get_settings().db
    url = normalise_url(url)
    scheme = url.split("://", 1)[0]
    if scheme == "duckdb":
        from .duckdb_store import DuckDBStore

        return DuckDBStore(url, read_only=read_only)
    if scheme in ("postgresql", "postgres") and scheme not in _BACKENDS:
        try:
            from .postgres_store import PostgresStore  # noqa: F401  (registers itself)
        except ImportError as exc:
            raise StoreError(f"cannot open {url}: the PostgreSQL backend is not available ({exc})") from exc
    if scheme in _BACKENDS:
        return _BACKENDS[scheme](url)
    raise StoreError(f"unknown store URL scheme '{scheme}' in {url}: use duckdb:///path/to/shop.duckdb")
