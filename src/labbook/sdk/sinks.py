"""Where the sender delivers journal records.

A sink is bound to one run and is idempotent by seq: re-sending records at or below what it already
stored changes nothing, which is what makes ``labbook sync`` safe to repeat.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from labbook import records
from labbook.errors import RecordsRefused, StorageFull, ValidationError
from labbook.store import RunRef

if TYPE_CHECKING:  # SQLAlchemy loads on the sender thread, when the sink is opened
    from labbook.blobs import BlobStore
    from labbook.settings import Settings
    from labbook.store import Store


class Sink(Protocol):
    files_dir: Path
    """Where the run's files are (a ``file`` record's path is relative to it)."""

    def last_seq(self) -> int:
        """Highest seq the destination already holds for this run (0 for a new run)."""
        ...

    def send(self, batch: Sequence[records.AnyRecord]) -> int:
        """Deliver records in seq order; return the highest seq now stored.

        Raises :class:`RecordsRefused` when the destination refuses records of the batch for
        good; anything else (down, busy, no access) is worth retrying later.
        """
        ...

    def close(self) -> None: ...


class LocalSink:
    """The embedded store, in-process: the default when no server is configured."""

    def __init__(self, store: Store, blobs: BlobStore, ref: RunRef, files_dir: Path) -> None:
        self.store = store
        self.blobs = blobs
        self.ref = ref
        self.files_dir = files_dir

    @classmethod
    def from_settings(cls, settings: Settings, ref: RunRef, files_dir: Path) -> LocalSink:
        # The first open imports SQLAlchemy and the store: ~10^5 long-lived objects, whose
        # allocations trigger full collections that walk every object of the process (a
        # training script's torch or keras too). Paused, that import costs 40% less CPU there
        # (130 -> 80 ms beside torch); the collections only wait until it is done.
        with records.gc_paused():
            from labbook.blobs import open_blobstore
            from labbook.store import Store

            store = Store.from_settings(settings)
            blobs = open_blobstore(settings.resolved_blobs_uri(), settings)
        return cls(store, blobs, ref, files_dir)

    def last_seq(self) -> int:
        return self.store.last_seq(self.ref)

    def send(self, batch: Sequence[records.AnyRecord]) -> int:
        # Rows go to the store as the structs ``log()`` made: the store reads their fields in
        # C (records.row_*); turning each into a dict first cost more than storing it.
        with records.gc_paused():
            if dict in set(map(type, batch)):  # rows alone (most batches) hold no file
                for rec in batch:
                    if type(rec) is dict and rec["t"] == records.FILE:
                        self._upload(rec)
            try:
                return self.store.ingest(self.ref, batch)
            except ValidationError as exc:  # the ref was valid when the sink was made: a record's
                raise RecordsRefused(exc.message) from exc

    def _upload(self, rec: records.Record) -> None:
        path = self.files_dir / rec["path"]
        # The file may have been deleted since it was recorded; its hash still names it.
        if path.is_file() and not self.blobs.exists(rec["sha256"]):
            try:
                rec["sha256"] = self.blobs.put_file(path, rec["sha256"])
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                    raise
                raise StorageFull(f"no room for files: {exc.strerror}") from exc

    def close(self) -> None:
        self.store.close()
