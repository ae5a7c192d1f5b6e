"""The evidence half of replay verify, from raw states: a transcript re-hashed, the phrases
spotted again with the campaign's keywords at the recorded version."""

from __future__ import annotations

import orjson
import pytest

from domain.transcript import SPOTTING_RULES_VERSION, text_sha256
from replay.evidence import (
    RULES_CHANGED,
    SPOTTED,
    TRANSCRIBED,
    EvidenceCheck,
    EvidenceSources,
)

pytestmark = pytest.mark.unit
TEXT = "i would like to book an appointment not a quote"
STORE = {"call_1/rec_1.txt": TEXT}


def check() -> tuple[EvidenceCheck, list[tuple[int, str, str, str]]]:
    failures: list[tuple[int, str, str, str]] = []

    def fail(position: int, name: str, aggregate_id: str, message: str) -> None:
        failures.append((position, name, aggregate_id, message))

    sources = EvidenceSources(STORE.__getitem__, lambda call_id: "cmp_1")
    return EvidenceCheck(sources, fail), failures


def feed(
    found: EvidenceCheck, position: int, aggregate: str, version: int, topic: str, **state: object
) -> None:
    found.feed(position, aggregate, version, topic, orjson.dumps(state))


def transcribed(found: EvidenceCheck, text: str = TEXT, location: str = "call_1/rec_1.txt") -> None:
    feed(
        found,
        10,
        "call_1",
        9,
        TRANSCRIBED,
        recording_id="rec_1",
        transcript_sha256=text_sha256(text),
        location=location,
    )


def spotted(
    found: EvidenceCheck,
    phrases: list[str],
    campaign_version: int = 3,
    rule: int = SPOTTING_RULES_VERSION,
) -> None:
    feed(
        found,
        11,
        "call_1",
        10,
        SPOTTED,
        recording_id="rec_1",
        phrases=phrases,
        campaign_version=campaign_version,
        rule_version=rule,
    )


def keywords(found: EvidenceCheck, version: int, phrases: list[str]) -> None:
    feed(found, 1, "cmp_1", version, RULES_CHANGED, changes={"keywords": {"phrases": phrases}})


def test_the_recorded_phrases_are_found_again() -> None:
    found, failures = check()
    keywords(found, 2, ["appointment", "quote", "wrong number"])
    keywords(found, 5, ["wrong number"])  # later than the call's version: not its rules
    transcribed(found)
    spotted(found, ["appointment", "quote"], campaign_version=3)
    assert failures == []
    assert found.checked == {"transcripts": 1, "spotting": 1}


@pytest.mark.parametrize(
    ("phrases", "version", "rule"),
    [
        (["appointment"], 3, SPOTTING_RULES_VERSION),  # one left out
        (["appointment", "quote", "wrong number"], 3, SPOTTING_RULES_VERSION),  # one added
        (["appointment", "quote"], 1, SPOTTING_RULES_VERSION),  # no keywords at version 1
        (["appointment", "quote"], 3, 99),  # a rule this code does not know
    ],
)
def test_other_phrases_fail_spotting(phrases: list[str], version: int, rule: int) -> None:
    found, failures = check()
    keywords(found, 2, ["appointment", "quote", "wrong number"])
    transcribed(found)
    spotted(found, phrases, campaign_version=version, rule=rule)
    assert [(f[1], f[2]) for f in failures] == [("spotting", "call_1")]


def test_a_changed_or_missing_transcript_fails_and_is_not_spotted_again() -> None:
    found, failures = check()
    keywords(found, 2, ["appointment"])
    transcribed(found, text="another text")
    spotted(found, ["appointment"])
    transcribed(found, location="call_1/rec_2.txt")
    assert [(f[1], f[3][:40]) for f in failures] == [
        ("transcripts", "the transcript at call_1/rec_1.txt does "),
        ("transcripts", "the transcript at call_1/rec_2.txt is mi"),
    ]


def test_phrases_of_a_recording_never_transcribed_fail() -> None:
    found, failures = check()
    spotted(found, [])
    assert [f[1] for f in failures] == ["spotting"]
