"""The transcripts store: a redacted transcript's UTF-8 text under a key made of ids only.

A directory under the data dir by default (`PPCX_TRANSCRIPTS_DIR`, default
`<data dir>/transcripts`), like the recordings store (EVIDENCE.md). The key of a recording's
transcript is `<call_id>/<recording_id>.txt` (`transcript_key`); the text's SHA-256 goes into
`Call.CallTranscribed`, and replay re-hashes the stored file against it.

A write is atomic (a temporary file in the same directory, synced, then renamed over the
key), so a reader never sees half a transcript; writing the same key again replaces it (the
worker's retry after a crash writes the same text again).
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from domain.invariant import invariant
from domain.limits import TRANSCRIPT_CHARS_MAX
from evidence.files import replaced_whole

_ID_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}")
_KEY = re.compile(r"([A-Za-z0-9][A-Za-z0-9_-]{0,99})/([A-Za-z0-9][A-Za-z0-9_-]{0,99})\.txt")


class TranscriptMissing(LookupError):
    """No transcript is stored under the key."""


def transcript_key(call_id: str, recording_id: str) -> str:
    """The key of a recording's transcript (ids only: no user text ever names a file)."""
    for part in (call_id, recording_id):
        invariant(_ID_PART.fullmatch(part) is not None, f"not an id: {part!r}")
    return f"{call_id}/{recording_id}.txt"


class TranscriptStore:
    """Transcripts as files under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, key: str) -> Path:
        invariant(_KEY.fullmatch(key) is not None, f"not a transcript key: {key!r}")
        return self.directory / key

    def put(self, key: str, text: str) -> str:
        """Store `text` under `key` → its SHA-256 (hex)."""
        invariant(len(text) <= TRANSCRIPT_CHARS_MAX, "a transcript has a bounded length")
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        with replaced_whole(path) as out:
            out.write(data)
        directory_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory_fd)  # the rename survives a crash
        finally:
            os.close(directory_fd)
        return hashlib.sha256(data).hexdigest()

    def read(self, key: str) -> str:
        try:
            return self._path(key).read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise TranscriptMissing(key) from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)
