"""Where the sender delivers journal records.

A sink is bound to one run and is idempotent by seq: re-sending records at or below what it already
stored changes nothing, which is what makes ``labbook sync`` safe to repeat.
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from labbook import records
from labbook.blobs import BlobStore, open_blobstore
from labbook.errors import StorageFull
from labbook.settings import Settings
from labbook.store import RunRef, Store


class Sink(Protocol):
    def last_seq(self) -> int:
        """Highest seq the destination already holds for this run (0 for a new run)."""
        ...

    def send(self, batch: Sequence[records.AnyRecord]) -> int:
        """Deliver records in seq order; return the highest seq now stored."""
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
        store = Store.open(settings.resolved_db_url(), crash_after=settings.crash_after)
        return cls(store, open_blobstore(settings.resolved_blobs_uri(), settings), ref, files_dir)

    def last_seq(self) -> int:
        return self.store.last_seq(self.ref)

    def send(self, batch: Sequence[records.AnyRecord]) -> int:
        # Paused GC: the dict forms of the rows live only while they are stored (see HistoryRow).
        with records.gc_paused():
            return self._send(records.as_dicts(batch))

    def _send(self, batch: list[records.Record]) -> int:
        for rec in batch:
            if rec["t"] == records.FILE:
                path = self.files_dir / rec["path"]
                # The file may have been deleted since it was recorded; its hash still names it.
                if path.is_file() and not self.blobs.exists(rec["sha256"]):
                    try:
                        rec["sha256"] = self.blobs.put_file(path, rec["sha256"])
                    except OSError as exc:
                        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                            raise
                        raise StorageFull(f"no room for files: {exc.strerror}") from exc
        return self.store.ingest(self.ref, batch)

    def close(self) -> None:
        self.store.close()
