"""The batch pipeline, driven the same way on every engine.

snapshot (store -> Parquet) -> typed events view -> aggregates (sales series, co-occurrence,
popularity and trends, user profiles) -> interactions -> ALS -> candidates (ALS, buy-again, popular)
-> fused top-k lists for every known user -> Parquet, then the store. With ``params.ranker`` (the
default), training first builds candidates and features as of ``now - label_days`` and fits a LightGBM
ranker on the purchases after that (:mod:`.batch_ranker`), and the lists are the ranker's top k.

The store is read once, into a Parquet snapshot that every engine reads the same way (a Spark cluster
reads it from shared storage). Results go out as Parquet written by the engine and are loaded into
the store by the store's own engine (DuckDB reads the Parquet files directly), so no step pulls the
events through Python.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ..data.store import Store
from ..errors import InputError
from ..logs import get_logger
from ..progress import task
from . import batch_ranker
from . import sql as Q
from .base import Engine

log = get_logger(__name__)

SNAPSHOT_EVENTS = ("timestamp", "user_id", "item_id", "event", "quantity", "price", "order_id")
SNAPSHOT_ITEMS = ("item_id", "category", "price", "launched_at", "attrs")


@dataclass
class StageTimes:
    """Seconds per pipeline stage, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, fn: Any, *args: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        out = fn(*args, **kw)
        self.seconds[name] = round(time.perf_counter() - t0, 3)
        return out


def _is_duckdb(store: Store) -> bool:
    from ..data.store.duckdb_store import DuckDBStore

    return isinstance(store, DuckDBStore)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export_snapshot(store: Store, folder: Path) -> Path:
    """Write the store's events and items as Parquet under ``folder`` (events/, items/).

    A DuckDB store writes the files itself (COPY), so the events never pass through Python; another
    backend (PostgreSQL) is read whole through its Arrow interface, which bounds it by this machine.
    """
    if not store.has_table("events"):
        raise InputError(f"the store {store.url} has no events: ingest a shop first (shelfwise ingest SHOP_DIR)")
    folder.mkdir(parents=True, exist_ok=True)
    specs = {"events": ("events", SNAPSHOT_EVENTS, "timestamp, user_id, item_id"),
             "items": ("all_items", SNAPSHOT_ITEMS, "item_id")}
    for name, (table, cols, order) in specs.items():
        out = folder / name
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        col_sql = ", ".join(f'"{c}"' for c in cols)
        if _is_duckdb(store):
            store.execute(f'COPY (SELECT {col_sql} FROM "{table}" ORDER BY {order}) '
                          f"TO {_lit(str(out / 'part-0.parquet'))} (FORMAT PARQUET)")
        else:
            pq.write_table(store.read(table, columns=list(cols), order_by=order), out / "part-0.parquet")
    return folder


def load_into_store(store: Store, name: str, folder: Path) -> int:
    """Replace table ``name`` in the store with the Parquet files of ``folder``; returns its rows."""
    files = sorted(folder.glob("*.parquet"))
    if _is_duckdb(store):
        if files:
            store.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM read_parquet({_lit(str(folder / "*.parquet"))})')
        return store.count(name)
    table = pq.ParquetDataset(folder).read()  # another backend: through Arrow, bounded by this machine
    return store.write(name, table, mode="replace")


def prepare(engine: Engine, snapshot: Path, params: Q.BatchParams) -> datetime:
    """Register the snapshot and the typed events view; returns the pipeline's 'now'.

    'now' is ``params.until`` when given (events before it only), else one second after the last event.
    """
    engine.register_parquet("ev_raw", snapshot / "events")
    engine.register_parquet("it", snapshot / "items")
    engine.materialise("ev", Q.events_view(params.until))
    return reference_time(engine, params)


def reference_time(engine: Engine, params: Q.BatchParams) -> datetime:
    """'now' of a prepared engine: ``params.until``, else one second after the last event of ``ev``."""
    if params.until is not None:
        return params.until
    last = engine.scalar("SELECT max(timestamp) FROM ev")
    if last is None:
        raise InputError("no events to work on" + (f" before {params.until:%Y-%m-%d}" if params.until else ""))
    return (last + timedelta(seconds=1)).replace(microsecond=0)


def build_aggregates(engine: Engine, params: Q.BatchParams, now: datetime, out_dir: Path | None,
                     times: StageTimes | None = None, names: tuple[str, ...] = Q.AGGREGATES) -> dict[str, Path]:
    """Materialise the aggregates on ``engine`` and, with ``out_dir``, write each as Parquet."""
    times = times or StageTimes()
    written: dict[str, Path] = {}
    with task(f"aggregates on {engine.name}", total=len(names)) as bar:
        for name in names:
            times.timed(name, engine.materialise, name, Q.aggregate_sql(name, engine.dialect, params, now))
            if out_dir is not None:
                written[name] = times.timed(f"{name}:write", engine.write_parquet, name, out_dir / name)
            bar.advance(1)
    return written


def train(engine: Engine, snapshot: Path, params: Q.BatchParams, out_dir: Path, model_dir: Path,
          times: StageTimes | None = None) -> dict[str, Any]:
    """Aggregates and ALS: everything ``recommend`` needs later. Returns a report."""
    times = times or StageTimes()
    now = times.timed("prepare", prepare, engine, snapshot, params)
    ranker = None
    if params.ranker:  # first, at the cut; then everything again as of now
        ranker = batch_ranker.train(engine, snapshot, params, now, model_dir, times)
        times.timed("prepare", prepare, engine, snapshot, params)
    written = build_aggregates(engine, params, now, out_dir, times)
    times.timed("interactions", engine.materialise, "interactions", Q.INTERACTIONS)
    als = times.timed("als_fit", engine.fit_als, "interactions", params, model_dir)
    return {"engine": engine.name, "now": now.isoformat(), "aggregates": {k: str(v) for k, v in written.items()},
            "als": als, "ranker": ranker, "seconds": dict(times.seconds)}


def recommend_all(engine: Engine, snapshot: Path, params: Q.BatchParams, model_dir: Path, out_dir: Path,
                  times: StageTimes | None = None, prepared: bool = False) -> Path:
    """Top-k lists for every known user (a user with an event before 'now'); Parquet under ``out_dir``.

    With a learned ranker in ``model_dir`` (``params.ranker`` and enough labels at training time) the
    ranker orders each user's candidates; otherwise the lists fuse ALS, buy-again and popular items.
    """
    times = times or StageTimes()
    learned = params.ranker and batch_ranker.has_model(model_dir)
    if not prepared:
        now = times.timed("prepare", prepare, engine, snapshot, params)
        build_aggregates(engine, params, now, None, times, names=("popularity", "user_profiles"))
    else:
        now = reference_time(engine, params)
    if learned:
        batch_ranker.recommend(engine, params, now, model_dir, out_dir, times)
    else:
        times.timed("als_candidates", engine.als_candidates, model_dir, params, "als_cands")
        times.timed("buy_candidates", engine.materialise, "buy_cands", Q.buy_again(params))
        times.timed("fuse", engine.materialise, "recommendations", Q.fuse(params, engine.dialect))
    return times.timed("recommendations:write", engine.write_parquet, "recommendations", out_dir / "recommendations")
