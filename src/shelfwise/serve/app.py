"""The app factory: one FastAPI app over one store, one model holder, the live state and the intake.

``create_app(store_url)`` opens the store, loads the current model set (or serves popularity when none
is trained), and wires the routes, the body limit, the error format, the key check and (when the
package is there) the dashboard router. ``app.state`` carries ``store``, ``models`` (the holder; its
``.version`` is the version in use), ``settings``, ``live``, ``intake`` and ``retrainer``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from .. import __version__
from ..config import Settings, get_settings
from ..data.store import open_store
from ..logs import get_logger
from ..service import keys as key_service
from . import errors, routes
from .intake import Intake
from .limits import BodyLimit
from .live import LiveState
from .models import ModelHolder, ModelSet, build, exploration_seed
from .retrain import Retrainer

log = get_logger(__name__)

WARM_USERS = 50_000  # the most active users get their lists computed before a set serves


def _active_users(store: Any, limit: int) -> list[str]:
    if not store.has_table("events"):
        return []
    rows = store.query("SELECT user_id, count(*) AS n FROM events WHERE user_id IS NOT NULL "
                       "GROUP BY user_id ORDER BY n DESC LIMIT ?", [int(limit)]).to_pylist()
    return [r["user_id"] for r in rows]


def create_app(store_url: str | None = None, *, settings: Settings | None = None, demo_mode: bool = False,
               model_dir: str | Path | None = None, warm: bool = True, retrain_every_s: float | None = None,
               watch_every_s: float | None = 30.0, train: Any = None) -> FastAPI:
    """The service app. ``demo_mode`` lets requests without a key through (only ``shelfwise demo``).

    ``model_dir`` (default: the ``model_dir`` setting) holds the model sets; ``warm`` computes the
    active users' lists at start-up and before every swap (in the background at start-up);
    ``retrain_every_s`` retrains on a schedule; ``watch_every_s`` follows the model folder's ``current``
    (another process's ``shelfwise train``); ``train`` replaces the trainer (tests).
    """
    settings = settings or get_settings()
    url = store_url or settings.db
    store = open_store(url)
    key_service.ensure_table(store)
    mdir = Path(model_dir) if model_dir is not None else Path(settings.model_dir)
    holder = ModelHolder(build(store, mdir), mdir)
    live = LiveState()
    cat = holder.current.catalog
    new_items = cat.new_items(settings.item_age_cutoff_days)
    live.seed_exploration(exploration_seed(store, new_items, cat.now, settings.item_age_cutoff_days))

    try:
        from ..service import policy as policy_service
    except ImportError:  # the policy package is optional for the API: no re-ranking then
        policy_service = None  # type: ignore[assignment]
    default_params = policy_service.policy_params(None) if policy_service is not None else None
    policies: dict[str, Any] = {}  # model version -> policy context (the current and the previous one)
    policy_lock = threading.Lock()

    def policy_for(ms: ModelSet) -> Any | None:
        """The exposure policies' item context for a model set (built once per version, on first need)."""
        if ms.version in policies:
            return policies[ms.version]
        with policy_lock:
            if ms.version not in policies:
                ctx = None
                if policy_service is not None:
                    try:
                        ctx = policy_service.context_from_store(store, now=ms.catalog.now)
                    except Exception as exc:  # no events yet: no re-ranking
                        log.warning("exposure policies unavailable for %s: %s", ms.version, exc)
                while len(policies) >= 2:
                    policies.pop(next(iter(policies)))
                policies[ms.version] = ctx
        return policies[ms.version]

    def policy_params(**overrides: Any) -> Any | None:
        """The request's policy knobs over the settings' (the defaults built once: the hot path)."""
        if policy_service is None:
            return None
        if all(v is None for v in overrides.values()):
            return default_params
        return policy_service.policy_params(None, **overrides)

    def on_commit(events: list[dict[str, Any]]) -> None:
        live.add(events)
        ctx = policies.get(holder.version)
        if ctx is not None:  # the exploration statistics move at once for Thompson sampling
            idx = ctx.items.indices([e["item_id"] for e in events])
            for j, e in zip(idx, events):
                if j >= 0:
                    kind = e["event"]
                    arr = {"impression": ctx.items.impressions, "click": ctx.items.clicks,
                           "purchase": ctx.items.purchases}.get(kind)
                    if arr is not None:
                        arr[j] += 1

    def after_ack(events: list[dict[str, Any]]) -> None:
        import pandas as pd

        if policy_service is not None:
            policy_service.record_feedback(pd.DataFrame(events, columns=["item_id", "event"]), store=store)

    def warm_users(ms: ModelSet) -> list[str]:
        """What to compute before ``ms`` serves: its policy context and the most active users' lists."""
        if not warm:
            return []
        policy_for(ms)
        return _active_users(store, WARM_USERS)

    intake = Intake(store, on_commit=on_commit, after_ack=after_ack if policy_service is not None else None)
    retrainer = Retrainer(holder, store, url, mdir, warm_users, train)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        intake.start()
        if warm:
            holder.warming = True
            threading.Thread(target=_warm_first, args=(holder, warm_users, policy_for), daemon=True,
                             name="shelfwise-warm").start()
        if retrain_every_s:
            retrainer.schedule(retrain_every_s)
        if watch_every_s:
            retrainer.watch(watch_every_s)
        try:
            yield
        finally:
            retrainer.stop()
            intake.stop()
            store.close()

    app = FastAPI(title="shelfwise", version=__version__, lifespan=lifespan,
                  description="Recommendations, items, events, alerts and experiments of one shop. "
                              "Send 'Authorization: Bearer <key>' (shelfwise keys create).")
    app.state.store = store
    app.state.store_url = url
    app.state.models = holder
    app.state.settings = settings
    app.state.demo_mode = demo_mode
    app.state.anonymous = bool(demo_mode or settings.allow_anonymous)
    app.state.keys = key_service.KeyCache(store)
    app.state.live = live
    app.state.intake = intake
    app.state.retrainer = retrainer
    app.state.model_dir = mdir
    app.state.policy_for = policy_for
    app.state.policy_params = policy_params
    app.state.warm_users = warm_users
    _document_events(app)
    errors.install(app)
    app.include_router(routes.router)
    _hot_route_first(app, "/v1/recommend")
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    try:
        from .dashboard import router as dashboard_router
    except ImportError as exc:
        log.info("no dashboard: %s", exc)
    else:
        app.include_router(dashboard_router)
    return app


def _hot_route_first(app: FastAPI, path: str) -> None:
    """Match the hot path before the docs and health routes (routes are tried in order)."""
    routes_ = app.router.routes
    hot = [r for r in routes_ if getattr(r, "path", None) == path]
    app.router.routes[:] = hot + [r for r in routes_ if r not in hot]


def _document_events(app: FastAPI) -> None:
    plain = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = plain()
            components = schema.setdefault("components", {})
            components.setdefault("schemas", {}).update(routes.event_schemas())
            components.setdefault("securitySchemes", {})["apiKey"] = {
                "type": "http", "scheme": "bearer",
                "description": "a key from `shelfwise keys create --scope read|write`"}
            for path, ops in schema.get("paths", {}).items():
                if path.startswith("/v1/"):
                    for op in ops.values():
                        op.setdefault("security", [{"apiKey": []}])
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _warm_first(holder: ModelHolder, warm_users: Any, policy_for: Any) -> None:
    """Start-up warming in the background: the service answers (computing lists on demand) meanwhile."""
    ms = holder.current
    t = time.perf_counter()
    try:
        users = warm_users(ms)
        n = ms.warm(users)
        items = [i for i, _ in ms.catalog.popular]
        ms.warm_neighbours(items)
        policy_for(ms)
        log.info("warmed %d user lists and %d item neighbour lists of %s in %.1fs", n, len(items), ms.version,
                 time.perf_counter() - t)
    except Exception as exc:
        log.warning("warming the model set failed (lists are computed on demand): %s", exc)
    finally:
        holder.warming = False
