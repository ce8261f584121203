"""Content-addressed blob storage chosen by URI scheme (``file://``; ``s3://`` later).

A blob's name is the SHA-256 of its bytes, so a file uploaded twice is stored once and a reference
in the database never goes stale when the file's run is deleted and re-synced.
"""

from __future__ import annotations

from labbook.blobs._base import BlobStore, sha256_file
from labbook.blobs._file import FileBlobStore
from labbook.errors import UsageError


def open_blobstore(uri: str) -> BlobStore:
    """The blob store for ``uri``; the scheme picks the implementation."""
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme == "file":
        return FileBlobStore.from_uri(uri)
    raise UsageError(f"unsupported blob store URI {uri!r}: expected file://")


__all__ = ["BlobStore", "FileBlobStore", "open_blobstore", "sha256_file"]
