"""The projections' table list is defined once (`projections.store.TABLES`, which the store
drops on a rebuild and the tests compare by) and is exactly what `schema.sql` creates."""

from __future__ import annotations

import duckdb
import pytest

from projections.store import BOOKKEEPING_TABLES, DATA_TABLES, TABLES, sql_file

pytestmark = pytest.mark.unit


def test_the_table_list_is_what_the_schema_creates() -> None:
    con = duckdb.connect(":memory:")
    try:
        con.execute(sql_file("schema.sql"))
        created = {
            row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        }
    finally:
        con.close()
    assert created == set(TABLES)
    assert len(TABLES) == len(set(TABLES))
    assert set(BOOKKEEPING_TABLES).isdisjoint(DATA_TABLES)
