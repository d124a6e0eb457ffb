"""Where batch work runs: DuckDB on this machine (the default) or Apache Spark (``shelfwise[spark]``).

``get_engine()`` picks one from a name or the ``engine`` setting (``SHELFWISE_ENGINE``); ``local`` and
``duckdb`` both mean the embedded engine. The pipeline in :mod:`shelfwise.engines.pipeline` runs the
same SQL (:mod:`shelfwise.engines.sql`) on either.
"""

from __future__ import annotations

from ..config import get_settings
from ..errors import InputError
from .base import Engine
from .sql import AGGREGATES, BatchParams

ENGINE_NAMES = ("duckdb", "spark")
_ALIASES = {"local": "duckdb", "duckdb": "duckdb", "spark": "spark"}


def engine_name(name: str | None = None) -> str:
    """The canonical engine name for ``name`` (default: the ``engine`` setting)."""
    raw = (name or get_settings().engine).strip().lower()
    if raw not in _ALIASES:
        raise InputError(f"unknown engine '{name}': use duckdb (the default, also called local) or spark",
                         field="engine")
    return _ALIASES[raw]


def get_engine(name: str | None = None, master: str | None = None, shuffle_partitions: int | None = None) -> Engine:
    """A ready engine: ``duckdb`` in process, or ``spark`` on ``master`` (default: the ``spark_master`` setting)."""
    canonical = engine_name(name)
    if canonical == "spark":
        from .spark_engine import SparkEngine

        return SparkEngine(master or get_settings().spark_master, shuffle_partitions)
    from .duckdb_engine import DuckDBEngine

    return DuckDBEngine()


__all__ = ["AGGREGATES", "ENGINE_NAMES", "BatchParams", "Engine", "engine_name", "get_engine"]
