"""Logging for every PPCX process: one JSON object a line, through structlog.

Each line carries `time` (UTC, RFC 3339 with milliseconds), `level`, `logger`, `event` and
whatever the context bound — the HTTP request's `request_id` above all (`api.observability`
binds it for the length of a request). Lines from the standard library's loggers (uvicorn,
the eventsourcing library, ours) go through the same processors. Never a caller's number or
an API key: neither is ever passed to a logger.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson
import structlog

LEVEL_DEFAULT = logging.INFO
QUIET_LOGGERS = ("httpx", "httpcore")


def _utc_ms(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    event["time"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return event


def _dumps(event: dict[str, Any], **_: Any) -> str:
    return orjson.dumps(event, default=str).decode()


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _utc_ms,
        structlog.processors.format_exc_info,
    ]


def configure_logging(
    level: int = LEVEL_DEFAULT, stream: TextIO | None = None, *, role: str | None = None
) -> None:
    """JSON lines on `stream` (stderr) for structlog's loggers and the standard library's;
    `role` (api, relay, …) is on every line of the process."""
    if role is not None:
        structlog.contextvars.bind_contextvars(role=role)
    structlog.configure(
        processors=[
            *_shared(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared()[:-1],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=_dumps),
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for chatty in QUIET_LOGGERS:  # their INFO lines print whole URLs, query strings and all
        logging.getLogger(chatty).setLevel(max(level, logging.WARNING))


def get_logger(name: str) -> Any:
    return structlog.stdlib.get_logger(name)
