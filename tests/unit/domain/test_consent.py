"""The caller's consent references, parsed strictly (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.consent import Consent
from domain.errors import InvalidFields

pytestmark = pytest.mark.unit
CERT = "https://cert.trustedform.com/" + "0f" * 20
LEADID = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"


def _fields(given: dict[str, object], **kw: str) -> set[str | None]:
    with pytest.raises(InvalidFields) as refused:
        Consent.parse(given, **kw)
    return {e.field for e in refused.value.errors}


def test_a_consent_is_stored_as_given_with_its_time_in_utc() -> None:
    consent = Consent.parse(
        {
            "trustedform_cert_url": CERT,
            "text_version": "v2.1",
            "consented_at": "2026-12-01T09:30:00-05:00",
        }
    )
    assert consent.consented_at == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    assert consent.to_json() == {
        "trustedform_cert_url": CERT,
        "jornaya_leadid": None,
        "text_version": "v2.1",
        "consented_at": "2026-12-01T14:30:00Z",
    }
    assert Consent.parse({"jornaya_leadid": LEADID}).jornaya_leadid == LEADID


@pytest.mark.parametrize(
    ("given", "fields"),
    [
        ({"trustedform_cert_url": CERT.upper()}, {"consent.trustedform_cert_url"}),
        ({"trustedform_cert_url": CERT + "0"}, {"consent.trustedform_cert_url"}),
        ({"trustedform_cert_url": CERT.replace("https", "http")}, {"consent.trustedform_cert_url"}),
        ({"trustedform_cert_url": CERT + "\n"}, {"consent.trustedform_cert_url"}),
        ({"jornaya_leadid": LEADID.lower()}, {"consent.jornaya_leadid"}),
        ({"jornaya_leadid": LEADID.replace("-", "")}, {"consent.jornaya_leadid"}),
        ({"jornaya_leadid": 42}, {"consent.jornaya_leadid"}),
        ({"jornaya_leadid": LEADID, "text_version": ""}, {"consent.text_version"}),
        ({"jornaya_leadid": LEADID, "text_version": "v" * 65}, {"consent.text_version"}),
        ({"jornaya_leadid": LEADID, "text_version": "<b>"}, {"consent.text_version"}),
        ({"jornaya_leadid": LEADID, "consented_at": "2026-12-01"}, {"consent.consented_at"}),
        ({"jornaya_leadid": LEADID, "ip": "1.2.3.4"}, {"consent.ip"}),
        ({"text_version": "v1"}, {"consent.trustedform_cert_url"}),
        ({}, {"consent.trustedform_cert_url"}),
    ],
)
def test_a_bad_consent_names_each_bad_field(given: dict[str, object], fields: set[str]) -> None:
    assert _fields(given) == fields


def test_flat_parameters_name_themselves() -> None:
    assert Consent.from_parameters({"From": "+13105550123", "trustedform_cert_url": ""}) is None
    found = Consent.from_parameters({"jornaya_leadid": LEADID, "consent_text_version": "v1"})
    assert found == Consent(None, LEADID, "v1", None)
    with pytest.raises(InvalidFields) as refused:
        Consent.from_parameters({"jornaya_leadid": LEADID, "consent_text_version": "<b>"})
    assert [e.field for e in refused.value.errors] == ["consent_text_version"]
