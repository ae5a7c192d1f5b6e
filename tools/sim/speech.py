"""Telephone calls made from known sentences, the same bytes on every run: Debian's espeak-ng
speaks the text (voice `en-us+klatt`, 170 words a minute), sox resamples it to 8 kHz 16-bit
mono and band-passes it to the telephone band (300–3,400 Hz, no dither), and low white noise
from a seeded generator is mixed in (σ = `NOISE_SIGMA`, on speech scaled to 0.7). The
transcription tests and `ppcx-tools bench transcription` use them.

The klatt voice at 170 words a minute is the one PocketSphinx's bundled model recognised best
among espeak-ng's US voices at 140 and 170 (keywords and long digit strings both)."""

from __future__ import annotations

import array
import random
import shutil
import subprocess
import wave
from pathlib import Path

VOICE = "en-us+klatt"
WORDS_PER_MINUTE = "170"
RATE_HZ = 8_000
NOISE_SIGMA = 80
SPEECH_SCALE = 0.7
TOOLS = ("espeak-ng", "sox")
BAND = ("sinc", "300-3400", "pad", "0.3", "0.3")  # sox effects: telephone band, 0.3 s silences


def missing_tools() -> list[str]:
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (apt-get install espeak-ng sox)")
    return found


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)  # noqa: S603 - our tools, fixed options


def telephone_call(text: str, path: Path, *, seed: int = 7, rate_hz: int = RATE_HZ) -> Path:
    """`text` spoken as a telephone recording at `path` (a WAV file, `rate_hz`: 8 kHz, or
    16 kHz resampled by sox from the same 8 kHz telephone audio)."""
    spoken = path.with_suffix(".espeak.wav")
    band = path.with_suffix(".band.wav")
    espeak, sox = _tool("espeak-ng"), _tool("sox")
    _run(espeak, "-v", VOICE, "-s", WORDS_PER_MINUTE, "-w", str(spoken), text)
    _run(sox, "-D", str(spoken), "-r", str(RATE_HZ), "-b", "16", "-c", "1", str(band), *BAND)
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
    telephone = path if rate_hz == RATE_HZ else path.with_suffix(".8k.wav")
    with wave.open(str(telephone), "wb") as out:
        out.setparams(params)
        out.writeframes(mixed.tobytes())
    if telephone != path:
        _run(sox, "-D", str(telephone), "-r", str(rate_hz), str(path))
        telephone.unlink()
    spoken.unlink()
    band.unlink()
    return path
