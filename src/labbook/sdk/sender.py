"""The sender: journal[acked:] → Sink, acknowledged offset persisted beside the journal.

It runs on its own thread during a run and inline in ``labbook sync``. Sink failures never reach
the training thread: the sender backs off and retries, and whatever is still unsent when
``finish`` gives up stays in the journal for ``labbook sync``.

A batch the sink refuses for good (:class:`RecordsRefused`: a record past a limit, a value the
database cannot store, a body larger than the server takes) is not retried as a whole: the sender
bisects it, stores every record the sink takes, in seq order, and sets each refused record aside
in ``rejected.jsonl`` beside the journal (seq, kind, key, the sink's reason; the record itself
stays in the journal). One bad record never holds back the ones after it.
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import json
import operator
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from labbook import limits, records
from labbook.errors import RecordsRefused
from labbook.sdk.journal import RunDir

if TYPE_CHECKING:
    from labbook.sdk.sinks import Sink

REJECTED_NAME = "rejected.jsonl"
"""Beside the journal: one JSON line per record a sink refused and the sender set aside."""

HOT_LIMIT = 200_000
"""At most this many records are held as objects for the sink; beyond, the file is read back."""
HOT_BATCH = 100_000
"""At most this many handed-over records per store transaction: a transaction's fixed cost (the
run row, metric keys, block inserts) is a few ms, so a sender that fell behind catches up in
bigger steps."""
PACE_BACKLOG = 150_000
"""Records logged but not yet stored beyond which ``log()`` yields to the sender (see
``Run._pace``): about a quarter of a second of the sender's work."""
ACK_EVERY = 1.0
"""Seconds between writes of ``acked.json`` while a pass is sending (and once at its end)."""
READ_AHEAD = 8 * 1024 * 1024
"""Bytes of journal read at a time when the sender reads the file back."""


