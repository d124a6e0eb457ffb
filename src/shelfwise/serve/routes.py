"""The /v1 endpoints and the health probes. Thin: validate, call the model set / live state / store.

Every answer that a model produced carries ``model_version``. Ids in paths and queries must match
:data:`shelfwise.service.live.ID_PATTERN` (422 otherwise), and all SQL binds its values.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from ..errors import InputError, UnknownIdError
from ..jsonsafe import finite
from ..service import live as live_service
from . import queries, rank
from .auth import check, read_scope, write_scope

ID = live_service.ID_PATTERN
SURFACE = r"^[\w\-.:/]{1,64}$"

router = APIRouter()


class EventIn(BaseModel):
    """One event, with the columns of SHOP_FORMAT.md's events table (extra fields are kept as attributes)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"example": {
        "timestamp": "2026-11-30T10:15:00Z", "user_id": "u42", "item_id": "i1001", "event": "click",
        "surface": "home", "position": 3}})

    timestamp: str | float = Field(description="ISO 8601 (naive means UTC) or Unix epoch seconds")
    user_id: str | None = Field(None, description="empty or absent: anonymous traffic")
    item_id: str
    event: str = Field(description="impression, view, click, cart, favorite, purchase or return")
    quantity: float | str | None = None
    price: float | str | None = None
    session_id: str | None = None
    position: int | str | None = Field(None, description="1-based display slot")
    surface: str | None = None
    propensity: float | str | None = None
    order_id: str | None = None


class EventBatch(BaseModel):
    events: list[EventIn]


def _default(o: Any) -> Any:
    if hasattr(o, "isoformat"):
        return o.isoformat()
    if hasattr(o, "item"):  # numpy scalars
        return o.item()
    return str(o)


