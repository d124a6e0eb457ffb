"""The dashboard in a real browser: headless Debian Chromium driven by Playwright.

A uvicorn server on a free loopback port serves the dashboard router over the small demo shop; each
page is opened, its key content and SVG charts are checked as the browser laid them out, and a
full-page screenshot is kept in ``test-artifacts/`` (git-ignored). The browser is Debian's
``chromium`` (``bash scripts/browser.sh`` installs it; never ``playwright install``); without it, or
without the ``playwright`` package, these tests skip and say why.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

_spec = importlib.util.spec_from_file_location("dashboard_shop", Path(__file__).with_name("dashboard_shop.py"))
shop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shop)  # type: ignore[union-attr]

CHROMIUM = os.environ.get("SHELFWISE_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("SHELFWISE_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))

sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed "
                                                              "(bash scripts/setup.sh --dev installs it)")
if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"no Chromium at {CHROMIUM}: run `bash scripts/browser.sh` (Debian's chromium package)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def urls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return shop.build(tmp_path_factory.getbasetemp() / "dashboard_shops")


class _Server:
    """uvicorn in a thread on a socket bound here first (so the port cannot be taken in between)."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


def _app(store: Any) -> Any:
    from fastapi import FastAPI

    from shelfwise.serve.dashboard import router

    app = FastAPI()
    app.include_router(router)
    app.state.store = store
    app.state.models = None
    return app


@pytest.fixture(scope="module")
def servers(urls: dict[str, str]) -> Iterator[dict[str, str]]:
    from shelfwise.data.store import open_store

    stores = {name: open_store(urls[name]) for name in ("full", "empty")}
    try:
        with _Server(_app(stores["full"])) as full, _Server(_app(stores["empty"])) as empty:
            yield {"full": full, "empty": empty}
    finally:
        for s in stores.values():
            s.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                               args=["--disable-gpu", "--disable-dev-shm-usage"])
        yield b
        b.close()


class Visit:
    """One page in a fresh tab that records console errors, script dialogs and every request made."""

    def __init__(self, browser: Any, base: str) -> None:
        self.base = base
        self.page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.expected_failures: set[str] = set()
        # a failed load is logged by the console without its address: the response check names it
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        self.page.on("response", lambda r: self.errors.append(f"{r.status} {r.url}")
                     if r.status >= 400 and r.url not in self.expected_failures else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, path: str, status: int = 200) -> Any:
        if status >= 400:
            self.expected_failures.add(self.base + path)
        resp = self.page.goto(self.base + path, wait_until="load")
        assert resp is not None and resp.status == status, (path, resp and resp.status)
        return self.page

    def charts(self) -> list[dict[str, float]]:
        """Each inline SVG chart's laid-out size: drawn, not just present in the source."""
        return self.page.eval_on_selector_all(
            "svg.sw-chart", "els => els.map(e => { const r = e.getBoundingClientRect(); "
                            "return {w: r.width, h: r.height, marks: e.querySelectorAll('polyline,polygon,rect,circle').length}; })")

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"dashboard-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 5000
        return path

    def close(self) -> None:
        assert not self.errors, self.errors
        assert not self.dialogs, f"a script ran on the page: {self.dialogs}"
        outside = [u for u in self.requests if not u.startswith(self.base)]
        assert not outside, f"the page fetched from elsewhere: {outside}"
        self.page.close()


@pytest.fixture()
def visit(browser: Any, servers: dict[str, str]) -> Iterator[Any]:
    opened: list[Visit] = []

    def make(which: str = "full") -> Visit:
        v = Visit(browser, servers[which])
        opened.append(v)
        return v

    yield make
    for v in opened:
        v.close()


def _charts_drawn(v: Visit, n: int) -> None:
    charts = v.charts()
    assert len(charts) == n, charts
    assert all(c["w"] > 200 and c["h"] > 60 and c["marks"] > 0 for c in charts), charts


def test_overview_in_the_browser(visit):
    v = visit()
    page = v.open("/dashboard")
    assert page.locator("h1").inner_text() == "Overview"
    assert page.locator("#ctr").inner_text().endswith("%")
    assert "Share of impressions" in page.locator("#exposure").inner_text()
    # the stylesheet came from the app and applied
    assert page.eval_on_selector("header", "e => getComputedStyle(e).backgroundColor") == "rgb(29, 53, 87)"
    _charts_drawn(v, 3)
    v.shot("overview")


