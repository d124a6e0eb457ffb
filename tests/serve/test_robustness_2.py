"""Second black-box pass: ``shelfwise demo`` at small sizes, ``datasets synth``, ``keys`` and the dashboard pages.

Each test failed on the code before its fix (see docs/SERVICE.md, "Edge cases").
"""

from __future__ import annotations


import pytest
from typer.testing import CliRunner


def _cli(*args: str):
    from shelfwise.cli.main import app

    return CliRunner().invoke(app, list(args))


# --- demo and datasets synth -------------------------------------------------------------------------------

def test_a_demo_too_small_for_some_steps_skips_them_and_finishes(tmp_path):
    from shelfwise.service import demo as demo_service

    # 3 days of 5 users: no complete week of sales (lifecycle), no visitor on the simulated days, no purchase
    # (service). Was: the lifecycle step's error ended the demo ("choose a later --as-of", a flag the demo
    # does not have); past it, a numpy casting error in the simulator and an IndexError in the service step.
    result = demo_service.run_demo(demo_service.DemoOptions(tmp_path / "demo", items=10, users=5, days=3, seed=0))
    summaries = {s.name: s.summary for s in result.steps}
    assert summaries["lifecycle"].startswith("skipped: ")
    assert summaries["policy simulation"].startswith("skipped: ")
    assert summaries["service"].startswith("skipped: ") and "no purchases" in summaries["service"]
    assert "nan" not in " ".join(summaries.values())
    html = result.report_path.read_text(encoding="utf-8")
    assert "Skipped steps" in html and "lifecycle" in html


def test_a_demo_shop_without_any_event_finishes(tmp_path):
    from shelfwise.service import demo as demo_service

    # 1 user for 1 day: no event at all. Was "AttributeError: 'NoneType' object has no attribute 'year'" in
    # the recommendation steps (the events' time span of an empty table)
    result = demo_service.run_demo(demo_service.DemoOptions(tmp_path / "demo", items=10, users=1, days=1, seed=0))
    summaries = {s.name: s.summary for s in result.steps}
    assert summaries["evaluate recommendations"].startswith("skipped: ")
    assert summaries["train recommender"].startswith("skipped: ")
    assert result.report_path.exists()


def test_a_step_that_fails_unexpectedly_still_stops_the_demo(tmp_path, monkeypatch):
    from shelfwise.errors import InputError
    from shelfwise.service import demo as demo_service

    def broken(ctx):
        raise InputError("core step failed")

    core = [demo_service.DemoStep("generate", "g", broken), *demo_service.STEPS[1:]]
    monkeypatch.setattr(demo_service, "STEPS", core)
    monkeypatch.setattr(demo_service, "all_steps", lambda: list(core))
    with pytest.raises(InputError, match="core step failed"):  # the core steps are not skipped
        demo_service.run_demo(demo_service.DemoOptions(tmp_path / "demo", items=10, users=5, days=3))


@pytest.mark.parametrize("command", ["demo", "synth"])
def test_a_negative_seed_is_refused_naming_the_flag(tmp_path, command):
    args = (["demo", "--out", str(tmp_path / "d"), "--no-serve"] if command == "demo"
            else ["datasets", "synth", str(tmp_path / "d")])
    r = _cli(*args, "--items", "10", "--users", "5", "--days", "3", "--seed", "-1")
    assert r.exit_code == 2, r.output  # was numpy's ValueError traceback ("expected non-negative integer")
    assert "--seed" in r.output and "-1" in r.output
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize("command", ["demo", "synth"])
def test_an_output_folder_under_a_file_is_refused_naming_the_file(tmp_path, command):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("x")
    target = str(blocker / "out")
    args = ["demo", "--out", target, "--no-serve"] if command == "demo" else ["datasets", "synth", target]
    r = _cli(*args, "--items", "10", "--users", "5", "--days", "3")
    assert r.exit_code == 2, r.output  # was a NotADirectoryError traceback
    assert "notes.txt" in r.output and "is a file" in r.output


