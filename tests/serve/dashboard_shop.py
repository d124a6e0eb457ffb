"""Stores for the dashboard tests (loaded by the test modules by path; not a test module itself).

``build(base)`` makes, once per test session (later calls reuse what the first built):

- ``plain``: a small demo shop, ingested, nothing derived (every "not computed yet" branch);
- ``full``: the same shop plus a hostile item and user (markup in ids and titles), a bulk purchase,
  lifecycle stages / forecasts / inventory advice / alerts from :mod:`shelfwise.service.lifecycle`, an
  experiment with exposures, and sentiment and launch-plan tables in the shape their writers use;
- ``empty``: a store with the shop tables and no rows;
- ``bare``: a DuckDB file with no tables at all (opened read-only).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa

HOSTILE_ITEM = "x<script>alert(1)</script>"
HOSTILE_TITLE = '<img src=x onerror="alert(2)"> Evil & "quoted" lamp'
HOSTILE_USER = "<b>mallory</b>"
BULK_ITEM_UNITS = 400
EXPERIMENT = "ranker-v2"


def _write_extra(folder: Path, store_url: str) -> None:
    """A second shop folder on top of the demo shop: the hostile item and user, and a bulk order."""
    from shelfwise.data.store import open_store

    with open_store(store_url) as store:
        last = store.query("SELECT max(timestamp) AS t FROM events").to_pylist()[0]["t"]
        top = store.query("""SELECT item_id FROM events WHERE event = 'purchase' GROUP BY item_id
                              ORDER BY count(*) DESC, item_id LIMIT 1""").to_pylist()[0]["item_id"]
    folder.mkdir(parents=True, exist_ok=True)
    items = pa.table({"item_id": [HOSTILE_ITEM], "title": [HOSTILE_TITLE], "category": ["Home > <i>Lamps</i>"],
                      "price": [19.5]})
    day = last.replace(hour=10, minute=0, second=0, microsecond=0)
    ts = [day, day, day, day]
    events = pa.table({"timestamp": pa.array(ts, pa.timestamp("us")),
                       "user_id": [HOSTILE_USER, HOSTILE_USER, HOSTILE_USER, "bulk-buyer"],
                       "item_id": [HOSTILE_ITEM, HOSTILE_ITEM, top, top],
                       "event": ["view", "purchase", "view", "purchase"],
                       "quantity": [1.0, 1.0, 1.0, float(BULK_ITEM_UNITS)],
                       "price": [19.5, 19.5, None, 10.0]})
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    pcsv.write_csv(items, folder / "items.csv")
    pq.write_table(events, folder / "events.parquet")


def _derive(store_url: str, base: Path) -> None:
    from shelfwise.data.store import open_store
    from shelfwise.experiment import assignment
    from shelfwise.policy.launch import LaunchPlan, save_plans
    from shelfwise.service import lifecycle

    st = lifecycle.stages(store_url)
    fc = lifecycle.forecast(store_url, "W", 6)
    lifecycle.inventory(store_url, forecast_df=fc, stages_df=st)
    lifecycle.alerts(store_url, days=7)  # a short window leaves 4 weeks of history for the bulk rule
    with open_store(store_url) as store:
        users = store.query("SELECT user_id, min(timestamp) AS t FROM events WHERE user_id IS NOT NULL "
                            "GROUP BY user_id ORDER BY user_id").to_pylist()
        exp = assignment.create_experiment(store, EXPERIMENT, ["control", "treatment"], salt="fixed",
                                           description="new ranker against the old one")
        assignment.log_exposures(store, exp.name, [u["user_id"] for u in users],
                                 [assignment.assign_arm(u["user_id"], exp) for u in users],
                                 at=[u["t"] for u in users], surface="home")
        assignment.create_experiment(store, "not-started", ["a", "b"], salt="s2")
        top = store.query("SELECT item_id FROM events WHERE event = 'purchase' GROUP BY item_id "
                          "ORDER BY count(*) DESC, item_id LIMIT 1").to_pylist()[0]["item_id"]
        store.write("item_sentiment", pa.table({
            "item_id": [top, HOSTILE_ITEM], "n_reviews": [12, 2], "share_positive": [0.75, 0.0],
            "mean_probability": [0.7, 0.1], "trend": [-0.2, None],
            "complaint_terms": [json.dumps(["too small", "broke"]), json.dumps(["<script>bad</script>"])],
            "first_review": pa.array([None, None], pa.timestamp("us")),
            "last_review": pa.array([None, None], pa.timestamp("us"))}))
        store.write("review_sentiment", pa.table({
            "review_key": ["r1", "r2"], "item_id": [top, top], "language": ["en", "en"],
            "label": ["negative", "positive"], "probability": [0.1, 0.9], "model_id": ["test", "test"]}))
        save_plans(store, [LaunchPlan(
            HOSTILE_ITEM, HOSTILE_TITLE, None,
            [{"item_id": top, "title": "<u>launch</u> neighbour", "similarity": 0.81, "weekly_sales": [3.0, 5.0, 4.0, 2.0]}],
            [2.0, 3.0, 3.0, 2.0], 10.0, 6.0, 15.0, [{"user_id": "u001", "score": 0.4}], 0.05, 19.5, 15.0, 24.0,
            ["<u>launch</u> like its neighbours", "suggested exposure 5%"])])


def build(base: Path) -> dict[str, str]:
    """Store URLs by name (see the module docstring); built under ``base`` unless already there."""
    import duckdb

    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.data.synth import SynthConfig, write_shop

    urls = {name: f"duckdb:///{base / (name + '.duckdb')}" for name in ("plain", "full", "empty", "bare")}
    done = base / "done.json"
    if done.exists():
        return urls
    base.mkdir(parents=True, exist_ok=True)
    write_shop(base / "shop", SynthConfig(items=150, users=300, days=35, seed=3))
    with open_store(urls["plain"]) as store:
        ingest(base / "shop", store)
    shutil.copy(base / "plain.duckdb", base / "full.duckdb")
    _write_extra(base / "extra", urls["full"])
    with open_store(urls["full"]) as store:
        ingest(base / "extra", store)
    _derive(urls["full"], base)
    open_store(urls["empty"]).close()
    duckdb.connect(str(base / "bare.duckdb")).close()
    done.write_text(json.dumps(urls))
    return urls
