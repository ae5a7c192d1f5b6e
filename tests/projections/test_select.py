"""One read-only SELECT (projections/select.py): bounded rows, a deadline, Parquet written by
DuckDB into a temporary directory of its own and removed after."""

from __future__ import annotations

import duckdb
import pytest

from projections.select import SqlRefused, discard, select_arrow, select_rows, write_parquet

pytestmark = pytest.mark.unit


def test_rows_are_bounded_and_the_cut_is_said() -> None:
    con = duckdb.connect(":memory:")
    found = select_rows(con, "SELECT * FROM range(10) t(i)", 4)
    assert found.columns == ["i"]
    assert [r[0] for r in found.rows] == [0, 1, 2, 3]
    assert found.cut
    assert not select_rows(con, "SELECT * FROM range(4)", 4).cut
    table, cut = select_arrow(con, "SELECT * FROM range(25000) t(i)", 20_001)
    assert (table.num_rows, cut) == (20_001, True)


def test_a_query_past_its_deadline_is_stopped() -> None:
    con = duckdb.connect(":memory:")
    endless = "SELECT sum(a.range * b.range) FROM range(1000000000) a, range(1000000000) b"
    with pytest.raises(SqlRefused, match=r"ran longer than 0\.5 s"):
        select_rows(con, endless, 10, timeout_s=0.5)
    assert select_rows(con, "SELECT 1", 1, timeout_s=0.5).rows == [(1,)]  # the cursor still works


def test_parquet_is_written_into_its_own_directory_and_discarded() -> None:
    con = duckdb.connect(":memory:")
    table, _ = select_arrow(con, "SELECT i, i * 2 AS twice FROM range(3) t(i)", 10)
    path = write_parquet(table)
    try:
        back = duckdb.connect().execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        assert back == [(0, 0), (1, 2), (2, 4)]
    finally:
        discard(path)
    assert not path.parent.exists()
