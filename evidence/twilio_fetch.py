"""Fetching a call's recording from Twilio, storing it, recording `Call.CallRecorded`; and the
recordings' retention.

The recording-status callback (`POST /v1/voice/recording`) records the fact in the log —
`Call.RecordingAvailable`, one small append (a retried callback appends nothing) — then only
*queues* the fetch — a Redis hash, `Keys.recordings_pending`, keyed by Twilio's RecordingSid —
and answers at once. Redis is a cache of the log: when the queue's marker
(`Keys.recordings_pending_indexed`) is missing (a new namespace, a Redis that lost its data),
the tick queues again every recording available and neither recorded nor deleted. The
`RecordingWorker` drains that queue on the sweeper's tick (the `sweeper` role, and the API's
own background sweep): it claims a recording with a lease (several workers never fetch one
at once), downloads it from **the configured Twilio API base** (`PPCX_TWILIO_API_BASE`; the
callback's `RecordingUrl` is never fetched: SSRF) with the account's credentials (HTTP basic
auth, as Twilio's API requires), retrying with tenacity, streams it into the store while
hashing it, and only then records `CallRecorded` with the stored bytes' SHA-256 and size. A
fetch that fails is tried again on a later tick, backing off; after `RECORDING_TICKS_MAX`
ticks it is given up (logged). Every step is idempotent: a worker that dies mid-way leaves
the recording queued, and the next one finishes it.

Retention: each recorded recording's end of retention (its campaign's `retention_days` when
it was recorded) goes in a Redis sorted set; the tick deletes those due — bytes first, then
`RecordingDeleted` (reason "retention") — so a crash in between leaves it due, not lost.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Protocol, cast

import httpx
import orjson
import redis
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from domain.call import Call
from domain.catalog import topic_of
from domain.clock import Clock, to_ms
from domain.commands import DeleteRecording, NoteRecordingAvailable, RecordRecording
from domain.errors import DomainError
from domain.limits import (
    RECORDING_BYTES_MAX,
    RECORDING_CLAIM_LEASE_MS,
    RECORDING_FETCH_ATTEMPTS_MAX,
    RECORDING_FETCH_TIMEOUT_S,
    RECORDING_PENDING_BATCH_MAX,
    RECORDING_PENDING_MAX,
    RECORDING_RETENTION_DAYS,
    RECORDING_SWEEP_BATCH_MAX,
    RECORDING_TICKS_MAX,
)
from domain.recording import (
    RETENTION_REASON,
    parse_recording_sid,
    recording_id,
    recording_key,
    retention_ends,
)
from evidence.recordings import RecordingStore, TooLarge
from handlers.recordings import RecordingHandlers

logger = logging.getLogger(__name__)
SYSTEM_BY = "system"
_ACCOUNT_SID_RE = re.compile(r"[A-Za-z0-9]{1,64}")
# Twilio answers `.wav` as audio/x-wav: the types it may name → the type PPCX stores
CONTENT_TYPES = {
    "audio/wav": "audio/wav",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/mpeg": "audio/mpeg",
}
RECORDED_TOPIC = topic_of(Call.CallRecorded)
AVAILABLE_TOPIC = topic_of(Call.RecordingAvailable)
INDEX_TOPICS = (RECORDED_TOPIC, topic_of(Call.RecordingDeleted))
PENDING_TOPICS = (AVAILABLE_TOPIC, *INDEX_TOPICS)
INDEX_PAGE_ROWS = 1_000
PENDING_SEEN_MAX = 1_000  # queued recordings looked at per tick (most may be backing off)
REDIRECTS_MAX = 3  # Twilio may redirect a media fetch to a signed URL
BACKOFF_S_MAX = 600  # between two ticks' tries of one recording


class Retryable(Exception):
    """Twilio did not give the recording this time (not there yet, throttled, down)."""


class QueueFull(Exception):
    """`RECORDING_PENDING_MAX` recordings wait already (Twilio's API unreachable, or the
    worker not running)."""


class Refused(Exception):
    """Twilio refused for good (bad credentials, an unknown account), or sent no audio."""


@dataclass(frozen=True)
class TwilioApi:
    """Twilio's REST API as this deployment reaches it (`PPCX_TWILIO_API_BASE`, the account's
    SID and auth token)."""

    base_url: str
    account_sid: str
    auth_token: str

    def recording_url(self, recording_sid: str) -> str:
        """The recording's media URL, built from the configured base and ids only."""
        if _ACCOUNT_SID_RE.fullmatch(self.account_sid) is None:
            raise Refused("PPCX_TWILIO_ACCOUNT_SID is not an account SID")
        sid = parse_recording_sid(recording_sid)
        return (
            f"{self.base_url.rstrip('/')}/2010-04-01/Accounts/{self.account_sid}"
            f"/Recordings/{sid}.wav"
        )


