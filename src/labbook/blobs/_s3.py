"""Blobs as objects in an S3 bucket (or an S3-compatible service), fanned out by hash prefix.

``s3://bucket/prefix`` stores a blob under ``<prefix>/<aa>/<bb>/<sha256>``. boto3 is imported only
when such a store is opened (``pip install 'labbook[s3]'``), never by ``import labbook``.

Credentials come from boto3's usual chain (``AWS_*`` variables, ``~/.aws``, instance roles); the
endpoint of an S3-compatible service (MinIO, Ceph, R2, ...) and the region come from
:class:`~labbook.settings.Settings` (``LABBOOK_S3_ENDPOINT_URL``, ``LABBOOK_S3_REGION``).

How ``put_file`` stays honest when the file changes after it was hashed: the bytes are streamed
once, through a hashing reader, to a temporary key ``<prefix>/tmp/<uuid>``; only then is the hash of
*what was actually uploaded* known, and the object is copied server-side to the key of that hash
and the temporary key deleted. Uploading straight to the final key and verifying afterwards would
briefly expose wrong bytes under a content-addressed name, and undoing it (a delete) could remove a
correct copy a concurrent writer had just stored; the temporary key never has either problem. The
price is one server-side copy per new blob (no extra data through the client). Temporary keys left
by a killed process are garbage: a bucket lifecycle rule expiring ``<prefix>/tmp/`` after a day
cleans them up.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

from labbook.blobs._base import CHUNK, check_range, check_sha256, sha256_file
from labbook.errors import NotFoundError, UsageError

if TYPE_CHECKING:
    from labbook.settings import Settings

MIB = 1 << 20
GIB = 1 << 30
PART_SIZE = 8 * MIB
"""Multipart part size for ordinary files; larger files get larger parts (at most 9000 parts)."""
MAX_PARTS = 9000
"""Below S3's 10,000-part limit, leaving room for a file that grows while it is uploaded."""
UPLOAD_BUFFER = 64 * MIB
"""Roughly the most memory one upload holds in buffered parts."""
COPY_THRESHOLD = 4 * GIB
"""Below this a temporary object is moved with one CopyObject (S3 allows up to 5 GB)."""

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix``; UsageError naming what is wrong otherwise.

    The prefix has no leading or trailing slash and may be empty (the bucket's root).
    """
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise UsageError(f"not an s3:// URI: {uri!r}")
    parts = urlsplit(uri)
    if parts.query or parts.fragment or "?" in uri or "#" in uri:
        raise UsageError(f"s3:// blob URI takes no query or fragment: {uri!r}")
    netloc = parts.netloc
    if "@" in netloc:
        raise UsageError(
            f"s3:// blob URI must not carry credentials: {uri!r}; "
            "use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile"
        )
    if ":" in netloc:
        raise UsageError(
            f"s3:// blob URI names a bucket, not a host:port: {uri!r}; "
            "set LABBOOK_S3_ENDPOINT_URL for an S3-compatible service"
        )
    if not netloc:
        raise UsageError(f"s3:// blob URI has no bucket: {uri!r}; expected s3://bucket/prefix")
    if not _BUCKET.match(netloc) or ".." in netloc:
        raise UsageError(
            f"invalid S3 bucket name {netloc!r} in {uri!r}: 3-63 lowercase letters, digits, "
            "dots or hyphens, starting and ending with a letter or digit"
        )
    prefix = parts.path.strip("/")
    if prefix:
        segments = prefix.split("/")
        if any(s in ("", ".", "..") for s in segments):
            raise UsageError(f"s3:// blob URI has an empty, '.' or '..' path segment: {uri!r}")
    return netloc, prefix


class _HashingReader:
    """A read-only, *non-seekable* view of a file that hashes every byte it hands out.

    Non-seekable on purpose: boto3's managed transfer then reads each part exactly once, in order,
    into memory before sending it (retries resend that buffer), so the digest is that of the bytes
    S3 received. With a seekable file it would read parts concurrently and re-read on retry.
    """

    def __init__(self, f: BinaryIO) -> None:
        self._f = f
        self._h = hashlib.sha256()
        self.size = 0

    def read(self, amount: int | None = -1) -> bytes:
        data = self._f.read(-1 if amount is None else amount)
        self._h.update(data)
        self.size += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def hexdigest(self) -> str:
        return self._h.hexdigest()


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    code = response.get("Error", {}).get("Code")
    if code is None:
        code = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return str(code)


def _iter_body(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


class S3BlobStore:
    """``s3://bucket/prefix``: blobs in S3 or an S3-compatible object store."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self.endpoint_url = endpoint_url
        self.region = region
        if client is None:
            client = self._make_client(endpoint_url, region)
        self.client = client
        """The boto3 S3 client (thread-safe; shared by every call on this store)."""

    @classmethod
    def from_uri(cls, uri: str, settings: Settings | None = None) -> S3BlobStore:
        bucket, prefix = parse_s3_uri(uri)
        return cls(
            bucket,
            prefix,
            endpoint_url=settings.s3_endpoint_url if settings is not None else None,
            region=settings.s3_region if settings is not None else None,
        )

    @staticmethod
    def _make_client(endpoint_url: str | None, region: str | None) -> Any:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:  # pragma: no cover - depends on the installation
            raise UsageError("s3:// blob stores need boto3: pip install 'labbook[s3]'") from None
        # A session of our own: boto3's default session is not thread-safe to create clients from.
        session = boto3.session.Session()
        config = Config(retries={"mode": "standard", "max_attempts": 5})
        return session.client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config
        )

    # -- keys ---------------------------------------------------------------------------------

    def _key(self, sha256: str) -> str:
        check_sha256(sha256)
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _tmp_key(self) -> str:
        name = f"tmp/{uuid.uuid4().hex}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _head(self, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            result: dict[str, Any] = self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                return None
            raise
        return result

    def _copy_args(self) -> dict[str, str]:
        # Have the copy get a freshly computed full-object checksum: a multipart source carries a
        # per-part composite one, which GetObject's checksum validation would otherwise check the
        # copy's bytes against (and fail). Skipped when the user turned flexible checksums off
        # (AWS_REQUEST_CHECKSUM_CALCULATION=when_required) for a service that lacks them.
        mode = getattr(self.client.meta.config, "request_checksum_calculation", None)
        return {"ChecksumAlgorithm": "CRC32"} if mode == "when_supported" else {}

    # -- BlobStore ----------------------------------------------------------------------------

    def exists(self, sha256: str) -> bool:
        return self._head(self._key(sha256)) is not None

    def size(self, sha256: str) -> int:
        head = self._head(self._key(sha256))
        if head is None:
            raise NotFoundError(f"blob {sha256} not found")
        return int(head["ContentLength"])

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        key = self._key(digest)
        if self._head(key) is None:
            # The bytes are already in memory and hashed, so they go straight to their final key:
            # a single PutObject is atomic, no reader ever sees part of it.
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        return digest

    def put_file(self, path: Path, sha256: str | None = None) -> str:
        from boto3.s3.transfer import TransferConfig

        digest = check_sha256(sha256) if sha256 else sha256_file(path)[0]
        if self.exists(digest):
            return digest
        if os.stat(path).st_size <= PART_SIZE:
            # A small file (most of an artifact's) is read whole and goes straight to the key of
            # the bytes read, in one atomic PutObject: no temporary object, no server-side copy
            # (which cost moto and S3 the upload's work a second time).
            with open(path, "rb") as f:
                data = f.read(PART_SIZE + 1)
            if len(data) <= PART_SIZE:
                real = hashlib.sha256(data).hexdigest()
                if real != digest and self.exists(real):
                    return real
                self.client.put_object(Bucket=self.bucket, Key=self._key(real), Body=data)
                return real
        tmp = self._tmp_key()
        try:
            with open(path, "rb") as f:
                reader = _HashingReader(f)
                expected = os.fstat(f.fileno()).st_size
                part = max(PART_SIZE, math.ceil(expected / MAX_PARTS / MIB) * MIB)
                upload_config = TransferConfig(
                    multipart_threshold=PART_SIZE,
                    multipart_chunksize=part,
                    max_concurrency=4,
                    preferred_transfer_client="classic",
                )
                # Bounds the parts buffered from the non-seekable reader (an s3transfer setting
                # that boto3's constructor does not take).
                upload_config.max_in_memory_upload_chunks = max(2, UPLOAD_BUFFER // part)
                self.client.upload_fileobj(reader, self.bucket, tmp, Config=upload_config)
            real = reader.hexdigest()
            key = self._key(real)
            # The file may have changed since it was hashed: what counts is what was uploaded.
            if real == digest or self._head(key) is None:
                copy_config = TransferConfig(
                    multipart_threshold=COPY_THRESHOLD,
                    multipart_chunksize=max(512 * MIB, math.ceil(reader.size / MAX_PARTS)),
                    max_concurrency=4,
                    preferred_transfer_client="classic",
                )
                self.client.copy(
                    {"Bucket": self.bucket, "Key": tmp},
                    self.bucket,
                    key,
                    ExtraArgs=self._copy_args(),
                    Config=copy_config,
                )
        except BaseException:
            with contextlib.suppress(Exception):  # keep the original error, not the cleanup's
                self.client.delete_object(Bucket=self.bucket, Key=tmp)
            raise
        self.client.delete_object(Bucket=self.bucket, Key=tmp)
        return real

    def open_read(self, sha256: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        # GetObject is sent here, not inside the generator, so a missing blob raises on the call
        # itself (a server can answer 404 before it starts streaming); the body is then read in
        # CHUNK-sized pieces, never whole.
        from botocore.exceptions import ClientError

        check_range(start, length)
        if length == 0:
            if not self.exists(sha256):
                raise NotFoundError(f"blob {sha256} not found")
            return iter(())
        key = self._key(sha256)
        extra: dict[str, str] = {}
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            extra["Range"] = f"bytes={start}-{end}"
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=key, **extra)
        except ClientError as exc:
            if _error_code(exc) in _NOT_FOUND_CODES:
                raise NotFoundError(f"blob {sha256} not found") from None
            raise
        return _iter_body(response["Body"])

    def __repr__(self) -> str:
        endpoint = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3BlobStore({self.uri!r}{endpoint})"
