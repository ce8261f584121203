"""Content-addressed blob storage chosen by URI scheme (``file://`` or ``s3://``).

A blob's name is the SHA-256 of its bytes, so a file uploaded twice is stored once and a reference
in the database never goes stale when the file's run is deleted and re-synced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from labbook.blobs._base import BlobStore, check_sha256, sha256_file
from labbook.blobs._file import FileBlobStore
from labbook.blobs._s3 import S3BlobStore  # imports boto3 only when a store is opened
from labbook.errors import UsageError

if TYPE_CHECKING:
    from labbook.settings import Settings


def open_blobstore(uri: str, settings: Settings | None = None) -> BlobStore:
    """The blob store for ``uri``; the scheme picks the implementation.

    ``settings`` supplies the S3 endpoint and region for ``s3://`` URIs; when it is omitted they are
    read from the environment (``LABBOOK_S3_ENDPOINT_URL``, ``LABBOOK_S3_REGION``).
    """
    if not isinstance(uri, str) or "://" not in uri:
        raise UsageError(
            f"blob store URI {uri!r} has no scheme: expected file:///path or s3://bucket/prefix"
        )
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "file":
        return FileBlobStore.from_uri(uri)
    if scheme == "s3":
        if settings is None:
            from labbook.settings import Settings

            settings = Settings()
        return S3BlobStore.from_uri(uri, settings)
    raise UsageError(
        f"unsupported blob store URI scheme {scheme!r} in {uri!r}: expected file:// or s3://"
    )


__all__ = [
    "BlobStore",
    "FileBlobStore",
    "S3BlobStore",
    "check_sha256",
    "open_blobstore",
    "sha256_file",
]
