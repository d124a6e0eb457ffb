"""``shelfwise demo`` and ``shelfwise datasets synth`` end to end, on tiny shops."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from shelfwise.cli.main import app
from shelfwise.data.store import open_store
from shelfwise.data.synth import load_truth
from shelfwise.service import demo as demo_service

runner = CliRunner()


def test_demo_runs_the_pipeline_and_writes_the_report(tmp_path):
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--items", "60", "--users", "150", "--days", "14", "--seed", "3", "--no-serve"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    for step in ("generate", "ingest", "truth", "shop report", "write report"):
        assert f"{step}:" in result.output
    assert "report.html" in result.output
    html = (out / "report.html").read_text()
    assert html.count("<svg") >= 8
    for title in ("Daily traffic", "Click-through rate by position", "Sales by category", "New items over time",
                  "Review ratings", "Events by type"):
        assert title in html
    with open_store(str(out / "demo.duckdb"), read_only=True) as store:
        assert store.count("rejects") == 0
        assert store.count("items") == 60 and store.count("users") == 150
        for name in ("synth_items", "synth_users", "synth_position_bias", "synth_displays", "synth_params"):
            assert store.has_table(name), name
        assert store.count("synth_items") == 60
        params = json.loads(store.read("synth_params").column("value")[0].as_py())
        assert params["seed"] == 3 and params["days"] == 14
    # a second run rebuilds the store instead of piling a second shop onto it
    again = runner.invoke(app, args + ["--json"])
    assert again.exit_code == 0, again.output
    summary = json.loads(again.stdout)
    assert [s["name"] for s in summary["steps"]][-1] == "write report"
    with open_store(str(out / "demo.duckdb"), read_only=True) as store:
        # the generated events, plus the one event the service step posts through the API
        assert store.count("events") - summary["figures"]["events"] in (0, 1)


def test_later_capabilities_can_add_steps_and_sections(tmp_path, monkeypatch):
    monkeypatch.setattr(demo_service, "STEPS", list(demo_service.STEPS))
    monkeypatch.setattr(demo_service, "all_steps", lambda: list(demo_service.STEPS))  # core steps only
    seen = {}

    def recommend(ctx: demo_service.DemoContext) -> str:
        seen["events"] = ctx.require_store().count("events")
        ctx.report.section("Recommendations").text("trained on the demo shop")
        return "ok"

    demo_service.add_step(demo_service.DemoStep("recommend", "train a recommender", recommend))
    assert [s.name for s in demo_service.STEPS][-2:] == ["recommend", "write report"]
    calls = []
    result = demo_service.run_demo(demo_service.DemoOptions(tmp_path, items=40, users=80, days=7, seed=1),
                                   on_step=lambda k, n, step, rec: calls.append((k, step.name, rec is None)))
    assert seen["events"] > 0
    assert calls[0] == (1, "generate", True) and calls[-1] == (6, "write report", False)
    assert "Recommendations" in result.report_path.read_text()


def test_datasets_synth_writes_a_shop_folder(tmp_path):
    out = tmp_path / "shop"
    result = runner.invoke(app, ["datasets", "synth", str(out), "--items", "30", "--users", "40", "--days", "5",
                                 "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"]["items"] == 30 and report["config"]["days"] == 5
    assert (out / "events.parquet").exists() and (out / "items.csv").exists()
    assert load_truth(out).n_users == 40
    bad = runner.invoke(app, ["datasets", "synth", str(out), "--items", "3"])
    assert bad.exit_code != 0


def test_capability_steps_are_discovered_in_order() -> None:
    import importlib
    import pkgutil

    from shelfwise.service import demo_steps

    names = [s.name for s in demo_service.all_steps()]
    core = [s.name for s in demo_service.STEPS]
    assert names[:4] == core[:4] and names[-1] == "write report"
    orders = []
    for info in pkgutil.iter_modules(demo_steps.__path__):
        module = importlib.import_module(f"{demo_steps.__name__}.{info.name}")
        for step in module.STEPS:
            orders.append((module.ORDER, names.index(step.name)))
    assert orders, "no capability contributes a demo step"
    assert [pos for _, pos in sorted(orders)] == sorted(pos for _, pos in orders)
