"""Dashboard pages and their data, on a small demo shop, through FastAPI's test client.

The router is mounted on a bare FastAPI app with ``app.state.store`` set, as the service app does.
Figures on the pages are checked against the same figures worked out here from the raw events with
pandas, so the SQL in :mod:`shelfwise.service.dashboard` is tested against an independent reference.
"""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

_spec = importlib.util.spec_from_file_location("dashboard_shop", Path(__file__).with_name("dashboard_shop.py"))
shop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shop)  # type: ignore[union-attr]


@pytest.fixture(scope="session")
def urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return shop.build(tmp_path_factory.getbasetemp() / "dashboard_shops")


@pytest.fixture(scope="module")
def stores(urls: dict[str, str]):
    from shelfwise.data.store import open_store

    opened = {name: open_store(url, read_only=name == "bare") for name, url in urls.items()}
    yield opened
    for s in opened.values():
        s.close()


def make_client(store: Any, models: Any = None):
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from shelfwise.serve.dashboard import router

    app = FastAPI()
    app.include_router(router)
    app.state.store = store
    app.state.models = models
    return TestClient(app)


@pytest.fixture(scope="module")
def clients(stores):
    return {name: make_client(s) for name, s in stores.items()}


def svgs(html: str) -> list[ET.Element]:
    """Every inline SVG chart of a page, parsed as XML (so each must be well-formed)."""
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", html, flags=re.S)]


def events_frame(store) -> pd.DataFrame:
    return store.read_pandas("events")


# --- overview ----------------------------------------------------------------------------------------


def test_overview_figures_match_the_events(stores, clients):
    from shelfwise.service import dashboard

    ev = events_frame(stores["plain"])
    ov = dashboard.overview(stores["plain"])
    t = ov["totals"]
    assert t["events"] == len(ev)
    assert t["ctr"] == pytest.approx((ev.event == "click").sum() / (ev.event == "impression").sum())
    visitor = ev["session_id"].fillna(ev["user_id"])
    assert t["conversion"] == pytest.approx(visitor[ev.event == "purchase"].nunique() / visitor.nunique())
    day = ev.timestamp.dt.floor("D").dt.date
    per_day = ev.groupby(day).agg(clicks=("event", lambda s: (s == "click").sum()),
                                  imps=("event", lambda s: (s == "impression").sum()))
    assert ov["period"] == "day" and len(ov["traffic"]) == len(per_day)
    for r in ov["traffic"]:
        assert r["clicks"] == per_day.loc[r["period"], "clicks"]
        assert r["ctr"] == pytest.approx(per_day.loc[r["period"], "clicks"] / per_day.loc[r["period"], "imps"])

    page = clients["plain"].get("/dashboard")
    assert page.status_code == 200
    charts = svgs(page.text)
    assert len(charts) == 3
    assert f"{100 * t['ctr']:.2f}%" in page.text and f"{100 * t['conversion']:.2f}%" in page.text
    for value, label in ((len(ev), "events"), (ev.user_id.nunique(), "users"), (ev.item_id.nunique(), "items with events")):
        assert f'<div class="value">{value:,}</div><div class="label">{label}</div>' in page.text
    assert "Share of impressions per day" in page.text


