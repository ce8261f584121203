"""A run's files as the read API shows them: ``run.files()``, ``run.file(name).download(root)``.

Local runs read the bytes from the configured blob store, server runs stream them from the
server; either way the download is checked against the stored SHA-256 and lands under its name
only once complete, so an interrupted download never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from labbook.errors import LabbookError, NotFoundError, ValidationError
from labbook.store import FileInfo, RunRef, Store

if TYPE_CHECKING:
    from labbook.api._runs import Api


class ApiFile:
    """One file of a stored run (wandb's ``File``): ``name``, ``size``, ``sha256``, ``download``."""

    def __init__(self, api: Api, ref: RunRef, info: FileInfo) -> None:
        self._api = api
        self._ref = ref
        self._info = info

    @property
    def name(self) -> str:
        """The path inside the run, ``/``-separated (``model-best.keras``, ``code/train.py``)."""
        return self._info.path

    @property
    def path(self) -> str:
        return self._info.path

    @property
    def size(self) -> int:
        return self._info.size

    @property
    def sha256(self) -> str:
        return self._info.sha256

    @property
    def updated_at(self) -> dt.datetime:
        return self._info.updated_at

    def download(
        self, root: str | os.PathLike[str] = ".", replace: bool = False, exist_ok: bool = False
    ) -> TextIO:
        """Write the file to ``root/<name>`` and return it opened for reading (as wandb does).

        An existing file raises ``ValueError`` unless ``replace=True`` (download again) or
        ``exist_ok=True`` (keep it and open it).
        """
        base = Path(root)
        dest = base / self.name
        if not dest.resolve().is_relative_to(base.resolve()):
            raise ValidationError(f"file name {self.name!r} leaves the download directory")
        if dest.exists() and not replace:
            if exist_ok:
                return open(dest)
            raise ValueError(
                f"{dest} already exists: pass replace=True to download it again or "
                "exist_ok=True to keep it"
            )
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", dir=dest.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                digest = self._copy_to(out)
            if digest != self.sha256:
                raise LabbookError(
                    f"{self.name}: the downloaded bytes do not match the stored SHA-256"
                )
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return open(dest)

    def _copy_to(self, out: BinaryIO) -> str:
        """Write the bytes into ``out``; their SHA-256."""
        h = hashlib.sha256()
        sink = _Hashing(out, h)
        reader = self._api.reader
        if isinstance(reader, Store):
            blobs = self._api.blobs
            if not blobs.exists(self.sha256):
                raise NotFoundError(
                    f"the content of {self.name!r} is missing from the blob store "
                    f"({self._api.settings.resolved_blobs_uri()})"
                )
            for chunk in blobs.open_read(self.sha256):
                sink.write(chunk)
        else:
            reader.download_to(self._ref, self.name, sink)
        return h.hexdigest()

    def __repr__(self) -> str:
        return f"<File {self.name} ({self.size} bytes)>"


class _Hashing:
    """A binary writer that hashes what passes through it."""

    def __init__(self, out: BinaryIO, h: Any) -> None:
        self._out = out
        self._h = h

    def write(self, data: bytes) -> int:
        self._h.update(data)
        return self._out.write(data)