# --- keys ------------------------------------------------------------------------------------------------

@pytest.fixture()
def key_db(tmp_path):
    from shelfwise.data.store import open_store

    url = f"duckdb:///{tmp_path / 'keys.duckdb'}"
    open_store(url).close()
    return url


def test_revoking_twice_keeps_the_first_revocation_time(key_db):
    from shelfwise.service import keys

    info, _ = keys.create(key_db, "read", "alice")
    done = keys.revoke_id(key_db, info.key_id)
    first = done.info.revoked_at
    again = keys.revoke_id(key_db, info.key_id)
    assert not done.already and again.already
    assert again.info.revoked_at == first  # was overwritten by the second revoke: the audit time moved
    assert [k.revoked_at for k in keys.list_all(key_db)] == [first]
    r = _cli("keys", "revoke", info.key_id, "--db", key_db)
    assert r.exit_code == 0 and "already revoked" in r.output


def test_a_whole_key_can_be_revoked_without_echoing_its_secret(key_db):
    from shelfwise.service import keys

    info, key = keys.create(key_db, "write", "ci")
    r = _cli("keys", "revoke", key, "--db", key_db)
    assert r.exit_code == 0, r.output  # was "no API key with id 'sw_<id>_<secret>'", the secret printed back
    assert info.key_id in r.output and key not in r.output
    assert keys.list_all(key_db)[0].revoked_at is not None
    r = _cli("keys", "revoke", "sw_" + info.key_id, "--db", key_db)  # the public part of the key also names it
    assert r.exit_code == 0 and "already revoked" in r.output


@pytest.mark.parametrize("name", ["two\nlines", "tab\there", "x" * 201])
def test_key_names_that_break_the_listing_are_refused(key_db, name):
    r = _cli("keys", "create", "--scope", "read", "--name", name, "--db", key_db)
    assert r.exit_code == 2, r.output  # was accepted: a newline split the row of `keys list`
    assert "--name" in r.output and "sw_" not in r.output


def test_key_names_are_listed_as_written_not_as_markup(key_db):
    from shelfwise.service import keys

    keys.create(key_db, "read", "[bold]ops[/] team")
    r = _cli("keys", "list", "--db", key_db)
    assert r.exit_code == 0
    assert "[bold]ops[/] team" in r.output  # was "ops team": the name was read as console markup


# --- dashboard pages -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def odd_client(tmp_path_factory):
    """The dashboard router on a store whose ids and titles hold markup, quotes, slashes and percent signs."""
    import pandas as pd
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from shelfwise.data.ingest import ingest
    from shelfwise.data.store import open_store
    from shelfwise.serve.dashboard import router

    root = tmp_path_factory.mktemp("odd_shop")
    shop = root / "shop"
    shop.mkdir()
    ids = ["<script>alert(1)</script>", "a/b", 'x"y', "100%", "q?x=1"]
    pd.DataFrame({"item_id": ids, "title": [f"<b>T</b> {i}" for i in ids]}).to_csv(shop / "items.csv", index=False)
    pd.DataFrame([(f"2024-01-0{k + 1}T10:00:00", "<u>", i, "purchase") for k, i in enumerate(ids)],
                 columns=["timestamp", "user_id", "item_id", "event"]).to_csv(shop / "events.csv", index=False)
    url = f"duckdb:///{root / 'odd.duckdb'}"
    with open_store(url) as store:
        ingest(shop, store)
    app = FastAPI()
    app.include_router(router)
    app.state.store = open_store(url, read_only=True)
    app.state.models = None
    yield TestClient(app)
    app.state.store.close()


