"""A call's recording (issue 24, item 1): streamed to those who may listen, with HTTP range
requests (a player seeks); deleted by an admin (`RecordingDeleted`, the reason given).

Who may listen (`domain.recording.may_listen`): admin and finance; the buyer the call was
routed to; the call's publisher when its campaign's `recording.publisher_access` says so.
Anyone else — another buyer, another publisher, an analyst — gets the 404 an unknown call
gets (tenancy: the same words). A recording deleted (retention, an admin) is a 404 saying so.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import iterate_in_threadpool

from api.auth import Principal, require, services
from api.models import Body
from api.openapi import problems
from api.problems import Problem
from api.services import ApiServices
from domain import limits
from domain.api_key import Role
from domain.call import Call
from domain.campaign import Campaign
from domain.errors import NotFound
from domain.recording import Recording, RecordingRule, may_listen

router = APIRouter(tags=["recordings"])
listeners = require(Role.PUBLISHER, Role.BUYER, Role.FINANCE, Role.ANALYST)
admin = require()
_RANGE_RE = re.compile(r"bytes=([0-9]{0,15})-([0-9]{0,15})")
_BINARY = {"schema": {"type": "string", "format": "binary"}, "example": "RIFF…WAVE…"}
AUDIO: dict[int | str, dict[str, Any]] = {
    200: {"description": "the recording", "content": {"audio/wav": _BINARY, "audio/mpeg": _BINARY}},
    206: {
        "description": "the range asked for (`Content-Range`)",
        "content": {"audio/wav": _BINARY},
    },
}


def byte_range(header: str | None, size: int) -> tuple[int, int] | bool | None:  # noqa: PLR0911
    """The inclusive byte range a `Range` header asks of `size` bytes: None for the whole
    (no header, several ranges, another unit: RFC 9110 lets a server ignore them); False
    when it cannot be satisfied."""
    if header is None:
        return None
    match = _RANGE_RE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.group(1), match.group(2)
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return False
    return start, end


def _chunks(stream: BinaryIO, start: int, length: int) -> Iterator[bytes]:
    try:
        stream.seek(start)
        left = length
        while left > 0:
            chunk = stream.read(min(limits.RECORDING_READ_CHUNK_BYTES, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk
    finally:
        stream.close()


def _listened(s: ApiServices, who: Principal, call_id: str) -> tuple[Call, Recording]:
    """The call's newest recording, if `who` may listen to it (NotFound otherwise)."""
    unknown = NotFound(f"call_id {call_id!r} does not exist", field="call_id")
    call = s.app.find(Call, call_id)
    if call is None:
        raise unknown
    campaign = s.app.find(Campaign, call.campaign_id)
    rule = RecordingRule.of(campaign.recording) if campaign is not None else None
    if not may_listen(
        who.role,
        who.owner_id,
        publisher_id=call.publisher_id,
        routed_buyer_id=call.route.buyer_id if call.route is not None else None,
        publisher_access=rule is not None and rule.publisher_access,
    ):
        raise unknown
    if not call.recordings:
        raise Problem(404, f"call {call_id} has no recording")
    newest = list(call.recordings.values())[-1]
    if newest.deleted:
        raise Problem(404, f"the recording of call {call_id} was deleted")
    return call, newest


@router.get(
    "/v1/calls/{call_id}/recording",
    response_class=Response,
    responses={**AUDIO, **problems(404, 416)},
)
async def call_recording(
    call_id: str,
    request: Request,
    who: Principal = Depends(listeners),
    s: ApiServices = Depends(services),
) -> Response:
    """The call's recording (its newest), streamed; `Range: bytes=…` answers 206 with that
    part (`Accept-Ranges: bytes`). The `ETag` is the recorded SHA-256 of the whole file."""
    if s.recorder is None:
        raise Problem(503, "call recordings are not configured")
    _, recording = await s.call(_listened, s, who, call_id)
    store = s.recorder.store
    size = await s.call(store.size, recording.location)
    if size is None:
        raise Problem(404, f"the recording of call {call_id} is not in the store")
    if size != recording.size_bytes:  # the file is not the one recorded: never serve it
        raise Problem(500, f"the stored recording of call {call_id} does not match its record")
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": f'"{recording.sha256}"',
        "Cache-Control": "private, no-store",
    }
    wanted = byte_range(request.headers.get("range"), size)
    if wanted is False:
        raise Problem(
            416,
            f"the recording has {size} bytes: the range lies outside it",
            headers={**headers, "Content-Range": f"bytes */{size}"},
        )
    start, end = wanted if isinstance(wanted, tuple) else (0, size - 1)
    stream = await s.call(store.open, recording.location)
    length = end - start + 1
    headers["Content-Length"] = str(length)
    status = 200
    if isinstance(wanted, tuple):
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        iterate_in_threadpool(_chunks(stream, start, length)),
        status_code=status,
        media_type=recording.content_type,
        headers=headers,
    )


class RecordingsDeletedOut(BaseModel):
    call_id: str = Field(examples=["call_0d5c6c1e0a5b4b1e9f1f3f0b8b3c2a11"])
    deleted: list[str] = Field(
        description="the recordings deleted now (empty: deleted before)",
        examples=[["rec_5f0e2b7d9c1a4e3f8b6d0c2a1e9f7b3d"]],
    )


class RecordingDeleteIn(Body):
    reason: str = Field(
        min_length=limits.NAME_LENGTH.minimum,
        max_length=limits.NAME_LENGTH.maximum,
        examples=["the caller asked for it to be deleted"],
    )


@router.delete(
    "/v1/calls/{call_id}/recording", response_model=RecordingsDeletedOut, responses=problems(404)
)
async def delete_call_recording(
    call_id: str,
    body: RecordingDeleteIn,
    who: Principal = Depends(admin),
    s: ApiServices = Depends(services),
) -> dict[str, Any]:
    """Delete the call's recordings (admin): the bytes leave the store, `RecordingDeleted`
    records the reason; the recorded hash stays in the log. Again: 200, nothing deleted."""
    if s.recorder is None:
        raise Problem(503, "call recordings are not configured")
    recorder = s.recorder
    call = await s.call(s.app.find, Call, call_id)
    if call is None:
        raise NotFound(f"call_id {call_id!r} does not exist", field="call_id")
    deleted = [
        rec_id
        for rec_id, recording in call.recordings.items()
        if not recording.deleted
        and await s.call(recorder.delete, call_id, rec_id, body.reason, who.by)
    ]
    return {"call_id": call_id, "deleted": deleted}
