"""ASGI middleware: body size limit (413), JSON content type (415), and Idempotency-Key on
every POST (a retry with the same key and body gets the first response and records nothing;
the same key with another body is 409)."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from api.problems import RETRY_AFTER_S, problem_response
from domain.limits import COMMAND_ID_LENGTH
from exchange.redis_clients import UNAVAILABLE as REDIS_UNAVAILABLE

logger = logging.getLogger(__name__)
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PENDING_TTL_S = 120
FORM_PATHS = ("/v1/voice/",)  # Twilio's webhooks: form posts, or JSON signed with bodySHA256
API_PREFIX = "/v1/"  # every other path is the portal's: its pages post forms
FORM_TYPES = ("application/x-www-form-urlencoded", "application/json")
JSON_TYPES = ("application/json",)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


async def _send_problem(
    send: Send, status: int, detail: str, path: str, headers: dict[str, str] | None = None
) -> None:
    response = problem_response(status, detail, instance=path, headers=headers)
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "http.response.body", "body": response.body})


class RequestGuard:
    """Reads the body once (bounded), checks its type, and replays it to the app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        body_bytes_max: int,
        idempotency: Callable[[], Any] | None = None,
        ttl_s: int = 86400,
    ) -> None:
        self.app = app
        self.body_bytes_max = body_bytes_max
        self.idempotency = idempotency  # () -> redis client, once the app has started
        self.ttl_s = ttl_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        length = _header(scope, b"content-length")
        if (
            length is not None
            and length.isascii()
            and length.isdigit()
            and int(length) > self.body_bytes_max
        ):
            await _send_problem(send, 413, f"the body exceeds {self.body_bytes_max} bytes", path)
            return
        body = b""
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.body_bytes_max:
                await _send_problem(
                    send, 413, f"the body exceeds {self.body_bytes_max} bytes", path
                )
                return
            if not message.get("more_body"):
                break
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        forms = path.startswith(FORM_PATHS) or not path.startswith(API_PREFIX)
        accepted = FORM_TYPES if forms else JSON_TYPES
        if body and content_type not in accepted:
            await _send_problem(send, 415, f"send {accepted[0]}", path)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return {"type": "http.disconnect"}
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        key = _header(scope, b"idempotency-key")
        if scope["method"] == "POST" and key is not None and self.idempotency is not None:
            try:
                await self._idempotent(scope, replay, send, key, body)
            except REDIS_UNAVAILABLE:
                # the records live in Redis: without it no retry can be recognised
                await _send_problem(
                    send,
                    503,
                    "the exchange's state store (Redis) is unavailable; retry shortly",
                    path,
                    headers={"Retry-After": str(RETRY_AFTER_S)},
                )
            return
        await self.app(scope, replay, send)

    async def _idempotent(
        self, scope: Scope, receive: Receive, send: Send, key: str, body: bytes
    ) -> None:
        path = scope["path"]
        if len(key) not in COMMAND_ID_LENGTH or not key.isprintable():
            await _send_problem(
                send,
                422,
                f"Idempotency-Key must be {COMMAND_ID_LENGTH.minimum}-"
                f"{COMMAND_ID_LENGTH.maximum} printable characters",
                path,
            )
            return
        redis, redis_key = self.idempotency()  # type: ignore[misc]
        who = hashlib.sha256((_header(scope, b"authorization") or "").encode()).hexdigest()
        slot = redis_key(f"{who}:{hashlib.sha256(key.encode()).hexdigest()}")
        fingerprint = hashlib.sha256(
            scope["method"].encode()
            + b" "
            + path.encode()
            + b"?"
            + scope.get("query_string", b"")
            + b"\n"
            + body
        ).hexdigest()
        stored = await redis.get(slot)
        if stored is None:
            claimed = await redis.set(
                slot,
                orjson.dumps({"state": "pending", "fingerprint": fingerprint}),
                nx=True,
                ex=PENDING_TTL_S,
            )
            if not claimed:
                stored = await redis.get(slot)
        if stored is not None:
            record = orjson.loads(stored)
            if record["fingerprint"] != fingerprint:
                await _send_problem(
                    send, 409, "this Idempotency-Key was used with another request", path
                )
            elif record["state"] == "pending":
                await _send_problem(
                    send, 409, "a request with this Idempotency-Key is still in progress", path
                )
            else:
                headers = [(k.encode(), v.encode()) for k, v in record["headers"]]
                headers.append((b"idempotent-replayed", b"true"))
                await send(
                    {"type": "http.response.start", "status": record["status"], "headers": headers}
                )
                await send({"type": "http.response.body", "body": bytes.fromhex(record["body"])})
            return
        captured: dict[str, Any] = {"body": b""}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    (k.decode("latin-1"), v.decode("latin-1"))
                    for k, v in message.get("headers", [])
                    if k.lower() != b"content-length"
                ]
            elif message["type"] == "http.response.body":
                captured["body"] += message.get("body", b"")
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            await self._remember(redis, slot, fingerprint, captured)

    async def _remember(
        self, redis: Any, slot: str, fingerprint: str, captured: dict[str, Any]
    ) -> None:
        """Record the answer for retries (a failure frees the key). The answer has been
        sent: if Redis is gone now, the record is lost and a retry runs again (logged)."""
        status = captured.get("status", 500)
        try:
            # a failure may be retried with the same key; an unauthenticated request is no
            # one's command and must not hold the key (the next one answers 401, not 409)
            if status >= 500 or status == 401:
                await redis.delete(slot)
                return
            await redis.set(
                slot,
                orjson.dumps(
                    {
                        "state": "done",
                        "fingerprint": fingerprint,
                        "status": status,
                        "headers": captured.get("headers", []),
                        "body": captured["body"].hex(),
                    }
                ),
                ex=self.ttl_s,
            )
        except REDIS_UNAVAILABLE as error:
            logger.warning("idempotency record not kept (Redis unavailable: %s)", error)
