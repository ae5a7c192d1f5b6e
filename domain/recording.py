"""Call recordings and the whisper (issue 24, items 1 and 3): a campaign's recording rule, a
target's whisper, the recordings store's keys, retention, and who may listen. Pure.

A campaign that records says its disclosure to the caller before the transfer and dials with
`record`; Twilio reports the finished recording (`RecordingSid`), PPCX fetches it from Twilio's
API, stores it under a key made of ids only (`<call_id>/<recording_id>.wav`) and records
`Call.CallRecorded` with its SHA-256, so replay can prove the stored bytes were not swapped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from domain import validate
from domain.api_key import Role
from domain.errors import ValidationError
from domain.ids import derived_id, require_id
from domain.limits import (
    RECORDING_DISCLOSURE_LENGTH,
    RECORDING_RETENTION_DAYS,
    WHISPER_LENGTH,
)

# Twilio's recording id: "RE" and 32 hex digits (the only part of a callback PPCX uses to
# build the URL it fetches: never the callback's RecordingUrl)
RECORDING_SID_RE = re.compile(r"RE[0-9a-f]{32}")
SHA256_RE = re.compile(r"[0-9a-f]{64}")
# the audio types PPCX stores, and the key's extension of each
EXTENSIONS: Mapping[str, str] = {"audio/wav": "wav", "audio/mpeg": "mp3"}
_KEY_RE = re.compile(r"call_[0-9a-f]{32}/rec_[0-9a-f]{32}\.(wav|mp3)")
RETENTION_REASON = "retention"  # `RecordingDeleted.reason` of the retention sweep
DISCLOSURE_DEFAULT = "This call may be recorded for quality and compliance."


class DeletionReason(StrEnum):
    RETENTION = RETENTION_REASON


@dataclass(frozen=True, slots=True)
class RecordingRule:
    """A campaign's `recording` rule, as `Campaign.RulesChanged` stores it."""

    enabled: bool
    disclosure: str
    retention_days: int
    publisher_access: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "disclosure": self.disclosure,
            "retention_days": self.retention_days,
            "publisher_access": self.publisher_access,
        }

    @classmethod
    def of(cls, stored: Mapping[str, Any] | None) -> RecordingRule | None:
        """The rule a campaign stores (None: it never set one: calls are not recorded)."""
        if stored is None:
            return None
        return cls(
            bool(stored["enabled"]),
            str(stored["disclosure"]),
            int(stored["retention_days"]),
            bool(stored["publisher_access"]),
        )


def parse_recording_rule(value: object) -> RecordingRule:
    """`{"enabled", "disclosure", "retention_days", "publisher_access"}` → the rule; each
    field but `enabled` has a default; a bad one raises `ValidationError` naming it."""
    if not isinstance(value, Mapping):
        raise ValidationError("recording must be an object", field="recording")
    unknown = set(value) - {"enabled", "disclosure", "retention_days", "publisher_access"}
    if unknown:
        raise ValidationError(
            f"recording has no field {sorted(unknown)[0]!r}", field=f"recording.{min(unknown)}"
        )
    if "enabled" not in value:
        raise ValidationError("recording.enabled is required", field="recording.enabled")
    disclosure = value.get("disclosure", DISCLOSURE_DEFAULT)
    return RecordingRule(
        validate.boolean(value["enabled"], "recording.enabled"),
        _spoken(disclosure, "recording.disclosure", RECORDING_DISCLOSURE_LENGTH.maximum),
        validate.integer(
            value.get("retention_days", RECORDING_RETENTION_DAYS.default),
            "recording.retention_days",
            RECORDING_RETENTION_DAYS,
        ),
        validate.boolean(value.get("publisher_access", False), "recording.publisher_access"),
    )


def parse_whisper(value: object) -> str | None:
    """A target's whisper: the words its agent hears before being connected ("" clears it:
    None, no whisper)."""
    if value == "":
        return None
    return _spoken(value, "whisper", WHISPER_LENGTH.maximum)


def _spoken(value: object, field: str, length_max: int) -> str:
    """Words Twilio says: printable, not blank, at most `length_max` characters."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(value) > length_max or not value.isprintable():
        raise ValidationError(
            f"{field} must be at most {length_max} printable characters", field=field
        )
    return value


def parse_recording_sid(value: object) -> str:
    if not isinstance(value, str) or RECORDING_SID_RE.fullmatch(value) is None:
        raise ValidationError("RecordingSid must be RE and 32 hex digits", field="RecordingSid")
    return value


def recording_id(call_id: str, recording_sid: str) -> str:
    """The recording's id: derived from the call and Twilio's id (a retried callback names
    the same recording)."""
    return derived_id("rec", call_id, recording_sid)


def recording_key(call_id: str, recording_id: str, content_type: str) -> str:
    """The recording's key in the store (`CallRecorded.location`): ids only, never user text."""
    require_id(call_id, "call", "call_id")
    require_id(recording_id, "rec", "recording_id")
    extension = EXTENSIONS.get(content_type)
    if extension is None:
        raise ValidationError(f"a recording is not stored as {content_type!r}", field="type")
    return f"{call_id}/{recording_id}.{extension}"


def is_recording_key(key: str) -> bool:
    """Whether `key` is one `recording_key` makes (the stores refuse any other)."""
    return _KEY_RE.fullmatch(key) is not None


def retention_ends(recorded_at: datetime, retention_days: int) -> datetime:
    return recorded_at + timedelta(days=retention_days)


@dataclass(frozen=True, slots=True)
class Recording:
    """A recording as the call knows it (`Call.recordings`)."""

    recording_id: str
    sha256: str
    duration_s: int
    size_bytes: int
    location: str
    content_type: str
    deleted: bool = False


def may_listen(
    role: str,
    owner_id: str | None,
    *,
    publisher_id: str,
    routed_buyer_id: str | None,
    publisher_access: bool,
) -> bool:
    """Who may fetch a call's recording: admin and finance; the buyer the call was routed to
    (the winner of its last attempt); the call's publisher when its campaign allows it."""
    if role in (Role.ADMIN, Role.FINANCE):
        return True
    if role == Role.BUYER:
        return routed_buyer_id is not None and owner_id == routed_buyer_id
    if role == Role.PUBLISHER:
        return publisher_access and owner_id == publisher_id
    return False
