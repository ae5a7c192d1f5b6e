"""Offline transcription of a call's recording: PocketSphinx and the US-English model its wheel
ships (`pocketsphinx` 5.x from PyPI; nothing is downloaded at run time).

* **Audio**: WAV, 16-bit PCM, 8 kHz (telephony: Twilio's recordings) or 16 kHz, mono or
  several channels (averaged: Twilio's dual-channel recordings hold each party on one). The
  model is a 16 kHz one, so 8 kHz audio is upsampled ×2 (numpy): zeros between the
  samples, then a windowed-sinc low-pass at 3.84 kHz (`UPSAMPLE_TAPS` taps, Hamming), block
  by block with the filter's state carried over. Linear interpolation leaves images of the
  speech above 4 kHz, which the model hears as noise: it recognised clearly fewer digits of
  the tests' telephone calls. Anything else is `UnsupportedAudio` (MP3 is not read: no
  decoder in the wheel; a recording stored as MP3 is not transcribed).
* **Utterances**: PocketSphinx's own voice-activity segmenter (`pocketsphinx.Segmenter`)
  cuts the audio into speech segments; each is decoded as one utterance with the wheel's
  language model and dictionary, and the hypotheses are joined by spaces. A whole call as
  one utterance decodes worse (its search loses its way over minutes of speech) and holds
  the whole recording in memory; segments bound both.
* **Bounds**: at most `TRANSCRIPT_AUDIO_S_MAX` seconds of audio are read (a longer
  recording is refused before decoding), read `BLOCK_FRAMES` frames at a time.
* One `Transcriber` holds one decoder (loading the model takes a moment): not thread-safe;
  one per worker thread.

Keyword spotting is not done here: the phrases are found in the redacted transcript by the
pure rule `domain.transcript.spot` (see there, and DESIGN.md for why not PocketSphinx's
keyphrase search).
"""

from __future__ import annotations

import importlib.metadata
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from pocketsphinx import Decoder, Segmenter

from domain.limits import TRANSCRIPT_AUDIO_S_MAX

ENGINE = "pocketsphinx"
MODEL_RATE_HZ = 16_000
SUPPORTED_RATES_HZ = (8_000, 16_000)
BLOCK_FRAMES = 8_000  # frames read from the file at once
SAMPLE_BYTES = 2
UPSAMPLE_TAPS = 127
UPSAMPLE_CUTOFF = 0.24  # of the 16 kHz rate: 3.84 kHz, under the 8 kHz audio's 4 kHz Nyquist


def _low_pass(taps: int, cutoff: float) -> np.ndarray:
    """A windowed-sinc low-pass, its gain 2 (the zeros stuffed between samples halve it)."""
    middle = np.arange(taps) - (taps - 1) / 2
    h = 2 * cutoff * np.sinc(2 * cutoff * middle) * np.hamming(taps)
    return np.asarray(h / h.sum() * 2)


class UnsupportedAudio(ValueError):
    """The recording is not audio this transcriber reads (format, rate, length)."""


@dataclass(frozen=True, slots=True)
class Transcription:
    text: str  # as recognised: not redacted yet
    audio_ms: int
    engine: str
    engine_version: str


def engine_version() -> str:
    """The pocketsphinx package's version (its model ships in the same wheel)."""
    return importlib.metadata.version("pocketsphinx")


class Transcriber:
    """Audio file → text, with one PocketSphinx decoder."""

    def __init__(self) -> None:
        self._decoder = Decoder(samprate=MODEL_RATE_HZ, loglevel="FATAL")
        self.engine_version = engine_version()

    def transcribe(self, audio: BinaryIO) -> Transcription:
        """The words of a WAV recording (a binary file-like, read from its start)."""
        pcm = Pcm16k(audio)
        segmenter = Segmenter(sample_rate=MODEL_RATE_HZ)
        words: list[str] = []
        for segment in segmenter.segment(pcm):
            text = self._decode(segment.pcm)
            if text:
                words.append(text)
        return Transcription(" ".join(words), pcm.audio_ms, ENGINE, self.engine_version)

    def _decode(self, pcm: bytes) -> str:
        decoder = self._decoder
        decoder.start_utt()
        decoder.process_raw(pcm, no_search=False, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return str(hypothesis.hypstr).strip() if hypothesis is not None else ""


class Pcm16k:
    """A WAV file read as 16 kHz mono 16-bit PCM, through `read(n)` (what `Segmenter` wants)."""

    def __init__(self, audio: BinaryIO) -> None:
        try:
            self._wav = wave.open(audio, "rb")  # noqa: SIM115 (closed with the stream)
        except (wave.Error, EOFError) as error:
            raise UnsupportedAudio(f"not a PCM WAV file: {error}") from None
        self.channels = self._wav.getnchannels()
        self.rate_hz = self._wav.getframerate()
        if self._wav.getsampwidth() != SAMPLE_BYTES:
            raise UnsupportedAudio("only 16-bit PCM is read")
        if self.rate_hz not in SUPPORTED_RATES_HZ:
            raise UnsupportedAudio(f"sample rate {self.rate_hz} Hz: only 8000 or 16000")
        frames = self._wav.getnframes()
        if frames > TRANSCRIPT_AUDIO_S_MAX * self.rate_hz:
            raise UnsupportedAudio(f"longer than {TRANSCRIPT_AUDIO_S_MAX} s")
        self.audio_ms = frames * 1000 // self.rate_hz
        self._blocks = self._converted()
        self._buffer = bytearray()
        self._filter = _low_pass(UPSAMPLE_TAPS, UPSAMPLE_CUTOFF)
        self._tail = np.zeros(UPSAMPLE_TAPS - 1)  # the filter's input before this block
        self._delay = (UPSAMPLE_TAPS - 1) // 2  # output samples the filter lags by

    def read(self, size: int) -> bytes:
        while len(self._buffer) < size:
            block = next(self._blocks, None)
            if block is None:
                break
            self._buffer += block
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out

    def _converted(self) -> Iterator[bytes]:
        while True:
            raw = self._wav.readframes(BLOCK_FRAMES)
            if not raw:
                return
            samples = np.frombuffer(raw, dtype="<i2").astype(np.float64)
            if self.channels > 1:
                samples = samples.reshape(-1, self.channels).mean(axis=1)
            if self.rate_hz != MODEL_RATE_HZ:
                samples = self._upsample(samples)
            yield np.clip(np.rint(samples), -32768, 32767).astype("<i2").tobytes()

    def _upsample(self, samples: np.ndarray) -> np.ndarray:
        """×2: zero-stuffed, then low-passed; the filter's input is carried from block to
        block, so blocks join without a seam (the output lags by the filter's delay, and the
        first `_delay` samples, the filter filling up, are dropped)."""
        stuffed = np.zeros(2 * len(samples))
        stuffed[0::2] = samples
        joined = np.concatenate((self._tail, stuffed))
        out = np.convolve(joined, self._filter, mode="valid")
        self._tail = joined[-(UPSAMPLE_TAPS - 1) :]
        if self._delay:
            dropped = min(self._delay, len(out))
            out = out[dropped:]
            self._delay -= dropped
        return out
