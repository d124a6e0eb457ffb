"""Model hot-swap: a new version replaces the old one between requests, never within one, none dropped."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from .conftest import train_covisit


def test_reload_follows_the_model_folder(make_app, shop_copy) -> None:
    app = make_app(demo_mode=True)
    c = TestClient(app)
    old = app.state.models.version
    assert c.post("/v1/admin/reload").json() == {"swapped": False, "model_version": old}
    time.sleep(1.1)  # versions are stamped to the second
    new = train_covisit(shop_copy["url"], shop_copy["models"])
    body = c.post("/v1/admin/reload").json()
    assert body == {"swapped": True, "model_version": new} and new != old
    assert c.get("/v1/recommend", params={"user_id": "u1"}).json()["model_version"] == new


def test_retrain_on_demand_swaps_without_dropping_requests(make_app, shop_copy) -> None:
    trained = threading.Event()

    def slow_train(url: str, model_dir) -> str:
        time.sleep(1.1)
        version = train_covisit(url, model_dir)
        trained.set()
        return version

    app = make_app(demo_mode=True, train=slow_train)
    c = TestClient(app)
    old = app.state.models.version
    user = next(u for u in map(str, app.state.models.model.data_.user_ids) if app.state.models.current.has_history(u))
    seen: list[tuple[int, str]] = []
    stop = threading.Event()

    def hammer() -> None:
        client = TestClient(app)
        while not stop.is_set():
            r = client.get("/v1/recommend", params={"user_id": user, "k": 5})
            seen.append((r.status_code, r.json().get("model_version")))

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for t in threads:
        t.start()
    r = c.post("/v1/admin/retrain")
    assert r.status_code == 202 and r.json()["started"] is True
    assert c.post("/v1/admin/retrain").status_code == 409  # one at a time
    deadline = time.time() + 60
    while app.state.models.version == old and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join()
    new = app.state.models.version
    assert trained.is_set() and new != old
    assert c.get("/v1/admin/models").json()["retrain"]["state"] == "done"
    codes = {code for code, _ in seen}
    versions = [v for _, v in seen]
    assert codes == {200}
    assert set(versions) <= {old, new} and versions[-1] == new


def test_running_service_follows_a_version_trained_elsewhere(shop_copy) -> None:
    """With the lifespan running, the watcher swaps in what another process's `shelfwise train` wrote."""
    from shelfwise.config import Settings
    from shelfwise.serve import create_app

    app = create_app(shop_copy["url"], settings=Settings(db=shop_copy["url"]), model_dir=shop_copy["models"],
                     demo_mode=True, warm=False, watch_every_s=0.2)
    with TestClient(app) as c:  # runs the lifespan: intake, watcher
        old = app.state.models.version
        time.sleep(1.1)
        new = train_covisit(shop_copy["url"], shop_copy["models"])
        deadline = time.time() + 30
        while app.state.models.version != new and time.time() < deadline:
            time.sleep(0.1)
        assert app.state.models.version == new != old
        assert c.get("/v1/recommend", params={"user_id": "u1"}).json()["model_version"] == new
