"""The run journal: the client's source of truth.

The training thread only appends Python records to an in-memory deque; a writer thread frames them
(``records.frame``) and appends them to the journal file at least every ``flush_interval`` seconds.
A record that reached the file survives a SIGKILL of the process (it is in the OS page cache);
``close()`` fsyncs so it also survives a power cut. The sender and ``labbook sync`` read the same
file from the last acknowledged offset.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from labbook import records
from labbook.errors import JournalError

JOURNAL_NAME = "run.lbj"
FRAME_RECORDS = 4096
"""At most this many records per journal frame (a torn frame loses at most one flush anyway)."""
ACKED_NAME = "acked.json"
LOCK_NAME = "run.lock"
FILES_DIR = "files"


@dataclass(frozen=True)
class RunDir:
    """Layout of one run's folder: ``<parent>/labbook/[offline-]run-YYYYMMDD_HHMMSS-<id>/``."""

    path: Path

    @property
    def journal(self) -> Path:
        return self.path / JOURNAL_NAME

    @property
    def acked(self) -> Path:
        return self.path / ACKED_NAME

    @property
    def lock(self) -> Path:
        return self.path / LOCK_NAME

    @property
    def files(self) -> Path:
        return self.path / FILES_DIR

    @classmethod
    def create(cls, parent: Path, run_id: str, offline: bool, started: float) -> RunDir:
        root = parent / "labbook"
        stamp = time.strftime("%Y%m%d_%H%M%S", time.localtime(started))
        prefix = "offline-run" if offline else "run"
        root.mkdir(parents=True, exist_ok=True)
        # A run resumed within the same second gets its own folder: one journal per process.
        path = root / f"{prefix}-{stamp}-{run_id}"
        n = 1
        while True:
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
                path = root / f"{prefix}-{stamp}-{run_id}-{n}"
        (path / FILES_DIR).mkdir()
        link = root / ("latest-run")
        # The symlink is a convenience; a filesystem without symlinks must not stop the run.
        with contextlib.suppress(OSError):
            tmp = root / f".latest-run-{os.getpid()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(path.name)
            os.replace(tmp, link)
        return cls(path)

    @classmethod
    def find(cls, path: Path) -> RunDir:
        """The run dir for a path given on the command line (the dir, its journal or a symlink)."""
        p = Path(path)
        if p.is_file() and p.name == JOURNAL_NAME:
            p = p.parent
        p = p.resolve()
        if not (p / JOURNAL_NAME).is_file():
            raise JournalError(f"{path} is not a labbook run directory (no {JOURNAL_NAME} in it)")
        return cls(p)

    def read_acked(self) -> tuple[int, int]:
        """``(seq, byte offset)`` the sink confirmed; ``(0, header size)`` when nothing was."""
        try:
            data = json.loads(self.acked.read_text())
            return int(data["seq"]), int(data["offset"])
        except (OSError, ValueError, KeyError, TypeError):
            return 0, len(records.FILE_MAGIC)

    def write_acked(self, seq: int, offset: int) -> None:
        tmp = self.acked.with_name(f".{ACKED_NAME}.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps({"seq": seq, "offset": offset}))
        os.replace(tmp, self.acked)

    def try_lock(self) -> int | None:
        """Take the run's exclusive lock; the fd while held, None when a live process holds it.

        The training process holds this lock for its whole life, so ``labbook sync`` can tell a run
        whose process died (lock free, no exit record: crashed) from one still running.
        """
        fd = os.open(self.lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return None
        return fd


def release_lock(fd: int | None) -> None:
    if fd is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def read_records(
    path: Path, offset: int | None = None
) -> Iterator[tuple[int, int, records.Record]]:
    """Yield ``(end_offset, seq, record)`` from a journal file, stopping at a torn tail."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    if not data.startswith(records.FILE_MAGIC):
        raise JournalError(f"{path} is not a labbook journal")
    start = len(records.FILE_MAGIC) if offset is None else max(offset, len(records.FILE_MAGIC))
    yield from records.iter_records(data, start)


def valid_length(path: Path) -> tuple[int, int]:
    """``(bytes up to the last intact frame, last seq)``: where an appender may continue."""
    data = path.read_bytes()
    end, last_payload = len(records.FILE_MAGIC), b""
    for frame_end, _, payload in records.iter_frames(data, end):
        end, last_payload = frame_end, payload
    last = records.decode_batch(last_payload)[-1]["seq"] if last_payload else 0
    return end, last


class JournalWriter:
    """Appends records to the journal from a background thread.

    ``put`` is the only method the training thread calls: a deque append, no I/O, no lock.
    """

    def __init__(
        self,
        path: Path,
        *,
        flush_interval: float = 0.1,
        start_seq: int = 0,
        on_flush: Callable[[int, list[records.AnyRecord]], None] | None = None,
        tick: Callable[[], None] | None = None,
        files_dir: Path | None = None,
    ) -> None:
        self.path = path
        self.files_dir = files_dir if files_dir is not None else path.parent / FILES_DIR
        self.flush_interval = flush_interval
        self._seq = start_seq
        self._queue: deque[records.AnyRecord] = deque()
        self._wake = threading.Event()
        self._stop = False
        self._on_flush = on_flush
        self._tick = tick
        self._pending = bytearray()
        self._warned = False
        new = not path.exists() or path.stat().st_size == 0
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if new:
            os.write(self._fd, records.FILE_MAGIC)
        self._end = os.fstat(self._fd).st_size
        self._written: list[records.AnyRecord] = []
        self._thread = threading.Thread(target=self._loop, name="labbook-journal", daemon=True)
        self._thread.start()

    @property
    def last_seq(self) -> int:
        """Seq of the last record written to the file (the writer thread's view)."""
        return self._seq

    def put(self, record: records.AnyRecord) -> None:
        self._queue.append(record)

    @property
    def putter(self) -> Callable[[records.AnyRecord], None]:
        """``put`` without the Python call in between: the queue's own ``append``, for the
        training thread's hot path."""
        return self._queue.append

    def stop_ticks(self) -> None:
        """No more periodic records (heartbeats): the exit record must stay the journal's last."""
        self._tick = None

    def _loop(self) -> None:
        # Sleep half the interval: a record waits at most one interval before it is written.
        half = self.flush_interval / 2
        while not self._stop:
            self._wake.wait(half)
            self._wake.clear()
            tick = self._tick
            if tick is not None:
                tick()
            self._drain()
        self._drain()

    def _drain(self) -> None:
        queue = self._queue
        if queue:
            popleft = queue.popleft
            # Only this thread takes from the queue, so at least len(queue) records are there.
            batch: list[records.AnyRecord] = [popleft() for _ in range(len(queue))]
            if dict in set(map(type, batch)):  # rows are HistoryRow: most batches skip this
                batch = [
                    rec
                    for rec in batch
                    if type(rec) is not dict or "_bytes" not in rec or self._write_file(rec)
                ]
            for i in range(0, len(batch), FRAME_RECORDS):
                self._frame(batch[i : i + FRAME_RECORDS])
        if self._pending:
            try:
                n = os.write(self._fd, self._pending)
                del self._pending[:n]
                self._end += n
            except OSError as exc:
                # Disk full or similar: keep the bytes and retry on the next tick.
                self._warn(f"labbook: journal write failed, will retry: {exc}")
                return
            if not self._pending:
                # Hand the records on as objects too: the sender need not read back and decode
                # what this thread just encoded (the file stays the source of truth).
                recs, self._written = self._written, []
                if self._on_flush is not None:
                    self._on_flush(self._end, recs)

    def _frame(self, chunk: list[records.AnyRecord]) -> None:
        """Number the records and append them to the pending bytes as one frame."""
        seq = self._seq
        row = records.HistoryRow
        for rec in chunk:
            seq += 1
            if type(rec) is row:
                rec.seq = seq
            else:
                rec["seq"] = seq
        try:
            payload = records.encode_batch(chunk)
        except (TypeError, ValueError, OverflowError):
            # log() validated every value, so this is rare: find the culprit, keep the rest.
            chunk = [rec for rec in chunk if self._encodable(rec)]
            if not chunk:
                return
            seq = self._seq
            for rec in chunk:
                seq += 1
                rec["seq"] = seq
            payload = records.encode_batch(chunk)
        if len(payload) > records.MAX_PAYLOAD:
            # Readers take a longer frame for a damaged one. A record is at most
            # limits.MAX_RECORD_BYTES, so halves always get there; one alone past it never
            # came through log().
            if len(chunk) > 1:
                self._frame(chunk[: len(chunk) // 2])
                self._frame(chunk[len(chunk) // 2 :])
            else:
                self._warn(f"labbook: dropped a {len(payload):,}-byte {chunk[0].get('t')!r} record")
            return
        self._pending += records.frame(chunk[0]["seq"], payload)
        self._seq = seq
        self._written.extend(chunk)

    def _encodable(self, rec: records.AnyRecord) -> bool:
        try:
            records.encode(rec)
        except (TypeError, ValueError, OverflowError) as exc:
            self._warn(f"labbook: dropped an unencodable {rec.get('t')!r} record: {exc}")
            return False
        return True

    def _write_file(self, rec: records.Record) -> bool:
        """Write a ``file`` record's bytes (``_bytes``, removed here) to ``files_dir/path``.

        Media logged with ``log()`` reach disk here, on this thread, never on the training thread;
        the record is journaled only after its file exists, so a sink always finds the file.
        """
        data: bytes = rec.pop("_bytes")
        rel = str(rec.get("path", ""))
        parts = rel.split("/")
        if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
            self._warn(f"labbook: dropped a file with an unsafe path {rel!r}")
            return False
        dest = self.files_dir.joinpath(*parts)
        tmp = dest.with_name(f".{dest.name}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        except OSError as exc:
            self._warn(f"labbook: could not write {dest}, dropped it: {exc}")
            with contextlib.suppress(OSError):
                tmp.unlink()
            return False
        return True

    def _warn(self, msg: str) -> None:
        if not self._warned:
            self._warned = True
            print(msg, file=sys.__stderr__)

    def close(self) -> None:
        """Write everything queued, fsync, close. Safe to call twice."""
        if self._fd < 0:
            return
        self._stop = True
        self._wake.set()
        self._thread.join()
        # Retry leftovers once more (a transient error); what still fails is reported.
        self._drain()
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