def test_exposure_shares_follow_the_head_tail_and_launch_definitions(stores):
    from shelfwise.evaluate.metrics import tail_mask
    from shelfwise.service import dashboard

    store = stores["plain"]
    ev = events_frame(store)
    items = store.read_pandas("items")
    rows = dashboard.exposure_shares(store)
    assert rows and all(abs(r["share_new"] + r["share_head"] + r["share_tail"] - 1) < 1e-9 for r in rows)

    # head: the smallest set of most popular items holding 80% of interest events (ties by id)
    pop = ev[ev.event.isin(dashboard.INTEREST)].groupby("item_id").size()
    pop = pop.sort_index()
    order = sorted(pop.index, key=lambda i: (-pop[i], i))
    tail = tail_mask(pop.loc[order].to_numpy(), dashboard.HEAD_SHARE)
    head = {i for i, t in zip(order, tail) if not t}
    # launch: launched_at, else the first event when it is 14+ days after the data starts
    launched = items.dropna(subset=["launched_at"]).set_index("item_id")["launched_at"].to_dict()
    first = ev.groupby("item_id").timestamp.min()
    t0 = ev.timestamp.min()
    for item, t in first.items():
        if item not in launched and t >= t0 + timedelta(days=dashboard.CENSOR_DAYS):
            launched[item] = t
    imp = ev[ev.event == "impression"].copy()
    lt = imp.item_id.map(launched)
    imp["new"] = lt.notna() & (imp.timestamp >= lt) & (imp.timestamp < lt + timedelta(days=dashboard.NEW_DAYS))
    imp["head"] = ~imp["new"] & imp.item_id.isin(head)
    expect = imp.groupby(imp.timestamp.dt.floor("D").dt.date)[["new", "head"]].sum()
    assert expect["new"].sum() > 0 and expect["head"].sum() > 0
    for r in rows:
        assert (r["new"], r["head"]) == tuple(expect.loc[r["period"]])


