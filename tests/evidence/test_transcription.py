"""Offline transcription of synthesised telephone calls (espeak-ng speech, telephone band,
low noise, 8 kHz): the transcript holds the spoken keywords, card-number digits are redacted,
the spotter finds 'appointment' only in the call that says it.

Recognition of synthetic speech is imperfect, so the assertions are about what the issue
needs — the keywords, the redaction, the spotting — not the exact words; the audio is the
same bytes on every run, so the results are too."""

from __future__ import annotations

import hashlib
import io
import wave
from pathlib import Path

import pytest

from domain.transcript import REDACTED, longest_digit_run, redact, spot
from evidence.transcription import Transcriber, UnsupportedAudio
from tests.evidence.audio import telephone_call

pytestmark = pytest.mark.integration  # runs Debian's espeak-ng and sox
PHRASES = ("appointment", "quote", "not interested", "wrong number")


def heard(transcriber: Transcriber, path: Path) -> str:
    with path.open("rb") as audio:
        return transcriber.transcribe(audio).text


def test_the_transcript_contains_the_spoken_keywords(
    transcriber: Transcriber, calls: dict[str, Path]
) -> None:
    assert "appointment" in heard(transcriber, calls["appointment"]).split()
    assert "not interested" in heard(transcriber, calls["not_interested"])


def test_a_transcript_knows_its_audio_and_engine(
    transcriber: Transcriber, calls: dict[str, Path]
) -> None:
    with calls["appointment"].open("rb") as audio:
        result = transcriber.transcribe(audio)
    with wave.open(str(calls["appointment"]), "rb") as w:
        assert w.getframerate() == 8_000
        assert result.audio_ms == w.getnframes() * 1000 // 8_000
    assert (result.engine, result.engine_version[:2]) == ("pocketsphinx", "5.")


def test_card_number_digits_are_redacted(transcriber: Transcriber, calls: dict[str, Path]) -> None:
    raw = heard(transcriber, calls["card"])
    assert longest_digit_run(raw) >= 13, raw  # the recogniser heard a card number's digits
    result = redact(raw)
    assert result.redactions == 1
    assert REDACTED in result.text
    assert longest_digit_run(result.text) == 0, result.text
    assert "one one one" not in result.text


def test_the_spotter_finds_appointment_only_where_it_is_said(
    transcriber: Transcriber, calls: dict[str, Path]
) -> None:
    said = redact(heard(transcriber, calls["appointment"])).text
    not_said = redact(heard(transcriber, calls["not_interested"])).text
    assert "appointment" in spot(said, PHRASES)
    assert "appointment" not in spot(not_said, PHRASES)
    assert spot(not_said, PHRASES) == ["not interested"]


def test_a_call_is_the_same_bytes_every_time(calls: dict[str, Path], tmp_path: Path) -> None:
    again = telephone_call("I would like to book an appointment for Tuesday.", tmp_path / "a.wav")
    digest = hashlib.sha256(again.read_bytes()).hexdigest()
    assert digest == hashlib.sha256(calls["appointment"].read_bytes()).hexdigest()


def test_16_khz_audio_is_read_as_it_is(transcriber: Transcriber, calls: dict[str, Path]) -> None:
    from evidence.transcription import Pcm16k

    with calls["appointment"].open("rb") as audio:
        pcm = Pcm16k(audio)
        upsampled = b"".join(iter(lambda: pcm.read(4096), b""))
    wide = io.BytesIO()
    with wave.open(wide, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(upsampled)
    wide.seek(0)
    assert "appointment" in transcriber.transcribe(wide).text.split()


@pytest.mark.parametrize(
    ("rate_hz", "width", "problem"),
    [(22_050, 2, "sample rate"), (8_000, 1, "16-bit")],
)
def test_other_audio_is_refused(
    transcriber: Transcriber, rate_hz: int, width: int, problem: str
) -> None:
    audio = io.BytesIO()
    with wave.open(audio, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(width)
        out.setframerate(rate_hz)
        out.writeframes(b"\0" * 1000)
    audio.seek(0)
    with pytest.raises(UnsupportedAudio, match=problem):
        transcriber.transcribe(audio)
    with pytest.raises(UnsupportedAudio, match="WAV"):
        transcriber.transcribe(io.BytesIO(b"ID3 not a wav"))
