"""The service's demo step: the API answers on the demo store while the demo still holds it open."""

from __future__ import annotations

from datetime import timedelta
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


def test_step_keeps_the_shop_in_its_own_time(shop_copy: dict[str, Path], tmp_path: Path) -> None:
    """The visitor's click is stamped just after the shop's last event, not at the wall-clock time: a
    synthetic shop lives in its own past, and a click dated today moved the store's latest event by
    years, so after the demo the exploration pool of its store was empty (nothing launched within 30 days
    of "now") and every launch plan said "not a new item"."""
    store = open_store(shop_copy["url"])
    try:
        last = store.query("SELECT max(timestamp) AS t FROM events").column(0)[0].as_py()
        ctx = DemoContext(options=DemoOptions(out_dir=tmp_path), out_dir=tmp_path, shop_dir=tmp_path / "shop",
                          db_path=shop_copy["db"], report=Report("t", "demo"), store=store,
                          state={"recommend": {"model_dir": str(shop_copy["models"])}})
        summary = serve_step._api(ctx)
        assert "follows the click" in summary, summary
        clicked = store.query("SELECT max(timestamp) AS t FROM events WHERE user_id = ?",
                              [serve_step.VISITOR]).column(0)[0].as_py()
        assert last < clicked <= last + timedelta(minutes=1), (last, clicked)
    finally:
        store.close()