def test_user_page_in_the_browser(visit, urls):
    from shelfwise.data.store import open_store

    with open_store(urls["full"]) as store:
        user = store.query("SELECT user_id FROM events WHERE event = 'purchase' AND user_id LIKE 'u%' "
                           "GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1").to_pylist()[0]["user_id"]
    v = visit()
    page = v.open(f"/dashboard/users/{user}?k=8")
    assert page.locator("#user-id").inner_text() == user
    assert page.locator("#rec-table tr").count() == 9  # header + 8
    assert "Popular items, not personal recommendations" in page.locator("#rec-source").inner_text()
    assert page.locator("ul.reasons li").count() >= 8
    _charts_drawn(v, 1)
    v.shot("user")


def test_item_page_in_the_browser(visit, urls):
    from shelfwise.data.store import open_store

    with open_store(urls["full"]) as store:
        item = store.query("SELECT item_id FROM lifecycle_alerts LIMIT 1").to_pylist()[0]["item_id"]
        stage = store.query("SELECT stage FROM lifecycle_stages WHERE item_id = ?", [item]).to_pylist()[0]["stage"]
    v = visit()
    page = v.open(f"/dashboard/items/{item}")
    assert page.locator("#stage").inner_text() == stage
    assert page.locator("#forecast tr").count() == 7  # header + 6 weeks
    assert "bulk_purchase" in page.locator("#item-alerts").inner_text()
    assert "too small" in page.locator("#complaints").inner_text()
    _charts_drawn(v, 2)
    v.shot("item")


def test_hostile_shop_data_is_shown_as_text_and_never_runs(visit):
    v = visit()
    page = v.open(f"/dashboard/items/{quote(shop.HOSTILE_ITEM, safe='')}")
    assert page.locator("#item-title").inner_text() == shop.HOSTILE_TITLE
    assert page.locator("img").count() == 0 and page.locator("main script").count() == 0
    page = v.open(f"/dashboard/users/{quote(shop.HOSTILE_USER, safe='')}")
    assert page.locator("#user-id").inner_text() == shop.HOSTILE_USER
    v.shot("hostile-user")  # Visit.close asserts no dialog ever opened


def test_experiments_and_alerts_in_the_browser(visit):
    v = visit()
    page = v.open("/dashboard/experiments")
    assert shop.EXPERIMENT in page.locator("#exp-1 h2").inner_text()
    assert page.locator("#exp-1 table.comparisons tr").count() == 4  # header + 3 metrics
    _charts_drawn(v, 1)
    assert page.locator("svg.sw-interval circle").count() == 3
    v.shot("experiments")
    page = v.open("/dashboard/alerts")
    assert "bulk-buyer bought 400 units" in page.locator("#alerts").inner_text()
    _charts_drawn(v, 1)
    v.shot("alerts")


def test_navigation_and_lookup_form(visit):
    v = visit()
    page = v.open("/dashboard")
    page.click("header nav >> text=Items")
    page.wait_for_url("**/dashboard/items")
    first = page.locator("#items a").first
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/dashboard/items/*")
    assert page.locator("#item-title").inner_text() == title
    page.click("header nav >> text=Users")
    page.fill("input[name=user_id]", "someone/new")
    page.click("form.lookup button")
    page.wait_for_url("**/dashboard/users/someone%2Fnew")
    assert page.locator("#user-id").inner_text() == "someone/new"


def test_empty_store_in_the_browser(visit):
    v = visit("empty")
    for path, name in (("/dashboard", "empty-overview"), ("/dashboard/experiments", None), ("/dashboard/alerts", None),
                       ("/dashboard/users/u1", None), ("/dashboard/items", None)):
        page = v.open(path)
        assert page.locator("h1").count() == 1
        if name:
            assert "holds no events yet" in page.locator("#empty").inner_text()
            v.shot(name)
    v.open("/dashboard/items/nothing", status=404)


def test_sign_in_with_a_read_key_in_the_service_app(browser, make_app):
    """The full service (keys required): the browser gets the sign-in page, then the pages with the cookie."""
    from shelfwise.service import keys

    app = make_app()
    _, read = keys.create_key(app.state.store, "read", "browser")
    with _Server(app) as base:
        v = Visit(browser, base)
        page = v.open("/dashboard/experiments", status=401)
        assert "a read key is required" in page.locator("#sign-in-message").inner_text()
        v.expected_failures.add(base + "/dashboard/login")
        page.fill("input[name=key]", "sw_wrong")
        page.click("form.lookup button")
        page.wait_for_load_state()
        assert "not valid" in page.locator("#sign-in-message").inner_text()
        page.fill("input[name=key]", read)
        page.click("form.lookup button")
        page.wait_for_url("**/dashboard/experiments")
        assert page.locator("h1").inner_text() == "Experiments"
        page = v.open("/dashboard")
        _charts_drawn(v, 3)
        v.shot("service-overview")
        v.expected_failures.add(base + "/dashboard")  # signed out: the overview answers 401 again
        page.click("text=Sign out")
        page.wait_for_url("**/dashboard")
        assert page.locator("#sign-in").count() == 1
        v.close()
