"""An analyst's saved queries: one aggregate a user, names checked, a bounded number kept."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.errors import Conflict, NotFound, ValidationError
from domain.limits import SAVED_QUERIES_MAX
from domain.saved_query import SavedQueries, check_query_name, check_sql, saved_queries_id_for

pytestmark = pytest.mark.unit
AT = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)


def _queries() -> SavedQueries:
    user_id = "usr_1"
    return SavedQueries(id=saved_queries_id_for(user_id), user_id=user_id, by=user_id, timestamp=AT)


def test_saving_under_a_used_name_replaces_and_removing_forgets() -> None:
    queries = _queries()
    queries.save(name="a", sql="SELECT 1", by="usr_1", timestamp=AT)
    queries.save(name="b", sql="SELECT 2", by="usr_1", timestamp=AT)
    queries.save(name="a", sql="SELECT 3", by="usr_1", timestamp=AT)
    assert queries.queries == {"a": "SELECT 3", "b": "SELECT 2"}
    queries.check_remove("b")
    queries.remove(name="b", by="usr_1", timestamp=AT)
    assert queries.queries == {"a": "SELECT 3"}
    with pytest.raises(NotFound):
        queries.check_remove("b")


def test_a_user_keeps_a_bounded_number() -> None:
    queries = _queries()
    for n in range(SAVED_QUERIES_MAX):
        queries.save(name=f"q{n}", sql="SELECT 1", by="usr_1", timestamp=AT)
    queries.check_save("q0")  # a replacement is still allowed
    with pytest.raises(Conflict):
        queries.check_save("one more")


def test_the_ids_are_per_user() -> None:
    assert saved_queries_id_for("usr_1") == saved_queries_id_for("usr_1")
    assert saved_queries_id_for("usr_1") != saved_queries_id_for("usr_2")
    assert saved_queries_id_for("usr_1").startswith("sqr_")


@pytest.mark.parametrize("name", ["", " padded", "x" * 101, "tab\there", 7])
def test_bad_names_are_refused(name: object) -> None:
    with pytest.raises(ValidationError):
        check_query_name(name)


@pytest.mark.parametrize("sql", ["", "   ", "x" * 20_001, None])
def test_bad_sql_is_refused(sql: object) -> None:
    with pytest.raises(ValidationError):
        check_sql(sql)
