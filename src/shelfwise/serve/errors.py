"""One error body for every 4xx/5xx: ``{"error": {"status", "message", "field"}}`` (plus details).

FastAPI's own validation errors are rewritten to name the first bad field in ``field`` and keep the
full list in ``errors``; shelfwise's errors map to 4xx by kind (bad input 422, unknown id 404, no
model 503); anything else is a 500 whose message says nothing of the internals.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import InputError, ModelNotFound, ShelfwiseError, StoreError, UnknownIdError
from ..logs import get_logger
from ..service.live import EventsRejected

log = get_logger(__name__)


def body(status: int, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"error": {"status": status, "message": message, "field": field, **extra}}


def _loc(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [{"field": "body" if e.get("type") == "json_invalid" else _loc(e.get("loc", ())),
                 "message": e.get("msg", "invalid")} for e in exc.errors()]
        first = errs[0] if errs else {"field": "body", "message": "invalid request"}
        return JSONResponse(body(422, f"{first['field']}: {first['message']}", first["field"], errors=errs),
                            status_code=422)

    # Starlette's own (404 no such route, 405 wrong method) too, so that every error has one format
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        d = exc.detail
        message, field = (d.get("message", str(d)), d.get("field")) if isinstance(d, dict) else (str(d), None)
        return JSONResponse(body(exc.status_code, message, field), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(ShelfwiseError)
    async def _shelfwise(request: Request, exc: ShelfwiseError) -> JSONResponse:
        if isinstance(exc, EventsRejected):
            return JSONResponse(body(422, str(exc), exc.field, rejects=[r.as_dict() for r in exc.rejects],
                                     stored=0), status_code=422)
        if isinstance(exc, UnknownIdError):
            return JSONResponse(body(404, str(exc), getattr(exc, "field", None)), status_code=404)
        if isinstance(exc, InputError):
            return JSONResponse(body(422, exc.detail, exc.field), status_code=422)
        if isinstance(exc, (ModelNotFound, StoreError)):
            log.warning("%s: %s", request.url.path, exc)
            return JSONResponse(body(503, str(exc)), status_code=503)
        return JSONResponse(body(400, str(exc)), status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s", request.url.path)
        return JSONResponse(body(500, "internal error; the service log has the details"), status_code=500)
