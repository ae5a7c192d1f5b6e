"""`POST /v1/webhooks/{id}/test`: a test event sent to the endpoint now, signed like any other
(`webhook.test`, no call's data), recorded with its one attempt among the deliveries. It is
never retried: its answer is the point."""

from __future__ import annotations

import dataclasses
import random
import secrets
from datetime import UTC, datetime

import orjson

from eventstore.deliveries import DeliveryRow, DeliveryStore
from webhooks.deliveries import AttemptResult, DeliveryState, after_attempt, from_ms, to_ms
from webhooks.payloads import message_id

TEST_EVENT = "webhook.test"


def probe_delivery(webhook_id: str, at: datetime) -> DeliveryRow:
    """A test event's delivery, not due (the caller sends it at once)."""
    msg_id = message_id(webhook_id, "test:" + secrets.token_hex(16), 0)
    body = {
        "id": msg_id,
        "type": TEST_EVENT,
        "created_at": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {"webhook_id": webhook_id},
    }
    return DeliveryRow(
        id=msg_id,
        webhook_id=webhook_id,
        call_id="",
        version=0,
        type=TEST_EVENT,
        body=orjson.dumps(body),
        state=DeliveryState.PENDING,
        created_ms=to_ms(at),
        next_attempt_ms=None,
        first_attempt_ms=None,
        attempts=0,
    )


def record_test(store: DeliveryStore, delivery: DeliveryRow, result: AttemptResult) -> DeliveryRow:
    """The test's one attempt recorded (delivered or failed, never retried) → the delivery."""
    at = from_ms(delivery.created_ms)
    row, state, _ = after_attempt(delivery, result, at, random.Random(0))
    final = DeliveryState.DELIVERED if state is DeliveryState.DELIVERED else DeliveryState.FAILED
    if row.outcome != final.value:
        row = dataclasses.replace(row, outcome=final.value)
    store.record_attempt(delivery, row, final, None)
    recorded = store.get(delivery.id)
    return recorded if recorded is not None else delivery