class Sender:
    """Tails one run's journal and delivers it to a sink in batches.

    The sink may be given opened, or as ``open_sink``, which the sender's thread calls before its
    first delivery (and again after a failure): opening the local store imports SQLAlchemy and
    checks migrations, and a server whose key owner is not known yet must first be asked. Neither
    belongs on the training thread, and a failure there is retried like any other sink failure.
    """

    def __init__(
        self,
        run_dir: RunDir,
        sink: Sink | None,
        *,
        open_sink: Callable[[], Sink] | None = None,
        batch_bytes: int = 1_000_000,
        min_interval: float = 0.2,
        on_error: Callable[[BaseException], None] | None = None,
        warn_rejected: bool = True,
    ) -> None:
        if sink is None and open_sink is None:
            raise ValueError("Sender needs a sink or open_sink")
        self.run_dir = run_dir
        self._sink = sink
        self._open_sink = open_sink
        self.batch_bytes = batch_bytes
        self.min_interval = min_interval
        self.acked_seq, self._offset = run_dir.read_acked()
        self._buf = b""
        self._buf_start = self._offset
        self._file = open(run_dir.journal, "rb")  # noqa: SIM115 - lives as long as the sender
        self._wake = threading.Event()
        self._done = threading.Event()
        self._target_seq: int | None = None
        self._finishing = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors = 0
        self._closing = False
        self._on_error = on_error
        self.last_error: BaseException | None = None
        self.rejected = 0
        """Records this sender set aside (see the module doc)."""
        self._warn_rejected = warn_rejected
        self._rejected_seqs: set[int] | None = None
        self.final = False
        """The journal's writer is gone: bytes at its end that hold no frame are a torn tail."""
        self.skipped: list[records.Skipped] = []
        """Damaged regions (and, when ``final``, a torn tail) read past, in file offsets."""
        self._eof = False
        """The buffer ends where the file did when it was last read."""
        # Records the writer just wrote, as objects: (their start and end offsets in the
        # journal, the records). Contiguous: each entry starts where the one before it ends.
        self._hot: deque[tuple[int, int, list[records.AnyRecord]]] = deque()
        self._hot_count = 0
        self._hot_lock = threading.Lock()
        self._acked_at = 0.0

    @property
    def sink(self) -> Sink:
        """The sink, opened now if it was given as ``open_sink`` (raises what opening raises)."""
        return self._sink if self._sink is not None else self.connect()

    def connect(self) -> Sink:
        if self._sink is None:
            assert self._open_sink is not None
            self._sink = self._open_sink()
        return self._sink

    # ----- records handed over by the writer ---------------------------------------------------
    def offer(self, start: int, end: int, recs: list[records.AnyRecord]) -> None:
        """The writer thread hands over ``recs``, whose frames span ``start``..``end`` in the
        journal (records it held through a failed write are not handed over: the file has them).

        The queue holds a contiguous stretch of the journal (a hot batch is stored right after
        what was acked: a gap inside it would make the records in the gap look like ones the
        store already holds). When it is full (the sink is behind: a server down, a store still
        opening), offers are refused until the sender has emptied it; the refused records are read
        back from the file, up to where the queue starts again.
        """
        with self._hot_lock:
            follows = not self._hot or self._hot[-1][1] == start
            if follows and self._hot_count + len(recs) <= HOT_LIMIT:
                self._hot.append((start, end, recs))
                self._hot_count += len(recs)
        self._wake.set()

    def _send_hot(self) -> int:
        """Send the writer's records that directly follow what was acked; -1 when the queue does
        not start there (empty, or only the file holds what comes first)."""
        with self._hot_lock:
            # Entries the file path already covered are done.
            while self._hot and self._hot[0][1] <= self._offset:
                self._hot_count -= len(self._hot.popleft()[2])
            if not self._hot or self._hot[0][0] > self._offset:
                return -1
            batch: list[records.AnyRecord] = []
            end = -1
            taken = 0
            for _, end_offset, recs in self._hot:
                batch.extend(_after(recs, self.acked_seq) if not batch else recs)
                end = end_offset
                taken += 1
                if len(batch) >= HOT_BATCH:
                    break
            if batch and _seq_of(batch[0]) != self.acked_seq + 1:
                # The offsets said these follow what was acked, the seqs say otherwise: trust
                # the file. (Sending them would make the records in between look stored.)
                self._hot.clear()
                self._hot_count = 0
                return -1
        if batch:
            self._deliver(batch)
        with self._hot_lock:  # only this thread takes entries out
            for _ in range(taken):
                self._hot_count -= len(self._hot.popleft()[2])
        self._offset = end
        self._buf = b""
        self._buf_start = end
        self._ack()
        return len(batch)

    def _ack(self, force: bool = False) -> None:
        """Persist the acknowledged ``(seq, offset)``: at most once a second while sending, and
        at the end of each pass. It is a shortcut for a later ``labbook sync`` (the store ignores
        what it holds), and each write is syscalls that hand the GIL to the training thread,
        which can then keep it for a whole switch interval (5 ms) while this thread waits."""
        now = time.monotonic()
        if force or now - self._acked_at >= ACK_EVERY:
            self._acked_at = now
            self.run_dir.write_acked(self.acked_seq, self._offset)

    def send_live(self) -> int:
        """Send what the writer handed over, reading from the file only what it does not hold:
        what was written before the queue starts, or everything when the queue is empty."""
        try:
            return self._send_live()
        finally:
            self._ack(force=True)

    def _send_live(self) -> int:
        sent = 0
        while True:
            n = self._send_hot()
            if n >= 0:
                sent += n
                continue
            with self._hot_lock:
                gap_end = self._hot[0][0] if self._hot else None
            if gap_end is None:
                return sent + self._send_available(None, None)
            sent += self._send_available(None, gap_end)
            if self._offset < gap_end:  # the file does not hold it all yet (cannot happen)
                return sent

    # ----- one pass ---------------------------------------------------------------------------
    def _read_new(self) -> bool:
        """Buffer the next part of the journal (at most :data:`READ_AHEAD` bytes); False at its
        end. Bounded: a sender far behind (a server down for an hour) must not hold the whole
        unsent journal in memory at once. What was consumed leaves the buffer here, once a read,
        not after every batch (that copied the rest of the buffer for each one)."""
        consumed = self._offset - self._buf_start
        if consumed > 0:
            self._buf = self._buf[consumed:]
            self._buf_start = self._offset
        self._file.seek(self._buf_start + len(self._buf))
        want = max(READ_AHEAD, 2 * self.batch_bytes)
        more = self._file.read(want)
        self._eof = len(more) < want
        if more:
            self._buf += more
        return bool(more)

    def send_available(
        self, progress: Callable[[int], None] | None = None, stop: int | None = None
    ) -> int:
        """Send every complete record in the journal now (up to offset ``stop``, a frame
        boundary, when given); return how many were sent.

        Raises whatever the sink raises; the acked offset only moves after a successful send.
        """
        try:
            return self._send_available(progress, stop)
        finally:
            self._ack(force=True)

    def _send_available(self, progress: Callable[[int], None] | None, stop: int | None) -> int:
        self._read_new()
        sent = 0
        while True:
            if stop is not None and self._offset >= stop:
                return sent
            base = self._offset - self._buf_start
            # A batch's records are alive together until stored: without the pause, their
            # allocations would trigger full collections that rescan them again and again
            # (a quarter of a sync's time went there).
            with records.gc_paused():
                limit = None if stop is None else stop - self._buf_start
                batch, end, size = self._decode_batch(base, limit)
                if end == base:
                    if self._read_new():  # a frame longer than what was buffered
                        continue
                    return sent
                if batch:
                    self._deliver(batch)
                    sent += len(batch)
                del batch
            self._offset = self._buf_start + end
            self._ack()
            if progress is not None:
                progress(self._offset)
            if size < self.batch_bytes and not self._read_new():
                return sent

    def restart_after(self, seq: int) -> None:
        """Read the journal from its start again and send what follows ``seq``: the acked
        offset beside the journal is another destination's (a local run synced to a server)."""
        self.acked_seq = seq
        self._offset = self._buf_start = len(records.FILE_MAGIC)
        self._buf = b""
        self._eof = False

    # ----- refused records ---------------------------------------------------------------------
    @property
    def rejected_path(self) -> Path:
        return rejected_path(self.run_dir)

    def _deliver(self, batch: Sequence[records.AnyRecord]) -> None:
        """Store ``batch``, setting aside the records the sink refuses; ``acked_seq`` moves past
        every record handled. Other sink errors propagate (the caller retries)."""
        try:
            stored = self.sink.send(batch)
        except RecordsRefused as exc:
            self._isolate(batch, exc)
            stored = _seq_of(batch[-1])
        self.acked_seq = max(self.acked_seq, stored)

    def _isolate(self, batch: Sequence[records.AnyRecord], exc: RecordsRefused) -> None:
        """Bisect a refused ``batch``: each half is sent in turn, in seq order (the sink ignores
        seqs at or below the last it stored, so the good records before a bad one must be stored
        before anything after it), a refused half is split again, and a refused single record
        is set aside. ``log2(n)`` extra calls per bad record."""
        if len(batch) == 1:
            self._set_aside(batch[0], exc)
            self.acked_seq = max(self.acked_seq, _seq_of(batch[0]))
            return
        mid = len(batch) // 2
        for half in (batch[:mid], batch[mid:]):
            try:
                stored = self.sink.send(half)
            except RecordsRefused as again:
                self._isolate(half, again)
                continue
            # Recorded at once: a later failure (the server went down) retries after this.
            self.acked_seq = max(self.acked_seq, stored)

    def _set_aside(self, rec: records.AnyRecord, exc: RecordsRefused) -> None:
        seq = int(_seq_of(rec))
        seen = self._rejected_seqs
        if seen is None:
            seen = self._rejected_seqs = set(rejected_seqs(self.run_dir))
        if seq in seen:
            return  # set aside before (an earlier sync of this journal)
        seen.add(seq)
        self.rejected += 1
        kind = str(rec.get("t"))
        key = culprit(rec)
        reason = limits.shorten(exc.message, 400)
        line = {"seq": seq, "t": kind, "key": key, "reason": reason, "at": time.time()}
        try:
            with open(self.rejected_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(line) + "\n")
            where = f"set aside in {self.rejected_path}"
        except OSError as err:
            where = f"not noted ({err}); it stays in the journal"
        if self._warn_rejected and self.rejected == 1:
            what = f"record seq {seq} ({kind}" + (f", key {key!r})" if key else ")")
            print(
                f"labbook: {what} was refused: {reason}. It is {where}; the run goes on without "
                "it (further refused records are only listed there).",
                file=sys.__stderr__,
            )

    def _decode_batch(
        self, base: int, limit: int | None = None
    ) -> tuple[list[records.AnyRecord], int, int]:
        """Records of the frames from buffer offset ``base`` (to ``limit``) not yet acked, up to
        about ``batch_bytes`` of payload; with the buffer offset after them and their size."""
        batch: list[records.AnyRecord] = []
        size = 0
        end = base
        skipped: list[records.Skipped] = []
        buf = self._buf if limit is None else memoryview(self._buf)[:limit]
        # Bytes that hold no frame at the end of the buffer are a torn tail only at the end of
        # a journal whose writer is gone; anywhere else they are the next read's beginning.
        final = self.final and self._eof and limit is None
        for frame_end, _, payload in records.iter_frames(
            buf, base, after_seq=self.acked_seq, final=final, skipped=skipped
        ):
            end = frame_end
            fresh = _after(records.decode_frame(payload), self.acked_seq)
            if not fresh:
                continue
            batch.extend(fresh)
            size += len(payload)
            if size >= self.batch_bytes:
                break
        for sk in skipped:  # buffer offsets to file offsets
            self._note_skip(dataclasses.replace(sk, offset=sk.offset + self._buf_start))
        return batch, end, size

    def _note_skip(self, skip: records.Skipped) -> None:
        if skip.offset not in {s.offset for s in self.skipped}:  # a torn tail is met each pass
            self.skipped.append(skip)

    # ----- background thread ------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="labbook-sender", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        try:
            self._run_loop()
        finally:
            if self._closing:
                self._release()

    def _run_loop(self) -> None:
        backoff = 0.0
        if self._sink is None:
            # Open the sink at once: records are already waiting by the time it is ready.
            try:
                self.connect()
            except Exception as exc:
                backoff = self._failed(exc)
        while not self._closing:
            self._wake.wait(backoff or 1.0)
            if self._closing:
                return
            if not self._finishing.is_set():
                # Let records accumulate a little (bigger batches are cheaper to store), unless
                # finish() is waiting: then go at once.
                self._finishing.wait(backoff or self.min_interval)
            # Clear before reading the target: a finish() that lands after this still wakes us.
            self._wake.clear()
            target = self._target_seq
            try:
                self.connect()
                self.send_live()
                backoff = 0.0
                self._errors = 0
            except Exception as exc:
                backoff = self._failed(exc)
                continue
            if target is not None and self.acked_seq >= target:
                self._done.set()
                return

    def _failed(self, exc: BaseException) -> float:
        """Note a failure (the first of a streak is reported); the seconds to back off."""
        self._errors += 1
        self.last_error = exc
        if self._errors == 1 and self._on_error is not None:
            self._on_error(exc)
        return min(5.0, 0.1 * 2 ** min(self._errors, 6)) * (0.5 + random.random())

    def behind(self, logged_seq: int) -> bool:
        """Whether the training thread should give this thread the GIL for a moment: more than
        :data:`PACE_BACKLOG` records wait, and the sink is taking them (an unreachable server
        is waited out in the journal, never by slowing training)."""
        return logged_seq - self.acked_seq > PACE_BACKLOG and self._errors == 0

    def finish(self, target_seq: int, timeout: float) -> bool:
        """Wait until everything up to ``target_seq`` is stored, at most ``timeout`` seconds."""
        self._target_seq = target_seq
        self._finishing.set()
        self._wake.set()
        return self._done.wait(timeout) if self._thread is not None else False

    def close_journal(self) -> None:
        self._file.close()

    def close(self) -> None:
        """Release the journal and the sink; a thread still stuck in the sink does it on exit."""
        if self._thread is not None and self._thread.is_alive():
            self._closing = True
            self._wake.set()
            if self._thread.is_alive():
                return
        self._release()

    def _release(self) -> None:
        if self._file.closed:
            return
        self._file.close()
        if self._sink is None:
            return
        try:
            self._sink.close()
        except Exception as exc:  # closing must not break finish()
            print(f"labbook: closing the sink failed: {exc}", file=sys.__stderr__)


