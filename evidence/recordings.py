"""The recordings store: a directory in the embedded default, S3-compatible object storage in
production (boto3), behind one interface.

    put(key, stream) -> (sha256, size)   the bytes stored and their hash, computed as written
    open(key) -> BinaryIO                 seekable (the API answers range requests from it)
    size(key) -> int | None               None: not stored
    digest(key) -> (sha256, size) | None  the stored bytes hashed again (replay verify)
    delete(key)                           idempotent

Keys are `domain.recording.recording_key`'s (`<call_id>/<recording_id>.wav`): ids only; any
other key is refused before it reaches a path or a bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol

from domain.errors import ValidationError
from domain.invariant import invariant
from domain.limits import RECORDING_BYTES_MAX, RECORDING_READ_CHUNK_BYTES
from domain.recording import is_recording_key
from evidence.files import replaced_whole


class RecordingStore(Protocol):
    def put(self, key: str, stream: IO[bytes]) -> tuple[str, int]: ...

    def open(self, key: str) -> BinaryIO: ...

    def size(self, key: str) -> int | None: ...

    def digest(self, key: str) -> tuple[str, int] | None: ...

    def delete(self, key: str) -> None: ...

    def describe(self) -> str: ...


class TooLarge(ValueError):
    """A recording over `RECORDING_BYTES_MAX`."""


def _checked(key: str) -> str:
    if not is_recording_key(key):
        raise ValidationError(f"{key!r} is not a recording's key", field="location")
    return key


SPOOLED_IN_MEMORY_BYTES_MAX = 8 * 1024 * 1024  # an upload to S3 past this is spooled to disk


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(RECORDING_READ_CHUNK_BYTES):
        yield chunk


def _copied(stream: IO[bytes], out: IO[bytes]) -> tuple[str, int]:
    """`stream` written to `out` chunk by chunk → its SHA-256 and size; TooLarge once it
    passes RECORDING_BYTES_MAX."""
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(stream):
        size += len(chunk)
        if size > RECORDING_BYTES_MAX:
            raise TooLarge(f"a recording over {RECORDING_BYTES_MAX} bytes")
        digest.update(chunk)
        out.write(chunk)
    return digest.hexdigest(), size


def hash_stream(stream: IO[bytes]) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    for chunk in _chunks(stream):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class DirectoryStore:
    """Recordings as files under `root` (`<root>/<call_id>/<recording_id>.wav`), each written
    to a temporary file beside it, flushed to disk and renamed into place: a reader sees the
    whole recording or none."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def describe(self) -> str:
        return f"directory {self.root}"

    def _path(self, key: str) -> Path:
        path = self.root / _checked(key)
        invariant(path.resolve().is_relative_to(self.root.resolve()), "a key stays in the store")
        return path

    def put(self, key: str, stream: IO[bytes]) -> tuple[str, int]:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_whole(path) as out:
            return _copied(stream, out)

    def open(self, key: str) -> BinaryIO:
        return self._path(key).open("rb")

    def size(self, key: str) -> int | None:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError:
            return None

    def digest(self, key: str) -> tuple[str, int] | None:
        try:
            with self.open(key) as stream:
                return hash_stream(stream)
        except FileNotFoundError:
            return None

    def delete(self, key: str) -> None:
        path = self._path(key)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):  # the call's directory, once empty
            path.parent.rmdir()


class _S3Reader(io.RawIOBase):
    """A seekable read of one S3 object: each read is a ranged GET (wrapped in a buffered
    reader by `S3Store.open`)."""

    def __init__(self, client: Any, bucket: str, key: str, size: int) -> None:
        self.client, self.bucket, self.key, self.length = client, bucket, key, size
        self.position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.length}[whence]
        self.position = max(0, base + offset)
        return self.position

    def readinto(self, buffer: Any) -> int:
        wanted = min(len(buffer), self.length - self.position)
        if wanted <= 0:
            return 0
        last = self.position + wanted - 1
        answer = self.client.get_object(
            Bucket=self.bucket, Key=self.key, Range=f"bytes={self.position}-{last}"
        )
        data = answer["Body"].read()
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


class S3Store:
    """Recordings as objects of one bucket (any S3-compatible service: `endpoint_url`), under
    an optional key prefix. `put` spools the stream to a temporary file while hashing it (the
    hash is of the bytes uploaded), then uploads it (multipart when large)."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def describe(self) -> str:
        return f"s3 bucket {self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + _checked(key)

    def put(self, key: str, stream: IO[bytes]) -> tuple[str, int]:
        with tempfile.SpooledTemporaryFile(max_size=SPOOLED_IN_MEMORY_BYTES_MAX) as spool:
            copied = _copied(stream, spool)
            spool.seek(0)
            self.client.upload_fileobj(spool, self.bucket, self._key(key))
        return copied

    def size(self, key: str) -> int | None:
        from botocore.exceptions import ClientError  # noqa: PLC0415 - only with S3

        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(head["ContentLength"])

    def open(self, key: str) -> BinaryIO:
        size = self.size(key)
        if size is None:
            raise FileNotFoundError(key)
        reader = _S3Reader(self.client, self.bucket, self._key(key), size)
        return io.BufferedReader(reader, buffer_size=RECORDING_READ_CHUNK_BYTES)

    def digest(self, key: str) -> tuple[str, int] | None:
        if self.size(key) is None:
            return None
        body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        digest, size = hashlib.sha256(), 0
        for chunk in body.iter_chunks(RECORDING_READ_CHUNK_BYTES):
            digest.update(chunk)
            size += len(chunk)
        return digest.hexdigest(), size

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))


def s3_store(
    *,
    endpoint_url: str | None,
    bucket: str,
    prefix: str,
    region: str | None,
    access_key_id: str | None,
    secret_access_key: str | None,
) -> S3Store:
    """An S3 store over boto3 (credentials given explicitly: nothing here reads the
    environment; None leaves boto3's own chain, e.g. an instance role)."""
    import boto3  # noqa: PLC0415 - boto3 is loaded only when S3 is configured
    from botocore.config import Config  # noqa: PLC0415

    client = boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=Config(
            connect_timeout=5,
            read_timeout=60,
            retries={"max_attempts": 3, "mode": "standard"},
        ),
    )
    return S3Store(client, bucket, prefix)
