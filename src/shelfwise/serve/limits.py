"""Request body limits as plain ASGI middleware (cheap on the hot GET path, which has no body).

A declared ``Content-Length`` over the limit is refused before reading; a chunked body is counted as
it streams and refused as soon as it passes the limit. Either way the answer is 413 naming the limit.
"""

from __future__ import annotations

import json
from typing import Any


def _reply(limit: int, status: int = 413, message: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    body = json.dumps({"error": {"status": status, "field": "body",
                                 "message": message or f"the request body is larger than {limit:,} bytes"}}).encode()
    start = {"type": "http.response.start", "status": status,
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}
    return start, {"type": "http.response.body", "body": body}


class BodyLimit:
    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    start, body = _reply(self.max_bytes, 400, "the Content-Length header is not a number")
                    await send(start)
                    await send(body)
                    return
                if declared > self.max_bytes:
                    start, body = _reply(self.max_bytes)
                    await send(start)
                    await send(body)
                    return
        seen = 0
        too_big = False

        async def counted() -> dict[str, Any]:
            nonlocal seen, too_big
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    too_big = True
                    raise _TooBig()
            return message

        try:
            await self.app(scope, counted, send)
        except _TooBig:
            start, body = _reply(self.max_bytes)
            await send(start)
            await send(body)


class _TooBig(Exception):
    pass
