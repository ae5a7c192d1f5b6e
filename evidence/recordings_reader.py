"""Recordings read from a directory (`PPCX_RECORDINGS_DIR`, default `<data dir>/recordings`).

A stand-in for e-record's store (`evidence.recordings`, EVIDENCE.md): the transcriber needs
only its `open(key)`, so it is written against the `Recordings` protocol; at the merge the
lead hands the worker e-record's store instead and deletes this module.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Protocol

from domain.invariant import invariant

_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,99}/[A-Za-z0-9][A-Za-z0-9_-]{0,99}\.(wav|mp3)")


class Recordings(Protocol):
    def open(self, key: str) -> BinaryIO:
        """The recording stored under `key` (a binary file-like; FileNotFoundError: none)."""
        ...


class DirectoryRecordings:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def open(self, key: str) -> BinaryIO:
        invariant(_KEY.fullmatch(key) is not None, f"not a recording key: {key!r}")
        return (self.directory / key).open("rb")
