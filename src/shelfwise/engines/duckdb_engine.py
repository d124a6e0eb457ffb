"""The default engine: the batch SQL in an in-process DuckDB, ALS with ``implicit`` on this machine."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from ..artifacts import load_array, load_manifest, save_arrays, save_manifest
from ..config import get_settings
from ..logs import get_logger
from .base import Engine
from .sql import DUCKDB, BatchParams

log = get_logger(__name__)

ALS_KIND = "engine-als-duckdb"
SCORE_BATCH = 200_000  # candidate rows per batch through the ranker (bounds memory, not results)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine(Engine):
    """Tables are DuckDB temp tables in a private in-memory database (or a spill file for big runs)."""

    name = "duckdb"
    dialect = DUCKDB

    def __init__(self, memory_limit: str | None = None, threads: int | None = None) -> None:
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        if memory_limit:
            self.con.execute(f"SET memory_limit = {_lit(memory_limit)}")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def register_parquet(self, name: str, path: Path) -> None:
        src = str(path / "*.parquet") if path.is_dir() else str(path)
        self.con.execute(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({_lit(src)})")

    def materialise(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS {sql}")

    def scalar(self, sql: str) -> Any:
        row = self.con.execute(sql).fetchone()
        return row[0] if row else None

    def write_parquet(self, name: str, folder: Path) -> Path:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        self.con.execute(f"COPY {name} TO {_lit(str(folder / 'part-0.parquet'))} (FORMAT PARQUET)")
        return folder

    def to_arrow(self, name: str) -> pa.Table:
        return self.con.sql(f"SELECT * FROM {name}").fetch_arrow_table()

    # --- ALS with implicit ---------------------------------------------------------------------
    def fit_als(self, interactions: str, params: BatchParams, model_dir: Path) -> dict[str, Any]:
        from implicit.cpu.als import AlternatingLeastSquares

        t0 = time.perf_counter()
        users = self.con.sql(f"SELECT DISTINCT user_id FROM {interactions} ORDER BY 1").fetch_arrow_table()
        items = self.con.sql(f"SELECT DISTINCT item_id FROM {interactions} ORDER BY 1").fetch_arrow_table()
        self.con.register("_users", users.append_column("u", pa.array(np.arange(users.num_rows), pa.int64())))
        self.con.register("_items", items.append_column("i", pa.array(np.arange(items.num_rows), pa.int64())))
        rows = self.con.sql(f"""
            SELECT u.u, i.i, 1.0 + {float(params.alpha)} * ln(1.0 + x.weight) AS c
            FROM {interactions} x JOIN _users u USING (user_id) JOIN _items i USING (item_id)""").fetchnumpy()
        m = sp.csr_matrix((rows["c"].astype(np.float32), (rows["u"], rows["i"])),
                          shape=(users.num_rows, items.num_rows), dtype=np.float32)
        threads = get_settings().blas_threads
        with threadpool_limits(threads, "blas"):
            model = AlternatingLeastSquares(factors=params.factors, regularization=params.regularization,
                                            iterations=params.iterations, random_state=params.seed,
                                            num_threads=threads)
            model.fit(m, show_progress=False)
        model_dir.mkdir(parents=True, exist_ok=True)
        save_arrays(model_dir, user_factors=np.asarray(model.user_factors, dtype=np.float32),
                    item_factors=np.asarray(model.item_factors, dtype=np.float32))
        pq.write_table(users, model_dir / "users.parquet")
        pq.write_table(items, model_dir / "items.parquet")
        report = {"users": users.num_rows, "items": items.num_rows, "nonzeros": int(m.nnz),
                  "seconds": round(time.perf_counter() - t0, 3)}
        save_manifest(model_dir, ALS_KIND, {"factors": params.factors, "iterations": params.iterations,
                                            "regularization": params.regularization, "alpha": params.alpha,
                                            "seed": params.seed}, meta=report)
        self.con.unregister("_users")
        self.con.unregister("_items")
        return report

    def als_candidates(self, model_dir: Path, params: BatchParams, name: str = "als_cands") -> None:
        load_manifest(model_dir, ALS_KIND)
        uf = load_array(model_dir, "user_factors")
        itf = load_array(model_dir, "item_factors")
        users = pq.read_table(model_dir / "users.parquet").column("user_id").to_numpy(zero_copy_only=False)
        items = pq.read_table(model_dir / "items.parquet").column("item_id").to_numpy(zero_copy_only=False)
        n = min(params.candidates, len(items))
        out_u: list[np.ndarray] = []
        out_i: list[np.ndarray] = []
        out_r: list[np.ndarray] = []
        out_s: list[np.ndarray] = []
        batch = max(1, 4_000_000 // max(len(items), 1))
        with threadpool_limits(get_settings().blas_threads, "blas"):
            for lo in range(0, len(users), batch):
                s = uf[lo:lo + batch] @ itf.T
                part = np.argpartition(-s, n - 1, axis=1)[:, :n]
                ps = np.take_along_axis(s, part, axis=1)
                # best first; equal scores in id order (items are sorted by id, so by column index)
                order = np.lexsort((part, -ps), axis=1)
                best = np.take_along_axis(part, order, axis=1)
                out_u.append(np.repeat(np.arange(lo, lo + len(s)), n))
                out_i.append(best.ravel())
                out_s.append(np.take_along_axis(ps, order, axis=1).ravel().astype(np.float64))
                out_r.append(np.tile(np.arange(1, n + 1), len(s)))
        u = np.concatenate(out_u) if out_u else np.zeros(0, np.int64)
        i = np.concatenate(out_i) if out_i else np.zeros(0, np.int64)
        r = np.concatenate(out_r) if out_r else np.zeros(0, np.int64)
        score = np.concatenate(out_s) if out_s else np.zeros(0, np.float64)
        table = pa.table({"user_id": pa.array(users[u], pa.string()), "item_id": pa.array(items[i], pa.string()),
                          "r": pa.array(r, pa.int64()), "score": pa.array(score, pa.float64())})
        self.con.register("_cands", table)
        self.materialise(name, "SELECT * FROM _cands")
        self.con.unregister("_cands")

    # --- the learned ranker ---------------------------------------------------------------------
    def score_booster(self, features: str, model_text: str, columns: list[str], name: str, work: Path) -> None:
        """Streams ``features`` in Arrow batches through the booster into Parquet, then reads that back."""
        import lightgbm as lgb

        booster = lgb.Booster(model_str=model_text)
        if work.exists():
            shutil.rmtree(work)
        work.mkdir(parents=True)
        schema = pa.schema([("user_id", pa.string()), ("item_id", pa.string()), ("score", pa.float64())])
        cols = ", ".join(columns)
        reader = self.con.execute(f"SELECT user_id, item_id, {cols} FROM {features}").fetch_record_batch(SCORE_BATCH)
        with pq.ParquetWriter(str(work / "part-0.parquet"), schema) as writer:
            for batch in reader:
                if batch.num_rows == 0:
                    continue
                x = np.column_stack([batch.column(c).to_numpy(zero_copy_only=False).astype(np.float64)
                                     for c in columns])
                score = booster.predict(x, num_threads=1)
                writer.write_table(pa.table({"user_id": batch.column("user_id").cast(pa.string()),
                                             "item_id": batch.column("item_id").cast(pa.string()),
                                             "score": pa.array(score, pa.float64())}, schema=schema))
        self.register_parquet(name, work)

    def close(self) -> None:
        try:
            self.con.close()
        except duckdb.Error:
            pass
