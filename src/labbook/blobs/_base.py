"""The BlobStore plug point: a few methods wide, so a new scheme is one small class."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from labbook.errors import UsageError

CHUNK = 1 << 20

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def check_sha256(sha256: str) -> str:
    """``sha256`` itself when it is a lowercase SHA-256 hex digest; UsageError otherwise."""
    if not isinstance(sha256, str) or not _HEX64.match(sha256):
        raise UsageError(f"not a SHA-256 hex digest: {sha256!r}")
    return sha256


def check_range(start: int, length: int | None) -> None:
    if start < 0 or (length is not None and length < 0):
        raise UsageError(f"invalid byte range: start {start}, length {length}")


def sha256_file(path: Path) -> tuple[str, int]:
    """SHA-256 hex digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


class BlobStore(Protocol):
    """Content-addressed storage of immutable byte strings keyed by their SHA-256."""

    uri: str

    def exists(self, sha256: str) -> bool: ...

    def put_file(self, path: Path, sha256: str | None = None) -> str:
        """Store a file's bytes unless already present; return its SHA-256."""
        ...

    def put_bytes(self, data: bytes) -> str: ...

    def open_read(self, sha256: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        """Stream a blob's bytes in chunks, from byte ``start``, at most ``length`` of them (all
        by default; a file preview or an HTTP Range reads only its part); raises
        NotFoundError when missing."""
        ...

    def size(self, sha256: str) -> int:
        """A blob's size in bytes (for Content-Length); raises NotFoundError when missing."""
        ...
