"""Deliveries: which webhooks get a call event, with which body, and what an attempt's result
does to a delivery. Recorded in the deliveries' own SQLite file (`eventstore.deliveries`, the
only package that may open a database); pure here but for that record.

A delivery's id is its body's message id: one per (webhook, call, version), so an event the
stream delivers twice is recorded once, and a retried body is byte-identical."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from eventstore.deliveries import AttemptRow, DeliveryRow, DeliveryStore
from eventstore.rows import StoredRow
from webhooks.payloads import SENT_TOPICS, Payload, Recipient, encode, message_id, payload
from webhooks.retry import AttemptError, Outcome, classify, next_attempt_at
from webhooks.subscribers import Subscribers

__all__ = ["AttemptRow", "DeliveryRow", "DeliveryState", "DeliveryStore", "planned"]


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def to_ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def stored_events(rows: Sequence[StoredRow]) -> list[tuple[str, Mapping[str, Any]]]:
    """A call's stored rows as `webhooks.payloads` reads them: `(topic, state)`, the state with
    its version."""
    return [
        (topic, {**orjson.loads(state), "originator_version": version})
        for _, version, topic, state in rows
    ]


def planned(
    subscribers: Subscribers,
    call_id: str,
    version: int,
    events: Sequence[tuple[str, Mapping[str, Any]]],
    now: datetime,
) -> list[DeliveryRow]:
    """The deliveries of the call's event `version` (1-based, among `events`): one per
    webhook that hears of it and may see it, due now."""
    if not 1 <= version <= len(events):
        return []  # not stored (yet): nothing to build it from
    topic, state = events[version - 1]
    kind = SENT_TOPICS.get(topic)
    if kind is None:
        return []
    at = datetime.fromisoformat(state["timestamp"])
    rows = []
    for s in subscribers.hearing(kind, at):
        body = payload(s.webhook_id, call_id, Recipient(s.role, s.owner_id), events, version - 1)
        if body is None:
            continue
        rows.append(
            DeliveryRow(
                id=body["id"],
                webhook_id=s.webhook_id,
                call_id=call_id,
                version=version,
                type=body["type"],
                body=encode(body),
                state=DeliveryState.PENDING,
                created_ms=to_ms(now),
                next_attempt_ms=to_ms(now),
                first_attempt_ms=None,
                attempts=0,
            )
        )
    return rows


def planned_through(
    subscribers: Subscribers,
    call_id: str,
    version: int,
    events: Sequence[tuple[str, Mapping[str, Any]]],
    now: datetime,
    recorded: Callable[[Sequence[str]], set[str]],
) -> list[DeliveryRow]:
    """The deliveries of the call's events up to `version` that `recorded` does not know yet.

    Not only `version`'s: a worker killed mid-batch leaves messages unacknowledged that
    JetStream redelivers only after its ack wait, while the next worker records the later ones.
    A call's earlier events recorded with its later one keep its deliveries in order (the
    store offers a call's next delivery only once the ones before are done)."""
    wanted: dict[str, int] = {}
    for v in range(1, min(version, len(events)) + 1):
        topic, state = events[v - 1]
        kind = SENT_TOPICS.get(topic)
        if kind is None:
            continue
        at = datetime.fromisoformat(state["timestamp"])
        for s in subscribers.hearing(kind, at):
            wanted[message_id(s.webhook_id, call_id, v)] = v
    if not wanted:
        return []
    known = recorded(list(wanted))
    versions = sorted({v for id_, v in wanted.items() if id_ not in known})
    return [
        row
        for v in versions
        for row in planned(subscribers, call_id, v, events, now)
        if row.id not in known
    ]


@dataclass(frozen=True, slots=True)
class AttemptResult:
    result: int | AttemptError  # the HTTP status, or why there was none
    latency_ms: int
    excerpt: bytes
    retry_after: str | None = None
    refused: str | None = None  # not sent: the address is not allowed (fails at once)


def after_attempt(
    delivery: DeliveryRow, attempt: AttemptResult, now: datetime, rng: random.Random
) -> tuple[AttemptRow, DeliveryState, int | None]:
    """The attempt's record, the delivery's state after it and its next attempt's time."""
    n = delivery.attempts + 1
    outcome = Outcome.FAILED if attempt.refused else classify(attempt.result)
    next_ms: int | None = None
    state = DeliveryState.DELIVERED if outcome is Outcome.DELIVERED else DeliveryState.FAILED
    if outcome is Outcome.RETRY:
        first = from_ms(delivery.first_attempt_ms) if delivery.first_attempt_ms else now
        due = next_attempt_at(first, n, now, attempt.retry_after, rng)
        if due is not None:
            state, next_ms = DeliveryState.PENDING, to_ms(due)
    status = attempt.result if isinstance(attempt.result, int) else None
    error = attempt.refused or (None if status is not None else str(attempt.result))
    row = AttemptRow(
        n=n,
        at_ms=to_ms(now),
        status=status,
        error=error,
        outcome=outcome.value if state is not DeliveryState.FAILED else Outcome.FAILED.value,
        latency_ms=attempt.latency_ms,
        excerpt=attempt.excerpt,
    )
    return row, state, next_ms


def body_of(delivery: DeliveryRow) -> Payload:
    decoded: Payload = orjson.loads(delivery.body)
    return decoded
