"""Who is subscribed: every webhook not removed, read from the event store and cached.

The delivery worker asks for the subscribers of each call event; the cache is refreshed when
the stream carries a webhook's event (`stale()`), and at least every `REFRESH_S` (a webhook
changed by a process whose events the worker has not read yet). New webhooks are found by
reading the log's `Registered` events from where the last refresh stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import orjson

from domain.api_key import Role
from domain.catalog import topic_of
from domain.webhook import Webhook, WebhookStatus
from domain.webhook_events import WebhookEvent
from eventstore.application import PPCXApplication

REFRESH_S = 30.0
PAGE_ROWS = 1_000
WEBHOOKS_MAX = 100_000  # a deployment's subscriptions, at most, held in memory
REGISTERED = topic_of(Webhook.Registered)
WEBHOOK_TOPIC_PREFIX = topic_of(Webhook) + "."


@dataclass(frozen=True, slots=True)
class Subscriber:
    webhook_id: str
    role: Role
    owner_id: str | None
    url: str
    method: str
    events: frozenset[WebhookEvent]
    secret_version: int
    active: bool  # not paused (removed ones are not subscribers at all)
    registered_at: datetime  # it hears of events from then on, not of older ones
    resumed_at: datetime | None = None  # its failing window starts again from here


class Subscribers:
    def __init__(
        self, app: PPCXApplication, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.app = app
        self._monotonic = monotonic
        self._registered: dict[str, datetime] = {}  # every webhook ever registered
        self._position = 0  # the log read up to here for registrations
        self._current: dict[str, Subscriber] = {}
        self._loaded_at: float | None = None
        self._lock = threading.Lock()  # the consumer's thread and the sender's both read

    def stale(self) -> None:
        self._loaded_at = None

    def get(self, webhook_id: str) -> Subscriber | None:
        self._refresh_if_due()
        return self._current.get(webhook_id)

    def is_fresh(self) -> bool:
        """False when the next read refreshes the cache from the store (an event loop reads
        it from a thread then)."""
        loaded_at = self._loaded_at
        return loaded_at is not None and self._monotonic() - loaded_at < REFRESH_S

    def cached(self, webhook_id: str) -> tuple[bool, Subscriber | None]:
        """(True, the subscriber or None) while the cache is fresh, without reading the
        store; (False, None) when it is due a refresh."""
        if not self.is_fresh():
            return False, None
        return True, self._current.get(webhook_id)

    def hearing(self, kind: WebhookEvent, at: datetime) -> list[Subscriber]:
        """The active webhooks subscribed to `kind` and registered by `at` (whether each
        recipient may hear of the call is the payload's to say)."""
        self._refresh_if_due()
        return [
            s
            for s in self._current.values()
            if s.active and kind in s.events and s.registered_at <= at
        ]

    def all(self) -> list[Subscriber]:
        self._refresh_if_due()
        return list(self._current.values())

    def _refresh_if_due(self) -> None:
        with self._lock:
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        if self.is_fresh():
            return
        now = self._monotonic()
        self._read_registrations()
        current = {}
        for webhook_id, registered_at in self._registered.items():
            webhook = self.app.find(Webhook, webhook_id)
            if webhook is not None and webhook.status is not WebhookStatus.REMOVED:
                current[webhook_id] = _subscriber(webhook, registered_at)
        self._current = current
        self._loaded_at = now

    def _read_registrations(self) -> None:
        head = self.app.store.head()
        while self._position < head:
            rows = self.app.store.read_topics(
                self._position + 1, PAGE_ROWS, stop=head, topics=[REGISTERED]
            )
            for _, webhook_id, _, _, state in rows:
                if len(self._registered) >= WEBHOOKS_MAX:
                    raise RuntimeError(f"more than {WEBHOOKS_MAX} webhooks: raise WEBHOOKS_MAX")
                at = orjson.loads(state)["timestamp"]
                self._registered[webhook_id] = datetime.fromisoformat(at)
            self._position = rows[-1][0] if len(rows) == PAGE_ROWS else head


def _subscriber(webhook: Webhook, registered_at: datetime) -> Subscriber:
    return Subscriber(
        webhook_id=webhook.id,
        role=Role(webhook.owner_role),
        owner_id=webhook.owner_id,
        url=webhook.url,
        method=webhook.method,
        events=frozenset(WebhookEvent(e) for e in webhook.events),
        secret_version=webhook.secret_version,
        active=not webhook.paused,
        registered_at=registered_at,
        resumed_at=webhook.resumed_at,
    )
