"""The service's demo step: the API answers on the demo store while the demo still holds it open."""

from __future__ import annotations

from pathlib import Path

from shelfwise.data.store import open_store
from shelfwise.evaluate.report import Report
from shelfwise.service.demo import DemoContext, DemoOptions, all_steps
from shelfwise.service.demo_steps import serve as serve_step


def test_step_is_registered_before_the_report() -> None:
    names = [s.name for s in all_steps()]
    assert names.index("shop report") < names.index("service") < names.index("write report")


def test_step_shows_a_live_update_in_the_report(shop_copy: dict[str, Path], tmp_path: Path) -> None:
    store = open_store(shop_copy["url"])  # the demo holds its store open while the step runs
    try:
        ctx = DemoContext(options=DemoOptions(out_dir=tmp_path), out_dir=tmp_path, shop_dir=tmp_path / "shop",
                          db_path=shop_copy["db"], report=Report("t", "demo"), store=store,
                          state={"recommend": {"model_dir": str(shop_copy["models"])}})
        summary = serve_step._api(ctx)
        assert "follows the click" in summary, summary
        assert "Service" in [s.title for s in ctx.report.sections]
        assert store.count("events") > 0
        assert store.query("SELECT count(*) AS n FROM events WHERE user_id = ?",
                           [serve_step.VISITOR]).column(0)[0].as_py() == 1
    finally:
        store.close()
