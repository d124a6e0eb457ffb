"""The batch-engine part of the demo: the scale-out pipeline on the embedded engine (DuckDB).

The same SQL runs on Spark with ``--engine spark`` (docs/SCALE.md); the demo stays on DuckDB so it
needs no Java and keeps to its time budget. It stores the aggregates and every user's fused lists
beside the demo's other tables and reports their sizes and stage times.
"""

from __future__ import annotations

from ...engines import get_engine
from ...engines import pipeline as P
from ...engines.sql import AGGREGATES, BatchParams, stored_name
from ..demo import DemoContext, DemoStep

ORDER = 90


def _batch(ctx: DemoContext) -> str:
    store = ctx.require_store()
    work = ctx.out_dir / "engine"
    params = BatchParams(factors=32, iterations=10)
    times = P.StageTimes()
    P.export_snapshot(store, work / "snapshot")
    with get_engine("duckdb") as engine:
        P.train(engine, work / "snapshot", params, work / "aggregates", work / "model", times)
        folder = P.recommend_all(engine, work / "snapshot", params, work / "model", work, times, prepared=True)
    rows = {stored_name(a): P.load_into_store(store, stored_name(a), work / "aggregates" / a) for a in AGGREGATES}
    rows["engine_recommendations"] = P.load_into_store(store, "engine_recommendations", folder)
    ctx.figures["batch pipeline seconds"] = round(sum(times.seconds.values()), 3)
    sec = ctx.report.section("Batch pipeline (scale-out engine)")
    sec.text("The aggregates and lists that `shelfwise train/recommend --engine duckdb|spark` build, here on "
             "the embedded DuckDB engine; the same SQL runs on Spark (see docs/SCALE.md).")
    sec.table(["table", "rows"], [[k, v] for k, v in rows.items()])
    sec.table(["stage", "seconds"], [[k, v] for k, v in times.seconds.items()])
    return f"{rows['engine_recommendations']:,} list rows and {len(AGGREGATES)} aggregates in {sum(times.seconds.values()):.1f}s"


STEPS = [DemoStep("batch engine", "aggregates, ALS and lists for every user on the batch engine (DuckDB)", _batch)]
