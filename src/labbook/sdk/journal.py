"""The run journal: the client's source of truth.

The training thread only appends Python records to an in-memory deque; a writer thread frames them
(``records.frame``) and appends them to the journal file at least every ``flush_interval`` seconds.
A record that reached the file survives a SIGKILL of the process (it is in the OS page cache);
``close()`` fsyncs so it also survives a power cut. The sender and ``labbook sync`` read the same
file from the last acknowledged offset.
"""

from __future__ import annotations

import contextlib
import errno
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
_HELD_FRAME_RECORDS = 256
"""Records per frame while writes fail, so the buffer bound is checked every few kB."""
ACKED_NAME = "acked.json"
LOCK_NAME = "run.lock"
FILES_DIR = "files"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_os_write = os.write
"""The writer's one system call for journal bytes (tests put a full disk behind it)."""


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
        """Note how far the sink has stored. Only a hint to start the next replay further on
        (the sink ignores seqs it holds), so a run dir that cannot be written (a full disk, a
        read-only copy) costs a longer replay later, never a failure now."""
        tmp = self.acked.with_name(f".{ACKED_NAME}.{os.getpid()}.{threading.get_ident()}")
        try:
            tmp.write_text(json.dumps({"seq": seq, "offset": offset}))
            os.replace(tmp, self.acked)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()

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
    path: Path,
    offset: int | None = None,
    *,
    final: bool = False,
    skipped: list[records.Skipped] | None = None,
) -> Iterator[tuple[int, int, records.Record]]:
    """Yield ``(end_offset, seq, record)`` from a journal file, past damage (noted in
    ``skipped``); with ``final``, a torn tail is noted too. The file is only read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    if not data.startswith(records.FILE_MAGIC):
        raise JournalError(f"{path} is not a labbook journal")
    start = len(records.FILE_MAGIC) if offset is None else max(offset, len(records.FILE_MAGIC))
    yield from records.iter_records(data, start, final=final, skipped=skipped)


def valid_length(path: Path) -> tuple[int, int]:
    """``(bytes up to the last intact frame, highest seq in the journal)``.

    Damaged regions in the middle are read past, as every reader does; bytes after the last
    intact frame (a torn tail) are not counted.
    """
    data = path.read_bytes()
    end, last_payload = len(records.FILE_MAGIC), b""
    for frame_end, _, payload in records.iter_frames(data, end, final=True):
        end, last_payload = frame_end, payload
    last = records.decode_batch(last_payload)[-1]["seq"] if last_payload else 0
    return end, last


DEFAULT_BUFFER_BYTES = 64 * 1024 * 1024
"""Default bound on journal bytes held in memory while the journal cannot be written."""
MAX_RETRY_DELAY = 2.0
"""Longest wait between two attempts to write the journal after a failed write (disk full)."""
_SHEDDABLE = frozenset({records.HISTORY, records.SYSTEM, records.HEARTBEAT})
"""Kinds dropped once the buffer bound is reached; the others (header, config, summary, files'
records, exit) are few and small, and a run without them is not a run."""


@dataclass(frozen=True)
class WriterReport:
    """What the writer did with the records it was given, for ``finish()``'s message.

    ``written``: records in the journal file. ``dropped``: records discarded because the
    journal could not be written and the buffer bound was reached; they still took seqs, so
    the journal shows a gap where they were (``labbook sync`` reports it). ``unwritten``: records
    still held when the writer closed (the disk was still full); they are lost with the process.
    ``error``: the last write error, when writes failed.
    """

    written: int
    last_written_seq: int
    dropped: int
    unwritten: int
    error: str | None

    @property
    def lost(self) -> int:
        return self.dropped + self.unwritten

    def describe(self) -> str:
        """What was lost, for ``finish()``: e.g. ``1,200 dropped while ...; 30 unwritten ...``."""
        parts = []
        if self.dropped:
            parts.append(f"{self.dropped:,} dropped while the run directory could not be written")
        if self.unwritten:
            parts.append(f"{self.unwritten:,} still unwritten when the run finished")
        return "; ".join(parts)


def _mib(n: int) -> str:
    return f"{n / 2**20:.3g} MiB"


class JournalWriter:
    """Appends records to the journal from a background thread.

    ``put`` is the only method the training thread calls: a deque append, no I/O, no lock.

    When a write fails (a full disk, a quota), the writer keeps the encoded records in memory,
    retries with a growing delay (up to :data:`MAX_RETRY_DELAY`) and writes them all, in order,
    as soon as it can: nothing is lost while at most ``max_buffer_bytes`` are waiting. Past that
    bound it drops new history rows, system samples and heartbeats (never the run's other
    records), warns once and counts them; :meth:`report` says what was written and what was lost.
    """

    def __init__(
        self,
        path: Path,
        *,
        flush_interval: float = 0.1,
        start_seq: int = 0,
        on_flush: Callable[[int, int, list[records.AnyRecord]], None] | None = None,
        tick: Callable[[], None] | None = None,
        files_dir: Path | None = None,
        max_buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ) -> None:
        self.path = path
        self.files_dir = files_dir if files_dir is not None else path.parent / FILES_DIR
        self.flush_interval = flush_interval
        self.max_buffer_bytes = max_buffer_bytes
        self._seq = start_seq
        self._queue: deque[records.AnyRecord] = deque()
        self._wake = threading.Event()
        self._stop = False
        self._on_flush = on_flush
        self._tick = tick
        self._pending = bytearray()
        # Frames in ``_pending``: (file offset where the frame ends, its last seq, its records).
        self._frames: deque[tuple[int, int, int]] = deque()
        self._deferred: list[records.Record] = []  # file records whose file could not be written
        self._deferred_bytes = 0
        self._warned: set[str] = set()
        self._failing: OSError | None = None
        self._retry_delay = 0.0
        self._retry_at = 0.0
        self._handover = on_flush is not None
        self._handover_start = 0  # file offset where the first frame of ``_written`` starts
        self._written_count = 0
        self._written_seq = start_seq
        self._dropped = 0
        self._last_error: str | None = None
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
        """Seq of the last record numbered (written, or waiting to be written)."""
        return self._seq

    @property
    def written_seq(self) -> int:
        """Seq of the last record in the journal file: what a sender can reach."""
        return self._written_seq

    def report(self) -> WriterReport:
        unwritten = sum(n for _, _, n in self._frames) + len(self._deferred)
        return WriterReport(
            self._written_count, self._written_seq, self._dropped, unwritten, self._last_error
        )

    @property
    def waiting(self) -> int:
        """Records handed over and not yet numbered (``len`` of a deque: safe from any thread)."""
        return len(self._queue)

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
        self._drain(force=True)

    def _drain(self, force: bool = False) -> None:
        queue = self._queue
        if self._failing is not None:
            if not force and time.monotonic() < self._retry_at:
                self._hold(queue)
                return
            # Retry what is held before taking more: there may be room again.
            if self._pending:
                self._write_pending()
        if self._deferred:
            # Files that did not fit on the disk before: their records follow when they do.
            deferred, self._deferred, self._deferred_bytes = self._deferred, [], 0
            queue.extendleft(reversed(deferred))
        if self._failing is not None:
            self._hold(queue)
            return
        if queue:
            popleft = queue.popleft
            # Only this thread takes from the queue, so at least len(queue) records are there.
            batch: list[records.AnyRecord] = [popleft() for _ in range(len(queue))]
            if dict in set(map(type, batch)):  # rows are HistoryRow: most batches skip this
                batch = self._with_files(batch)
            for i in range(0, len(batch), FRAME_RECORDS):
                self._frame(batch[i : i + FRAME_RECORDS])
        if self._pending:
            self._write_pending()

    def _with_files(self, batch: list[records.AnyRecord]) -> list[records.AnyRecord]:
        """Write the files of ``file`` records; the records whose file is not written leave."""
        return [
            rec
            for rec in batch
            if type(rec) is not dict or "_bytes" not in rec or self._write_file(rec)
        ]

    def _hold(self, queue: deque[records.AnyRecord]) -> None:
        """While writes fail: encode what is queued into the held bytes (compact, unlike the
        objects), in small frames so that the bound is kept to within one of them; past the
        bound, shed rows."""
        popleft = queue.popleft
        batch: list[records.AnyRecord] = [popleft() for _ in range(len(queue))]
        retried = False
        for i in range(0, len(batch), _HELD_FRAME_RECORDS):
            chunk = batch[i : i + _HELD_FRAME_RECORDS]
            if self._failing is not None and self._held() >= self.max_buffer_bytes:
                if not retried:
                    # Shedding loses rows: one more write first, whatever the retry delay
                    # (space may have come back since the last attempt).
                    retried = True
                    self._write_pending()
                if self._failing is not None:
                    chunk = self._shed(chunk)
            if dict in set(map(type, chunk)):
                chunk = self._with_files(chunk)
            if chunk:
                self._frame(chunk)
        if self._failing is None and self._pending:
            self._write_pending()

    def _held(self) -> int:
        return len(self._pending) + self._deferred_bytes

    def _write_pending(self) -> None:
        while self._pending:
            try:
                n = _os_write(self._fd, self._pending)
            except OSError as exc:
                self._write_failed(exc)
                return
            del self._pending[:n]
            self._end += n
            frames = self._frames
            while frames and frames[0][0] <= self._end:
                _, self._written_seq, count = frames.popleft()
                self._written_count += count
        if self._failing is not None:
            self._failing = None
            self._retry_delay = 0.0
            dropped = f" ({self._dropped:,} were dropped before)" if self._dropped else ""
            self._warn(
                "resumed",
                f"labbook: the journal {self.path} is written again: the records held in memory "
                f"are in it{dropped}.",
            )
        # Hand the records on as objects too: the sender need not read back and decode what
        # this thread just encoded (the file stays the source of truth). After a failed write
        # the sender reads what was held from the file instead.
        recs, self._written = self._written, []
        if self._handover and self._on_flush is not None and recs:
            self._on_flush(self._handover_start, self._end, recs)
        self._handover = self._on_flush is not None

    def _write_failed(self, exc: OSError) -> None:
        """Keep the bytes, stop holding record objects for the sender, retry later."""
        self._failing = exc
        self._last_error = exc.strerror or str(exc)
        self._written = []
        self._handover = False
        self._retry_delay = min(MAX_RETRY_DELAY, max(self.flush_interval, self._retry_delay * 2))
        self._retry_at = time.monotonic() + self._retry_delay
        self._warn(
            "write",
            f"labbook: cannot write to the run directory {self.path.parent} "
            f"({self._last_error}). Records are held in memory (up to "
            f"{_mib(self.max_buffer_bytes)}, the journal_buffer_bytes setting) and "
            "written as soon as there is room; free some space to keep every record.",
        )

    def _shed(self, batch: list[records.AnyRecord]) -> list[records.AnyRecord]:
        """Past the buffer bound: drop the rows of ``batch``, keep the rest.

        The dropped records still consume seqs, so the journal shows a gap where they were.
        """
        keep = [r for r in batch if r.get("t") not in _SHEDDABLE]
        dropped = len(batch) - len(keep)
        if dropped:
            self._seq += dropped
            self._dropped += dropped
            self._warn(
                "shed",
                f"labbook: {_mib(self.max_buffer_bytes)} of records are waiting for "
                f"the journal {self.path} ({self._last_error}); new history rows are dropped "
                "until it can be written. finish() reports how many.",
            )
        return keep

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
                what = f"a {len(payload):,}-byte {chunk[0].get('t')!r} record"
                self._warn("encode", f"labbook: dropped {what}: larger than a journal frame")
            return
        start = self._end + len(self._pending)
        self._pending += records.frame_header(chunk[0]["seq"], payload)
        self._pending += payload  # not header + payload: that would copy the payload once more
        self._frames.append((self._end + len(self._pending), seq, len(chunk)))
        self._seq = seq
        if self._handover:
            if not self._written:
                self._handover_start = start
            self._written.extend(chunk)

    def _encodable(self, rec: records.AnyRecord) -> bool:
        try:
            records.encode(rec)
        except (TypeError, ValueError, OverflowError) as exc:
            self._warn("encode", f"labbook: dropped an unencodable {rec.get('t')!r} record: {exc}")
            return False
        return True

    def _write_file(self, rec: records.Record) -> bool:
        """Write a ``file`` record's bytes (``_bytes``, removed here) to ``files_dir/path``.

        Media logged with ``log()`` reach disk here, on this thread, never on the training thread;
        the record is journaled only after its file exists, so a sink always finds the file. A
        file that does not fit on the disk is held (within the buffer bound) and tried again.
        """
        data: bytes = rec.pop("_bytes")
        rel = str(rec.get("path", ""))
        parts = rel.split("/")
        if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts):
            self._warn("path", f"labbook: dropped a file with an unsafe path {rel!r}")
            return False
        dest = self.files_dir.joinpath(*parts)
        tmp = dest.with_name(f".{dest.name}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(data)
            os.replace(tmp, dest)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if exc.errno in _NO_SPACE and self._held() + len(data) < self.max_buffer_bytes:
                rec["_bytes"] = data
                self._deferred.append(rec)
                self._deferred_bytes += len(data)
                self._write_failed(exc)
                return False
            self._dropped_file(dest, exc)
            return False
        return True

    def _dropped_file(self, dest: Path, exc: OSError) -> None:
        self._dropped += 1
        self._last_error = exc.strerror or str(exc)
        self._warn("file", f"labbook: could not write {dest}, dropped it: {exc}")

    def _warn(self, kind: str, msg: str) -> None:
        """Print ``msg`` the first time something of ``kind`` goes wrong."""
        if kind not in self._warned:
            self._warned.add(kind)
            print(msg, file=sys.__stderr__)

    def close(self) -> None:
        """Write everything queued, fsync, close. Safe to call twice."""
        if self._fd < 0:
            return
        self._stop = True
        self._wake.set()
        self._thread.join()
        # Retry leftovers once more, whatever the retry delay; what still fails is reported.
        self._drain(force=True)
        with contextlib.suppress(OSError):
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
