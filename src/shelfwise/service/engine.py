"""Batch operations on a chosen engine (``--engine duckdb|spark``): the CLI and the API call these.

``train`` snapshots the store, builds the aggregates (stored as ``engine_<name>`` tables and Parquet)
and fits ALS; ``recommend_all`` writes fused top-k lists for every known user (Parquet, the store
table ``engine_recommendations`` and optionally a CSV in ``shelfwise recommend`` format);
``refresh_series`` rebuilds the lifecycle's stored sales series on the engine, so ``lifecycle`` and
``forecast`` read them as if the default engine had built them. Each run writes under
``<out_dir>/engine/<run>/`` (Parquet) and ``<model_dir>/engine/<run>/`` (the ALS model).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..config import get_settings
from ..data.store import Store, open_store
from ..engines import engine_name, get_engine
from ..engines import pipeline as P
from ..engines.sql import AGGREGATES, BatchParams, stored_name
from ..errors import InputError, ModelNotFound
from ..logs import get_logger

log = get_logger(__name__)

CURRENT = "engine_current.json"


def _run_dir(root: Path, engine: str) -> Path:
    return root / "engine" / f"{datetime.now():%Y%m%d-%H%M%S}-{engine}-{uuid.uuid4().hex[:6]}"


def _params(until: str | datetime | None, **overrides: Any) -> BatchParams:
    cut = None
    if until is not None:
        from ..evaluate.split import parse_cutoff

        cut = parse_cutoff(until, "until")
    return replace(BatchParams(seed=get_settings().seed), until=cut,
                   **{k: v for k, v in overrides.items() if v is not None})


def train(db: str | None = None, engine: str | None = None, until: str | datetime | None = None,
          out_dir: str | Path | None = None, model_dir: str | Path | None = None, master: str | None = None,
          **overrides: Any) -> dict[str, Any]:
    """Aggregates and ALS on ``engine``; the aggregates also go into the store. Returns a report."""
    settings = get_settings()
    name = engine_name(engine)
    params = _params(until, **overrides)
    work = _run_dir(Path(out_dir or settings.out_dir), name)
    models = _run_dir(Path(model_dir or settings.model_dir), name)
    t0 = time.perf_counter()
    with open_store(db) as store:
        P.export_snapshot(store, work / "snapshot")
        with get_engine(name, master) as eng:
            report = P.train(eng, work / "snapshot", params, work / "aggregates", models)
        for agg in AGGREGATES:
            report.setdefault("stored", {})[stored_name(agg)] = P.load_into_store(
                store, stored_name(agg), work / "aggregates" / agg)
    report.update(run=str(work), model=str(models), seconds_total=round(time.perf_counter() - t0, 2),
                  params={k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(params).items()})
    (models.parent / CURRENT).write_text(json.dumps({"engine": name, "model": str(models), "run": str(work),
                                                     "params": report["params"]}, indent=2))
    (models / "run.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def _current(model_dir: str | Path | None) -> dict[str, Any]:
    path = Path(model_dir or get_settings().model_dir) / "engine" / CURRENT
    if not path.exists():
        raise ModelNotFound(f"no engine model under {path.parent}: run shelfwise train --engine ENGINE first")
    return json.loads(path.read_text())


def recommend_all(db: str | None = None, engine: str | None = None, out: str | Path | None = None,
                  k: int | None = None, model_dir: str | Path | None = None, master: str | None = None,
                  users: list[str] | None = None) -> dict[str, Any]:
    """Top-k lists for every known user with the current engine model (as of its training cutoff).

    Writes Parquet under the run folder, replaces the store table ``engine_recommendations`` and, with
    ``out``, a CSV ``user_id,rank,item_id,score`` (only ``users`` when given).
    """
    current = _current(model_dir)
    name = engine_name(engine or current["engine"])
    if name != current["engine"]:
        raise InputError(f"the current engine model was trained with --engine {current['engine']}; recommend "
                         f"with the same engine or train again with --engine {name}", field="engine")
    saved = dict(current["params"])
    saved["until"] = datetime.fromisoformat(saved["until"]) if saved.get("until") else None
    params = BatchParams(**saved)
    if k is not None:
        if k < 1:
            raise InputError(f"k must be at least 1 (got {k})", field="k")
        params = replace(params, k=k)
    run = Path(current["run"])
    t0 = time.perf_counter()
    times = P.StageTimes()
    with open_store(db) as store:
        P.export_snapshot(store, run / "snapshot")
        with get_engine(name, master) as eng:
            folder = P.recommend_all(eng, run / "snapshot", params, Path(current["model"]), run, times)
        rows = P.load_into_store(store, "engine_recommendations", folder)
        n_users = int(store.query("SELECT count(DISTINCT user_id) FROM engine_recommendations").column(0)[0].as_py())
    written = None
    if out is not None:
        written = str(write_csv(folder, Path(out), users))
    return {"engine": name, "rows": rows, "users": n_users, "parquet": str(folder), "csv": written,
            "seconds": dict(times.seconds), "seconds_total": round(time.perf_counter() - t0, 2)}


def write_csv(folder: Path, out: Path, users: list[str] | None = None) -> Path:
    """The Parquet lists as ``user_id,rank,item_id,score`` CSV, file by file (never all in memory)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    wanted = pa.array(sorted(set(users)), pa.string()) if users else None
    schema = pa.schema([("user_id", pa.string()), ("rank", pa.int64()), ("item_id", pa.string()),
                        ("score", pa.float64())])
    with pacsv.CSVWriter(str(out), schema) as writer:
        for f in sorted(folder.glob("*.parquet")):
            t = pq.read_table(f).select(["user_id", "rank", "item_id", "score"]).cast(schema)
            if wanted is not None:
                import pyarrow.compute as pc

                t = t.filter(pc.is_in(t["user_id"], value_set=wanted))
            writer.write_table(t.sort_by([("user_id", "ascending"), ("rank", "ascending")]))
    return out


