"""Telephone calls made from known sentences, the same bytes on every run: Debian's espeak-ng
speaks the sentence (voice `en-us+klatt`, 170 words a minute), sox resamples it to 8 kHz
16-bit mono and band-passes it to the telephone band (300–3,400 Hz, no dither), and low white
noise from a seeded generator is mixed in (σ = `NOISE_SIGMA`, on speech scaled to 0.7).

espeak-ng and sox are required: a test that needs them fails without them (in CI too:
`.ci/run` installs them), like a test that needs Redis or PostgreSQL."""

from __future__ import annotations

import array
import random
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

VOICE = "en-us+klatt"
WORDS_PER_MINUTE = "170"
RATE_HZ = 8_000
NOISE_SIGMA = 80
SPEECH_SCALE = 0.7
TOOLS = ("espeak-ng", "sox")
BAND = ("sinc", "300-3400", "pad", "0.3", "0.3")  # sox effects: telephone band, 0.3 s silences


def require_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: `apt-get install espeak-ng sox` "
            "(the transcription tests synthesise their calls with them)"
        )


def telephone_call(text: str, path: Path, *, seed: int = 7) -> Path:
    """`text` spoken as an 8 kHz telephone recording at `path` (a WAV file)."""
    require_tools()
    spoken = path.with_suffix(".espeak.wav")
    band = path.with_suffix(".band.wav")
    subprocess.run(
        ["espeak-ng", "-v", VOICE, "-s", WORDS_PER_MINUTE, "-w", str(spoken), text],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["sox", "-D", str(spoken), "-r", str(RATE_HZ), "-b", "16", "-c", "1", str(band), *BAND],
        check=True,
        capture_output=True,
    )
    with wave.open(str(band), "rb") as source:
        params = source.getparams()
        samples = array.array("h", source.readframes(source.getnframes()))
    noise = random.Random(seed)
    mixed = array.array(
        "h",
        (
            max(-32768, min(32767, round(s * SPEECH_SCALE + noise.gauss(0, NOISE_SIGMA))))
            for s in samples
        ),
    )
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        out.writeframes(mixed.tobytes())
    spoken.unlink()
    band.unlink()
    return path
