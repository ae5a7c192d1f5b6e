"""The evidence half of `replay verify`: each stored transcript is the one the log hashed, and
the phrases recorded as spotted in it are the ones the spotting rule finds there again.

- **transcripts** — at every `Call.CallTranscribed`, the transcript stored at its `location`
  is read and hashed: a missing file or another hash is a failure (an edited or replaced
  transcript, or a store that lost it);
- **spotting** — at every `Call.PhrasesSpotted`, the pure rule (`domain.transcript.spot`, at
  the recorded `rule_version`) re-run on that transcript with the campaign's `keywords` at
  the recorded `campaign_version` (folded from `Campaign.RulesChanged`) gives the recorded
  phrases.

Both need more than the log: the transcripts store and the call's campaign (the call's first
event; the calls' half forgets a call once it has ended, long before its recording is
transcribed). They come through `EvidenceSources`; `verify` without one runs neither check.
The checks are named in the report only once the log has such an event, so a log without
call evidence gives the report it always gave.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson

from domain.call import Call
from domain.campaign import Campaign
from domain.catalog import topic_of
from domain.transcript import SPOTTING_RULES_VERSION, phrases_of, spot, text_sha256

TRANSCRIBED = topic_of(Call.CallTranscribed)
SPOTTED = topic_of(Call.PhrasesSpotted)
RULES_CHANGED = topic_of(Campaign.RulesChanged)
TOPICS = frozenset({TRANSCRIBED, SPOTTED, RULES_CHANGED})
RECENT_TEXTS_MAX = 256  # transcripts kept for the PhrasesSpotted saved right after them

Fail = Callable[[int, str, str, str], None]  # position, check, aggregate id, message


@dataclass(frozen=True)
class EvidenceSources:
    """What the evidence checks read besides the log."""

    read_transcript: Callable[[str], str]  # location → text (LookupError/OSError: missing)
    campaign_of: Callable[[str], str | None]  # call id → its campaign id (None: unknown)


@dataclass
class _Keywords:
    versions: list[int] = field(default_factory=list)
    phrases: list[tuple[str, ...]] = field(default_factory=list)

    def at(self, version: int) -> tuple[str, ...]:
        found = bisect.bisect_right(self.versions, version)
        return self.phrases[found - 1] if found else ()


class EvidenceCheck:
    def __init__(self, sources: EvidenceSources, fail: Fail) -> None:
        self.sources = sources
        self.fail = fail
        self.checked: dict[str, int] = {}
        self.keywords: dict[str, _Keywords] = {}
        self.texts: dict[tuple[str, str], str | None] = {}  # the recent transcripts read

    def feed(
        self, position: int, aggregate_id: str, version: int, topic: str, state: bytes
    ) -> None:
        data = orjson.loads(state)
        if topic == RULES_CHANGED:
            if "keywords" in data["changes"]:
                found = self.keywords.setdefault(aggregate_id, _Keywords())
                found.versions.append(version)
                found.phrases.append(phrases_of(data["changes"]["keywords"]))
        elif topic == TRANSCRIBED:
            self._transcribed(position, aggregate_id, data)
        else:
            self._spotted(position, aggregate_id, data)

    def _transcribed(self, position: int, call_id: str, data: dict[str, object]) -> None:
        self.checked["transcripts"] = self.checked.get("transcripts", 0) + 1
        recording_id, location = str(data["recording_id"]), str(data["location"])
        text = self._read(position, call_id, location)
        if text is not None and text_sha256(text) != data["transcript_sha256"]:
            self.fail(
                position,
                "transcripts",
                call_id,
                f"the transcript at {location} does not hash to the recorded "
                f"{data['transcript_sha256']}: it was changed after it was recorded",
            )
            text = None
        if len(self.texts) >= RECENT_TEXTS_MAX:
            self.texts.pop(next(iter(self.texts)))
        self.texts[(call_id, recording_id)] = text

    def _read(self, position: int, call_id: str, location: str) -> str | None:
        try:
            return self.sources.read_transcript(location)
        except (LookupError, OSError, UnicodeDecodeError) as error:
            self.fail(
                position,
                "transcripts",
                call_id,
                f"the transcript at {location} is missing: {error}",
            )
            return None

    def _spotted(self, position: int, call_id: str, data: dict[str, object]) -> None:
        self.checked["spotting"] = self.checked.get("spotting", 0) + 1
        key = (call_id, str(data["recording_id"]))
        if key not in self.texts:
            self.fail(
                position, "spotting", call_id, "phrases spotted in a recording not transcribed"
            )
            return
        text = self.texts.pop(key)
        if text is None:
            return  # its transcript already failed its own check
        if data["rule_version"] != SPOTTING_RULES_VERSION:
            self.fail(
                position, "spotting", call_id, f"rule_version {data['rule_version']} is unknown"
            )
            return
        campaign_id = self.sources.campaign_of(call_id)
        version = data["campaign_version"]
        keywords = self.keywords.get(campaign_id or "")
        phrases = keywords.at(version) if keywords and isinstance(version, int) else ()
        expected = spot(text, phrases)
        if expected != data["phrases"]:
            self.fail(
                position,
                "spotting",
                call_id,
                f"spotted {data['phrases']}; the campaign's keywords at version {version} find "
                f"{expected} in the stored transcript",
            )
