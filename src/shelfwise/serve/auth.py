"""Bearer API keys on every /v1 route: read scope to read, write scope to change anything.

No key works by default. ``allow_anonymous`` (set only by ``shelfwise demo``) lets keyless requests
through with write scope, so the demo's dashboard and examples work without set-up.
"""

from __future__ import annotations

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from ..service.keys import KeyCache, KeyInfo

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def _key_of(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, {"message": "the Authorization header must read 'Bearer <key>'",
                                  "field": "Authorization"}, headers=_CHALLENGE)
    return token.strip()


async def check(request: Request, scope: str) -> KeyInfo | None:
    """The caller's key when it allows ``scope``; raises 401 (no or bad key) or 403 (read key, write call)."""
    key = _key_of(request)
    state = request.app.state
    if key is None:
        if state.anonymous:
            return None
        raise HTTPException(401, {"message": f"an API key with {scope} scope is required: send "
                                             "'Authorization: Bearer <key>' (create one with "
                                             f"shelfwise keys create --scope {scope})",
                                  "field": "Authorization"}, headers=_CHALLENGE)
    cache: KeyCache = state.keys
    found, info = cache.peek(key)
    if not found:  # a key not seen for a while: one scrypt, off the event loop
        info = await run_in_threadpool(cache.lookup, key)
    if info is None:
        raise HTTPException(401, {"message": "the API key is not valid (unknown, malformed or revoked)",
                                  "field": "Authorization"}, headers=_CHALLENGE)
    if not info.allows(scope):
        raise HTTPException(403, {"message": f"this key has {info.scope} scope; this call needs a {scope} key",
                                  "field": "Authorization"})
    return info


async def read_scope(request: Request) -> KeyInfo | None:
    return await check(request, "read")


async def write_scope(request: Request) -> KeyInfo | None:
    return await check(request, "write")
