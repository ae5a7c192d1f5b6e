"""Reading the whole notification log of a test store, for assertions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
from eventsourcing.persistence import Notification

from domain.ledger import Ledger
from domain.ledger_fold import apply_stored_event
from eventstore.application import PPCXApplication

PAGE = 1000


def notifications(app: PPCXApplication) -> Iterator[Notification]:
    start = 1
    while True:
        page = app.recorder.select_notifications(start, PAGE)
        if not page:
            return
        yield from page
        start = page[-1].id + 1


def event_names(app: PPCXApplication) -> list[str]:
    return [n.topic.split(":", 1)[1] for n in notifications(app)]


def ledger_from_log(app: PPCXApplication) -> Ledger:
    ledger = Ledger()
    for n in notifications(app):
        state: dict[str, Any] = orjson.loads(n.state)
        apply_stored_event(ledger, n.topic, str(n.originator_id), state)
    return ledger
