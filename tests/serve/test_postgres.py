"""The API over a PostgreSQL store: the same code paths as DuckDB (bound parameters, Store methods only).

Skips when no PostgreSQL server can be had (``SHELFWISE_TEST_POSTGRES_URL`` or the Debian binaries for a
private loopback cluster, see ``shelfwise.data.store.pg_local``).
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from .conftest import train_covisit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pg_url(tiny_shop):
    try:
        import psycopg
    except ImportError as exc:
        pytest.skip(f"psycopg missing: {exc}")
    env = os.environ.get("SHELFWISE_TEST_POSTGRES_URL")
    cluster = None
    if env:
        server = env
    else:
        from shelfwise.data.store.pg_local import find_bin_dir, start_local_cluster
        from shelfwise.errors import StoreError

        if find_bin_dir() is None:
            pytest.skip("no PostgreSQL binaries (bash scripts/postgres.sh) and no SHELFWISE_TEST_POSTGRES_URL")
        try:
            cluster = start_local_cluster()
        except StoreError as exc:
            pytest.skip(f"could not start a private PostgreSQL cluster: {exc}")
        server = cluster.url
    schema = "api_" + uuid.uuid4().hex[:10]
    url = f"{server}{'&' if '?' in server else '?'}schema={schema}"
    try:
        yield url
    finally:
        with psycopg.connect(server, autocommit=True) as con:
            con.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        if cluster is not None:
            cluster.stop()


def test_api_on_postgres(tiny_shop, pg_url: str, tmp_path: Path) -> None:
    from shelfwise.config import Settings
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.serve import create_app
    from shelfwise.service import keys

    with open_store(pg_url) as store:
        ingest(tiny_shop["root"] / "shop", store)
        _, read = keys.create_key(store, "read")
        _, write = keys.create_key(store, "write")
    models = tmp_path / "models"
    train_covisit(pg_url, models)
    app = create_app(pg_url, settings=Settings(db=pg_url), model_dir=models, warm=False, watch_every_s=None)
    try:
        c = TestClient(app)
        r, w = {"Authorization": f"Bearer {read}"}, {"Authorization": f"Bearer {write}"}
        store = app.state.store
        assert c.get("/health/ready").json()["status"] == "ready"
        ms = app.state.models.current
        user = next(u for u in map(str, ms.model.data_.user_ids) if ms.has_history(u))
        body = c.get("/v1/recommend", params={"user_id": user, "k": 5}, headers=r).json()
        assert body["personal"] and body["model_version"] == ms.version and body["items"]
        before = store.count("events")
        liked = next(i for i in map(str, ms.model.data_.item_ids) if ms.neighbours(i))
        batch = [{"timestamp": "2031-01-01T00:00:00", "user_id": f"pg{i}", "item_id": liked, "event": "click"}
                 for i in range(5)]
        assert c.post("/v1/events", json=batch).status_code == 401
        assert c.post("/v1/events", json=batch, headers=r).status_code == 403
        assert c.post("/v1/events", json=batch, headers=w).json()["accepted"] == 5
        assert c.post("/v1/events", json=batch, headers=w).status_code == 200  # retry: stored once
        bad = c.post("/v1/events", json=batch + [{"timestamp": "x", "item_id": "i1", "event": "click"}], headers=w)
        assert bad.status_code == 422 and bad.json()["error"]["field"] == "timestamp"
        assert store.count("events") == before + 5
        second = c.get("/v1/recommend", params={"user_id": "pg0", "k": 5}, headers=r).json()
        assert "live" in second["sources"] and second["personal"]
        item = store.query("SELECT item_id FROM items ORDER BY item_id LIMIT 1").column(0)[0].as_py()
        assert c.get(f"/v1/items/{item}", headers=r).json()["item"]["item_id"] == item
        assert c.get("/v1/alerts", headers=r).status_code == 200
        assert c.get("/v1/experiments", headers=r).json() == {"experiments": []}
        assert c.get("/v1/recommend", params={"user_id": "x' OR 1=1"}, headers=r).status_code == 422
    finally:
        app.state.intake.stop()
        app.state.store.close()