def download(client: httpx.Client, api: TwilioApi, recording_sid: str, sink: IO[bytes]) -> str:
    """Stream the recording's media into `sink` → its content type (as PPCX stores it)."""
    url = api.recording_url(recording_sid)
    try:
        with client.stream("GET", url, auth=(api.account_sid, api.auth_token)) as answer:
            status = answer.status_code
            if status in (404, 408, 409, 425, 429) or status >= 500:
                raise Retryable(f"Twilio answered {status}")
            if status != 200:
                raise Refused(f"Twilio answered {status}")
            given = answer.headers.get("content-type", "").split(";")[0].strip().lower()
            content_type = CONTENT_TYPES.get(given)
            if content_type is None:
                raise Refused(f"Twilio sent {given or 'no content type'}, not audio")
            size = 0
            for chunk in answer.iter_bytes():
                size += len(chunk)
                if size > RECORDING_BYTES_MAX:
                    raise Refused(f"the recording is over {RECORDING_BYTES_MAX} bytes")
                sink.write(chunk)
            if size == 0:
                raise Retryable("Twilio sent an empty recording")
            return content_type
    except httpx.TooManyRedirects as error:
        raise Refused("Twilio redirected too often") from error
    except httpx.TransportError as error:
        raise Retryable(f"{type(error).__name__}: {error}") from error


def http_client() -> httpx.Client:
    return httpx.Client(
        timeout=RECORDING_FETCH_TIMEOUT_S, follow_redirects=True, max_redirects=REDIRECTS_MAX
    )


class RecordingKeys(Protocol):
    """The Redis keys the worker uses (`exchange.keys.Keys` spells them)."""

    def recordings_pending(self) -> str: ...

    def recording_claim(self, recording_sid: str) -> str: ...

    def recordings_expiry(self) -> str: ...

    def recordings_indexed(self) -> str: ...

    def recordings_pending_indexed(self) -> str: ...


