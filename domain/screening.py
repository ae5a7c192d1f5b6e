"""Screening before the auction (pure): robocall and spam screens on a ping's caller.

A ping whose caller has a number is screened before any auction work:

- **the number** (always): a number that is not even possible for its country (a wrong
  length: `invalid_number`) or possible but not in the numbering plan (an unassigned area
  code or exchange: `unassignable_number`) is refused — the `phonenumbers` library's
  `is_possible_number` and `is_valid_number`. A malformed number (not E.164 as written,
  unparseable) never gets here: the API refuses it with a 422.
- **the line type** (the campaign's choice): a `premium_rate` caller where the campaign sets
  `exclude_premium_rate`, a `toll_free` one where it sets `exclude_toll_free`.
- **velocity** (the campaign's choice, `velocity`): the same caller (its keyed hash) pinged
  `calls` times or more, across every campaign, within the last `window_s` seconds.

The inputs are recorded facts, never the number: the number's classification
(`CallerLine`), the velocity count the exchange saw (`VelocitySeen`) and the campaign's
settings at the version it screened with. `screen()` decides live and in the replay audit,
so every refusal (`Call.PingScreened`) and every accepted ping is re-derivable from the log;
`SCREENING_RULES_VERSION` names this decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

import phonenumbers

from domain.errors import InvalidFields, ValidationError
from domain.limits import VELOCITY_CALLS, VELOCITY_WINDOW_S

SCREENING_RULES_VERSION = 1


class Screen(StrEnum):
    """The screen that refused a ping (`PingScreened.screen`, the ping's answer `screen`)."""

    INVALID_NUMBER = "invalid_number"  # not a possible number for its country
    UNASSIGNABLE_NUMBER = "unassignable_number"  # possible, but not in the numbering plan
    PREMIUM_RATE = "premium_rate"  # a premium-rate caller, the campaign excludes them
    TOLL_FREE = "toll_free"  # a toll-free caller, the campaign excludes them
    VELOCITY = "velocity"  # the same caller too often across campaigns


class LineType(StrEnum):
    """The `phonenumbers` library's number types, as recorded (`unknown` for any number
    that is not valid)."""

    FIXED_LINE = "fixed_line"
    MOBILE = "mobile"
    FIXED_LINE_OR_MOBILE = "fixed_line_or_mobile"
    TOLL_FREE = "toll_free"
    PREMIUM_RATE = "premium_rate"
    SHARED_COST = "shared_cost"
    VOIP = "voip"
    PERSONAL_NUMBER = "personal_number"
    PAGER = "pager"
    UAN = "uan"
    VOICEMAIL = "voicemail"
    UNKNOWN = "unknown"


_LINE_TYPES = {
    phonenumbers.PhoneNumberType.FIXED_LINE: LineType.FIXED_LINE,
    phonenumbers.PhoneNumberType.MOBILE: LineType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE: LineType.FIXED_LINE_OR_MOBILE,
    phonenumbers.PhoneNumberType.TOLL_FREE: LineType.TOLL_FREE,
    phonenumbers.PhoneNumberType.PREMIUM_RATE: LineType.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.SHARED_COST: LineType.SHARED_COST,
    phonenumbers.PhoneNumberType.VOIP: LineType.VOIP,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER: LineType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.PAGER: LineType.PAGER,
    phonenumbers.PhoneNumberType.UAN: LineType.UAN,
    phonenumbers.PhoneNumberType.VOICEMAIL: LineType.VOICEMAIL,
}


class CallerLineJson(TypedDict):
    """A caller's number classified, as `ScreeningJson.line` stores it."""

    possible: bool
    valid: bool
    line_type: str  # a LineType
    region: str | None  # the library's region code (None when the number is not valid)


@dataclass(frozen=True, slots=True)
class CallerLine:
    """What screening knows of a caller's number: facts, never the number."""

    possible: bool
    valid: bool
    line_type: LineType
    region: str | None

    def to_json(self) -> CallerLineJson:
        return {
            "possible": self.possible,
            "valid": self.valid,
            "line_type": self.line_type.value,
            "region": self.region,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallerLine:
        return cls(
            bool(data["possible"]),
            bool(data["valid"]),
            LineType(data["line_type"]),
            data["region"],
        )


def classify(parsed: phonenumbers.PhoneNumber) -> CallerLine:
    """A parsed number's facts: possible (its length fits its country), valid (in the plan),
    its line type and region (only for a valid number).

    Valid is `number_type` not UNKNOWN: what `is_valid_number` computes (the number's own
    region's metadata, the same type match), without matching the number twice on the ping's
    path (a unit test holds the two equal)."""
    if not phonenumbers.is_possible_number(parsed):
        return CallerLine(False, False, LineType.UNKNOWN, None)
    region = phonenumbers.region_code_for_number(parsed)
    found = phonenumbers.number_type(parsed) if region else phonenumbers.PhoneNumberType.UNKNOWN
    if found == phonenumbers.PhoneNumberType.UNKNOWN:
        return CallerLine(True, False, LineType.UNKNOWN, None)
    return CallerLine(True, True, _LINE_TYPES.get(found, LineType.UNKNOWN), str(region))


# -- a campaign's settings -------------------------------------------------------------------


class VelocityJson(TypedDict):
    """A campaign's velocity rule as stored (`Campaign.velocity`; calls 0: off)."""

    calls: int
    window_s: int


@dataclass(frozen=True, slots=True)
class VelocityRule:
    calls: int  # 0: off
    window_s: int

    @property
    def on(self) -> bool:
        return self.calls > 0

    def to_dict(self) -> VelocityJson:
        return {"calls": self.calls, "window_s": self.window_s}

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any] | None) -> VelocityRule:
        """A stored rule (None: never set, the default: off)."""
        if stored is None:
            return VELOCITY_DEFAULT
        return cls(int(stored["calls"]), int(stored["window_s"]))


