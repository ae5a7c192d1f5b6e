"""The evidence tests' calls: telephone recordings synthesised once per session (espeak-ng,
sox and seeded noise: `tests.evidence.audio`), and one transcriber (loading the model takes a
moment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from evidence.transcription import Transcriber
from tests.evidence.audio import telephone_call

SENTENCES = {
    "appointment": "I would like to book an appointment for Tuesday.",
    "card": "My card number is four one one one, two two two two, three three three three, "
    "four four four four.",
    "not_interested": "Thanks, but I am not interested.",
}


@pytest.fixture(scope="session")
def calls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """name → an 8 kHz telephone recording of `SENTENCES[name]`."""
    directory = tmp_path_factory.mktemp("calls")
    return {
        name: telephone_call(text, directory / f"{name}.wav") for name, text in SENTENCES.items()
    }


@pytest.fixture(scope="session")
def transcriber() -> Transcriber:
    return Transcriber()
