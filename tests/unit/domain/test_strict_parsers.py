"""The domain's small parsers take input exactly as written: whole-string matches (no
trailing newline let through by `re.match` and `$`), ASCII digits, nothing trimmed."""

from __future__ import annotations

import pytest

from domain import validate
from domain.errors import ValidationError
from domain.ids import call_of_dispute, require_id
from domain.schedule import WeeklySchedule

pytestmark = pytest.mark.unit
CALL = "call_" + "0" * 32


@pytest.mark.parametrize("bad", [CALL + "\n", " " + CALL, CALL.upper(), "call_" + "０" * 32])
def test_an_id_is_matched_whole(bad: str) -> None:
    with pytest.raises(ValidationError):
        require_id(bad, "call", "call_id")
    assert require_id(CALL, "call", "call_id") == CALL


def test_a_dispute_id_is_matched_whole() -> None:
    dispute = "dsp_" + "0" * 40
    assert call_of_dispute(dispute) == CALL
    assert call_of_dispute(dispute + "\n") is None


@pytest.mark.parametrize("bad", ["0９:00", "09:00\n", " 09:00", "9:00", "24:01"])
def test_opening_hours_are_ascii_times(bad: str) -> None:
    with pytest.raises(ValidationError):
        WeeklySchedule.parse("UTC", {"mon": [[bad, "18:00"]]})


@pytest.mark.parametrize("bad", ["legal\n", "Legal", "lég", " legal"])
def test_slugs_are_matched_whole(bad: str) -> None:
    with pytest.raises(ValidationError):
        validate.slug(bad, "vertical")


def test_names_are_not_trimmed_and_text_is_kept_as_written() -> None:
    for bad in (" Acme", "Acme ", "Acme\n"):
        with pytest.raises(ValidationError):
            validate.name(bad)
    assert validate.name("Acme Leads") == "Acme Leads"
    assert validate.text("  wire 7  ", "reference") == "  wire 7  "


@pytest.mark.parametrize("bad", ["sip:a@b.com\n", "sip:a@b.com:５060", "sip:a@b.com:123456"])
def test_sip_uris_are_matched_whole(bad: str) -> None:
    assert not validate.sip_uri(bad)
    assert validate.sip_uri("sip:buyer@example.com:5060")
