"""Every reader of the log declares, from the event classes, the events it handles and those
it ignores (`domain.catalog.Reads`); an event class in neither list fails here, so a new event
is decided for each reader. Where a reader dispatches on names, its table is the declared one;
the projections' SQL is parsed and compared."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from api.routers.calls import TIMELINE_READS
from domain import ledger_fold, redaction
from domain.buyer import Buyer
from domain.call import Call
from domain.catalog import Reads, event_classes, events_of, name_of
from exchange import config_sync
from projections import events as projected
from projections.store import sql_file
from replay import books, calls, rehydrate, statements, verify

pytestmark = pytest.mark.unit
READERS = [
    ledger_fold.READS,
    books.READS,
    verify.READS,
    calls.READS,
    rehydrate.READS,
    statements.READS,
    config_sync.READS,
    projected.READS,
    TIMELINE_READS,
    redaction.READS,
]
# 'Aggregate.Event' or 'Aggregate.%' in SQL text, and an SQL comment
_SQL_EVENT = re.compile(r"'([A-Z][A-Za-z]*)\.([A-Z][A-Za-z]*|%)'")
_SQL_COMMENT = re.compile(r"--[^\n]*")


@pytest.mark.parametrize("reads", READERS, ids=lambda r: r.reader)
def test_every_event_class_is_handled_or_ignored(reads: Reads) -> None:
    assert reads.undecided() == [], f"{reads.reader}: decide these events"
    assert not reads.handled & reads.ignored
    assert reads.handled | reads.ignored == set(event_classes())


def test_an_event_in_neither_list_is_found() -> None:
    reads = Reads("half", handles=(Call,), ignores=(Buyer.HoldPlaced,))
    undecided = reads.undecided()
    assert "Buyer.HoldPosted" in undecided
    assert "Buyer.HoldPlaced" not in undecided
    assert not any(name.startswith("Call.") for name in undecided)


def test_an_aggregate_is_listed_whole_or_event_by_event() -> None:
    with pytest.raises(AssertionError):
        Reads("both", handles=(Call,), ignores=(Call.BidRejected,))
    with pytest.raises(AssertionError):
        Reads("twice", handles=(Buyer.HoldPlaced,), ignores=(Buyer.HoldPlaced,))


def test_the_replay_tables_are_the_declared_ones() -> None:
    assert set(calls.CallChecker().handlers) == calls.READS.names
    assert set(rehydrate.Fold(datetime(2026, 1, 1, tzinfo=UTC))._handlers) == rehydrate.READS.names
    assert set(ledger_fold.FOLDS) == ledger_fold.READS.handled
    # the fast fold of the ledger's rules reads what the domain's fold reads; verify decodes
    # exactly those for it
    assert books.READS.handled == ledger_fold.READS.handled
    assert books.READS.names == verify.MONEY | verify.LIMITS
    assert set(config_sync.TOPICS) == config_sync.READS.topics


def _sql_events(sql: str) -> tuple[set[str], set[str]]:
    """The event names an SQL text handles (patterns expanded) and the names it spells that
    are no event class."""
    classes = {name_of(cls): cls for cls in event_classes()}
    handled: set[str] = set()
    for aggregate, event in _SQL_EVENT.findall(_SQL_COMMENT.sub("", sql)):
        if event == "%":
            handled |= {n for n in classes if n.startswith(aggregate + ".")}
        else:
            handled.add(f"{aggregate}.{event}")
    return handled & set(classes), handled - set(classes)


def test_the_projections_sql_handles_exactly_the_declared_events() -> None:
    handled, unknown = _sql_events(sql_file("ingest.sql") + sql_file("rollups.sql"))
    assert unknown == set(), "ingest.sql names events that do not exist"
    assert handled == projected.READS.names


def test_the_sql_parse_sees_names_and_patterns() -> None:
    handled, unknown = _sql_events(
        "WHERE name IN ('Buyer.HoldPlaced', 'Buyer.Gone') OR name LIKE 'Call.%' "
        "AND json_extract_string(state, '$.name') = 'x' -- 'Call.Commented'"
    )
    assert handled == {"Buyer.HoldPlaced"} | {name_of(c) for c in events_of(Call)}
    assert unknown == {"Buyer.Gone"}
