"""Traffic quality (pure): when a target that leaves calls unanswered is paused.

A target counts its unanswered calls (a routed call that ended without `CallAnswered`: billed
`not_answered`) as `Target.CallUnanswered` events; each rule says "`unanswered` calls within
`window_s` seconds". After each unanswered call the rules are checked in order against the
target's recent unanswered calls; the first met pauses it (`Target.AutoPaused`, naming the rule,
the calls counted and `AUTO_PAUSE_RULES_VERSION`). The same function decides live and in the
replay audit, so a pause is re-derivable from the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from domain.errors import InvalidFields, ValidationError
from domain.limits import (
    AUTO_PAUSE_RULES_DEFAULT,
    AUTO_PAUSE_RULES_MAX,
    AUTO_PAUSE_UNANSWERED,
    AUTO_PAUSE_WINDOW_S,
)

# the version of this decision the events name (bumped when `tripped` decides otherwise)
AUTO_PAUSE_RULES_VERSION = 1
# a target keeps at most this many recent unanswered calls (enough for any rule)
UNANSWERED_KEPT_MAX = AUTO_PAUSE_UNANSWERED.maximum


@dataclass(frozen=True, slots=True)
class AutoPauseRule:
    unanswered: int
    window_s: int

    def to_dict(self) -> dict[str, int]:
        return {"unanswered": self.unanswered, "window_s": self.window_s}

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> AutoPauseRule:
        return cls(int(stored["unanswered"]), int(stored["window_s"]))


DEFAULT_RULES: tuple[AutoPauseRule, ...] = tuple(
    AutoPauseRule(n, s) for n, s in AUTO_PAUSE_RULES_DEFAULT
)


@dataclass(frozen=True, slots=True)
class Unanswered:
    """One unanswered call a target counts (stored as `[call_id, iso time]`)."""

    call_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Tripped:
    rule: AutoPauseRule
    call_ids: tuple[str, ...]

    @property
    def reason(self) -> str:
        return f"{self.rule.unanswered} calls unanswered within {self.rule.window_s} s"


def rules_of(stored: Sequence[Mapping[str, Any]] | None) -> tuple[AutoPauseRule, ...]:
    """A target's rules as stored (`auto_pause`; None: never set, the defaults)."""
    if stored is None:
        return DEFAULT_RULES
    return tuple(AutoPauseRule.from_dict(r) for r in stored)


def parse_rules(given: object, field: str = "auto_pause") -> tuple[AutoPauseRule, ...]:
    """Raw input → rules: a list (at most `AUTO_PAUSE_RULES_MAX`; empty: never pause) of
    `{"unanswered": n, "window_s": s}`, each bounded; InvalidFields naming each bad one."""
    if not isinstance(given, list):
        raise ValidationError("auto_pause must be a list of rules", field=field)
    if len(given) > AUTO_PAUSE_RULES_MAX:
        raise ValidationError(f"auto_pause has at most {AUTO_PAUSE_RULES_MAX} rules", field=field)
    errors: list[ValidationError] = []
    rules: list[AutoPauseRule] = []
    for i, rule in enumerate(given):
        where = f"{field}.{i}"
        if not isinstance(rule, Mapping) or set(rule) != {"unanswered", "window_s"}:
            errors.append(
                ValidationError("a rule is {unanswered: int, window_s: int}", field=where)
            )
            continue
        bad = False
        for name, bound in (
            ("unanswered", AUTO_PAUSE_UNANSWERED),
            ("window_s", AUTO_PAUSE_WINDOW_S),
        ):
            value = rule[name]
            if isinstance(value, bool) or value not in bound:
                bad = True
                errors.append(
                    ValidationError(
                        f"{name} must be a whole number from {bound.minimum} to {bound.maximum}",
                        field=f"{where}.{name}",
                    )
                )
        if not bad:
            rules.append(AutoPauseRule(rule["unanswered"], rule["window_s"]))
    if errors:
        raise InvalidFields(errors)
    return tuple(rules)


def kept(recent: Sequence[Unanswered], now: datetime) -> list[Unanswered]:
    """The unanswered calls a target keeps at `now`: those within the longest window any rule
    may have, the newest `UNANSWERED_KEPT_MAX`."""
    since = now - timedelta(seconds=AUTO_PAUSE_WINDOW_S.maximum)
    return [u for u in recent if u.at > since][-UNANSWERED_KEPT_MAX:]


def tripped(
    rules: Sequence[AutoPauseRule], recent: Sequence[Unanswered], now: datetime
) -> Tripped | None:
    """The first rule the recent unanswered calls (oldest first, the latest at `now`) meet,
    with the calls it counted; None when none is met."""
    for rule in rules:
        since = now - timedelta(seconds=rule.window_s)
        within = [u.call_id for u in recent if u.at > since]
        if len(within) >= rule.unanswered:
            return Tripped(rule, tuple(within[-rule.unanswered :]))
    return None
