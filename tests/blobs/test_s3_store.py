"""The s3 and local blob stores against the contract, on a real S3 server (moto_server)."""

from __future__ import annotations

import hashlib

import pytest
from bwenge_blobs.local import LocalBlobStore
from bwenge_blobs.s3 import S3BlobStore
from bwenge_blobs.settings import BlobSettings

from bwenge.contracts.blobs import BlobNotFound, BlobStoreUnavailable


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalBlobStore(tmp_path / "root")
    settings = request.getfixturevalue("s3_settings")
    return S3BlobStore(BlobSettings(**settings).s3)


def test_put_open_copy_stat_list_delete(store, tmp_path):
    data = bytes(range(256)) * 40_000  # ~10 MB: a multipart upload on s3
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    info = store.put_file("knowledge/org1/s1.pdf", src, sha256=digest)
    assert info.size == len(data) and info.sha256 == digest
    store.put_file("avatars/a.glb", src)
    with store.open("knowledge/org1/s1.pdf") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest
    with store.local_copy("knowledge/org1/s1.pdf") as path:
        assert path.read_bytes() == data
    stat = store.stat("knowledge/org1/s1.pdf")
    assert stat.size == len(data) and stat.modified > 0
    assert [b.key for b in store.list("knowledge/")] == ["knowledge/org1/s1.pdf"]
    store.delete("knowledge/org1/s1.pdf")
    store.delete("knowledge/org1/s1.pdf")  # missing: not an error
    assert store.stat("knowledge/org1/s1.pdf") is None
    with pytest.raises(BlobNotFound):
        with store.open("knowledge/org1/s1.pdf"):
            pass
    with pytest.raises(BlobNotFound):
        with store.local_copy("knowledge/org1/s1.pdf"):
            pass
    assert store.check() is None


def test_checksum_mismatch_leaves_nothing(store, tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    with pytest.raises(ValueError, match="SHA-256"):
        store.put_file("avatars/x.glb", src, sha256="0" * 64)
    assert store.stat("avatars/x.glb") is None
    assert list(store.list("avatars/")) == []


@pytest.mark.parametrize("key", ["../x", "/etc/passwd", "a//b", "a/./b", "a\\b", ""])
def test_unsafe_keys_are_refused(store, tmp_path, key):
    src = tmp_path / "src.bin"
    src.write_bytes(b"x")
    with pytest.raises(ValueError):
        store.put_file(key, src)


def test_server_gone_mid_upload_is_unavailable(moto, s3_settings, tmp_path):
    store = S3BlobStore(BlobSettings(**s3_settings).s3)
    src = tmp_path / "big.bin"
    src.write_bytes(b"z" * (30 * 1024 * 1024))  # multipart: the server dies between parts
    stopped = []

    def stop_server(**_):
        if not stopped:
            stopped.append(1)
            moto.stop()

    store.client.meta.events.register("before-send.s3.UploadPart", stop_server)
    try:
        with pytest.raises(BlobStoreUnavailable) as err:
            store.put_file("avatars/big.glb", src)
        assert stopped and err.value.status == 503 and "unavailable" in str(err.value)
        assert store.check() is not None  # readiness says why
    finally:
        moto.start()
