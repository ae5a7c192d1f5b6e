"""IVR qualification's pure rule (`domain.ivr`): the setting parsed strictly (every bad field
named), an answer judged (digits exactly, speech as lower-case words), what of a failed answer
is kept (and that judging it again fails again: replay re-runs it), and required tags."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidFields, ValidationError
from domain.ivr import (
    FailAction,
    InputKind,
    IvrScript,
    Question,
    judge,
    parse_required_tags,
    parse_script,
    satisfies,
    words,
)
from domain.limits import IVR_DIGITS_LENGTH, IVR_QUESTIONS_MAX

pytestmark = pytest.mark.unit
INJURED = {
    "id": "injured",
    "prompt": "Press 1 if you were injured in the last two years.",
    "accept": ["1"],
    "tag": "injured",
}
LAWYER = {
    "id": "lawyer",
    "prompt": "Do you already have a lawyer? Say no if you do not.",
    "input": "speech",
    "accept": ["No", "I do not", "not yet"],
    "tag": "has_lawyer",
    "tag_value": "no",
    "timeout_s": 8,
}


def _script(**on_fail: Any) -> IvrScript:
    return parse_script({"questions": [INJURED, LAWYER], "on_fail": on_fail})


def test_a_script_is_parsed_with_its_defaults_and_stored_as_json() -> None:
    script = _script()
    injured, lawyer = script.questions
    assert injured == Question(
        "injured", INJURED["prompt"], InputKind.DTMF, ("1",), "injured", "yes", 5
    )
    assert lawyer.accept == ("no", "i do not", "not yet")  # normalised words
    assert script.on_fail.action == FailAction.HANGUP
    assert IvrScript.from_dict(script.to_dict()) == script
    assert IvrScript.of(script.stored()) == script
    assert parse_script({"questions": []}).stored() is None  # no questions: no setting
    fallback = _script(action="fallback", fallback_number="+18005550199", message="One moment.")
    assert (fallback.on_fail.fallback_number, fallback.on_fail.message) == (
        "+18005550199",
        "One moment.",
    )


@pytest.mark.parametrize(
    ("given", "fields"),
    [
        ({"questions": "no"}, {"ivr"}),
        ({"questions": [INJURED] * (IVR_QUESTIONS_MAX + 1)}, {"ivr"}),
        ({"questions": [{**INJURED, "id": "Bad Id"}]}, {"ivr.questions.0.id"}),
        ({"questions": [{**INJURED, "prompt": ""}]}, {"ivr.questions.0.prompt"}),
        ({"questions": [{**INJURED, "input": "video"}]}, {"ivr.questions.0.input"}),
        ({"questions": [{**INJURED, "accept": []}]}, {"ivr.questions.0.accept"}),
        ({"questions": [{**INJURED, "accept": ["1", "x"]}]}, {"ivr.questions.0.accept.1"}),
        ({"questions": [{**INJURED, "accept": ["123456789"]}]}, {"ivr.questions.0.accept.0"}),
        ({"questions": [{**LAWYER, "accept": ["?!"]}]}, {"ivr.questions.0.accept.0"}),
        ({"questions": [{**INJURED, "tag": "has space"}]}, {"ivr.questions.0.tag"}),
        ({"questions": [{**INJURED, "timeout_s": 0}]}, {"ivr.questions.0.timeout_s"}),
        ({"questions": [{**INJURED, "timeout_s": True}]}, {"ivr.questions.0.timeout_s"}),
        ({"questions": [{**INJURED, "colour": "red"}]}, {"ivr.questions.0.colour"}),
        ({"questions": [INJURED, INJURED]}, {"ivr.questions"}),
        ({"questions": [INJURED], "on_fail": {"action": "shout"}}, {"ivr.on_fail.action"}),
        (
            {"questions": [INJURED], "on_fail": {"action": "fallback"}},
            {"ivr.on_fail.fallback_number"},
        ),
        (
            {"questions": [INJURED], "on_fail": {"action": "fallback", "fallback_number": "911"}},
            {"ivr.on_fail.fallback_number"},
        ),
        (
            {"questions": [INJURED], "on_fail": {"fallback_number": "+18005550199"}},
            {"ivr.on_fail.fallback_number"},
        ),
        ({"questions": [INJURED], "extra": 1}, {"ivr.extra"}),
        (
            {"questions": [{**INJURED, "prompt": ""}, {**LAWYER, "tag": ""}]},
            {"ivr.questions.0.prompt", "ivr.questions.1.tag"},
        ),
    ],
)
def test_a_bad_script_names_every_bad_field(given: dict[str, Any], fields: set[str]) -> None:
    with pytest.raises(ValidationError) as raised:
        parse_script(given)
    error = raised.value
    found = {e.field for e in error.errors} if isinstance(error, InvalidFields) else {error.field}
    assert found == fields


def test_digits_pass_only_when_accepted_and_set_the_tag() -> None:
    injured = _script().questions[0]
    assert judge(injured, "1").tag == ("injured", "yes")
    assert judge(injured, " 1 ").passed  # as Twilio may pad it
    for answer, kept in [("2", "2"), ("11", "11"), ("", None), (None, None), ("1a", None)]:
        verdict = judge(injured, answer)
        assert (verdict.passed, verdict.tag, verdict.kept) == (False, None, kept)
    # a long entry may be an account or a card number: never kept
    assert judge(injured, "4111111111111111").kept is None


def test_speech_passes_on_an_accepted_phrase_among_the_words_and_is_never_kept() -> None:
    lawyer = _script().questions[1]
    for said in ["No.", "no, I don't", "Um, I do NOT have one", "Not yet!"]:
        assert judge(lawyer, said).tag == ("has_lawyer", "no"), said
    for said in ["Yes I do", "nope", "I do", "", None, "yet not"]:
        verdict = judge(lawyer, said)
        assert not verdict.passed, said
        assert verdict.kept is None  # what a caller says may hold a name or an address


@given(st.text(max_size=40))
def test_a_failed_answer_kept_fails_again(answer: str) -> None:
    """Replay judges the kept answer again: it must fail again (and keep itself)."""
    for question in _script().questions:
        verdict = judge(question, answer)
        if not verdict.passed:
            again = judge(question, verdict.kept)
            assert not again.passed
            assert again.kept == verdict.kept
            assert verdict.kept is None or len(verdict.kept) <= IVR_DIGITS_LENGTH.maximum


@given(
    st.lists(st.sampled_from(["no", "i", "do", "not", "yes", "have", "a", "lawyer"]), max_size=8)
)
def test_speech_matching_is_word_containment(said: list[str]) -> None:
    lawyer = _script().questions[1]
    text = " ".join(w.upper() if n % 2 else w for n, w in enumerate(said)) + "."
    joined = f" {' '.join(said)} "
    expected = any(f" {phrase} " in joined for phrase in lawyer.accept)
    assert judge(lawyer, text).passed == expected
    assert words(text) == tuple(said)


def test_required_tags_parse_and_match() -> None:
    assert parse_required_tags(["injured"]) == {"injured": None}
    assert parse_required_tags({"injured": "yes", "state": None}) == {
        "injured": "yes",
        "state": None,
    }
    assert parse_required_tags([]) == {}
    with pytest.raises(InvalidFields) as raised:
        parse_required_tags({"bad name": "x", "ok": 3})
    assert {e.field for e in raised.value.errors} == {"requires_tags.bad name", "requires_tags.ok"}
    with pytest.raises(ValidationError):
        parse_required_tags("injured")
    required = {"injured": "yes", "state": None}
    assert satisfies(required, {"injured": "yes", "state": "CA", "x": "y"})
    assert not satisfies(required, {"injured": "no", "state": "CA"})
    assert not satisfies(required, {"injured": "yes"})
    assert satisfies(None, {})
    assert satisfies({}, {})
