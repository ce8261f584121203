"""Blobs as files under a directory, fanned out by hash prefix."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

from labbook.blobs._base import CHUNK, check_range, sha256_file
from labbook.errors import NotFoundError, UsageError

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class FileBlobStore:
    """``file:///path``: the default store, under the data directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.uri = self.root.as_uri()

    @classmethod
    def from_uri(cls, uri: str) -> FileBlobStore:
        parsed = urlparse(uri)
        if parsed.netloc not in ("", "localhost"):
            raise UsageError(f"file:// blob URI must be local, got host {parsed.netloc!r}")
        return cls(Path(unquote(parsed.path)))

    def _path(self, sha256: str) -> Path:
        if not _HEX64.match(sha256):
            raise UsageError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def put_file(self, path: Path, sha256: str | None = None) -> str:
        digest = sha256 or sha256_file(path)[0]
        dest = self._path(digest)
        if dest.exists():
            return digest
        dest.parent.mkdir(parents=True, exist_ok=True)
        h = hashlib.sha256()
        # Copy to a temp file in the same directory, verify, then rename: a reader never sees a
        # partial blob and a file that changed since it was hashed is stored under its real hash.
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                while chunk := src.read(CHUNK):
                    h.update(chunk)
                    out.write(chunk)
            real = h.hexdigest()
            if real != digest:
                dest = self._path(real)
                digest = real
                if dest.exists():  # changed into bytes already stored: keep the stored blob
                    Path(tmp).unlink()
                    return digest
                dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def put_bytes(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        dest = self._path(digest)
        if dest.exists():
            return digest
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, dest)
        return digest

    def open_read(self, sha256: str, start: int = 0, length: int | None = None) -> Iterator[bytes]:
        # Opened here, not inside the generator, so a missing blob raises on the call itself and a
        # server can answer 404 before it starts streaming.
        check_range(start, length)
        path = self._path(sha256)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by _read_chunks when the stream ends
        except FileNotFoundError:
            raise NotFoundError(f"blob {sha256} not found") from None
        if start:
            f.seek(start)
        return _read_chunks(f, length)

    def size(self, sha256: str) -> int:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            raise NotFoundError(f"blob {sha256} not found") from None


def _read_chunks(f: BinaryIO, length: int | None = None) -> Iterator[bytes]:
    left = -1 if length is None else length
    with f:
        while left and (chunk := f.read(CHUNK if left < 0 else min(CHUNK, left))):
            left -= len(chunk) if left > 0 else 0
            yield chunk
