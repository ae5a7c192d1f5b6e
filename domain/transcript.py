"""Transcripts: what is redacted before one is stored, and which campaign phrases it contains.

Pure rules, versioned, so replay re-runs them on a stored transcript and gets the same answer.

**Redaction** (`redact`, `TRANSCRIPT_RULES_VERSION`). A recogniser writes numbers as words
("four one one one …"), a human transcriber or another engine as digits ("4111 1111 …"), so
both are read. A *digit run* is a sequence of digits and number words, separators between
them allowed (spaces, dashes, dots, commas, slashes); each digit and each digit word counts
one, a teen or a tens word ("fifteen", "forty") two, "double"/"triple" repeat the next digit.
Recognisers confuse digits with their homophones and near-homophones ("to", "too", "for",
"or", "won", "ate"): inside a run (after a counted digit) those count too — PocketSphinx
hears a telephone "four" as "or" or "for" after another digit. A run is redacted whole, replaced by
`[REDACTED]`, when its digit count is

- 13 to 19, or more (a payment card's number: ISO/IEC 7812 lengths; a longer run holds one).
  Luhn is *not* required: recognition errors break the check digit of a real card, and a
  false redaction costs less than a leaked number;
- exactly 9 (a US social security number, also in its `ddd-dd-dddd` form).

Runs of 10 to 12 (phone numbers, amounts, dates) and shorter are kept: they are the call's
substance, and the caller's number is hashed elsewhere.

**Spotting** (`spot`, `SPOTTING_RULES_VERSION`): a campaign's `keywords` phrases, each found
in the (redacted) transcript as whole words, case-insensitive, whitespace and punctuation
folded; the phrases found, in the campaign's order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from domain.errors import ValidationError
from domain.limits import KEYWORD_PHRASE_CHARS_MAX, KEYWORD_PHRASES_MAX

TRANSCRIPT_RULES_VERSION = 1
SPOTTING_RULES_VERSION = 1
REDACTED = "[REDACTED]"

_DIGIT_WORDS = {
    "zero": 1,
    "oh": 1,
    "one": 1,
    "two": 1,
    "three": 1,
    "four": 1,
    "five": 1,
    "six": 1,
    "seven": 1,
    "eight": 1,
    "nine": 1,
    "ten": 2,
    "eleven": 2,
    "twelve": 2,
    "thirteen": 2,
    "fourteen": 2,
    "fifteen": 2,
    "sixteen": 2,
    "seventeen": 2,
    "eighteen": 2,
    "nineteen": 2,
    "twenty": 2,
    "thirty": 2,
    "forty": 2,
    "fifty": 2,
    "sixty": 2,
    "seventy": 2,
    "eighty": 2,
    "ninety": 2,
}
# count only next to a counted digit (a recogniser's spelling of one)
_HOMOPHONES = {"to": 1, "too": 1, "for": 1, "or": 1, "won": 1, "ate": 1}
_REPEATS = {"double": 2, "triple": 3}
_SEPARATOR = re.compile(r"[\s\-.,/]+")
_TOKEN = re.compile(r"[A-Za-z']+|\d+|[^\sA-Za-z\d]+|\s+")


@dataclass(frozen=True, slots=True)
class Redacted:
    text: str
    redactions: int  # digit runs replaced


def text_sha256(text: str) -> str:
    """The hash `Call.CallTranscribed` records: SHA-256 of the text's UTF-8 bytes, hex."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_sensitive(digits: int) -> bool:
    return digits == 9 or digits >= 13


def redact(text: str) -> Redacted:
    """`text` with every card-number-like or SSN-like digit run replaced (module docstring)."""
    tokens = _TOKEN.findall(text)
    out: list[str] = []
    count = 0
    i = 0
    while i < len(tokens):
        end, digits = _run(tokens, i)
        if end > i and _is_sensitive(digits):
            out.append(REDACTED)
            count += 1
            i = end
        else:
            out.append(tokens[i])
            i += 1
    return Redacted("".join(out), count)


def _weight(token: str) -> int:
    """Digits a token stands for when it begins or extends a run (0: it does not)."""
    if token.isdigit():
        return len(token)
    return _DIGIT_WORDS.get(token.lower(), 0)


def _run(tokens: list[str], start: int) -> tuple[int, int]:
    """The digit run beginning at `tokens[start]`: (index after it, its digit count); (start,
    0) when none begins there. Separators inside it are kept in it; a trailing one is not."""
    if _weight(tokens[start]) == 0 and tokens[start].lower() not in _REPEATS:
        return start, 0
    digits = 0
    end = start
    i = start
    pending_repeat = 1
    while i < len(tokens):
        token = tokens[i]
        low = token.lower()
        weight = _weight(token) or (_HOMOPHONES.get(low, 0) if digits else 0)
        if weight:
            digits += weight * pending_repeat
            pending_repeat = 1
            i += 1
            end = i
        elif low in _REPEATS:
            pending_repeat = _REPEATS[low]
            i += 1
        elif _SEPARATOR.fullmatch(token):
            i += 1
        else:
            break
    return end, digits


def longest_digit_run(text: str) -> int:
    """The digit count of the longest digit run in `text` (0: none)."""
    tokens = _TOKEN.findall(text)
    return max((_run(tokens, i)[1] for i in range(len(tokens))), default=0)


def may_read_transcript(role: str, owner_id: str | None, routed_buyer_id: str | None) -> bool:
    """Who reads a call's transcripts: admin and finance; the buyer the call was routed to
    (the winner, or a failover's buyer). Nobody else, not even the call's publisher: what a
    caller says to a buyer is the buyer's."""
    if role in ("admin", "finance"):
        return True
    return role == "buyer" and owner_id is not None and owner_id == routed_buyer_id


# -- keyword spotting --------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9']+")


def words_of(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


def normalise_phrase(phrase: str) -> str:
    return " ".join(words_of(phrase))


def spot(transcript: str, phrases: Sequence[str]) -> list[str]:
    """The phrases (as the campaign spells them) whose words occur together in `transcript`."""
    words = words_of(transcript)
    found = []
    for phrase in phrases:
        wanted = words_of(phrase)
        if wanted and _contains(words, wanted):
            found.append(phrase)
    return found


def _contains(words: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    n = len(wanted)
    return any(words[i : i + n] == wanted for i in range(len(words) - n + 1))


def parse_keywords(given: object, field: str = "keywords") -> dict[str, Any]:
    """A campaign's `keywords` setting as stored: {"phrases": [...]} (strict)."""
    if not isinstance(given, dict) or set(given) != {"phrases"}:
        raise ValidationError('keywords must be {"phrases": [...]}', field=field)
    phrases = given["phrases"]
    if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
        raise ValidationError("keywords.phrases must be a list of strings", field=field)
    if len(phrases) > KEYWORD_PHRASES_MAX:
        raise ValidationError(f"keywords has at most {KEYWORD_PHRASES_MAX} phrases", field=field)
    cleaned: list[str] = []
    for phrase in phrases:
        normal = normalise_phrase(phrase)
        if not normal or len(phrase) > KEYWORD_PHRASE_CHARS_MAX:
            raise ValidationError(
                f"a phrase has 1 to {KEYWORD_PHRASE_CHARS_MAX} characters and a word",
                field=field,
            )
        if normal not in cleaned:
            cleaned.append(normal)
    return {"phrases": cleaned}


def phrases_of(keywords: dict[str, Any] | None) -> tuple[str, ...]:
    """The phrases of a stored `keywords` setting (None: never set, none)."""
    if not keywords:
        return ()
    return tuple(str(p) for p in keywords.get("phrases", ()))