VELOCITY_DEFAULT = VelocityRule(
    VELOCITY_CALLS.default or 0, VELOCITY_WINDOW_S.default or VELOCITY_WINDOW_S.minimum
)


def parse_velocity(given: object, field: str = "velocity") -> VelocityRule:
    """Raw input → a velocity rule: `{"calls": n, "window_s": s}`, each bounded (calls 0:
    off); InvalidFields naming each bad part."""
    if not isinstance(given, Mapping) or set(given) != {"calls", "window_s"}:
        raise ValidationError("velocity is {calls: int, window_s: int}", field=field)
    errors = [
        ValidationError(
            f"{name} must be a whole number from {bound.minimum} to {bound.maximum}",
            field=f"{field}.{name}",
        )
        for name, bound in (("calls", VELOCITY_CALLS), ("window_s", VELOCITY_WINDOW_S))
        if isinstance(given[name], bool) or given[name] not in bound
    ]
    if errors:
        raise InvalidFields(errors)
    return VelocityRule(given["calls"], given["window_s"])


@dataclass(frozen=True, slots=True)
class ScreeningSettings:
    """A campaign's screens (its rule attributes; the defaults for a campaign that never set
    them)."""

    exclude_toll_free: bool = False
    exclude_premium_rate: bool = False
    velocity: VelocityRule = VELOCITY_DEFAULT

    @classmethod
    def of_rules(cls, rules: Mapping[str, Any]) -> ScreeningSettings:
        """From a campaign's stored rule fields (`Created` and `RulesChanged` merged)."""
        return cls(
            bool(rules.get("exclude_toll_free", False)),
            bool(rules.get("exclude_premium_rate", False)),
            VelocityRule.from_dict(rules.get("velocity")),
        )


SCREENING_DEFAULTS = ScreeningSettings()


# -- the facts recorded and the decision -----------------------------------------------------


class VelocitySeenJson(TypedDict):
    """What the exchange counted: at `at_ms` (the ping's arrival, epoch ms), `count` earlier
    pings of the caller within the campaign's `window_s` (0 and 0 when its velocity is off;
    the ping is counted for other campaigns all the same)."""

    at_ms: int
    count: int
    calls: int
    window_s: int


@dataclass(frozen=True, slots=True)
class VelocitySeen:
    at_ms: int
    count: int
    calls: int  # the campaign's rule it was counted for (0: off)
    window_s: int

    def to_json(self) -> VelocitySeenJson:
        return {
            "at_ms": self.at_ms,
            "count": self.count,
            "calls": self.calls,
            "window_s": self.window_s,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VelocitySeen:
        return cls(
            int(data["at_ms"]), int(data["count"]), int(data["calls"]), int(data["window_s"])
        )


class ScreeningJson(TypedDict):
    """The facts a ping was screened on (`PingReceived.screening`; `PingScreened.facts`)."""

    rule_version: int
    campaign_version: int  # whose settings it was screened with
    line: CallerLineJson
    velocity: VelocitySeenJson | None  # None: not counted (screening stopped at the number)


@dataclass(frozen=True, slots=True)
class Refusal:
    screen: Screen
    reason: str  # for people: what was seen


def screen(
    line: CallerLine, velocity: VelocitySeen | None, settings: ScreeningSettings
) -> Refusal | None:
    """The first screen that refuses the ping, in a fixed order (the number, its line type,
    velocity), or None: it passes. `velocity` None: not counted (only the number's screens
    apply)."""
    if not line.possible:
        return Refusal(Screen.INVALID_NUMBER, "the number is not a possible number")
    if not line.valid:
        return Refusal(Screen.UNASSIGNABLE_NUMBER, "the number is not in the numbering plan")
    if settings.exclude_premium_rate and line.line_type == LineType.PREMIUM_RATE:
        return Refusal(Screen.PREMIUM_RATE, "the campaign excludes premium-rate callers")
    if settings.exclude_toll_free and line.line_type == LineType.TOLL_FREE:
        return Refusal(Screen.TOLL_FREE, "the campaign excludes toll-free callers")
    rule = settings.velocity
    if velocity is not None and rule.on and velocity.count >= rule.calls:
        return Refusal(
            Screen.VELOCITY,
            f"the caller was pinged {velocity.count} times within {rule.window_s} s "
            f"(the campaign allows {rule.calls})",
        )
    return None


def number_refusal(line: CallerLine) -> Refusal | None:
    """The number's own screens (no campaign setting): refused before anything is counted."""
    return screen(line, None, SCREENING_DEFAULTS)


def velocity_count(times_ms: list[int], at_ms: int, window_s: int) -> int:
    """How many of the caller's earlier pings (`times_ms`, any order) fall within the window
    ending at `at_ms`: `at_ms - window_s × 1000 < t ≤ at_ms` — what the Redis script counts."""
    start = at_ms - window_s * 1000
    return sum(1 for t in times_ms if start < t <= at_ms)
