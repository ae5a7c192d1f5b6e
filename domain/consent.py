"""A caller's consent to be called (TCPA evidence): the references a publisher sends with a
ping — a TrustedForm certificate, a Jornaya LeadiD, the version of the consent language and
when it was given. PPCX stores the references, never the evidence itself.

`Consent` is the parsed value; `ConsentJson` is how `Call.PingReceived.consent` stores it
(a published format: keys never change). Parsing is strict: a reference in any other form is
refused, naming its field, and nothing is recorded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TypedDict

from domain.clock import format_rfc3339, parse_rfc3339
from domain.errors import InvalidFields, ValidationError
from domain.limits import CONSENT_TEXT_VERSION_LENGTH

# The patterns the API's models use too (api/models.py ConsentIn).
TRUSTEDFORM_CERT_URL_PATTERN = r"^https://cert\.trustedform\.com/[0-9a-f]{40}$"
JORNAYA_LEADID_PATTERN = (
    r"^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$"  # LeadiD tokens: upper
)
_V = CONSENT_TEXT_VERSION_LENGTH
TEXT_VERSION_PATTERN = rf"^[A-Za-z0-9][A-Za-z0-9._:\-]{{{_V.minimum - 1},{_V.maximum - 1}}}$"
FIELDS = ("trustedform_cert_url", "jornaya_leadid", "text_version", "consented_at")
# Flat parameters (a Twilio webhook's, an RTB ping's) → the consent's fields
FLAT_PARAMETERS = {
    "trustedform_cert_url": "trustedform_cert_url",
    "jornaya_leadid": "jornaya_leadid",
    "consent_text_version": "text_version",
    "consented_at": "consented_at",
}
_CHECKS = {
    "trustedform_cert_url": (
        re.compile(TRUSTEDFORM_CERT_URL_PATTERN),
        "https://cert.trustedform.com/ and 40 lowercase hex digits",
    ),
    "jornaya_leadid": (
        re.compile(JORNAYA_LEADID_PATTERN),
        "a LeadiD token: 8-4-4-4-12 uppercase hex digits",
    ),
    "text_version": (
        re.compile(TEXT_VERSION_PATTERN),
        f"letters, digits, . _ : - (up to {_V.maximum})",
    ),
}


class ConsentJson(TypedDict):
    """A consent as `Call.PingReceived.consent` stores it (absent references are null)."""

    trustedform_cert_url: str | None
    jornaya_leadid: str | None
    text_version: str | None
    consented_at: str | None  # RFC 3339, UTC


@dataclass(frozen=True, slots=True)
class Consent:
    trustedform_cert_url: str | None
    jornaya_leadid: str | None
    text_version: str | None
    consented_at: datetime | None

    def to_json(self) -> ConsentJson:
        return {
            "trustedform_cert_url": self.trustedform_cert_url,
            "jornaya_leadid": self.jornaya_leadid,
            "text_version": self.text_version,
            "consented_at": None
            if self.consented_at is None
            else format_rfc3339(self.consented_at),
        }

    @classmethod
    def parse(cls, given: Mapping[str, object], prefix: str = "consent.") -> Consent:
        """A consent from its fields (each a string, or absent); every bad field is named
        (`prefix` + its name). A TrustedForm certificate or a LeadiD is required: the other
        two fields describe a consent, they are no evidence of one."""
        errors: list[ValidationError] = []
        values: dict[str, str | None] = {}
        for name in FIELDS:
            value = given.get(name)
            if value is not None and not isinstance(value, str):
                errors.append(ValidationError(f"{name} must be a string", field=prefix + name))
            elif value is not None and name in _CHECKS and not _CHECKS[name][0].fullmatch(value):
                errors.append(
                    ValidationError(f"{name} must be {_CHECKS[name][1]}", field=prefix + name)
                )
            else:
                values[name] = value
        unknown = sorted(set(given) - set(FIELDS))
        errors.extend(ValidationError("unknown field", field=prefix + n) for n in unknown)
        at = None
        if values.get("consented_at") is not None:
            try:
                at = parse_rfc3339(values["consented_at"], prefix + "consented_at")
            except ValidationError as error:
                errors.append(error)
        if not errors and not (values.get("trustedform_cert_url") or values.get("jornaya_leadid")):
            errors.append(
                ValidationError(
                    "a consent names a trustedform_cert_url or a jornaya_leadid",
                    field=prefix + "trustedform_cert_url",
                )
            )
        if errors:
            raise InvalidFields(errors)
        return cls(
            values.get("trustedform_cert_url"),
            values.get("jornaya_leadid"),
            values.get("text_version"),
            at,
        )

    @classmethod
    def from_parameters(cls, params: Mapping[str, object]) -> Consent | None:
        """A consent from flat parameters (`FLAT_PARAMETERS`; an empty value is absent), or
        None when none is given."""
        given = {
            field: params[name]
            for name, field in FLAT_PARAMETERS.items()
            if params.get(name) not in (None, "")
        }
        if not given:
            return None
        errors: list[ValidationError] = []
        try:
            return cls.parse(given, prefix="")
        except InvalidFields as invalid:  # name the parameters as they were sent
            flat = {field: name for name, field in FLAT_PARAMETERS.items()}
            for error in invalid.errors:
                errors.append(ValidationError(error.message, field=flat.get(error.field or "")))
        raise InvalidFields(errors)
