"""The tests' telephone calls (`tools.sim.speech`: espeak-ng speech, sox telephone band,
seeded noise; the same bytes on every run).

espeak-ng and sox are required: a test that needs them fails without them (in CI too:
`.ci/run` installs them), like a test that needs Redis or PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.sim import speech


def telephone_call(text: str, path: Path, *, seed: int = 7) -> Path:
    """`text` spoken as an 8 kHz telephone recording at `path` (a WAV file)."""
    missing = speech.missing_tools()
    if missing:
        pytest.fail(
            f"{', '.join(missing)} not installed: `apt-get install espeak-ng sox` "
            "(the transcription tests synthesise their calls with them)"
        )
    return speech.telephone_call(text, path, seed=seed)
