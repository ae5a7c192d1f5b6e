"""The eventsourcing application: one notification log for the whole exchange.

Configured only from the environment dict it is given (built by the composition root from
`Settings`): unlike the library's default, it does not read `os.environ`. Events are encoded
with orjson and stored with the audit chain (`eventstore.sqlite`, `eventstore.postgres`).
Aggregates are cached per process (fast-forwarded from the store on every `get`, so writes by
other processes are seen) and hot ones are snapshotted so a cold load never replays more than an
interval of events.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from eventsourcing.application import AggregateNotFoundError, Application, LRUCache, Repository
from eventsourcing.persistence import ApplicationRecorder, PersistenceError, Transcoder
from eventsourcing.persistence import EventStore as LibraryEventStore
from eventsourcing.popo import POPOFactory
from eventsourcing.postgres import PostgresFactory
from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteFactory
from eventsourcing.utils import Environment, EnvType
from tenacity import retry, retry_if_exception, stop_after_delay, wait_random

from domain.anomaly import CampaignTraffic
from domain.base import PPCXAggregate, PPCXEvent
from domain.buyer import Buyer
from domain.call import Call
from domain.errors import NotFound
from domain.invariant import invariant, present, unreachable
from domain.target import Target
from eventstore.encoding import OrjsonTranscoder, encode_event
from eventstore.in_batch import DecidedInBatch
from eventstore.memory import ChainedMemoryApplicationRecorder
from eventstore.postgres import ChainedPostgresApplicationRecorder
from eventstore.recent import RecentReads
from eventstore.rows import StoredRow
from eventstore.sqlite import ChainedSQLiteApplicationRecorder
from eventstore.store import EventStore, Positions
from eventstore.tracking import TrackedPositions

A = TypeVar("A", bound=PPCXAggregate)
Encoded = tuple[Any, StoredRow | None]  # an event, with its row if already encoded
AGGREGATE_CACHE_MAXSIZE = 50_000
RECENT_CACHE_MAXSIZE = 10_000
READ_LOCK_STRIPES = 64


CREATE_TABLES_S_MAX = 30.0
R = TypeVar("R")
# what PostgreSQL answers the loser of two racing CREATE … IF NOT EXISTS: unique_violation
# (on pg_class, pg_type), duplicate_table, duplicate_object, "tuple concurrently updated"
RACING_CREATE_SQLSTATES = frozenset({"23505", "42P07", "42710", "XX000"})


def _lost_a_creation_race(error: BaseException) -> bool:
    cause = error.__cause__
    return isinstance(error, PersistenceError) and (
        getattr(cause, "sqlstate", None) in RACING_CREATE_SQLSTATES
    )


@retry(
    retry=retry_if_exception(_lost_a_creation_race),
    stop=stop_after_delay(CREATE_TABLES_S_MAX),
    wait=wait_random(0.01, 0.2),
    reraise=True,
)
def created_racing(create: Callable[[], R]) -> R:
    """`create()` (the library's CREATE TABLE/INDEX … IF NOT EXISTS) again when another
    process created the same catalog row at the same moment: PostgreSQL then refuses one of
    them (a unique violation on pg_class/pg_type, or "tuple concurrently updated") — hosts
    starting together on one database, each creating what is missing."""
    return create()


class _AggregateCache(LRUCache[str, Any]):
    """The repository's cache, without calls: a call is read a few times in its first
    minutes, from ~10 events, while tens of thousands of cached calls would make every full
    garbage collection walk their state (the tail latency of the ping path)."""

    def put(self, key: str, value: Any) -> Any | None:
        if isinstance(value, Call):
            return None
        return super().put(key, value)


def _project(aggregate: Any, events: Iterable[Any]) -> Any:
    """The library's `project_aggregate` without its per-event check against a runtime
    Protocol (a quarter of the writer's time under the store's lock went to that check
    when fast-forwarding a hot account past the other workers' events)."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class PPCXApplication(Application[str]):
    name = "PPCX"
    snapshotting_intervals = {Buyer: 200, Target: 200, CampaignTraffic: 200}  # noqa: RUF012 - the library's API
    env = {  # noqa: RUF012 - the library's API
        "AGGREGATE_CACHE_MAXSIZE": str(AGGREGATE_CACHE_MAXSIZE),
        "ORIGINATOR_ID_TYPE": "text",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }

    def __init__(self, env: EnvType, *, chain_key: bytes) -> None:
        self.chain_key = chain_key
        self.in_batch = DecidedInBatch()  # what the writer decided earlier in its batch
        self._recent: RecentReads[object] = RecentReads(RECENT_CACHE_MAXSIZE, max_age_s=math.inf)
        self._read_locks = [threading.Lock() for _ in range(READ_LOCK_STRIPES)]
        super().__init__(env)

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        # Settings are the only source of configuration: os.environ is not consulted.
        return Environment(name, {**type(self).env, **(env or {})})

    def construct_repository(self) -> Repository[str]:
        repository = super().construct_repository()
        repository.cache = _AggregateCache(AGGREGATE_CACHE_MAXSIZE)
        return repository

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_snapshot_store(self) -> LibraryEventStore[str]:
        """The library's snapshot store, its table created as hosts starting together can."""
        recorder = created_racing(lambda: self.factory.aggregate_recorder(purpose="snapshots"))
        return self.factory.event_store(mapper=self.mapper, recorder=recorder)

    def construct_recorder(self) -> ApplicationRecorder:
        factory = self.factory
        recorder: (
            ChainedSQLiteApplicationRecorder
            | ChainedPostgresApplicationRecorder
            | ChainedMemoryApplicationRecorder
        )
        if isinstance(factory, SQLiteFactory):
            recorder = ChainedSQLiteApplicationRecorder(factory.datastore, chain_key=self.chain_key)
            if factory.env_create_table():
                recorder.create_table()
        elif isinstance(factory, PostgresFactory):
            prefix = self.name.lower() or "stored"
            recorder = ChainedPostgresApplicationRecorder(
                factory.datastore, events_table_name=f"{prefix}_events", chain_key=self.chain_key
            )
            if factory.env_create_table():
                created_racing(recorder.create_table)
        elif isinstance(factory, POPOFactory):  # in memory: pure tests
            recorder = ChainedMemoryApplicationRecorder(chain_key=self.chain_key)
        else:
            raise TypeError(f"no PPCX event store for {type(factory).__name__}")
        self.store: EventStore = recorder
        return recorder

    def positions(self) -> Positions:
        """Followers' durable positions (the relay's), kept in this store."""
        return TrackedPositions(created_racing(self.factory.tracking_recorder))

    # -- reading ------------------------------------------------------------------------------
    def load(self, cls: type[A], aggregate_id: object, field: str) -> A:
        """The aggregate, or NotFound naming the field that referred to it."""
        if not isinstance(aggregate_id, str) or not aggregate_id:
            raise NotFound(f"{field} is required", field=field)
        try:
            aggregate: object = self._get(aggregate_id)
        except AggregateNotFoundError:
            raise NotFound(f"{field} {aggregate_id!r} does not exist", field=field) from None
        if not isinstance(aggregate, cls):
            raise NotFound(f"{field} {aggregate_id!r} does not exist", field=field)
        return aggregate

    def load_at_least(self, cls: type[A], aggregate_id: object, field: str, *, version: int) -> A:
        """`load`, from this process's recent reads when the one read there is at `version`
        or newer (read-only checks on the hot path: a campaign's publishers on every
        auction). The caller knows the version it needs — the exchange decided on a snapshot
        of that version, written to Redis after the store committed it — so a change is
        honoured by the very next command (read-your-writes), while the store is read only
        when the object changed. The object is shared between threads: never change it."""
        if isinstance(aggregate_id, str):
            read = self.read_at_least(cls, aggregate_id, version=version)
            if read is not None:
                return read
        aggregate = self.load(cls, aggregate_id, field)
        self._recent.put(f"{cls.__name__}:{aggregate_id}", aggregate)
        return aggregate

    def read_at_least(self, cls: type[A], aggregate_id: str, *, version: int) -> A | None:
        """What `load_at_least` would answer without reading the store: the recently read
        aggregate if it is at `version` or newer, else None (for callers that must not
        block on I/O)."""
        read = self._recent.get(f"{cls.__name__}:{aggregate_id}", max_age_s=math.inf)
        if not isinstance(read, cls) or read.version < version:
            return None
        return read

    def find(self, cls: type[A], aggregate_id: str) -> A | None:
        try:
            aggregate: object = self._get(aggregate_id)
        except AggregateNotFoundError:
            return None
        return aggregate if isinstance(aggregate, cls) else None

    def _get(self, aggregate_id: str) -> object:
        decided = self.in_batch.get(aggregate_id)  # only in the writer, building a batch
        if decided is not None:
            return copy.deepcopy(decided)
        # The library fast-forwards a cached aggregate in place and deep-copies it after
        # letting go of its fast-forward lock: reads of one aggregate are serialised here, so
        # no copy is taken of an aggregate that another thread is changing.
        with self._read_locks[hash(aggregate_id) % READ_LOCK_STRIPES]:
            return self.repository.get(aggregate_id, projector_func=_project)

    def exists(self, aggregate_id: str) -> bool:
        return bool(self.recorder.select_events(aggregate_id, limit=1))

    def close(self) -> None:
        if isinstance(self.recorder, ChainedSQLiteApplicationRecorder):
            self.recorder.close_reader()
        super().close()

    # -- writing (used by the writer) ----------------------------------------------------------
    def record(self, events: Sequence[PPCXEvent]) -> list[int]:
        """Append events atomically (one transaction) → notification ids; IntegrityError on a
        conflict. Encodes with `encode_event` rather than the library's put(): same rows,
        without the intermediate objects (this is the append path of every event)."""
        return self.store.append([encode_event(e) for e in events])

    def record_exclusively(self, build: Callable[[], Sequence[Encoded]]) -> list[int]:
        """Take the store's write lock, then build the events and append them (see the
        recorders' `insert_rows_exclusively`). `build` gives each event with its stored row
        when it was encoded beforehand (outside the lock), else None."""
        return self.store.append_exclusively(
            lambda: [row or encode_event(event) for event, row in build()]
        )

    @staticmethod
    def encoded(events: Sequence[Any]) -> list[Encoded]:
        """Events with their stored rows, encoded now (off the write lock)."""
        return [(e, encode_event(e)) for e in events]

    def after_commit(self, aggregates: Sequence[PPCXAggregate], events: Sequence[Any]) -> None:
        """Refresh this process's cache and take the snapshots that fell due."""
        cache = self.repository.cache
        if cache is not None:
            for aggregate in aggregates:
                cache.put(aggregate.id, aggregate)
        if not self.snapshots:
            return
        due = self.snapshotting_intervals
        # The newest state of each snapshotted aggregate in the batch: a batch may hold several
        # copies of one, each decided on the one before it, in batch order (as for the cache).
        newest = {a.id: a for a in aggregates if type(a) in due}
        if not newest:
            return
        crossed = {
            e.originator_id
            for e in events
            if (latest := newest.get(e.originator_id)) is not None
            and e.originator_version % due[type(latest)] == 0
        }
        for aggregate_id in crossed:
            # Taken from the committed object itself, at its version: the library's
            # take_snapshot would read the aggregate back from the store and replay up to an
            # interval of events, on the writer's thread, for every interval crossed.
            aggregate = newest[aggregate_id]
            invariant(
                not aggregate.pending_events, f"{aggregate_id}: snapshot of uncommitted events"
            )
            self._put_snapshot(aggregate.Snapshot.take(aggregate))

    def _put_snapshot(self, snapshot: Any) -> None:
        snapshots = present(self.snapshots, "snapshotting is enabled")
        recorder = self.recorder
        if not isinstance(recorder, ChainedSQLiteApplicationRecorder):
            snapshots.put([snapshot])  # PostgreSQL waits for its locks in the server
            return
        stored = snapshots.mapper.to_stored_event(snapshot)
        snapshot_recorder = snapshots.recorder
        if not isinstance(snapshot_recorder, SQLiteAggregateRecorder):
            unreachable("a SQLite store keeps its snapshots in SQLite")
        recorder.insert_snapshot_rows(
            snapshot_recorder.events_table_name,
            [(str(stored.originator_id), stored.originator_version, stored.topic, stored.state)],
        )