def _dumps(content: Any) -> str:
    """Strict JSON: a NaN or infinity anywhere becomes null (the fast path pays nothing when there is none)."""
    try:
        return json.dumps(content, default=_default, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(finite(content), default=_default, separators=(",", ":"), allow_nan=False)


def _json(content: Any, status: int = 200) -> Response:
    return Response(_dumps(content), status_code=status, media_type="application/json")


# --- health ---------------------------------------------------------------------------------------

@router.get("/health/live", tags=["health"], summary="The process is up")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready", tags=["health"], summary="The store answers and a model set is loaded")
def ready(request: Request) -> Response:
    state = request.app.state
    checks: dict[str, Any] = {}
    try:
        state.store.query("SELECT 1 AS ok")
        checks["store"] = "ok"
    except Exception as exc:  # a readiness probe reports, it does not raise
        checks["store"] = f"failed: {exc}"
    ms = state.models.current
    checks["model_version"] = ms.version
    checks["trained_model"] = ms.trained
    ok = checks["store"] == "ok"
    return _json({"status": "ready" if ok else "not ready", **checks}, 200 if ok else 503)


# --- recommendations ------------------------------------------------------------------------------

# The hot path parses its query itself: FastAPI's per-parameter validation costs more than the whole
# answer for a cached user. The parameters are documented in the OpenAPI document all the same.
_REC_PARAMS: list[tuple[str, str, Any, Any, str]] = [
    # name, type, default (None: required when "user_id"), (pattern | (lo, hi)), description
    ("user_id", "string", None, ID, "the shop's user id (a new id gets popular and trending items)"),
    ("k", "integer", 10, (1, 100), "how many items"),
    ("surface", "string", "home", SURFACE, "the page or widget asking"),
    ("exploration_weight", "number", None, (0.0, 1.0), "share of slots for new items (default: setting)"),
    ("item_age_cutoff_days", "number", None, (0.0, 3650.0), "younger items count as new (default: setting)"),
    ("long_tail_weight", "number", None, (0.0, 1.0), "weight of long-tail coverage (default: setting)"),
    ("tail_share_target", "number", None, (0.0, 1.0), "at least this share of slots from the tail"),
]
_REC_OPENAPI = {"parameters": [
    {"name": n, "in": "query", "required": n == "user_id", "description": d,
     "schema": {"type": t, **({"pattern": rule} if isinstance(rule, str) else {"minimum": rule[0], "maximum": rule[1]}),
                **({"default": dflt} if dflt is not None else {})}}
    for n, t, dflt, rule, d in _REC_PARAMS]}
_PATTERNS = {ID: live_service.ID_RE, SURFACE: re.compile(SURFACE)}


def _query(request: Request) -> dict[str, Any]:
    q = request.query_params
    out: dict[str, Any] = {}
    for name, kind, default, rule, _ in _REC_PARAMS:
        raw = q.get(name)
        if raw is None:
            if name == "user_id":
                raise InputError("user_id is required", field=name)
            out[name] = default
            continue
        if kind == "string":
            if not _PATTERNS[rule].fullmatch(raw):
                raise InputError(f"{name} '{raw[:40]}' is not valid (pattern {rule})", field=name)
            out[name] = raw
            continue
        try:
            value = int(raw) if kind == "integer" else float(raw)
        except ValueError:
            raise InputError(f"{name} must be {'a whole number' if kind == 'integer' else 'a number'}, "
                             f"not '{raw[:40]}'", field=name) from None
        if not rule[0] <= value <= rule[1]:
            raise InputError(f"{name} must be between {rule[0]} and {rule[1]} (got {raw[:40]})", field=name)
        out[name] = value
    return out


@router.get("/v1/recommend", tags=["recommend"], openapi_extra=_REC_OPENAPI,
            summary="Top-k items for a user, with reasons, under the exposure policy")
async def recommend(request: Request) -> Response:
    """Needs a read key. Every item carries the reasons that put it in the list."""
    await check(request, "read")
    q = _query(request)
    user_id, k = q["user_id"], q["k"]
    state = request.app.state
    ms = state.models.current
    params = state.policy_params(exploration_weight=q["exploration_weight"],
                                 item_age_cutoff_days=q["item_age_cutoff_days"],
                                 long_tail_weight=q["long_tail_weight"], tail_share_target=q["tail_share_target"])
    reranks = params is not None and params.reranks
    # a known user with no live events and no re-ranking: the rendered items are cached per version
    plain = not reranks and state.live.version_of(user_id) == 0
    if plain:
        items = ms.rendered.get((user_id, k))
        if items is not None:
            return Response(f'{{"user_id":{json.dumps(user_id)},"surface":{json.dumps(q["surface"])},'
                            f'"model_version":{json.dumps(ms.version)},{items}}}', media_type="application/json")
    base = ms.cached_list(user_id)
    if base is None and ms.has_history(user_id):
        base = await run_in_threadpool(ms.user_list, user_id)
    policy = state.policy_for(ms) if reranks else None
    out = rank.recommend(ms, state.live, user_id, k, base, policy, params)
    rest = _dumps({"personal": out.personal, "sources": out.sources, "items": out.items})[1:-1]
    if plain and out.personal:
        ms.remember_rendered((user_id, k), rest)
    return Response(f'{{"user_id":{json.dumps(user_id)},"surface":{json.dumps(q["surface"])},'
                    f'"model_version":{json.dumps(ms.version)},{rest}}}', media_type="application/json")


@router.get("/v1/similar/{item_id:path}", tags=["recommend"], dependencies=[Depends(read_scope)],
            summary="Items most like this one")
async def similar(request: Request, item_id: Annotated[str, Path(pattern=ID)],
                  k: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    ms = request.app.state.models.current
    if not ms.trained:
        raise HTTPException(503, {"message": "no trained model is loaded: run shelfwise train (or POST "
                                             "/v1/admin/retrain) first", "field": None})
    if not ms.knows_item(item_id):
        raise UnknownIdError(f"item '{item_id}' is not known to model {ms.version}")
    neigh = ms.neighbours(item_id) if item_id in ms._neigh else await run_in_threadpool(ms.neighbours, item_id)
    titles = ms.catalog.titles
    items = [{"rank": r, "item_id": i, "title": titles.get(i), "score": round(s, 6)}
             for r, (i, s) in enumerate(neigh[:k], start=1)]
    return _json({"item_id": item_id, "model_version": ms.version, "items": items})


# --- item, alerts, experiments ----------------------------------------------------------------------

@router.get("/v1/items/{item_id:path}", tags=["items"], dependencies=[Depends(read_scope)],
            summary="An item: catalogue, lifecycle stage, forecast, sentiment, launch plan (where they exist)")
def item(request: Request, item_id: Annotated[str, Path(pattern=ID)]) -> Response:
    state = request.app.state
    data = queries.item_page(state.store, item_id)
    if data is None:
        raise UnknownIdError(f"item '{item_id}' is not in the catalogue or the events of this store")
    ms = state.models.current
    imp, clk = state.live.exploration_counts(item_id)
    data["live"] = {"impressions": imp, "clicks": clk,
                    "trending_rank": next((r for r, (i, _) in enumerate(state.live.trending(200), 1) if i == item_id), None)}
    data["model_version"] = ms.version
    return _json(data)


@router.get("/v1/alerts", tags=["reports"], dependencies=[Depends(read_scope)],
            summary="The last computed lifecycle alerts, most severe first")
def alerts(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
           kind: Annotated[str | None, Query(pattern=r"^[\w\-]{1,40}$")] = None) -> Response:
    return _json(queries.alerts(request.app.state.store, limit, kind))


@router.get("/v1/experiments", tags=["reports"], dependencies=[Depends(read_scope)],
            summary="Experiments with arms, split, status and exposures")
def experiments(request: Request) -> Response:
    return _json({"experiments": queries.experiments(request.app.state.store)})


# --- search and the shop assistant ------------------------------------------------------------------

class AskIn(BaseModel):
    """A shopper's question, optionally about one item."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "question": "does the gift card expire?", "item_id": "i1001"}})

    question: str = Field(min_length=1, max_length=1000)
    item_id: str | None = Field(None, pattern=ID)


@router.get("/v1/search", tags=["search"], dependencies=[Depends(read_scope)],
            summary="Product search: BM25, character n-grams (typos) and embeddings, fused, re-ranked by behaviour")
def search(request: Request, q: Annotated[str, Query(min_length=1, max_length=500)],
           k: Annotated[int, Query(ge=1, le=100)] = 10) -> Response:
    from ..service import search as search_service

    if not q.strip():
        raise InputError("the query is empty", field="q")
    hits = search_service.search(request.app.state.store, q, k)
    return _json({"query": q, "items": hits, "model_version": request.app.state.models.current.version})


@router.post("/v1/ask", tags=["search"], dependencies=[Depends(read_scope)],
             summary="Extractive answers from the catalogue and reviews, with their sources; says when there is none")
def ask(request: Request, body: AskIn) -> Response:
    from ..service import assistant as assistant_service

    if not body.question.strip():
        raise InputError("the question is empty", field="question")
    return _json(assistant_service.ask(request.app.state.store, body.question, item_id=body.item_id))


# --- events -----------------------------------------------------------------------------------------

_EVENTS_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"anyOf": [
    {"$ref": "#/components/schemas/EventBatch"}, {"type": "array", "items": {"$ref": "#/components/schemas/EventIn"}},
    {"$ref": "#/components/schemas/EventIn"}]}}}}}


def _records(payload: Any) -> list[Any]:
    if isinstance(payload, dict) and "events" in payload:
        payload = payload["events"]
        if not isinstance(payload, list):
            raise InputError("'events' must be a list of event objects", field="events")
        return payload
    if isinstance(payload, list):
        return payload
    if isinstance(payload, dict):
        return [payload]
    raise InputError("the body must be an event object, a list of them, or {\"events\": [...]}", field="events")


@router.post("/v1/events", tags=["events"], dependencies=[Depends(write_scope)], status_code=200,
             openapi_extra=_EVENTS_BODY,
             summary="One event or a batch; acknowledged only after it is durably stored")
async def events(request: Request) -> Response:
    """SHOP_FORMAT event fields; a batch is stored whole or not at all (422 lists every bad record)."""
    state = request.app.state
    raw = await request.body()
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the body is not valid JSON: {exc}", field="body") from None
    records = _records(payload)
    limit = state.settings.max_batch_events
    if len(records) > limit:
        raise HTTPException(413, {"message": f"{len(records):,} events in one request; the limit is {limit:,} "
                                             "(SHELFWISE_MAX_BATCH_EVENTS): split the batch", "field": "events"})
    rows = live_service.normalise(records)
    fut = state.intake.submit(rows)
    result = await asyncio.wrap_future(fut)
    return _json({"accepted": result.accepted, "load_id": result.load_id, "model_version": state.models.version})


def event_schemas() -> dict[str, Any]:
    """EventIn and EventBatch as OpenAPI component schemas (the route reads its body itself, so that
    every error has one format; these keep the documented shape in /docs)."""
    out: dict[str, Any] = {}
    for model in (EventIn, EventBatch):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return out


# --- administration -----------------------------------------------------------------------------------

@router.get("/v1/admin/models", tags=["admin"], dependencies=[Depends(read_scope)],
            summary="The model set in use, the retraining state and the live state")
def models(request: Request) -> Response:
    state = request.app.state
    holder = state.models
    return _json({"current": holder.current.describe(), "warming": holder.warming,
                  "retrain": holder.retrain_status, "swaps": holder.swaps,
                  "live": state.live.summary(),
                  "intake": {"commits": state.intake.commits, "events": state.intake.committed_events}})


@router.post("/v1/admin/retrain", tags=["admin"], dependencies=[Depends(write_scope)], status_code=202,
             summary="Retrain on the store now; the new model set replaces the old one without a pause")
def retrain(request: Request) -> Response:
    state = request.app.state
    if state.model_dir is None:
        raise InputError("this service was started without a model folder; start it with --model-dir",
                         field="model_dir")
    started = state.retrainer.start()
    return _json({"started": started, "retrain": state.models.retrain_status,
                  "model_version": state.models.version}, 202 if started else 409)


@router.post("/v1/admin/reload", tags=["admin"], dependencies=[Depends(write_scope)],
             summary="Load the model set that the model folder's 'current' names, if it changed")
def reload(request: Request) -> Response:
    state = request.app.state
    swapped = state.models.reload(state.store, state.warm_users)
    return _json({"swapped": swapped, "model_version": state.models.version})


