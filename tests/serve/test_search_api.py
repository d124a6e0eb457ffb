"""GET /v1/search and POST /v1/ask: thin over the search and assistant services, keyed like every read."""

from __future__ import annotations

from fastapi.testclient import TestClient


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_search_finds_an_item_by_its_title(shared_app) -> None:
    app, read, _ = shared_app
    c = TestClient(app)
    row = app.state.store.query("SELECT item_id, title FROM items WHERE title IS NOT NULL ORDER BY item_id LIMIT 1").to_pylist()[0]
    r = c.get("/v1/search", params={"q": row["title"], "k": 5}, headers=_auth(read))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["model_version"] == app.state.models.current.version
    ids = [h["item_id"] for h in body["items"]]
    assert 0 < len(ids) <= 5 and row["item_id"] in ids
    assert c.get("/v1/search", params={"q": row["title"]}).status_code == 401
    assert c.get("/v1/search", params={"q": "", "k": 5}, headers=_auth(read)).status_code == 422
    assert c.get("/v1/search", params={"q": "x", "k": 0}, headers=_auth(read)).status_code == 422


def test_ask_answers_or_says_it_cannot(shared_app) -> None:
    app, read, _ = shared_app
    c = TestClient(app)
    r = c.post("/v1/ask", json={"question": "is it compatible with a submarine periscope?"}, headers=_auth(read))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"question", "answered", "answer", "citations"}
    if not body["answered"]:
        assert body["citations"] == []
    assert c.post("/v1/ask", json={"question": "x", "item_id": "a';--"}, headers=_auth(read)).status_code == 422
    assert c.post("/v1/ask", json={"question": ""}, headers=_auth(read)).status_code == 422
    assert c.post("/v1/ask", json={"question": "ok?"}).status_code == 401


def test_search_on_a_shop_without_a_catalogue_yet_answers_no_hits(tmp_path) -> None:
    """Was 422 'bad input' although the query was fine; recommend and ask already answer empty there."""
    from shelfwise.config import Settings
    from shelfwise.serve import create_app
    from shelfwise.service import keys

    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    app = create_app(url, settings=Settings(db=url, model_dir=tmp_path / "models"), model_dir=tmp_path / "models",
                     warm=False, watch_every_s=None)
    try:
        _, read = keys.create_key(app.state.store, "read", "reader")
        r = TestClient(app).get("/v1/search", params={"q": "lamp"}, headers=_auth(read))
        assert r.status_code == 200, r.text
        assert r.json()["items"] == [] and r.json()["query"] == "lamp"
    finally:
        app.state.intake.stop()
        app.state.store.close()
