"""The outermost ASGI middleware: a request id on every request, its log lines and its
problem body; the request counter; an optional access log.

`X-Request-ID` is taken from the request when it is a sane token (a proxy's or the client's
own), else generated, and sent back on the response. While the request runs it is bound in
structlog's context (every log line of the request carries it) and in `REQUEST_ID` (problem
bodies carry it). The access log, when switched on, writes the method, the path without its
query string (an RTB publisher may pass its key as `?api_key=`), the status and the duration.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REQUEST_ID: ContextVar[str | None] = ContextVar("ppcx_request_id", default=None)
REQUEST_ID_HEADER = "x-request-id"
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:\-]{1,128}")
UNMATCHED_ROUTE = "unmatched"
logger = structlog.stdlib.get_logger("ppcx.access")


def incoming_request_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == REQUEST_ID_HEADER.encode():
            text = value.decode("latin-1")
            return text if _REQUEST_ID_RE.fullmatch(text) else None
    return None


class Observability:
    def __init__(
        self,
        app: ASGIApp,
        *,
        count: Callable[[str, str, int, float], None] | None = None,
        access_log: bool = False,
    ) -> None:
        self.app = app
        self.count = count
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = incoming_request_id(scope) or uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        bound = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = str(getattr(route, "path", UNMATCHED_ROUTE))
            if self.count is not None:
                self.count(scope["method"], template, status, seconds)
            if self.access_log:
                logger.info(
                    "request",
                    method=scope["method"],
                    path=scope["path"],
                    route=template,
                    status=status,
                    duration_ms=round(seconds * 1000, 3),
                )
            structlog.contextvars.reset_contextvars(**bound)
            REQUEST_ID.reset(token)
