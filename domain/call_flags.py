"""Traffic quality (pure): the flags a completed call carries.

* `buzzer_beater`: answered, ended by the buyer's side (`ended_by` "buyer"), and its duration
  falls within the campaign's margin before the buffer: `buffer_s - margin_s <= duration_s <
  buffer_s` — the market's "buzzer beating", cutting a call short to avoid paying for it;
* `short_call`: answered and shorter than the campaign's `short_call_s`.

A call whose end is not known to be the buyer's (`ended_by` None: the telephony did not say)
is never a buzzer-beater. The same function decides live (`CallHandlers.complete_call`, which
records `Call.CallFlagged` when any flag is set) and in the replay audit, which re-runs it for
every completed call with the campaign's rules in force then.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.invariant import invariant
from domain.limits import BUZZER_MARGIN_S, SHORT_CALL_S

# the version of this decision `Call.CallFlagged` names (bumped when `flags_of` decides otherwise)
CALL_FLAGS_RULES_VERSION = 1
CALL_FLAGS_RULES_VERSIONS = (1,)


class EndedBy(StrEnum):
    """Which side hung up first, as the telephony reports it."""

    CALLER = "caller"
    BUYER = "buyer"


ENDED_BY = tuple(EndedBy)


class CallFlag(StrEnum):
    BUZZER_BEATER = "buzzer_beater"
    SHORT_CALL = "short_call"


@dataclass(frozen=True, slots=True)
class FlagRules:
    """A campaign's flag rules (`Campaign.buzzer_margin_s`, `short_call_s`)."""

    margin_s: int = BUZZER_MARGIN_S.default or 0
    short_call_s: int = SHORT_CALL_S.default or 0

    def __post_init__(self) -> None:
        invariant(self.margin_s in BUZZER_MARGIN_S, "a buzzer margin within its bounds")
        invariant(self.short_call_s in SHORT_CALL_S, "a short-call bound within its bounds")


@dataclass(frozen=True, slots=True)
class FlagDecision:
    """What `Call.CallFlagged` records: the flags and every input that decided them."""

    flags: tuple[CallFlag, ...]
    ended_by: str | None
    duration_s: int
    buffer_s: int
    margin_s: int
    short_call_s: int
    rule_version: int = CALL_FLAGS_RULES_VERSION

    @property
    def buzzer_beater(self) -> bool:
        return CallFlag.BUZZER_BEATER in self.flags


def flags_of(
    *,
    answered: bool,
    duration_s: int,
    buffer_s: int,
    ended_by: str | None,
    rules: FlagRules,
) -> tuple[CallFlag, ...]:
    """The flags of a completed call, in `CallFlag` order (empty: none)."""
    found: list[CallFlag] = []
    if not answered:
        return ()
    if ended_by == EndedBy.BUYER and buffer_s - rules.margin_s <= duration_s < buffer_s:
        found.append(CallFlag.BUZZER_BEATER)
    if duration_s < rules.short_call_s:
        found.append(CallFlag.SHORT_CALL)
    return tuple(found)


def decide(
    *,
    answered: bool,
    duration_s: int,
    buffer_s: int,
    ended_by: str | None,
    rules: FlagRules,
) -> FlagDecision:
    """`flags_of` with the inputs it read, as the event records them."""
    flags = flags_of(
        answered=answered,
        duration_s=duration_s,
        buffer_s=buffer_s,
        ended_by=ended_by,
        rules=rules,
    )
    return FlagDecision(flags, ended_by, duration_s, buffer_s, rules.margin_s, rules.short_call_s)