@dataclass(frozen=True)
class Pending:
    call_id: str
    duration_s: int
    ticks: int = 0

    def to_json(self) -> bytes:
        return orjson.dumps(
            {"call": self.call_id, "duration_s": self.duration_s, "ticks": self.ticks}
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> Pending:
        data = orjson.loads(raw)
        return cls(str(data["call"]), int(data["duration_s"]), int(data.get("ticks", 0)))


@dataclass(frozen=True)
class TickResult:
    fetched: int = 0
    deleted: int = 0


class RecordingWorker:
    """Queue, fetch, store, record; and retention. Blocking work (Redis's sync client, the
    store, HTTP, the event store) runs on `executor` threads; `tick` is the loop's entry."""

    def __init__(
        self,
        *,
        redis_client: redis.Redis,
        keys: RecordingKeys,
        store: RecordingStore,
        handlers: RecordingHandlers,
        api: TwilioApi | None,
        clock: Clock,
        executor: ThreadPoolExecutor,
        client_factory: Callable[[], httpx.Client] = http_client,
    ) -> None:
        self.redis = redis_client
        self.keys = keys
        self.store = store
        self.handlers = handlers
        self.api = api
        self.clock = clock
        self.executor = executor
        self.client_factory = client_factory

    # -- the callback's side: the fact, then the queue -------------------------------------------
    def accept(self, call_id: str, recording_sid: str, duration_s: int) -> bool:
        """Record `RecordingAvailable` (durable: the queue is rebuilt from it when Redis is
        lost), then queue the fetch → whether it was new to the log. A retried callback
        appends nothing and queues nothing more; `QueueFull` leaves the fact recorded."""
        parse_recording_sid(recording_sid)
        rec_id = recording_id(call_id, recording_sid)
        outcome = self.handlers.available(
            NoteRecordingAvailable(call_id, rec_id, recording_sid, duration_s)
        )
        if not outcome.recorded:
            self.enqueue(call_id, recording_sid, duration_s)
        return outcome.noted

    def enqueue(self, call_id: str, recording_sid: str, duration_s: int) -> bool:
        """Queue a fetch (a retried callback queues nothing more) → whether it was new. The
        queue is bounded: `QueueFull` beyond `RECORDING_PENDING_MAX`."""
        parse_recording_sid(recording_sid)
        if self.redis.hlen(self.keys.recordings_pending()) >= RECORDING_PENDING_MAX:
            raise QueueFull(f"{RECORDING_PENDING_MAX} recordings wait to be fetched")
        entry = Pending(call_id, duration_s).to_json()
        return bool(self.redis.hsetnx(self.keys.recordings_pending(), recording_sid, entry))

    def pending(self) -> dict[str, Pending]:
        raw = cast("dict[bytes, bytes]", self.redis.hgetall(self.keys.recordings_pending()))
        return {_text(k): Pending.from_json(v) for k, v in raw.items()}

    # -- the tick ----------------------------------------------------------------------------------
    async def tick(self) -> TickResult:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(self.run_once))

    def run_once(self) -> TickResult:
        self.ensure_pending()
        self.ensure_indexed()
        return TickResult(self.fetch_pending(), self.sweep_expired())

    def _read_log(
        self, topics: tuple[str, ...], stop: int
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """The events of `topics` up to position `stop`, in order → (call id, topic, state)."""
        store = self.handlers.app.store
        start = 1
        while start <= stop:
            rows = store.read_topics(start, INDEX_PAGE_ROWS, stop=stop, topics=topics)
            if not rows:
                break
            for _, call_id, _, topic, state in rows:
                yield call_id, topic, orjson.loads(state)
            start = rows[-1][0] + 1

    def ensure_pending(self) -> int:
        """The fetch queue built again from the log when Redis has no marker for it (a new
        namespace, or a Redis that lost its data): every recording available and neither
        recorded nor deleted, queued as its callback queued it (`HSETNX`: one queued since
        stays) → how many were queued. Not bounded by `RECORDING_PENDING_MAX`: each is a
        fact Twilio will not send again; the bound pushes back on new callbacks only."""
        marker = self.keys.recordings_pending_indexed()
        if self.redis.exists(marker):
            return 0
        stop = self.handlers.app.store.head()
        waiting: dict[str, tuple[str, Pending]] = {}  # recording id -> (RecordingSid, entry)
        for call_id, topic, data in self._read_log(PENDING_TOPICS, stop):
            rec_id = str(data["recording_id"])
            if topic == AVAILABLE_TOPIC:
                entry = Pending(call_id, int(data["duration_s"]))
                waiting[rec_id] = (str(data["recording_sid"]), entry)
            else:  # recorded, or deleted: nothing to fetch
                waiting.pop(rec_id, None)
        key = self.keys.recordings_pending()
        for recording_sid, entry in waiting.values():
            self.redis.hsetnx(key, recording_sid, entry.to_json())
        self.redis.set(marker, str(stop))
        if waiting:
            logger.info("recordings to fetch queued again from the log: %d", len(waiting))
        return len(waiting)

    def ensure_indexed(self) -> int:
        """The retention index built from the log when Redis has none (a new namespace, or
        a Redis that lost its data): every recording recorded and not deleted, due at its
        `CallRecorded` time plus its campaign's retention now → how many were indexed."""
        marker = self.keys.recordings_indexed()
        if self.redis.exists(marker):
            return 0
        stop = self.handlers.app.store.head()
        recorded: dict[str, tuple[str, datetime]] = {}
        for call_id, topic, data in self._read_log(INDEX_TOPICS, stop):
            member = f"{call_id}/{data['recording_id']}"
            if topic == RECORDED_TOPIC:
                recorded[member] = (call_id, datetime.fromisoformat(data["timestamp"]))
            else:
                recorded.pop(member, None)
        for member, (call_id, at) in recorded.items():
            rule = self.handlers.rule_of(call_id)
            days = rule.retention_days if rule else RECORDING_RETENTION_DAYS.default or 0
            ends = to_ms(retention_ends(at, days))
            self.redis.zadd(self.keys.recordings_expiry(), {member: ends}, nx=True)
        self.redis.set(marker, str(stop))
        if recorded:
            logger.info("recordings' retention indexed from the log: %d", len(recorded))
        return len(recorded)

    def fetch_pending(self, limit: int = RECORDING_PENDING_BATCH_MAX) -> int:
        """Fetch the queued recordings this worker can claim (at most `limit`) → how many
        were stored and recorded."""
        if self.api is None:
            return 0  # not configured: the queue waits for PPCX_TWILIO_ACCOUNT_SID
        done = 0
        key = self.keys.recordings_pending()
        cursor, count, seen = 0, 0, 0
        while count < limit and seen < PENDING_SEEN_MAX:
            scanned = cast(
                "tuple[int, dict[bytes, bytes]]", self.redis.hscan(key, cursor, count=limit)
            )
            cursor, found = scanned
            seen += len(found)
            for sid, raw in found.items():
                if count >= limit:
                    break
                recording_sid = _text(sid)
                if not self.redis.set(
                    self.keys.recording_claim(recording_sid),
                    "1",
                    nx=True,
                    px=RECORDING_CLAIM_LEASE_MS,
                ):
                    continue  # another worker has it, or it is backing off
                count += 1
                done += self._fetch_claimed(recording_sid, Pending.from_json(raw))
            if cursor == 0:
                break
        return done

    def _fetch_claimed(self, recording_sid: str, entry: Pending) -> int:
        try:
            self.fetch_one(recording_sid, entry)
        except (Retryable, Refused, TooLarge, OSError, DomainError) as error:
            self._failed(recording_sid, entry, error)
            return 0
        self.redis.hdel(self.keys.recordings_pending(), recording_sid)
        self.redis.delete(self.keys.recording_claim(recording_sid))
        return 1

    def _failed(self, recording_sid: str, entry: Pending, error: Exception) -> None:
        ticks = entry.ticks + 1
        permanent = isinstance(error, (Refused, TooLarge, DomainError))
        if permanent or ticks >= RECORDING_TICKS_MAX:
            logger.error(
                "recording %s of %s given up after %d tick(s): %s",
                recording_sid,
                entry.call_id,
                ticks,
                error,
            )
            self.redis.hdel(self.keys.recordings_pending(), recording_sid)
            return
        logger.warning(
            "recording %s of %s not fetched (tick %d): %s",
            recording_sid,
            entry.call_id,
            ticks,
            error,
        )
        updated = Pending(entry.call_id, entry.duration_s, ticks)
        self.redis.hset(self.keys.recordings_pending(), recording_sid, updated.to_json())
        backoff_ms = min(2**ticks, BACKOFF_S_MAX) * 1000  # the claim's lease is the backoff
        self.redis.pexpire(self.keys.recording_claim(recording_sid), backoff_ms)

    def fetch_one(self, recording_sid: str, entry: Pending) -> None:
        """Download, store and hash, then record `CallRecorded`; a recording recorded before
        is not fetched again (its retention is queued again: idempotent)."""
        api = self.api
        if api is None:
            raise Refused("Twilio's API is not configured")
        rec_id = recording_id(entry.call_id, recording_sid)
        known = {r.recording_id for r in self.handlers.recordings(entry.call_id)}
        if rec_id not in known:
            self._store_and_record(api, recording_sid, rec_id, entry)
        rule = self.handlers.rule_of(entry.call_id)
        days = rule.retention_days if rule else RECORDING_RETENTION_DAYS.default or 0
        ends = retention_ends(self.clock.now(), days)
        member = f"{entry.call_id}/{rec_id}"
        self.redis.zadd(self.keys.recordings_expiry(), {member: to_ms(ends)}, nx=True)

    def _store_and_record(
        self, api: TwilioApi, recording_sid: str, rec_id: str, entry: Pending
    ) -> None:
        retrying = Retrying(
            retry=retry_if_exception_type(Retryable),
            stop=stop_after_attempt(RECORDING_FETCH_ATTEMPTS_MAX),
            wait=wait_exponential(multiplier=0.2, max=5),
            reraise=True,
        )
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            with self.client_factory() as client:
                for attempt in retrying:
                    with attempt:
                        spool.seek(0)
                        spool.truncate()
                        content_type = download(client, api, recording_sid, spool)
            spool.seek(0)
            location = recording_key(entry.call_id, rec_id, content_type)
            sha256, size = self.store.put(location, spool)
        self.handlers.record(
            RecordRecording(
                call_id=entry.call_id,
                recording_id=rec_id,
                sha256=sha256,
                duration_s=entry.duration_s,
                size_bytes=size,
                location=location,
                content_type=content_type,
            )
        )
        logger.info("recording %s of %s stored (%d bytes)", rec_id, entry.call_id, size)

    # -- retention and deletion --------------------------------------------------------------------
    def sweep_expired(self, limit: int = RECORDING_SWEEP_BATCH_MAX) -> int:
        """Delete the recordings whose retention ended → how many."""
        now_ms = to_ms(self.clock.now())
        due = cast(
            "list[bytes]",
            self.redis.zrangebyscore(
                self.keys.recordings_expiry(), "-inf", now_ms, start=0, num=limit
            ),
        )
        deleted = 0
        for member in due:
            call_id, _, rec_id = _text(member).partition("/")
            try:
                deleted += self.delete(call_id, rec_id, RETENTION_REASON, SYSTEM_BY)
            except (OSError, DomainError) as error:
                logger.warning("recording %s of %s not deleted: %s", rec_id, call_id, error)
        return deleted

    def delete(self, call_id: str, rec_id: str, reason: str, by: str) -> bool:
        """Delete the recording's bytes, then record `RecordingDeleted` (False: deleted
        before); its retention entry goes last."""
        call = self.handlers.app.load(Call, call_id, "call_id")
        recording = call.recordings.get(rec_id)
        deleted = False
        if recording is not None and not recording.deleted:
            self.store.delete(recording.location)
            deleted = self.handlers.delete(DeleteRecording(call_id, rec_id, reason, by))
        self.redis.zrem(self.keys.recordings_expiry(), f"{call_id}/{rec_id}")
        return deleted


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
