"""`ppcx-tools bench transcription`: the real-time factor (CPU seconds per second of audio) of
the transcriber (`evidence.transcription.Transcriber`: WAV reading, 8 kHz upsampling,
PocketSphinx's voice-activity segmenter, one utterance per segment) next to PocketSphinx's own
decoder used directly — the `Decoder` loop of its documentation: the whole file fed in blocks
as one utterance — on the same files, in the same process and run.

The files are telephone calls synthesised from known sentences (`tools.sim.speech`: espeak-ng,
the telephone band, seeded noise), `CALLS` of them, each `SENTENCES_PER_CALL` sentences. The
bundled model is a 16 kHz one and the bare decoder cannot be built at 8 kHz, so it reads the
16 kHz versions sox made of the same 8 kHz audio; the transcriber reads both. CPU time is the
process's (`time.process_time`), the models loaded before timing; each figure is the median of
`ROUNDS` passes over all the files."""

from __future__ import annotations

import statistics
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

from pocketsphinx import Decoder
from rich.console import Console

from evidence.transcription import MODEL_RATE_HZ, Transcriber
from tools.bench.report import Figure
from tools.sim.speech import telephone_call

SENTENCES = (
    "Hello, I am calling about the quote you sent me for the roof repair.",
    "I would like to book an appointment for Tuesday morning.",
    "My card number is four one one one, two two two two, three three three three, "
    "four four four four.",
    "Thanks, but I am not interested, please remove me from your list.",
    "Sorry, I think you have the wrong number.",
    "Can you tell me the price of solar panels for a house with three bedrooms?",
    "My husband will be home after five, can you call back then?",
    "We had a car accident last week and I need a lawyer.",
)
CALLS = 8
SENTENCES_PER_CALL = 3
ROUNDS = 3
BLOCK_FRAMES = 1024  # the bare loop's read size


def _calls(directory: Path, rate_hz: int) -> list[Path]:
    paths = []
    for n in range(CALLS):
        text = " ".join(SENTENCES[(n + k) % len(SENTENCES)] for k in range(SENTENCES_PER_CALL))
        paths.append(telephone_call(text, directory / f"call-{n}-{rate_hz}.wav", rate_hz=rate_hz))
    return paths


def _audio_s(paths: list[Path]) -> float:
    total = 0.0
    for path in paths:
        with wave.open(str(path), "rb") as w:
            total += w.getnframes() / w.getframerate()
    return total


def _bare(decoder: Decoder) -> Callable[[Path], str]:
    def decode(path: Path) -> str:
        with wave.open(str(path), "rb") as w:
            decoder.start_utt()
            while frames := w.readframes(BLOCK_FRAMES):
                decoder.process_raw(frames, no_search=False, full_utt=False)
            decoder.end_utt()
        hypothesis = decoder.hyp()
        return str(hypothesis.hypstr) if hypothesis is not None else ""

    return decode


def _ours(transcriber: Transcriber) -> Callable[[Path], str]:
    def decode(path: Path) -> str:
        with path.open("rb") as audio:
            return transcriber.transcribe(audio).text

    return decode


def _rtf(decode: Callable[[Path], str], paths: list[Path], audio_s: float) -> tuple[float, str]:
    """Median CPU seconds per audio second over `ROUNDS` passes, and the last pass's words."""
    factors = []
    words = ""
    for _ in range(ROUNDS):
        started = time.process_time()
        words = " ".join(decode(path) for path in paths)
        factors.append((time.process_time() - started) / audio_s)
    return statistics.median(factors), words


def run(console: Console) -> tuple[list[Figure], list[str]]:
    with tempfile.TemporaryDirectory(prefix="ppcx-bench-transcription-") as tmp:
        directory = Path(tmp)
        console.print(f"synthesising {CALLS} calls at 8 and 16 kHz (espeak-ng, sox)…")
        narrow, wide = _calls(directory, 8_000), _calls(directory, MODEL_RATE_HZ)
        audio_s = _audio_s(narrow)
        transcriber = Transcriber()
        bare = _bare(Decoder(samprate=MODEL_RATE_HZ, loglevel="FATAL"))
        baseline, bare_words = _rtf(bare, wide, audio_s)
        ours_wide, _ = _rtf(_ours(transcriber), wide, audio_s)
        ours_narrow, our_words = _rtf(_ours(transcriber), narrow, audio_s)
    bare_name = "pocketsphinx Decoder, whole file as one utterance (16 kHz)"
    figures = [
        Figure(
            f"transcriber, 16 kHz files ({CALLS} calls, {audio_s:.0f} s of audio)",
            ours_wide,
            "CPU s per audio s",
            bare_name,
            baseline,
            target="≤ 1.5× the bare decoder",
            higher_is_better=False,
        ),
        Figure(
            f"transcriber, 8 kHz telephone files (upsampled; {audio_s:.0f} s)",
            ours_narrow,
            "CPU s per audio s",
            bare_name,
            baseline,
            target="≤ 1.5× the bare decoder",
            higher_is_better=False,
        ),
    ]
    heard = [
        phrase
        for phrase in ("appointment", "quote", "not interested", "wrong number")
        if phrase in our_words
    ]
    notes = [
        f"keywords heard by the transcriber in the 8 kHz calls: {', '.join(heard) or 'none'}; "
        f"the bare decoder's words: {len(bare_words.split())}, the transcriber's: "
        f"{len(our_words.split())}",
    ]
    return figures, notes
