"""Demo step of the service: the API answers on the demo shop, in process, before ``shelfwise demo`` serves it.

It builds the same app ``shelfwise serve`` runs (demo mode: no key), asks for a shopper's list, sends a
brand-new visitor's click and shows that their very next list already follows it, and times the
cached recommendation path. The figures go to the report's "Service" section.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ...errors import InputError
from ..demo import DemoContext, DemoStep

ORDER = 95  # last: after the model set is trained and the derived tables exist
VISITOR = "demo-visitor"


def _api(ctx: DemoContext) -> str:
    from fastapi.testclient import TestClient

    from ...serve import create_app

    store = ctx.require_store()
    buyers = store.query("SELECT user_id, count(*) AS n FROM events WHERE user_id IS NOT NULL AND event = 'purchase' "
                         "GROUP BY user_id ORDER BY n DESC, user_id LIMIT 1").column(0).to_pylist()
    if not buyers:  # a demo shop too small to have sales (say --days 2): no shopper to show
        raise InputError("the demo shop has no purchases, so there is no shopper's list to show")
    user = buyers[0]
    model_dir = Path(ctx.state.get("recommend", {}).get("model_dir") or ctx.out_dir / "models")
    app = create_app(f"duckdb:///{ctx.db_path.resolve()}", demo_mode=True, model_dir=model_dir, warm=False,
                     watch_every_s=None)
    try:
        c = TestClient(app)
        version = app.state.models.version
        shopper = c.get("/v1/recommend", params={"user_id": user, "k": 5}).json()
        before = c.get("/v1/recommend", params={"user_id": VISITOR, "k": 5}).json()
        if not before.get("items"):
            raise InputError("the service has nothing to recommend to a new visitor on this demo shop")
        clicked = before["items"][0]["item_id"]
        # the shop lives in its own (synthetic) past: a click stamped with today's date would become the
        # store's latest event, and every later command that reads "now" from it (exploration's new items,
        # launch plans) would see the whole catalogue as years old. One second after its last event is
        # still newer than the model, so the visitor's next list follows the click.
        last = store.query("SELECT max(timestamp) AS t FROM events").column(0)[0].as_py()
        when = (last + timedelta(seconds=1)) if last is not None else datetime.now(timezone.utc).replace(tzinfo=None)
        ack = c.post("/v1/events", json={"timestamp": when.strftime("%Y-%m-%dT%H:%M:%S"), "user_id": VISITOR,
                                         "item_id": clicked, "event": "click", "surface": "demo"})
        after = c.get("/v1/recommend", params={"user_id": VISITOR, "k": 5}).json()
        t = time.perf_counter()
        n = 200
        for _ in range(n):
            c.get("/v1/recommend", params={"user_id": user, "k": 10})
        per_request_ms = 1e3 * (time.perf_counter() - t) / n
    finally:
        app.state.intake.stop()
        app.state.store.close()

    def rows(answer: dict[str, Any]) -> list[list[Any]]:
        return [[i["rank"], i["item_id"], (i.get("title") or "")[:48], "; ".join(i["reasons"])] for i in answer["items"]]

    sec = ctx.report.section("Service")
    sec.text(f"The REST API of `shelfwise serve` on this shop (model set {version}; in demo mode no API key is "
             f"needed, otherwise every /v1 call needs 'Authorization: Bearer KEY'). A known shopper's list:")
    sec.table(["rank", "item", "title", "reasons"], rows(shopper), caption=f"GET /v1/recommend?user_id={user}&k=5")
    sec.text(f"A visitor nobody knows gets popular items. They click '{clicked}' (POST /v1/events answered "
             f"{ack.status_code} after the commit); their next request already follows the click, without a retrain:")
    sec.table(["rank", "item", "title", "reasons"], rows(after), caption=f"GET /v1/recommend?user_id={VISITOR}&k=5")
    sec.text(f"A cached recommendation took {per_request_ms:.2f} ms per request through the in-process test client "
             "(benchmarks/service.py measures the real server on loopback).")
    ctx.figures["API ms per recommendation (in process)"] = round(per_request_ms, 2)
    live = "live" in after["sources"]
    return (f"API on model {version}: shopper list of {len(shopper['items'])}, visitor's list "
            f"{'follows' if live else 'does not follow'} the click; {per_request_ms:.2f} ms per cached request")


STEPS = [DemoStep("service", "the REST API answers on the demo shop; a new visitor's click shows at once", _api)]