def refresh_series(db: str | None = None, engine: str | None = None, out_dir: str | Path | None = None,
                   master: str | None = None) -> dict[str, int]:
    """The lifecycle's stored sales series built on ``engine`` (same tables as the default refresh)."""
    from ..lifecycle import series as S

    name = engine_name(engine)
    work = _run_dir(Path(out_dir or get_settings().out_dir), name)
    params = BatchParams()
    with open_store(db) as store:
        P.export_snapshot(store, work / "snapshot")
        with get_engine(name, master) as eng:
            now = P.prepare(eng, work / "snapshot", params)
            P.build_aggregates(eng, params, now, work / "aggregates", names=("sales_daily", "sales_weekly"))
        counts = {"sales_daily": P.load_into_store(store, "sales_daily", work / "aggregates" / "sales_daily"),
                  "sales_weekly": P.load_into_store(store, "sales_weekly", work / "aggregates" / "sales_weekly")}
        counts.update(S.write_category_series(store))
        S.write_series_meta(store)
    return counts


def batch_engine(option: str | None) -> str | None:
    """Which batch engine a command runs on, or None for the default single-machine path.

    ``--engine`` wins over the ``engine`` setting. ``local`` (the default) keeps each command's own
    path (the hybrid model for ``train``); ``duckdb`` runs the batch pipeline in DuckDB and ``spark``
    on Spark, with the same SQL and the same kind of model (ALS candidates fused with buy-again and
    popular items).
    """
    raw = (option or get_settings().engine).strip().lower()
    if raw == "local":
        return None
    return engine_name(raw)


def recommend_cli(engine: str, db: str | None, user: str | None, users_file: Path | None, all_users: bool, k: int,
                  out: Path | None, model_dir: Path | None, master: str | None) -> dict[str, Any]:
    """``shelfwise recommend --engine ...``: lists for all users (or the ones named) as CSV to ``out`` or stdout."""
    import shutil
    import sys

    from .recommend import read_ids

    if all_users == (user is not None or users_file is not None):
        raise InputError("with --engine duckdb|spark give --all-users, or --user ID / --users FILE", field="user")
    ids = None if all_users else ([user] if user is not None else read_ids(users_file, "user_id"))
    target = out or Path(get_settings().out_dir) / "engine" / "recommendations.csv"
    report = recommend_all(db, engine, target, k, model_dir, master, ids)
    if out is None:
        with target.open() as fh:
            shutil.copyfileobj(fh, sys.stdout)
    else:
        log.info("%d recommendations for %d users on %s -> %s (Parquet: %s)", report["rows"], report["users"],
                 engine, out, report["parquet"])
    return report


def ingest(shop_dir: str | Path, db: str | None = None, lake: str | Path | None = None,
           master: str | None = None, refresh_series_after: bool = True) -> Any:
    """``shelfwise ingest --engine spark``: validate on Spark, write the Parquet lake, load the store.

    The lake is ``<out_dir>/lake/<table>/`` (rejects under ``rejects/``) unless ``lake`` is given. The
    sales series are then rebuilt on Spark as well, as the default ingest rebuilds them locally.
    """
    from ..engines.spark_ingest import ingest_spark

    folder = Path(lake or Path(get_settings().out_dir) / "lake")
    with open_store(db) as store:
        result = ingest_spark(shop_dir, store, folder, master or get_settings().spark_master)
    added = sum(t.new for t in result.tables if t.table == "events")
    if refresh_series_after and added:
        refresh_series(db, "spark", master=master)
    return result