def test_long_histories_are_shown_per_week(store, tmp_path):
    """Past 120 days the overview counts per ISO week; an item first seen late (no launch date) is new."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    from shelfwise.data.ingest import ingest
    from shelfwise.service import dashboard

    start = pd.Timestamp("2024-01-01")  # a Monday
    rows = []
    for day in range(0, 210, 3):
        t = start + pd.Timedelta(days=day, hours=10)
        rows += [(t, "u1", "old", "impression"), (t, "u1", "old", "click"), (t, "u2", "late" if day >= 100 else "old",
                                                                              "impression")]
    rows.append((start + pd.Timedelta(days=209, hours=12), "u2", "old", "purchase"))
    shop_dir = tmp_path / "shop"
    shop_dir.mkdir()
    pcsv.write_csv(pa.table({"item_id": ["old", "late"], "title": ["Old", "Late"]}), shop_dir / "items.csv")
    pcsv.write_csv(pa.table({"timestamp": [r[0].isoformat() for r in rows], "user_id": [r[1] for r in rows],
                             "item_id": [r[2] for r in rows], "event": [r[3] for r in rows]}), shop_dir / "events.csv")
    ingest(shop_dir, store)
    ov = dashboard.overview(store)
    assert ov["period"] == "week"
    weeks = [r["period"] for r in ov["traffic"]]
    assert weeks[0] == start.date() and all(w.weekday() == 0 for w in weeks) and len(weeks) == 30
    assert sum(r["clicks"] for r in ov["traffic"]) == 70 and ov["totals"]["ctr"] == pytest.approx(70 / 140)
    by_week = {r["period"]: r for r in ov["exposure"]}
    late_first = (start + pd.Timedelta(days=102)).date()  # the first day divisible by 3 from day 100
    first_week = late_first - timedelta(days=late_first.weekday())
    assert by_week[first_week]["new"] >= 1
    assert all(r["new"] == 0 for w, r in by_week.items() if w < first_week)
    assert all(r["new"] == 0 for w, r in by_week.items() if w >= first_week + timedelta(days=35))


@pytest.mark.parametrize("name", ["empty", "bare"])
def test_every_page_renders_on_a_store_without_data(clients, name):
    c = clients[name]
    for path in ("/dashboard", "/dashboard/users", "/dashboard/users/u1", "/dashboard/items",
                 "/dashboard/experiments", "/dashboard/alerts"):
        r = c.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert "<html" in r.text
    assert "holds no events yet" in c.get("/dashboard").text
    assert c.get("/dashboard/items/i1").status_code == 404


# --- users ---------------------------------------------------------------------------------------------


def _busiest_user(store) -> str:
    ev = events_frame(store)
    return ev[ev.event.isin(["view", "click", "cart", "favorite", "purchase"])].user_id.value_counts().index[0]


def test_user_page_without_a_model_shows_popular_items_and_says_so(stores, clients):
    from shelfwise.service import dashboard

    store = stores["plain"]
    user = _busiest_user(store)
    recs = dashboard.recommendations(store, user, k=5)
    assert recs["source"] == "popular" and "no model set is loaded" in recs["note"]
    ev = events_frame(store)
    bought = set(ev[(ev.user_id == user) & (ev.event == "purchase")].item_id)
    ids = [r["item_id"] for r in recs["items"]]
    assert len(ids) == 5 and not bought & set(ids)
    assert all(r["reasons"] for r in recs["items"])
    # ranked by buyers over the last 28 days of data, as the reasons say
    recent = ev[(ev.event == "purchase") & (ev.timestamp >= ev.timestamp.max() - timedelta(days=28))]
    buyers = recent.groupby("item_id").user_id.nunique()
    assert list(buyers.loc[ids]) == sorted(buyers.loc[ids], reverse=True)

    page = clients["plain"].get(f"/dashboard/users/{user}", params={"k": 5})
    assert page.status_code == 200
    assert "Popular items, not personal recommendations" in page.text
    assert page.text.count("<ul class=\"reasons\">") == 5
    assert len(svgs(page.text)) == 1  # the user's activity


def test_user_page_uses_the_loaded_model_and_explains_its_picks(stores):
    """A model set in ``app.state.models`` is asked through service/recommend.py; its order is kept."""
    store = stores["plain"]
    user = _busiest_user(store)
    ev = events_frame(store)
    seen = ev[(ev.user_id == user) & ev.event.isin(["view", "click", "purchase"])].item_id.unique()
    picks = [i for i in ev.item_id.unique() if i not in set(seen)][:3]
    calls = []

    class FakeModelSet:  # the parts of a loaded model set that service/recommend.py uses
        version_ = "20250101-test"
        history_ = SimpleNamespace(now=ev.timestamp.max().timestamp() + 1)

        def recommend(self, users, k, items=None, filter_seen=True, recent_events=None):
            calls.append((list(users), k))
            return np.array([picks[:k]], dtype=object), np.array([[0.9, 0.5, 0.1][:k]])

    fake = FakeModelSet()
    fake.data_ = SimpleNamespace()
    page = make_client(store, models=fake).get(f"/dashboard/users/{user}", params={"k": 3})
    assert page.status_code == 200 and calls == [([user], 3)]
    assert "From the model set <strong>20250101-test</strong>" in page.text
    positions = [page.text.index(f"<span class=\"muted\">{p}</span>") for p in picks]
    assert positions == sorted(positions)
    assert "Popular items" not in page.text


def test_in_the_service_app_the_page_shows_what_the_api_answers(make_app):
    """Inside the full service (S1's create_app, a trained model set) the page lists exactly what
    ``/v1/recommend`` answers, with the service's version and reasons plus the store's."""
    from fastapi.testclient import TestClient

    app = make_app(demo_mode=True)
    c = TestClient(app)
    user = app.state.store.query("SELECT user_id FROM events WHERE user_id IS NOT NULL GROUP BY user_id "
                                 "ORDER BY count(*) DESC, user_id LIMIT 1").to_pylist()[0]["user_id"]
    api = c.get("/v1/recommend", params={"user_id": user, "k": 5}).json()
    page = c.get(f"/dashboard/users/{user}", params={"k": 5})
    assert page.status_code == 200
    assert f"from model set <strong>{api['model_version']}</strong>" in page.text
    shown = re.findall(r'<span class="muted">([^<]+)</span></td>', page.text)
    assert shown == [i["item_id"] for i in api["items"]]
    for item in api["items"]:
        for why in item["reasons"]:
            assert why.replace("&", "&amp;").replace("'", "&#39;").replace('"', "&#34;") in page.text
    for path in ("/dashboard", "/dashboard/items", "/dashboard/experiments", "/dashboard/alerts"):
        assert c.get(path).status_code == 200


def test_in_the_service_app_without_a_model_the_page_says_so(make_app, shop_copy):
    from fastapi.testclient import TestClient

    (shop_copy["models"] / "current").unlink()  # nothing trained: the service serves popularity
    app = make_app(demo_mode=True)
    page = TestClient(app).get("/dashboard/users/u001", params={"k": 4})
    assert page.status_code == 200
    assert "no model set is trained yet" in page.text and page.text.count('<ul class="reasons">') == 4


def test_in_the_service_app_the_pages_take_the_api_read_keys(make_app):
    """Without ``shelfwise demo`` the pages need a read key: a Bearer header, or the sign-in cookie."""
    from fastapi.testclient import TestClient

    from shelfwise.service import keys

    app = make_app()
    _, read = keys.create_key(app.state.store, "read", "dashboard reader")
    c = TestClient(app)
    for path in ("/dashboard", "/dashboard/users/u001", "/dashboard/items", "/dashboard/experiments",
                 "/dashboard/alerts"):
        r = c.get(path)
        assert r.status_code == 401 and 'action="/dashboard/login"' in r.text, path
        assert "rec-table" not in r.text and "totals" not in r.text
    assert c.get("/dashboard", headers={"Authorization": f"Bearer {read}"}).status_code == 200
    assert c.get("/dashboard", headers={"Authorization": "Bearer sw_nope"}).status_code == 401
    bad = c.post("/dashboard/login", data={"key": "wrong", "next": "/dashboard/alerts"}, follow_redirects=False)
    assert bad.status_code == 401 and "not valid" in bad.text and "shelfwise_key" not in bad.headers.get("set-cookie", "")
    ok = c.post("/dashboard/login", data={"key": read, "next": "/dashboard/alerts"}, follow_redirects=False)
    assert ok.status_code == 303 and ok.headers["location"] == "/dashboard/alerts"
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/dashboard" in cookie
    assert c.get("/dashboard/alerts").status_code == 200  # the client keeps the cookie
    assert "Sign out" in c.get("/dashboard").text
    elsewhere = c.post("/dashboard/login", data={"key": read, "next": "//evil.example/x"}, follow_redirects=False)
    assert elsewhere.headers["location"] == "/dashboard"
    c.get("/dashboard/logout")
    assert c.get("/dashboard").status_code == 401


def test_reasons_name_what_the_user_did(stores):
    from shelfwise.service import dashboard

    store = stores["plain"]
    user = _busiest_user(store)
    hist = dashboard.user_history(store, user, limit=50)
    cats = {h["category"] for h in hist if h["category"]}
    top = dashboard.top_items(store, limit=50)
    same_cat = next(t for t in top if t["category"] in cats)
    out = dashboard.explain(store, user, [{"rank": 1, "item_id": same_cat["item_id"], "score": 0.3}])
    assert any(f"in {same_cat['category']}, a category you browse" == r for r in out[0]["reasons"])
    assert any(r.startswith("a bestseller: #") for r in out[0]["reasons"])


def test_unknown_user_gets_popular_items(clients):
    page = clients["plain"].get("/dashboard/users/never-seen-before")
    assert page.status_code == 200
    assert "No events from this user yet" in page.text and "rec-table" in page.text


# --- items ---------------------------------------------------------------------------------------------


def test_item_page_shows_every_stored_result(stores, clients):
    store = stores["full"]
    item = store.query("SELECT item_id FROM lifecycle_alerts WHERE kind = 'bulk_purchase'").to_pylist()[0]["item_id"]
    stage = store.query("SELECT stage FROM lifecycle_stages WHERE item_id = ?", [item]).to_pylist()[0]["stage"]
    fc = store.query("SELECT yhat_hi FROM lifecycle_forecasts WHERE item_id = ? ORDER BY period_start",
                     [item]).to_pylist()
    action = store.query("SELECT action FROM inventory_advice WHERE item_id = ?", [item]).to_pylist()[0]["action"]
    page = clients["full"].get(f"/dashboard/items/{item}")
    assert page.status_code == 200
    text = page.text
    assert f'<span class="stage" id="stage">{stage}</span>' in text
    assert text.count("<tr><td>", text.index('id="forecast"')) >= len(fc) == 6
    assert f'<strong id="action">{action}</strong>' in text
    assert "bulk_purchase" in text and "400 units" in text
    assert "75% of 12 reviews positive" in text and "too small, broke" in text
    assert "Not computed yet" not in text
    charts = svgs(text)
    assert len(charts) == 2
    curve = ET.tostring(charts[0], encoding="unicode")
    assert "interval high" in curve and "forecast" in curve


def test_item_page_says_what_is_not_computed_yet(clients):
    page = clients["plain"].get("/dashboard/items/i106")
    assert page.status_code == 200
    for command in ("shelfwise lifecycle", "shelfwise forecast", "shelfwise inventory", "shelfwise sentiment",
                    "shelfwise alerts", "shelfwise launch-plan ITEM_ID"):
        assert f"Not computed yet: run <code>{command}</code>" in page.text
    assert len(svgs(page.text)) == 2  # the curve is computed from the events, always


def test_unknown_item_is_a_404_page(clients):
    r = clients["full"].get("/dashboard/items/no-such-item")
    assert r.status_code == 404 and "No item “no-such-item”" in r.text


# --- escaping and input checks ----------------------------------------------------------------------------


def test_shop_data_is_escaped_everywhere(clients):
    from urllib.parse import quote

    c = clients["full"]
    item = c.get(f"/dashboard/items/{quote(shop.HOSTILE_ITEM, safe='')}")
    assert item.status_code == 200
    for raw in (shop.HOSTILE_ITEM, shop.HOSTILE_TITLE, "<script>bad</script>", "<u>launch</u>", "<i>Lamps</i>"):
        assert raw not in item.text
    assert "&lt;img src=x onerror=" in item.text and "&lt;u&gt;launch&lt;/u&gt; like its neighbours" in item.text
    assert '<strong id="launch-forecast">10</strong>' in item.text and "6 to 15" in item.text
    svgs(item.text)  # charts stay well-formed XML
    user = c.get(f"/dashboard/users/{quote(shop.HOSTILE_USER, safe='')}")
    assert user.status_code == 200
    assert shop.HOSTILE_USER not in user.text and "&lt;b&gt;mallory&lt;/b&gt;" in user.text
    assert shop.HOSTILE_TITLE not in user.text
    for path in ("/dashboard", "/dashboard/users", "/dashboard/items", "/dashboard/alerts"):
        assert "<script" not in c.get(path).text


def test_ids_with_slashes_and_the_lookup_forms(clients):
    c = clients["plain"]
    r = c.get("/dashboard/users", params={"user_id": " a/b "}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/users/a%2Fb"
    page = c.get(r.headers["location"])
    assert page.status_code == 200 and '<span id="user-id">a/b</span>' in page.text
    r = c.get("/dashboard/items", params={"item_id": "i106"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/dashboard/items/i106"


def test_bad_parameters_get_4xx(clients):
    c = clients["plain"]
    assert c.get("/dashboard/users/u1", params={"k": 0}).status_code == 422
    assert c.get("/dashboard/users/u1", params={"k": 101}).status_code == 422
    assert c.get("/dashboard/users/u1", params={"k": "many"}).status_code == 422
    assert c.get("/dashboard/items/" + "x" * 300).status_code == 422
    assert c.get("/dashboard/items/i1' OR '1'='1").status_code == 404  # bound parameters: just an unknown id


def test_no_store_is_a_503():
    assert make_client(None).get("/dashboard").status_code == 503


# --- experiments and alerts ------------------------------------------------------------------------------


def test_experiments_page_shows_lifts_with_intervals(stores, clients):
    from shelfwise.experiment import ab, assignment

    store = stores["full"]
    table = assignment.outcome_table(store, shop.EXPERIMENT).to_pandas()
    ref = ab.analyze(table, "arm", "control", ["clicked", "purchased", "revenue"], expected_split=[0.5, 0.5])
    page = clients["full"].get("/dashboard/experiments")
    assert page.status_code == 200
    for comp in ref.comparisons:
        assert f"{100 * comp.rel_ci_low:.1f}% to {100 * comp.rel_ci_high:.1f}%" in page.text
    assert "not-started" in page.text and "no exposures yet" in page.text
    charts = svgs(page.text)
    assert len(charts) == 1
    assert len(charts[0].findall(".//{http://www.w3.org/2000/svg}circle")) == 3
    assert "no experiment was ever created" in clients["plain"].get("/dashboard/experiments").text


def test_alerts_page(clients):
    page = clients["full"].get("/dashboard/alerts")
    assert page.status_code == 200
    assert "bulk_purchase" in page.text and "bulk-buyer bought 400 units" in page.text
    assert len(svgs(page.text)) == 1
    assert "Not computed yet" in clients["plain"].get("/dashboard/alerts").text


def test_stylesheet_is_served_by_the_app(clients):
    r = clients["empty"].get("/dashboard/static/dashboard.css")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css") and "header" in r.text


# --- the interval chart ----------------------------------------------------------------------------------


def test_interval_chart_marks_decided_rows_and_escapes_labels():
    from shelfwise.evaluate.charts import PALETTE
    from shelfwise.serve.dashboard.svg import interval_chart

    svg = interval_chart([("a<b> · clicked", 0.1, 0.02, 0.2), ("c · revenue", -0.01, -0.05, 0.03),
                          ("d · n/a", float("nan"), float("nan"), float("nan"))], title="T & U")
    root = ET.fromstring(svg)
    ns = "{http://www.w3.org/2000/svg}"
    circles = root.findall(f".//{ns}circle")
    assert [c.get("fill") for c in circles] == [PALETTE[0], "#8a939c"]
    assert "a&lt;b&gt;" in svg and "T &amp; U" in svg
    # the caller's own decision (a corrected p-value) wins over "the interval excludes zero"
    forced = ET.fromstring(interval_chart([("x", 0.1, 0.02, 0.2, False), ("y", 0.0, -0.1, 0.1, True)]))
    assert [c.get("fill") for c in forced.findall(f".//{ns}circle")] == ["#8a939c", PALETTE[0]]
    assert ET.fromstring(interval_chart([], title="empty")).find(f"{ns}text") is not None


# --- the same pages on PostgreSQL ----------------------------------------------------------------------------


@pytest.mark.slow  # a PostgreSQL cluster start and an ingest: 10-20 s
def test_pages_on_a_postgresql_store_match_duckdb(urls, stores, tmp_path):
    """The dashboard's SQL is portable: on a private PostgreSQL cluster (Debian binaries; skipped without
    them) every page renders and the overview's figures equal the DuckDB store's for the same shop."""
    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.data.store.pg_local import find_bin_dir, start_local_cluster
    from shelfwise.errors import StoreError
    from shelfwise.service import dashboard

    bin_dir = find_bin_dir()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries: run `bash scripts/postgres.sh`")
    try:
        cluster = start_local_cluster(bin_dir)
    except StoreError as exc:
        pytest.skip(f"could not start a private PostgreSQL cluster: {exc}")
    try:
        with open_store(cluster.url) as pg:
            ingest(Path(urls["plain"].split(":///", 1)[1]).with_name("shop"), pg)
            ours, theirs = dashboard.overview(pg), dashboard.overview(stores["plain"])
            assert ours["totals"] == pytest.approx(theirs["totals"])
            assert ours["traffic"] == theirs["traffic"] and ours["exposure"] == theirs["exposure"]
            user = _busiest_user(stores["plain"])
            assert ([r["item_id"] for r in dashboard.recommendations(pg, user)["items"]]
                    == [r["item_id"] for r in dashboard.recommendations(stores["plain"], user)["items"]])
            c = make_client(pg)
            for path in ("/dashboard", "/dashboard/users", f"/dashboard/users/{user}", "/dashboard/items",
                         "/dashboard/items/i106", "/dashboard/experiments", "/dashboard/alerts"):
                assert c.get(path).status_code == 200, path
    finally:
        cluster.stop()
