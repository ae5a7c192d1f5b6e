"""The benchmark's fast log generator writes exactly what the real aggregates would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ppcx.bootstrap import build_application
from ppcx.settings import Settings
from tools.sim.synthetic import generate, generate_fast

pytestmark = pytest.mark.integration


def test_fast_generator_is_byte_identical_to_the_aggregates(
    local_settings: Settings, tmp_path
) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    logs = []
    for name, fn in (("reference", generate), ("fast", generate_fast)):
        store = local_settings.model_copy(
            update={"sqlite_dbname": str(tmp_path / f"{name}.sqlite")}
        )
        app = build_application(store)
        try:
            count = fn(app, 3000, seed=4, start=start)
            logs.append((count, app.store.read_chained(1, 10**6)))
        finally:
            app.close()
    (count_a, rows_a), (count_b, rows_b) = logs
    assert count_a == count_b == len(rows_a) > 30_000
    assert rows_a == rows_b  # topics, versions, state bytes and chain links
