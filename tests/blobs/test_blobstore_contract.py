"""One contract for every BlobStore: FileBlobStore on a temp dir, S3BlobStore on a moto server."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from labbook.blobs import BlobStore, FileBlobStore, S3BlobStore, open_blobstore
from labbook.blobs._base import CHUNK
from labbook.errors import NotFoundError, UsageError
from labbook.settings import Settings

WRITE_OPS = {"PutObject", "CreateMultipartUpload", "UploadPart", "CopyObject", "UploadPartCopy"}


@dataclass
class Harness:
    """A store under test plus what the contract needs to look behind it."""

    store: BlobStore
    kind: str
    calls: list[str] = field(default_factory=list)
    """S3 operations sent by the store (recorded from boto3's own event hook, nothing mocked)."""

    def snapshot(self, sha256: str) -> Any:
        """Something that changes whenever the stored object is rewritten."""
        if isinstance(self.store, FileBlobStore):
            st = self.store._path(sha256).stat()
            return st.st_ino, st.st_mtime_ns
        return None  # S3: rewrites are seen in self.calls instead

    def writes(self) -> list[str]:
        return [op for op in self.calls if op in WRITE_OPS]

    def leftovers(self) -> list[str]:
        """Temporary files/objects an upload left behind."""
        if isinstance(self.store, FileBlobStore):
            return [p.name for p in self.store.root.rglob(".tmp-*")]
        assert isinstance(self.store, S3BlobStore)
        listed = self.store.client.list_objects_v2(
            Bucket=self.store.bucket, Prefix=f"{self.store.prefix}/tmp/"
        )
        return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture(params=["file", "s3"])
def h(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Harness]:
    if request.param == "file":
        yield Harness(open_blobstore((tmp_path / "blobs").as_uri()), "file")
        return
    settings: Settings = request.getfixturevalue("s3_settings")
    store = open_blobstore(request.getfixturevalue("s3_uri"), settings)
    assert isinstance(store, S3BlobStore)
    harness = Harness(store, "s3")

    def record(model: Any, **_: Any) -> None:
        harness.calls.append(model.name)

    store.client.meta.events.register("before-call.s3", record)
    yield harness


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_all(store: BlobStore, digest: str) -> bytes:
    return b"".join(store.open_read(digest))


def test_put_bytes_round_trip(h: Harness) -> None:
    data = b"hello blobs\n" * 1000
    digest = h.store.put_bytes(data)
    assert digest == sha(data)
    assert h.store.exists(digest)
    assert h.store.size(digest) == len(data)
    assert read_all(h.store, digest) == data


def test_empty_blob(h: Harness) -> None:
    digest = h.store.put_bytes(b"")
    assert digest == sha(b"")
    assert h.store.exists(digest)
    assert h.store.size(digest) == 0
    assert read_all(h.store, digest) == b""


def test_put_file_round_trip(h: Harness, tmp_path: Path) -> None:
    data = os.urandom(300_000)
    path = tmp_path / "model.bin"
    path.write_bytes(data)
    digest = h.store.put_file(path)
    assert digest == sha(data)
    assert h.store.exists(digest)
    assert h.store.size(digest) == len(data)
    assert read_all(h.store, digest) == data
    # Also with the hash passed in, as the sender does.
    other = tmp_path / "other.bin"
    other.write_bytes(data[::-1])
    assert h.store.put_file(other, sha(data[::-1])) == sha(data[::-1])
    assert read_all(h.store, sha(data[::-1])) == data[::-1]
    assert h.leftovers() == []


def test_dedup_second_put_writes_nothing(h: Harness, tmp_path: Path) -> None:
    data = os.urandom(50_000)
    path = tmp_path / "a.bin"
    path.write_bytes(data)
    digest = h.store.put_file(path)
    if h.kind == "s3":
        assert h.writes(), "first upload should write"
    before = h.snapshot(digest)
    h.calls.clear()

    copy = tmp_path / "same-bytes-other-name.bin"
    copy.write_bytes(data)
    assert h.store.put_file(copy) == digest
    assert h.store.put_file(copy, digest) == digest
    assert h.store.put_bytes(data) == digest

    assert h.snapshot(digest) == before
    assert h.writes() == []
    if h.kind == "s3":
        assert set(h.calls) == {"HeadObject"}, h.calls
    assert h.leftovers() == []


def test_large_file_multipart_and_streamed_read(h: Harness, tmp_path: Path) -> None:
    size = 20 * 1024 * 1024
    path = tmp_path / "big.bin"
    expect = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(size // (1 << 20)):
            block = os.urandom(1 << 20)
            expect.update(block)
            f.write(block)
    digest = h.store.put_file(path)
    assert digest == expect.hexdigest()
    if h.kind == "s3":
        assert "CreateMultipartUpload" in h.calls
        assert h.calls.count("UploadPart") >= 3  # 8 MiB parts
        assert "CompleteMultipartUpload" in h.calls
    assert h.store.size(digest) == size

    got = hashlib.sha256()
    n = total = biggest = 0
    for chunk in h.store.open_read(digest):
        n += 1
        total += len(chunk)
        biggest = max(biggest, len(chunk))
        got.update(chunk)
    assert got.hexdigest() == digest
    assert total == size
    assert n >= size // CHUNK
    assert biggest <= CHUNK
    assert h.leftovers() == []


def test_file_changed_after_hash_is_stored_under_real_hash(h: Harness, tmp_path: Path) -> None:
    path = tmp_path / "log.txt"
    old = b"first version\n" * 100
    new = b"second, longer version\n" * 200
    path.write_bytes(old)
    stale = sha(old)
    path.write_bytes(new)  # changed between hashing (by the caller) and uploading

    digest = h.store.put_file(path, stale)
    assert digest == sha(new)
    assert h.store.exists(digest)
    assert not h.store.exists(stale)
    assert read_all(h.store, digest) == new
    assert h.leftovers() == []


def test_file_changed_to_bytes_already_stored(h: Harness, tmp_path: Path) -> None:
    new = b"already there\n" * 50
    digest = h.store.put_bytes(new)
    before = h.snapshot(digest)
    h.calls.clear()
    path = tmp_path / "f.txt"
    path.write_bytes(new)
    assert h.store.put_file(path, sha(b"what it used to be")) == digest
    assert not h.store.exists(sha(b"what it used to be"))
    assert h.snapshot(digest) == before
    assert "CopyObject" not in h.calls
    assert read_all(h.store, digest) == new
    assert h.leftovers() == []


def test_read_a_byte_range(h: Harness) -> None:
    data = bytes(range(256)) * ((3 * CHUNK) // 256 + 7)  # a few chunks and a partial one
    digest = h.store.put_bytes(data)

    def part(start: int, length: int | None) -> bytes:
        return b"".join(h.store.open_read(digest, start, length))

    assert part(0, None) == data
    assert part(0, 10) == data[:10]
    assert part(5, 1) == data[5:6]
    assert part(CHUNK - 3, 10) == data[CHUNK - 3 : CHUNK + 7]  # across a chunk boundary
    assert part(len(data) - 4, None) == data[-4:]
    assert part(2 * CHUNK + 1, 2 * CHUNK) == data[2 * CHUNK + 1 :]  # past the end: what is left
    assert part(17, 0) == b""
    chunks = list(h.store.open_read(digest, 1, CHUNK + 5))
    assert max(len(c) for c in chunks) <= CHUNK and sum(map(len, chunks)) == CHUNK + 5
    with pytest.raises(UsageError):
        h.store.open_read(digest, -1, None)
    with pytest.raises(NotFoundError):
        h.store.open_read(sha(b"never stored"), 3, 4)
    with pytest.raises(NotFoundError):
        list(h.store.open_read(sha(b"never stored"), 0, 0))


def test_missing_blob(h: Harness) -> None:
    missing = sha(b"never stored")
    assert not h.store.exists(missing)
    with pytest.raises(NotFoundError, match=missing):
        h.store.open_read(missing)  # raises on the call, before any streaming
    with pytest.raises(NotFoundError):
        list(h.store.open_read(missing))
    with pytest.raises(NotFoundError):
        h.store.size(missing)


@pytest.mark.parametrize("bad", ["", "abc", "A" * 64, "g" * 64, "../" + "a" * 61, "a" * 65])
def test_bad_digest_is_usage_error(h: Harness, bad: str) -> None:
    with pytest.raises(UsageError, match="SHA-256"):
        h.store.exists(bad)
    with pytest.raises(UsageError, match="SHA-256"):
        h.store.open_read(bad)
    with pytest.raises(UsageError, match="SHA-256"):
        h.store.size(bad)


def test_s3_key_layout(s3_bucket: str, s3_settings: Settings, s3_uri: str) -> None:
    store = open_blobstore(s3_uri + "/", s3_settings)
    assert isinstance(store, S3BlobStore)
    assert store.uri == s3_uri
    digest = store.put_bytes(b"layout")
    listed = store.client.list_objects_v2(Bucket=s3_bucket, Prefix=store.prefix + "/")
    keys = [o["Key"] for o in listed["Contents"]]
    assert keys == [f"{store.prefix}/{digest[:2]}/{digest[2:4]}/{digest}"]


def test_s3_bucket_root(s3_bucket: str, s3_settings: Settings) -> None:
    store = open_blobstore(f"s3://{s3_bucket}", s3_settings)
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.uri) == (s3_bucket, "", f"s3://{s3_bucket}")
    digest = store.put_bytes(b"at the root")
    head = store.client.head_object(Bucket=s3_bucket, Key=f"{digest[:2]}/{digest[2:4]}/{digest}")
    assert head["ContentLength"] == len(b"at the root")


def test_s3_settings_from_environment(
    moto_endpoint: str, s3_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Existing callers pass only the URI; the endpoint then comes from LABBOOK_S3_*."""
    monkeypatch.setenv("LABBOOK_S3_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("LABBOOK_S3_REGION", "us-east-1")
    store = open_blobstore(s3_uri)
    assert isinstance(store, S3BlobStore)
    assert store.endpoint_url == moto_endpoint
    digest = store.put_bytes(b"env")
    assert read_all(store, digest) == b"env"


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("s3://Bad_Bucket/x", "invalid S3 bucket name"),
        ("s3://ab/x", "invalid S3 bucket name"),
        ("s3://-bucket/x", "invalid S3 bucket name"),
        ("s3://my..bucket/x", "invalid S3 bucket name"),
        ("s3://key:secret@bucket/x", "credentials"),
        ("s3://bucket:9000/x", "LABBOOK_S3_ENDPOINT_URL"),
        ("s3://bucket/a//b", "path segment"),
        ("s3://bucket/a/../b", "path segment"),
        ("s3://bucket/x?versionId=1", "no query"),
        ("s3://bucket/x#frag", "no query"),
        ("gs://bucket/x", "unsupported blob store URI scheme 'gs'"),
        ("bucket/x", "no scheme"),
        ("", "no scheme"),
        ("file://otherhost/x", "must be local"),
    ],
)
def test_bad_uris(uri: str, problem: str) -> None:
    with pytest.raises(UsageError, match=problem):
        open_blobstore(uri, Settings())


def test_import_labbook_does_not_import_boto3(tmp_path: Path) -> None:
    code = (
        "import sys, labbook, labbook.blobs\n"
        "from labbook.blobs import S3BlobStore, open_blobstore\n"
        f"store = open_blobstore({(tmp_path / 'b').as_uri()!r})\n"
        "store.put_bytes(b'x')\n"
        "loaded = sorted(m for m in ('boto3', 'botocore', 's3transfer') if m in sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
