"""The pure rules of transcripts: card and SSN digit runs redacted (digits and the words a
recogniser writes), other numbers kept; campaign phrases spotted as whole words."""

from __future__ import annotations

import pytest

from domain.errors import ValidationError
from domain.transcript import (
    REDACTED,
    parse_keywords,
    phrases_of,
    redact,
    spot,
    text_sha256,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "text",
    [
        "my card is 4111 1111 1111 1111 thanks",
        "my card is 4111-1111-1111-1111 thanks",
        "my card is 4111111111111111 thanks",
        "my card is 378282246310005 thanks",  # 15 digits (Amex): Luhn-valid or not, redacted
        "my card is 1234 5678 9012 3456 thanks",  # not Luhn-valid: redacted all the same
        "my card is four one one one one one one one one one one one one one one one thanks",
        "my card is four one one one, two two two two, three three three three, four four four "
        "four thanks",
        "my card is one to two two two three three three three or four four four thanks",
        "my card is double five triple three seven seven seven seven one two three four thanks",
    ],
)
def test_a_card_number_is_redacted_whole(text: str) -> None:
    result = redact(text)
    assert result.redactions == 1
    assert result.text == f"my card is {REDACTED} thanks"


@pytest.mark.parametrize(
    "text",
    [
        "my social is 123-45-6789 ok",
        "my social is 123456789 ok",
        "my social is one two three four five six seven eight nine ok",
        "my social is one two three, four five, six seven eight nine ok",
    ],
)
def test_a_social_security_number_is_redacted(text: str) -> None:
    result = redact(text)
    assert (result.text, result.redactions) == (f"my social is {REDACTED} ok", 1)


@pytest.mark.parametrize(
    "text",
    [
        "call me back on 310 555 0100 please",  # 10 digits: a phone number is kept
        "it costs forty five dollars for two months",
        "book it for one to two on tuesday",
        "the zip is 90210 and the year 2026",
        "i want to go for it",  # homophones alone count nothing
        "one or two",
        "",
    ],
)
def test_other_numbers_and_words_are_kept(text: str) -> None:
    assert redact(text).text == text
    assert redact(text).redactions == 0


def test_two_runs_are_two_redactions_and_the_words_between_stay() -> None:
    result = redact("card 4111 1111 1111 1111 and social 123-45-6789 done")
    assert result.text == f"card {REDACTED} and social {REDACTED} done"
    assert result.redactions == 2


def test_a_trailing_separator_stays_outside_the_redaction() -> None:
    assert redact("4111 1111 1111 1111, ok").text == f"{REDACTED}, ok"


def test_phrases_are_found_as_whole_words_in_the_campaigns_order() -> None:
    transcript = "Well, I'm NOT interested... wrong-number anyway; my appointments are full"
    phrases = ("appointment", "not interested", "wrong number", "quote")
    assert spot(transcript, phrases) == ["not interested", "wrong number"]
    assert spot("i would like to book an appointment", phrases) == ["appointment"]
    assert spot("", phrases) == []


def test_the_keywords_setting_is_strict_and_normalised() -> None:
    assert parse_keywords({"phrases": ["Appointment", " Not  Interested ", "appointment"]}) == {
        "phrases": ["appointment", "not interested"]
    }
    assert parse_keywords({"phrases": []}) == {"phrases": []}
    for bad in (
        None,
        [],
        {"phrase": []},
        {"phrases": "quote"},
        {"phrases": [1]},
        {"phrases": ["..."]},
    ):
        with pytest.raises(ValidationError):
            parse_keywords(bad)
    with pytest.raises(ValidationError):
        parse_keywords({"phrases": ["x" * 101]})
    with pytest.raises(ValidationError):
        parse_keywords({"phrases": [f"p{n}" for n in range(51)]})
    assert phrases_of(None) == ()
    assert phrases_of({"phrases": ["quote"]}) == ("quote",)


def test_the_hash_is_sha256_of_the_utf8_text() -> None:
    assert text_sha256("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
