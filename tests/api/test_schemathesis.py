"""Property-based requests generated from `/openapi.json` (schemathesis) against the real
server: whatever the input, never a 5xx, and every error is a problem document.

The operations are driven with hypothesis directly (schemathesis's pytest plugin does not yet
support this pytest), one server for the whole run."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from ppcx.settings import Settings
from tests.api.conftest import ADMIN_KEY, project

pytestmark = pytest.mark.e2e
EXAMPLES_PER_OPERATION = 12


def test_no_server_errors_on_any_operation(live_server: str, api_settings: Settings) -> None:
    project(api_settings)  # an empty projection: the reading routes answer (not 503)
    schema = schemathesis.openapi.from_url(f"{live_server}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30  # every route of API.md is in the document
    failures: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            response = case.call(
                base_url=live_server, timeout=30, headers={"Authorization": f"Bearer {ADMIN_KEY}"}
            )
            label = f"{case.method} {case.formatted_path} -> {response.status_code}"
            assert response.status_code < 500, (label, response.text[:300])
            if response.status_code >= 400:
                content_type = response.headers.get("content-type")
                if isinstance(content_type, list):
                    content_type = content_type[0]
                assert content_type == "application/problem+json", label

        try:
            check()
        except AssertionError as error:
            failures.append(f"{operation.label}: {error}")
    assert not failures, "\n".join(failures)