_seq_of = operator.itemgetter("seq")


def rejected_path(run_dir: RunDir) -> Path:
    return run_dir.path / REJECTED_NAME


def rejected_seqs(run_dir: RunDir) -> list[int]:
    """Seqs of the records set aside for ``run_dir`` so far (none when there is no file)."""
    out: list[int] = []
    try:
        lines = rejected_path(run_dir).read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        with contextlib.suppress(ValueError, TypeError, KeyError):
            out.append(int(json.loads(line)["seq"]))
    return out


def culprit(rec: records.AnyRecord) -> str | None:
    """The key that makes ``rec`` refused, shortened: the first that breaks a limit, else (a
    record too large for the server) the one with the largest value; None without keys."""
    values: Any = None
    for name in ("d", "u", "m", "config"):
        values = rec.get(name)
        if isinstance(values, dict) and values:
            break
    if not isinstance(values, dict) or not values:
        return None
    for k, v in values.items():
        if not isinstance(k, str):
            return limits.shorten(repr(k))
        if limits.key_problem(k) is not None:
            return limits.shorten(k)
        found = limits.nested_problem(v, 2)
        if found is not None:
            return limits.shorten(k + found[0])
    try:
        return limits.shorten(max(values, key=lambda k: len(records.encode(values[k]))))
    except (TypeError, ValueError):
        return None


_R = TypeVar("_R", records.Record, records.AnyRecord)


def _after(recs: list[_R], seq: int) -> list[_R]:
    """The records of ``recs`` (in seq order, as the writer numbered them) above ``seq``:
    a binary search, not a look at every record."""
    if not recs or _seq_of(recs[0]) > seq:
        return recs
    return recs[bisect.bisect_right(recs, seq, key=_seq_of) :]