@pytest.mark.parametrize("path,status,words", [
    ("/dashboard/users/%3Cu%3E?k=1000", 422, ["k", "1000", "1 to 100"]),
    ("/dashboard/users/%3Cu%3E?k=many", 422, ["k", "many", "1 to 100"]),
    ("/dashboard/users/%3Cu%3E?k=0", 422, ["k", "1 to 100"]),
    ("/dashboard/items/" + "x" * 300, 422, ["at most 200"]),
    ("/dashboard/users/" + "y" * 300, 422, ["at most 200"]),
    ("/dashboard/users?user_id=" + "z" * 300, 422, ["at most 200"]),
    ("/dashboard/itemz", 404, ["No page", "/dashboard/itemz"]),
])
def test_bad_page_parameters_get_an_html_page_that_says_what_is_wrong(odd_client, path, status, words):
    r = odd_client.get(path, follow_redirects=False)
    assert r.status_code == status
    # was the API's JSON error ({"detail": ...}) shown raw in the browser
    assert r.headers["content-type"].startswith("text/html")
    assert all(w in r.text for w in words), r.text
    assert 'href="/dashboard"' in r.text  # the navigation is still there


def test_an_html_error_page_escapes_what_the_visitor_typed(odd_client):
    r = odd_client.get("/dashboard/users/%3Cu%3E", params={"k": "<script>x</script>"})
    assert r.status_code == 422 and "<script>x</script>" not in r.text and "&lt;script&gt;x&lt;/script&gt;" in r.text
    r = odd_client.get("/dashboard/%3Cimg%20src%3Dx%3E")
    assert r.status_code == 404 and "<img src=x>" not in r.text


def test_odd_ids_link_to_their_own_pages_and_are_escaped(odd_client):
    import html
    import re

    body = odd_client.get("/dashboard/items").text
    assert "<script>alert" not in body and "<b>T</b>" not in body
    links = sorted(set(re.findall(r'href="(/dashboard/items/[^"]+)"', body)))
    assert len(links) == 5
    for link in links:
        page = odd_client.get(html.unescape(link))
        assert page.status_code == 200 and "<script>alert" not in page.text
    assert odd_client.get("/dashboard/users/%3Cu%3E", params={"k": 100}).status_code == 200


@pytest.mark.parametrize("path,target", [("/dashboard/", "/dashboard"), ("/dashboard/alerts/", "/dashboard/alerts"),
                                         ("/dashboard/users/", "/dashboard/users"),
                                         ("/dashboard/items/", "/dashboard/items")])
def test_a_trailing_slash_leads_to_the_page(odd_client, path, target):
    r = odd_client.get(path, follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == target  # /dashboard/users/ was a JSON 422
    assert odd_client.get(path).status_code == 200


# --- serve -----------------------------------------------------------------------------------------------

def test_an_unknown_log_level_is_refused_before_the_store_is_opened(tmp_path, monkeypatch):
    import uvicorn

    def never(*a, **kw):
        raise AssertionError("the server must not start")

    monkeypatch.setattr(uvicorn, "run", never)
    r = _cli("serve", "--db", str(tmp_path / "s.duckdb"), "--log-level", "bogus")
    assert r.exit_code == 2, r.output  # was KeyError: 'bogus' from uvicorn, after the app was built
    assert "--log-level" in r.output and "bogus" in r.output and "warning" in r.output
    assert not (tmp_path / "s.duckdb").exists()


def test_the_demo_simulation_shows_an_undefined_change_as_n_a(tmp_path):
    from shelfwise.data.synth import SynthConfig, load_truth, write_shop
    from shelfwise.service import demo as demo_service
    from shelfwise.service.demo_steps import policy as policy_step

    # 20 items, 20 users, 7 days, seed 1: visitors on the simulated days but no click under A, so the
    # relative CTR change is 0 / 0. Was "CTR +nan%" in the summary and "+nan%" cells in the report.
    ctx = demo_service.DemoContext(demo_service.DemoOptions(tmp_path, items=20, users=20, days=7, seed=1),
                                   tmp_path, tmp_path / "shop", tmp_path / "x.duckdb",
                                   demo_service.Report("t"))
    write_shop(ctx.shop_dir, SynthConfig(items=20, users=20, days=7, seed=1))
    ctx.truth = load_truth(ctx.shop_dir)
    summary = policy_step._simulate(ctx)
    assert "nan" not in summary and "CTR n/a" in summary
    assert "nan" not in ctx.report.render()
