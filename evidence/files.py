"""A file written whole or not at all: the evidence stores' (recordings, transcripts, scoring
models) one way to put a file, so a reader never sees half of one and a crash leaves none."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

PART_PREFIX = ".part-"  # a file being written; renamed over its target once synced


@contextmanager
def replaced_whole(target: Path) -> Iterator[BinaryIO]:
    """A new file beside `target` to write into; when the block ends it is synced to disk
    and renamed over `target`; when the block raises, it is removed and `target` untouched."""
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=PART_PREFIX)
    try:
        with os.fdopen(handle, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
