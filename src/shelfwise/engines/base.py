"""The engine contract: where the batch pipeline's SQL runs and where ALS is fitted.

An engine holds named tables (DuckDB relations in memory, or Spark DataFrames spread over a cluster)
and offers the few operations the pipeline needs: register the shop snapshot, materialise a SQL
statement as a named table, write a table as Parquet, fit ALS and produce candidates. The pipeline
(:mod:`shelfwise.engines.pipeline`) drives every engine through these same calls with the same SQL
(:mod:`shelfwise.engines.sql`), so the engines differ only in where the work happens.
"""

from __future__ import annotations

import abc
from pathlib import Path
from typing import Any

import pyarrow as pa

from .sql import BatchParams, Dialect


class Engine(abc.ABC):
    """One place to run the batch pipeline."""

    name: str = "engine"
    dialect: Dialect

    @abc.abstractmethod
    def register_parquet(self, name: str, path: Path) -> None:
        """Make the Parquet file or folder at ``path`` a table called ``name``."""

    @abc.abstractmethod
    def materialise(self, name: str, sql: str) -> None:
        """Run ``sql`` (it may read earlier tables by name) and keep the result as table ``name``."""

    @abc.abstractmethod
    def scalar(self, sql: str) -> Any:
        """The single value of a one-row, one-column query (bounded: never a table's rows)."""

    @abc.abstractmethod
    def write_parquet(self, name: str, folder: Path) -> Path:
        """Write table ``name`` as Parquet files in ``folder`` (replacing it); returns the folder."""

    @abc.abstractmethod
    def to_arrow(self, name: str) -> pa.Table:
        """The rows of table ``name`` on this machine: for tests and small tables only."""

    @abc.abstractmethod
    def fit_als(self, interactions: str, params: BatchParams, model_dir: Path) -> dict[str, Any]:
        """Fit implicit-feedback ALS on table ``interactions`` (user_id, item_id, weight); save it.

        Confidence is ``1 + alpha * log1p(weight)`` on both engines. Returns a small report.
        """

    @abc.abstractmethod
    def als_candidates(self, model_dir: Path, params: BatchParams, name: str = "als_cands") -> None:
        """Table ``name`` (user_id, item_id, r, score): each known user's top ``params.candidates`` ALS items."""

    def score_booster(self, features: str, model_text: str, columns: list[str], name: str, work: Path) -> None:
        """Table ``name`` (user_id, item_id, score): a LightGBM text model's raw score of every row of
        ``features``, computed where the rows are (batches on this machine, or the executors) without
        bringing the table to the driver. ``work`` is scratch space for engines that spill to Parquet.
        """
        raise NotImplementedError(f"the {self.name} engine cannot score a ranker")

    def count(self, name: str) -> int:
        return int(self.scalar(f"SELECT count(*) FROM {name}"))

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release what the engine holds (connections, cached tables)."""

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
