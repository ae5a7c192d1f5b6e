"""IVR qualification (pure): the questions a campaign asks a caller before its auction, the
rule that judges each answer, and the tags a target may require on a ping.

A campaign's `ivr` setting is an `IvrScript`: up to `IVR_QUESTIONS_MAX` questions, each asked
with Twilio's `<Gather>` (keypad digits or speech), and what happens to a caller who fails one
(`on_fail`: a polite hang-up, or a fallback number). `judge` decides one answer: it passes when
it is one of the question's accepted answers — digits exactly, speech as a normalised,
lower-case word match (an accepted phrase's words appear in the answer's, in order and next to
each other) — and a passed question puts its `tag` = `tag_value` on the ping. The same function
decides live and in `replay verify` (`Call.QualificationFailed` names `IVR_RULES_VERSION`).

What is kept of a failed answer (`Verdict.kept`, the event's `answer`): keypad digits, when
they are at most `IVR_DIGITS_LENGTH.maximum` keypad characters (a longer entry fails anyway,
and may be an account or a card number: it is not kept); never what a caller said (free speech
may hold a name, an address or a condition: only that it did not match is recorded). A kept
answer judged again fails again; so does None.

A target's `requires_tags` is a mapping of tag name to the value it requires, or to None for
any value (given as a list of names, or as an object); a ping lacking one is not for it
(`satisfies`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from domain.errors import InvalidFields, ValidationError
from domain.geo import parse_e164
from domain.limits import (
    IVR_ACCEPTS,
    IVR_DIGITS_LENGTH,
    IVR_MESSAGE_LENGTH,
    IVR_PHRASE_LENGTH,
    IVR_PROMPT_LENGTH,
    IVR_QUESTIONS_MAX,
    IVR_TIMEOUT_S,
    REQUIRED_TAGS_MAX,
    TAG_KEY_LENGTH,
    TAG_VALUE_LENGTH_MAX,
)
from domain.validate import SLUG_PATTERN

# the version of `judge` the events name (bumped when it decides otherwise)
IVR_RULES_VERSION = 1
TAG_VALUE_DEFAULT = "yes"
HANGUP_MESSAGE_DEFAULT = "Thank you for calling. We cannot take your call. Goodbye."
_QUESTION_ID_RE = re.compile(SLUG_PATTERN)
_TAG_KEY_RE = re.compile(rf"[A-Za-z0-9_.\-]{{{TAG_KEY_LENGTH.minimum},{TAG_KEY_LENGTH.maximum}}}")
_DIGITS_RE = re.compile(rf"[0-9*#]{{{IVR_DIGITS_LENGTH.minimum},{IVR_DIGITS_LENGTH.maximum}}}")
_WORD_RE = re.compile(r"[^\W_]+")  # letters and digits of any script
_QUESTION_KEYS = frozenset({"id", "prompt", "input", "accept", "tag", "tag_value", "timeout_s"})
_ON_FAIL_KEYS = frozenset({"action", "fallback_number", "message"})


class InputKind(StrEnum):
    """How a question is answered (`<Gather input=…>`)."""

    DTMF = "dtmf"
    SPEECH = "speech"


class FailAction(StrEnum):
    """What happens to a caller who fails a question (`QualificationFailed.action`)."""

    HANGUP = "hangup"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    prompt: str
    input: InputKind
    accept: tuple[str, ...]  # digits, or phrases (stored normalised: lower-case words)
    tag: str
    tag_value: str
    timeout_s: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "input": self.input.value,
            "accept": list(self.accept),
            "tag": self.tag,
            "tag_value": self.tag_value,
            "timeout_s": self.timeout_s,
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> Question:
        return cls(
            stored["id"],
            stored["prompt"],
            InputKind(stored["input"]),
            tuple(stored["accept"]),
            stored["tag"],
            stored["tag_value"],
            int(stored["timeout_s"]),
        )

    @property
    def digits_max(self) -> int:
        """The longest accepted keypad answer (`<Gather numDigits>`)."""
        return max(len(a) for a in self.accept)


@dataclass(frozen=True, slots=True)
class OnFail:
    action: FailAction
    fallback_number: str | None  # E.164, for `fallback`
    message: str | None  # said before hanging up (or before the fallback's dial)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "fallback_number": self.fallback_number,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> OnFail:
        return cls(FailAction(stored["action"]), stored["fallback_number"], stored["message"])


HANG_UP = OnFail(FailAction.HANGUP, None, None)


@dataclass(frozen=True, slots=True)
class IvrScript:
    """A campaign's qualification: its questions in order, and what a failure does. No
    questions: the campaign asks nothing (stored as no setting at all)."""

    questions: tuple[Question, ...]
    on_fail: OnFail = HANG_UP

    def to_dict(self) -> dict[str, Any]:
        return {
            "questions": [q.to_dict() for q in self.questions],
            "on_fail": self.on_fail.to_dict(),
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> IvrScript:
        return cls(
            tuple(Question.from_dict(q) for q in stored["questions"]),
            OnFail.from_dict(stored["on_fail"]),
        )

    @classmethod
    def of(cls, stored: Mapping[str, Any] | None) -> IvrScript | None:
        """The script a campaign's stored `ivr` setting holds (None: it asks nothing)."""
        if not stored or not stored.get("questions"):
            return None
        return cls.from_dict(stored)

    def stored(self) -> dict[str, Any] | None:
        """The form `Campaign.ivr` keeps (None for a script without questions)."""
        return self.to_dict() if self.questions else None

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One answer judged: passed (the tag it sets) or failed (what of the answer is kept)."""

    passed: bool
    tag: tuple[str, str] | None  # (name, value) when passed
    kept: str | None  # the answer as the failure records it (see the module's docstring)


# -- the rule -----------------------------------------------------------------------------------


def words(text: str) -> tuple[str, ...]:
    """Lower-case words (letters and digits); punctuation and spacing are not words."""
    return tuple(_WORD_RE.findall(text.casefold()))


def _contains(haystack: Sequence[str], needle: Sequence[str]) -> bool:
    n = len(needle)
    return n > 0 and any(tuple(haystack[i : i + n]) == tuple(needle) for i in range(len(haystack)))


def judge(question: Question, answer: str | None) -> Verdict:
    """The answer (Twilio's `Digits` or `SpeechResult`; None or empty: no answer) to
    `question`: passed when it is accepted."""
    if question.input == InputKind.DTMF:
        digits = (answer or "").strip()
        if digits in question.accept:
            return Verdict(True, (question.tag, question.tag_value), None)
        kept = digits if _DIGITS_RE.fullmatch(digits) else None
        return Verdict(False, None, kept)
    said = words(answer or "")
    if any(_contains(said, phrase.split()) for phrase in question.accept):
        return Verdict(True, (question.tag, question.tag_value), None)
    return Verdict(False, None, None)


# -- the setting, parsed --------------------------------------------------------------------------


class _Errors:
    def __init__(self) -> None:
        self.found: list[ValidationError] = []

    def add(self, message: str, field: str) -> None:
        self.found.append(ValidationError(message, field=field))


def _text(value: object, field: str, bounds_max: int, errors: _Errors) -> str | None:
    if not isinstance(value, str) or not value.strip():
        errors.add(f"{field} must be non-empty text", field)
        return None
    if len(value) > bounds_max or not value.isprintable():
        errors.add(f"{field} must be at most {bounds_max} printable characters", field)
        return None
    return value


def _accepts(value: object, kind: InputKind | None, field: str, errors: _Errors) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) not in IVR_ACCEPTS:
        errors.add(
            f"{field} must be a list of {IVR_ACCEPTS.minimum} to {IVR_ACCEPTS.maximum} answers",
            field,
        )
        return ()
    accepted: list[str] = []
    for n, item in enumerate(value):
        at = f"{field}.{n}"
        if kind == InputKind.DTMF:
            if not isinstance(item, str) or not _DIGITS_RE.fullmatch(item):
                errors.add(
                    f"{at} must be 1 to {IVR_DIGITS_LENGTH.maximum} keypad characters (0-9 * #)",
                    at,
                )
                continue
            accepted.append(item)
        elif kind == InputKind.SPEECH:
            phrase = words(item) if isinstance(item, str) else ()
            if not isinstance(item, str) or not phrase or len(item) > IVR_PHRASE_LENGTH.maximum:
                errors.add(
                    f"{at} must be a phrase of at most {IVR_PHRASE_LENGTH.maximum} characters "
                    "with a word in it",
                    at,
                )
                continue
            accepted.append(" ".join(phrase))
    return tuple(dict.fromkeys(accepted))


def _question(given: object, field: str, errors: _Errors) -> Question | None:
    if not isinstance(given, Mapping):
        errors.add(f"{field} must be an object", field)
        return None
    before = len(errors.found)
    for unknown in sorted(set(given) - _QUESTION_KEYS):
        errors.add("unknown field", f"{field}.{unknown}")
    qid = given.get("id")
    if not isinstance(qid, str) or not _QUESTION_ID_RE.fullmatch(qid):
        errors.add(f"{field}.id must be lower-case letters, digits and _", f"{field}.id")
    prompt = _text(given.get("prompt"), f"{field}.prompt", IVR_PROMPT_LENGTH.maximum, errors)
    kind_given = given.get("input", InputKind.DTMF.value)
    kind = InputKind(kind_given) if kind_given in tuple(InputKind) else None
    if kind is None:
        errors.add(f"{field}.input must be dtmf or speech", f"{field}.input")
    accept = _accepts(given.get("accept"), kind, f"{field}.accept", errors)
    tag = given.get("tag")
    if not isinstance(tag, str) or not _TAG_KEY_RE.fullmatch(tag):
        errors.add(
            f"{field}.tag must be 1 to {TAG_KEY_LENGTH.maximum} of A-Z a-z 0-9 _ . -",
            f"{field}.tag",
        )
    tag_value = given.get("tag_value", TAG_VALUE_DEFAULT)
    if not isinstance(tag_value, str) or len(tag_value) > TAG_VALUE_LENGTH_MAX:
        errors.add(
            f"{field}.tag_value must be text of at most {TAG_VALUE_LENGTH_MAX} characters",
            f"{field}.tag_value",
        )
    timeout_s = given.get("timeout_s", IVR_TIMEOUT_S.default)
    if isinstance(timeout_s, bool) or timeout_s not in IVR_TIMEOUT_S:
        errors.add(
            f"{field}.timeout_s must be between {IVR_TIMEOUT_S.minimum} and "
            f"{IVR_TIMEOUT_S.maximum}",
            f"{field}.timeout_s",
        )
    if len(errors.found) > before:
        return None
    return Question(
        str(qid),
        str(prompt),
        InputKind(str(kind)),
        accept,
        str(tag),
        str(tag_value),
        timeout_s if isinstance(timeout_s, int) else IVR_TIMEOUT_S.minimum,
    )


def _on_fail(given: object, field: str, errors: _Errors) -> OnFail:
    if not isinstance(given, Mapping):
        errors.add(f"{field} must be an object", field)
        return HANG_UP
    for unknown in sorted(set(given) - _ON_FAIL_KEYS):
        errors.add("unknown field", f"{field}.{unknown}")
    action_given = given.get("action", FailAction.HANGUP.value)
    if action_given not in tuple(FailAction):
        errors.add(f"{field}.action must be hangup or fallback", f"{field}.action")
        return HANG_UP
    action = FailAction(action_given)
    number: str | None = None
    raw_number = given.get("fallback_number")
    if action == FailAction.FALLBACK or raw_number is not None:
        try:
            number = parse_e164(raw_number, f"{field}.fallback_number")
        except ValidationError as error:
            errors.found.append(error)
    if action == FailAction.HANGUP and raw_number is not None:
        errors.add(
            f"{field}.fallback_number is for the fallback action", f"{field}.fallback_number"
        )
    message = None
    if given.get("message") is not None:
        message = _text(given["message"], f"{field}.message", IVR_MESSAGE_LENGTH.maximum, errors)
    return OnFail(action, number, message)


def parse_script(given: object, field: str = "ivr") -> IvrScript:
    """A campaign's `ivr` setting from its JSON form; every bad field is named (`ivr.…`).
    `{"questions": []}` is a script that asks nothing (the setting removed)."""
    errors = _Errors()
    if not isinstance(given, Mapping):
        raise ValidationError(f"{field} must be an object", field=field)
    for unknown in sorted(set(given) - {"questions", "on_fail"}):
        errors.add("unknown field", f"{field}.{unknown}")
    raw = given.get("questions")
    questions: list[Question] = []
    if not isinstance(raw, list) or len(raw) > IVR_QUESTIONS_MAX:
        errors.add(f"{field}.questions must be a list of at most {IVR_QUESTIONS_MAX}", field)
    else:
        for n, item in enumerate(raw):
            found = _question(item, f"{field}.questions.{n}", errors)
            if found is not None:
                questions.append(found)
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        errors.add("each question has its own id", f"{field}.questions")
    on_fail = _on_fail(given.get("on_fail", {}), f"{field}.on_fail", errors)
    if errors.found:
        raise InvalidFields(errors.found)
    return IvrScript(tuple(questions), on_fail)


# -- a target's required tags ---------------------------------------------------------------------


def parse_required_tags(given: object, field: str = "requires_tags") -> dict[str, str | None]:
    """`["injured"]` (any value) or `{"injured": "yes", "state": null}`: the stored form is
    the mapping (an empty one: nothing required)."""
    errors = _Errors()
    if isinstance(given, list):
        pairs: list[tuple[object, object]] = [(name, None) for name in given]
    elif isinstance(given, Mapping):
        pairs = list(given.items())
    else:
        raise ValidationError(f"{field} must be a list of tag names or an object", field=field)
    if len(pairs) > REQUIRED_TAGS_MAX:
        raise ValidationError(f"{field} names at most {REQUIRED_TAGS_MAX} tags", field=field)
    required: dict[str, str | None] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not _TAG_KEY_RE.fullmatch(name):
            errors.add(
                f"a tag name is 1 to {TAG_KEY_LENGTH.maximum} of A-Z a-z 0-9 _ . -",
                f"{field}.{name}" if isinstance(name, str) and len(name) <= 64 else field,
            )
            continue
        if value is not None and (not isinstance(value, str) or len(value) > TAG_VALUE_LENGTH_MAX):
            errors.add(
                f"a required value is text of at most {TAG_VALUE_LENGTH_MAX} characters",
                f"{field}.{name}",
            )
            continue
        required[name] = value
    if errors.found:
        raise InvalidFields(errors.found)
    return dict(sorted(required.items()))


def satisfies(required: Mapping[str, str | None] | None, tags: Mapping[str, str]) -> bool:
    """Whether a ping's tags carry every required tag (with its value, when one is named)."""
    if not required:
        return True
    return all(
        name in tags and (value is None or tags[name] == value) for name, value in required.items()
    )
