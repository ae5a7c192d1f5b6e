"""Schemathesis, a tool nobody here wrote, against a real `ppcx serve`: every check it has
(`--checks all`: server errors, status codes, content types, response schemas and headers,
negative data rejected, positive data accepted, missing headers, unsupported methods and
`Allow`, use after free, resource availability, ignored auth, ...) over every phase
(examples, coverage, fuzzing, and the stateful phase over the document's OpenAPI links).
Zero failures, not only zero 5xx.

One allowance, listed here operation by operation with its reason: a request the schema
calls valid may still be refused with 422 where the rule is one JSON Schema cannot state
(printable text as Python's `str.isprintable`, a real phone number, an IANA time zone, a
rule across fields, a time window, an opaque cursor). Every other check runs unchanged."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tools.sim.served import ADMIN_KEY, System, served

pytestmark = pytest.mark.e2e
EXAMPLES_PER_OPERATION = 20
SEED = 1
TEXT = "printable text (str.isprintable)"
PHONE = "a phone number that exists (phonenumbers), beyond the E.164 shape"
WEBHOOK_URL = "a URL with a host, no credentials or fragment, a public IP literal, pixel tokens"
# operation -> why a schema-valid request may be 422
RULES_BEYOND_SCHEMA: dict[str, str] = {
    "POST /v1/publishers": TEXT,
    "POST /v1/buyers": f"{TEXT}; an IANA time zone",
    "POST /v1/campaigns": f"{TEXT}; payout against min_bid and margin",
    "POST /v1/targets": f"{TEXT}; a bid or an rtb_url, not both; a schedule's hours",
    "POST /v1/api-keys": f"{TEXT}; owner_id given exactly for publisher and buyer keys",
    "POST /v1/numbers": f"{TEXT}; {PHONE}",
    "POST /v1/number-pools": f"{TEXT}; {PHONE}; web origins",
    "POST /v1/blocklist": f"{TEXT}; {PHONE}",
    "DELETE /v1/blocklist/{number}": PHONE,
    "GET /v1/blocklist": "an opaque cursor this API issued",
    "GET /v1/calls": "an opaque cursor this API issued",
    "POST /v1/pings": f"{TEXT}; {PHONE}; geo derived from the number; a consent names a "
    "TrustedForm certificate or a LeadiD",
    "POST /v1/calls/{call_id}/dispute": TEXT,
    "POST /v1/calls/{call_id}/events": "`at` within minutes of the server's time; "
    "duration_s on completed",
    "POST /v1/disputes/{dispute_id}/resolve": TEXT,
    "POST /v1/buyers/{buyer_id}/deposits": TEXT,
    "POST /v1/targets/{target_id}/pause": TEXT,
    "GET /v1/invoices/{buyer_id}": "`from` before `to`",
    "GET /v1/statements/{publisher_id}": "`from` before `to`",
    "GET /v1/conversions": "`from` before `until`",
    "GET /v1/reports/{name}": "group_by dimensions of the report",
    "GET /v1/publishers": "an opaque cursor this API issued",
    "GET /v1/buyers": "an opaque cursor this API issued",
    "GET /v1/campaigns": "an opaque cursor this API issued",
    "GET /v1/targets": "an opaque cursor this API issued",
    "GET /v1/numbers": "an opaque cursor this API issued",
    "GET /v1/number-pools": "an opaque cursor this API issued",
    "GET /v1/api-keys": "an opaque cursor this API issued",
    "GET /v1/disputes": "an opaque cursor this API issued",
    "PATCH /v1/publishers/{publisher_id}": f"{TEXT}; a reason only with suspended",
    "PATCH /v1/buyers/{buyer_id}": f"{TEXT}; an IANA time zone",
    "PATCH /v1/campaigns/{campaign_id}": f"{TEXT}; payout against min_bid and margin",
    "PATCH /v1/targets/{target_id}": f"{TEXT}; a bid or an rtb_url, not both; a schedule's hours; "
    "the target as a whole stays valid",
    "POST /v1/webhooks": f"{WEBHOOK_URL}; events each once",
    "PATCH /v1/webhooks/{webhook_id}": f"{WEBHOOK_URL}; events each once",
    "GET /v1/webhooks": "an opaque cursor this API issued",
}
POSITIVE_DEFAULT = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]


def config(path: Path) -> Path:
    lines = []
    for operation, why in RULES_BEYOND_SCHEMA.items():
        statuses = ", ".join(f'"{s}"' for s in [*POSITIVE_DEFAULT, "422"])
        lines += [
            f"# {why}",
            "[[operations]]",
            f'include-name = "{operation}"',
            f"checks.positive_data_acceptance.expected-statuses = [{statuses}]",
            "",
        ]
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def system(tmp_path: Path) -> Iterator[System]:
    # telephony configured: an unsigned webhook is 403, not 503 "not configured"
    with served(tmp_path, workers=1, settings={"PPCX_TWILIO_AUTH_TOKEN": "12345"}) as found:
        yield found


def test_every_check_and_phase_finds_nothing(system: System, tmp_path: Path) -> None:
    schema = httpx.get(f"{system.base}/openapi.json", timeout=30).json()
    operations = [f"{m.upper()} {p}" for p, item in schema["paths"].items() for m in item]
    assert len(operations) >= 40  # every route of API.md is in the document
    assert set(RULES_BEYOND_SCHEMA) <= set(operations), "an allowance names no operation"
    run = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "--config-file",
            str(config(tmp_path / "schemathesis.toml")),
            "run",
            f"{system.base}/openapi.json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--header",
            f"Authorization: Bearer {ADMIN_KEY}",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--workers",
            "1",
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
        cwd=tmp_path,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )
    report = run.stdout[-20000:]
    assert run.returncode == 0, report + run.stderr[-3000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        assert f"✅ {phase}" in report, report  # each phase ran (the stateful one over links)
