"""The scale-out engine: the same batch SQL on Apache Spark, ALS with Spark MLlib.

Nothing here brings events to the driver: tables are Spark DataFrames (cached when materialised),
results leave as Parquet written by the executors, and the only values collected are scalars and
the id dictionaries of MLlib's ``StringIndexer`` (which grow with users and items, not with events).
``local[*]`` runs everything in this process's JVM; any master URL (``spark://host:7077``, ``yarn``,
``k8s://...``) runs it on a cluster, given paths every executor can read (see docs/SCALE.md).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pyarrow as pa

from ..artifacts import load_manifest, save_manifest
from ..errors import ConfigError
from ..logs import get_logger
from .base import Engine
from .sql import SPARK, BatchParams

log = get_logger(__name__)

ALS_KIND = "engine-als-spark"
_SESSION: Any = None


class EngineUnavailable(ConfigError):
    """The chosen engine cannot run here (its package or runtime is missing)."""


def spark_session(master: str = "local[*]", shuffle_partitions: int | None = None, app: str = "shelfwise") -> Any:
    """The process's SparkSession, created once (Spark allows one active context per JVM).

    Settings that change what results mean are fixed here: UTC session time, naive (NTZ) timestamps,
    non-ANSI casts (a bad value becomes NULL, as in DuckDB's TRY_CAST).
    """
    global _SESSION
    if _SESSION is not None and not _SESSION.sparkContext._jsc.sc().isStopped():
        return _SESSION
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise EngineUnavailable("the Spark engine needs PySpark: pip install 'shelfwise[spark]' "
                                "(and Java 17 on the machine)") from exc
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (the CSV reader's per-partition parser) run this interpreter, with its packages;
    # on a cluster set PYSPARK_PYTHON to the executors' environment (docs/SCALE.md)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    parts = shuffle_partitions or (4 if master.startswith("local") else 200)
    builder = (SparkSession.builder.master(master).appName(app)
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.timestampType", "TIMESTAMP_NTZ")
               .config("spark.sql.ansi.enabled", "false")
               .config("spark.sql.shuffle.partitions", str(parts))
               .config("spark.ui.enabled", "false")
               .config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.adaptive.enabled", "true")
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
               .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC"))
    if master.startswith("local"):
        builder = builder.config("spark.driver.memory", os.environ.get("SHELFWISE_SPARK_DRIVER_MEMORY", "2g"))
    try:
        _SESSION = builder.getOrCreate()
    except Exception as exc:  # py4j / Java launch failures come in many types
        raise EngineUnavailable(f"cannot start Spark with master '{master}': {exc}. Is Java 17 installed "
                                "(java -version) and SPARK_LOCAL_IP set?") from exc
    _SESSION.sparkContext.setLogLevel("ERROR")
    return _SESSION


def stop_session() -> None:
    """Stop the process's SparkSession (tests and benchmarks call this at the end)."""
    global _SESSION
    if _SESSION is not None:
        _SESSION.stop()
        _SESSION = None


class SparkEngine(Engine):
    """Tables are temp views over cached DataFrames in one SparkSession."""

    name = "spark"
    dialect = SPARK

    def __init__(self, master: str = "local[*]", shuffle_partitions: int | None = None) -> None:
        self.spark = spark_session(master, shuffle_partitions)
        self._cached: dict[str, Any] = {}

    def register_parquet(self, name: str, path: Path) -> None:
        self.spark.read.parquet(str(path)).createOrReplaceTempView(name)

    def materialise(self, name: str, sql: str) -> None:
        df = self.spark.sql(sql).cache()
        old = self._cached.pop(name, None)
        df.createOrReplaceTempView(name)
        df.count()  # build it now, so a later step's time is its own
        if old is not None:
            old.unpersist()
        self._cached[name] = df

    def scalar(self, sql: str) -> Any:
        row = self.spark.sql(sql).first()
        return row[0] if row else None

    def write_parquet(self, name: str, folder: Path) -> Path:
        self.spark.table(name).write.mode("overwrite").parquet(str(folder))
        return folder

    def to_arrow(self, name: str) -> pa.Table:
        df = self.spark.table(name)
        if hasattr(df, "toArrow"):
            return df.toArrow()
        return pa.Table.from_pandas(df.toPandas(), preserve_index=False)

    # --- ALS with MLlib -----------------------------------------------------------------------
    def fit_als(self, interactions: str, params: BatchParams, model_dir: Path) -> dict[str, Any]:
        from pyspark.ml.feature import StringIndexer
        from pyspark.ml.recommendation import ALS
        from pyspark.sql import functions as F

        t0 = time.perf_counter()
        x = self.spark.table(interactions)
        uix = StringIndexer(inputCol="user_id", outputCol="u", stringOrderType="alphabetAsc").fit(x)
        iix = StringIndexer(inputCol="item_id", outputCol="i", stringOrderType="alphabetAsc").fit(x)
        rated = (iix.transform(uix.transform(x))
                 .select(F.col("u").cast("int").alias("u"), F.col("i").cast("int").alias("i"),
                         F.log1p(F.col("weight")).alias("rating")))
        als = ALS(rank=params.factors, maxIter=params.iterations, regParam=params.regularization,
                  alpha=params.alpha, implicitPrefs=True, userCol="u", itemCol="i", ratingCol="rating",
                  seed=params.seed, coldStartStrategy="drop", nonnegative=False)
        model = als.fit(rated)
        model_dir.mkdir(parents=True, exist_ok=True)
        model.write().overwrite().save(str(model_dir / "als"))
        uix.write().overwrite().save(str(model_dir / "user_index"))
        iix.write().overwrite().save(str(model_dir / "item_index"))
        report = {"users": len(uix.labelsArray[0]), "items": len(iix.labelsArray[0]),
                  "seconds": round(time.perf_counter() - t0, 3)}
        save_manifest(model_dir, ALS_KIND, {"factors": params.factors, "iterations": params.iterations,
                                            "regularization": params.regularization, "alpha": params.alpha,
                                            "seed": params.seed}, meta=report)
        return report

    def als_candidates(self, model_dir: Path, params: BatchParams, name: str = "als_cands") -> None:
        from pyspark.ml.feature import IndexToString, StringIndexerModel
        from pyspark.ml.recommendation import ALSModel
        from pyspark.sql import functions as F

        load_manifest(model_dir, ALS_KIND)
        model = ALSModel.load(str(model_dir / "als"))
        users = StringIndexerModel.load(str(model_dir / "user_index")).labelsArray[0]
        items = StringIndexerModel.load(str(model_dir / "item_index")).labelsArray[0]
        recs = model.recommendForAllUsers(params.candidates)
        flat = recs.select("u", F.explode("recommendations").alias("rec")).select(
            F.col("u").cast("double").alias("u"), F.col("rec.i").cast("double").alias("i"),
            F.col("rec.rating").alias("score"))
        # index -> id on the executors (the labels travel with the task, as MLlib's own indexers do)
        joined = IndexToString(inputCol="i", outputCol="item_id", labels=list(items)).transform(
            IndexToString(inputCol="u", outputCol="user_id", labels=list(users)).transform(flat))
        # MLlib gives no order among equal scores: re-rank by score, then item id, as the DuckDB engine
        joined.createOrReplaceTempView("_als_flat")
        self.materialise(name, """
            SELECT user_id, item_id,
                   row_number() OVER (PARTITION BY user_id ORDER BY score DESC, item_id) AS r,
                   CAST(score AS DOUBLE) AS score
            FROM _als_flat""")

    # --- the learned ranker ---------------------------------------------------------------------
    def score_booster(self, features: str, model_text: str, columns: list[str], name: str, work: Path) -> None:
        """Scores on the executors: the model text is broadcast, each partition runs it in ``mapInPandas``."""
        model = self.spark.sparkContext.broadcast(model_text)
        cols = list(columns)

        def predict(batches: Any) -> Any:
            import lightgbm as lgb
            import numpy as np
            import pandas as pd

            booster = lgb.Booster(model_str=model.value)
            for pdf in batches:
                x = pdf[cols].to_numpy(dtype=np.float64, na_value=np.nan)
                score = booster.predict(x, num_threads=1) if len(pdf) else np.zeros(0)
                yield pd.DataFrame({"user_id": pdf["user_id"], "item_id": pdf["item_id"], "score": score})

        scored = self.spark.table(features).select("user_id", "item_id", *cols).mapInPandas(
            predict, "user_id string, item_id string, score double")
        scored.createOrReplaceTempView("_scored_raw")
        self.materialise(name, "SELECT * FROM _scored_raw")

    def close(self) -> None:
        for df in self._cached.values():
            df.unpersist()
        self._cached.clear()
