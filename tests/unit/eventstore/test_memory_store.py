"""The in-memory store keeps the store's contract: consecutive notification ids, a version
taken is a conflict that writes nothing, each event chained to the one before it, and the
reads of `EventStore`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.publisher import Publisher
from eventstore.application import PPCXApplication
from eventstore.chain import GENESIS, ChainHasher
from eventstore.encoding import encode_event
from eventstore.store import VersionConflict
from tests.support.clock import START

KEY = b"k" * 32


@pytest.fixture
def app() -> Iterator[PPCXApplication]:
    built = PPCXApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"}, chain_key=KEY)
    try:
        yield built
    finally:
        built.close()


def _publisher(n: int) -> Publisher:
    return Publisher(id=f"pub_{n:032x}", name=f"P{n}", by="t", timestamp=START)


def test_appends_are_numbered_and_chained(app: PPCXApplication) -> None:
    assert app.record(_publisher(1).collect_events()) == [1]
    both = [*_publisher(2).collect_events(), *_publisher(3).collect_events()]
    assert app.store.append([encode_event(e) for e in both]) == [2, 3]
    rows = app.store.read_chained(1, 10)
    assert [r[0] for r in rows] == [1, 2, 3]
    hasher, previous = ChainHasher(KEY), GENESIS
    for notification_id, originator_id, version, topic, state, link in rows:
        assert originator_id is not None
        assert version is not None
        assert topic is not None
        assert state is not None
        previous = hasher.link(previous, notification_id, originator_id, version, topic, state)
        assert link == previous
    assert app.store.head() == 3


def test_a_version_taken_is_a_conflict_that_writes_nothing(app: PPCXApplication) -> None:
    publisher = _publisher(1)
    events = publisher.collect_events()
    app.record(events)
    with pytest.raises(VersionConflict):
        app.record([*_publisher(2).collect_events(), *events])
    assert app.store.head() == 1
    assert app.store.read_aggregate(f"pub_{2:032x}") == []


def test_reads_of_topics_and_of_one_aggregate(app: PPCXApplication) -> None:
    for n in range(3):
        app.record(_publisher(n).collect_events())
    topic = "domain.publisher:Publisher.Registered"
    assert [r[0] for r in app.store.read_topics(1, 10, stop=3, topics=[topic])] == [1, 2, 3]
    assert [r[0] for r in app.store.read_topics(2, 10, stop=2, topics=[topic])] == [2]
    assert app.store.read_topics(1, 10, stop=3, topics=["domain.call:Call.PingReceived"]) == []
    (row,) = app.store.read_aggregate(f"pub_{1:032x}")
    assert row[:3] == (f"pub_{1:032x}", 1, topic)
