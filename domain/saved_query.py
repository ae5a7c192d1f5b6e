"""An analyst's saved queries: a name and one read-only SQL statement over the projections,
kept per portal user (one aggregate a user, found from the user's id without an index).
Saving under a name already used replaces that query; removal forgets it. The SQL is kept as
written: it runs only inside the projections' read-only sandbox, never anywhere else."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.domain import event

from domain.base import PPCXAggregate
from domain.errors import Conflict, NotFound, ValidationError
from domain.ids import derived_id
from domain.limits import SAVED_QUERIES_MAX, SAVED_QUERY_NAME_LENGTH, SQL_LENGTH


def saved_queries_id_for(user_id: str) -> str:
    return derived_id("sqr", user_id)


def check_query_name(value: object) -> str:
    if (
        not isinstance(value, str)
        or value != value.strip()
        or len(value) not in SAVED_QUERY_NAME_LENGTH
        or not value.isprintable()
    ):
        raise ValidationError(
            f"name must be {SAVED_QUERY_NAME_LENGTH.minimum}-{SAVED_QUERY_NAME_LENGTH.maximum} "
            "printable characters, no blanks around them",
            field="name",
        )
    return value


def check_sql(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) not in SQL_LENGTH:
        raise ValidationError(
            f"sql must be {SQL_LENGTH.minimum}-{SQL_LENGTH.maximum} characters", field="sql"
        )
    return value


class SavedQueries(PPCXAggregate):
    if TYPE_CHECKING:  # the event classes `@event` makes, for type checkers
        Started: type[PPCXAggregate.Created]
        Saved: type[PPCXAggregate.Event]
        Removed: type[PPCXAggregate.Event]

    @event("Started")
    def __init__(self, id: str, user_id: str, by: str, timestamp: datetime) -> None:
        self.user_id = user_id
        self.queries: dict[str, str] = {}  # name → SQL, in the order first saved

    def check_save(self, name: str) -> None:
        if name not in self.queries and len(self.queries) >= SAVED_QUERIES_MAX:
            raise Conflict(f"at most {SAVED_QUERIES_MAX} saved queries: remove one first")

    def check_remove(self, name: str) -> None:
        if name not in self.queries:
            raise NotFound(f"no saved query {name!r}", field="name")

    @event("Saved")
    def save(self, name: str, sql: str, by: str, timestamp: datetime) -> None:
        self.queries = {**self.queries, name: sql}

    @event("Removed")
    def remove(self, name: str, by: str, timestamp: datetime) -> None:
        self.queries = {n: q for n, q in self.queries.items() if n != name}
