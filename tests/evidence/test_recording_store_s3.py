"""The recordings store on S3-compatible object storage (boto3), against moto's S3 server: a
real HTTP server speaking S3's protocol on a loopback port (not AWS, nor MinIO: the
differences of a real service — multipart limits, consistency — are not exercised here)."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator

import pytest

from domain.errors import ValidationError
from domain.recording import recording_id, recording_key
from evidence.recordings import S3Store, s3_store

pytestmark = pytest.mark.integration
moto_server = pytest.importorskip("moto.server")
CALL = "call_" + "1" * 32


@pytest.fixture
def store() -> Iterator[S3Store]:
    from ppcx.services import free_loopback_port

    port = free_loopback_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        found = s3_store(
            endpoint_url=f"http://127.0.0.1:{port}",
            bucket="ppcx-recordings",
            prefix="test/",
            region="us-east-1",
            access_key_id="testing",
            secret_access_key="testing",
        )
        found.client.create_bucket(Bucket="ppcx-recordings")
        yield found
    finally:
        server.stop()


def test_put_open_with_seek_digest_and_delete(store: S3Store) -> None:
    key = recording_key(CALL, recording_id(CALL, "RE" + "b" * 32), "audio/wav")
    data = bytes(range(256)) * 4000  # ~1 MB
    assert store.put(key, io.BytesIO(data)) == (hashlib.sha256(data).hexdigest(), len(data))
    assert store.size(key) == len(data)
    listed = store.client.list_objects_v2(Bucket="ppcx-recordings")["Contents"]
    assert [o["Key"] for o in listed] == [f"test/{key}"]
    with store.open(key) as stream:
        stream.seek(500_000)
        assert stream.read(1000) == data[500_000:501_000]
        stream.seek(-10, io.SEEK_END)
        assert stream.read() == data[-10:]
    assert store.digest(key) == (hashlib.sha256(data).hexdigest(), len(data))
    store.delete(key)
    assert store.size(key) is None
    assert store.digest(key) is None
    with pytest.raises(FileNotFoundError):
        store.open(key)
    with pytest.raises(ValidationError):
        store.put("../other/key.wav", io.BytesIO(b"x"))
