"""The transcriber's audio reading: 8 kHz upsampled ×2 block by block exactly as in one piece
(no seam at a block's edge), 16 kHz passed through, channels averaged."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from evidence import transcription
from evidence.transcription import UPSAMPLE_CUTOFF, UPSAMPLE_TAPS, Pcm16k, _low_pass

pytestmark = pytest.mark.unit


def wav(samples: np.ndarray, rate_hz: int, channels: int = 1) -> io.BytesIO:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(samples.astype("<i2").tobytes())
    out.seek(0)
    return out


def read_all(pcm: Pcm16k) -> np.ndarray:
    return np.frombuffer(b"".join(iter(lambda: pcm.read(1000), b"")), dtype="<i2")


def test_8_khz_blocks_join_without_a_seam(monkeypatch: pytest.MonkeyPatch) -> None:
    samples = np.random.default_rng(7).integers(-8000, 8000, 5003)
    stuffed = np.repeat(samples, 2) * np.tile([1, 0], len(samples))  # s0, 0, s1, 0, …
    whole = np.convolve(stuffed, _low_pass(UPSAMPLE_TAPS, UPSAMPLE_CUTOFF))
    delay = (UPSAMPLE_TAPS - 1) // 2
    expected = np.clip(np.rint(whole[delay : 2 * len(samples)]), -32768, 32767).astype("<i2")
    monkeypatch.setattr(transcription, "BLOCK_FRAMES", 777)  # many blocks, odd edges
    pcm = Pcm16k(wav(samples, 8_000))
    got = read_all(pcm)
    assert pcm.audio_ms == 5003 * 1000 // 8_000
    assert len(got) == len(expected)
    assert np.array_equal(got, expected)


def test_16_khz_is_passed_through_and_channels_are_averaged() -> None:
    samples = np.arange(-500, 500, dtype=np.int64)
    assert np.array_equal(read_all(Pcm16k(wav(samples, 16_000))), samples)
    stereo = np.stack([samples, samples + 100], axis=1).reshape(-1)
    assert np.array_equal(read_all(Pcm16k(wav(stereo, 16_000, channels=2))), samples + 50)
