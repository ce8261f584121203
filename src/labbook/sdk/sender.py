"""The sender: journal[acked:] → Sink, acknowledged offset persisted beside the journal.

It runs on its own thread during a run and inline in ``labbook sync``. Sink failures never reach
the training thread: the sender backs off and retries, and whatever is still unsent when
``finish`` gives up stays in the journal for ``labbook sync``.
"""

from __future__ import annotations

import bisect
import dataclasses
import operator
import random
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import TypeVar

from labbook import records
from labbook.sdk.journal import RunDir
from labbook.sdk.sinks import Sink

HOT_LIMIT = 200_000
"""At most this many records are held as objects for the sink; beyond, the file is read back."""
HOT_BATCH = 10_000


class Sender:
    """Tails one run's journal and delivers it to a sink in batches."""

    def __init__(
        self,
        run_dir: RunDir,
        sink: Sink,
        *,
        batch_bytes: int = 1_000_000,
        min_interval: float = 0.2,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.run_dir = run_dir
        self.sink = sink
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
        self.final = False
        """The journal's writer is gone: bytes at its end that hold no frame are a torn tail."""
        self.skipped: list[records.Skipped] = []
        """Damaged regions (and, when ``final``, a torn tail) read past, in file offsets."""
        # Records the writer just wrote, as objects: (journal offset after them, records).
        self._hot: deque[tuple[int, list[records.AnyRecord]]] = deque()
        self._hot_count = 0
        self._hot_gen = 0
        self._hot_lock = threading.Lock()

    # ----- records handed over by the writer ---------------------------------------------------
    def offer(self, end_offset: int, recs: list[records.AnyRecord]) -> None:
        """The writer thread hands over ``recs``, which end at ``end_offset`` in the journal."""
        with self._hot_lock:
            if self._hot_count + len(recs) > HOT_LIMIT:
                # The sink is behind (server down?): stop holding objects, read the file later.
                self._hot.clear()
                self._hot_count = 0
                self._hot_gen += 1
            else:
                self._hot.append((end_offset, recs))
                self._hot_count += len(recs)
        self._wake.set()

    def _send_hot(self) -> int:
        """Send the writer's records that directly follow ``acked_seq``; -1 when there are none."""
        with self._hot_lock:
            # Entries the file path already covered are done.
            while self._hot and self._hot[0][0] <= self._offset:
                self._hot_count -= len(self._hot.popleft()[1])
            batch: list[records.AnyRecord] = []
            end = -1
            taken = 0
            gen = self._hot_gen
            for end_offset, recs in self._hot:
                fresh = _after(recs, self.acked_seq) if batch == [] else recs
                if not batch and fresh and fresh[0]["seq"] != self.acked_seq + 1:
                    break  # a gap: only the file has those records
                batch.extend(fresh)
                end = end_offset
                taken += 1
                if len(batch) >= HOT_BATCH:
                    break
        if taken == 0:
            return -1
        if batch:
            self.acked_seq = max(self.acked_seq, self.sink.send(batch))
        with self._hot_lock:
            if gen == self._hot_gen:  # else the writer dropped the whole queue meanwhile
                for _ in range(taken):
                    self._hot_count -= len(self._hot.popleft()[1])
        self._offset = end
        self._buf = b""
        self._buf_start = end
        self.run_dir.write_acked(self.acked_seq, self._offset)
        return len(batch)

    def send_live(self) -> int:
        """Send what the writer handed over, then anything only the file holds."""
        sent = 0
        while self._hot:
            n = self._send_hot()
            if n < 0:
                break
            sent += n
        return sent + self.send_available()

    # ----- one pass ---------------------------------------------------------------------------
    def _read_new(self) -> None:
        self._file.seek(self._buf_start + len(self._buf))
        more = self._file.read()
        if more:
            self._buf += more

    def send_available(self, progress: Callable[[int], None] | None = None) -> int:
        """Send every complete record in the journal now; return how many were sent.

        Raises whatever the sink raises; the acked offset only moves after a successful send.
        """
        self._read_new()
        sent = 0
        while True:
            base = self._offset - self._buf_start
            # A batch's records are alive together until stored: without the pause, their
            # allocations would trigger full collections that rescan them again and again
            # (a quarter of a sync's time went there).
            with records.gc_paused():
                batch, end, size = self._decode_batch(base)
                if end == base:
                    return sent
                if batch:
                    self.acked_seq = max(self.acked_seq, self.sink.send(batch))
                    sent += len(batch)
                del batch
            self._offset = self._buf_start + end
            self.run_dir.write_acked(self.acked_seq, self._offset)
            if progress is not None:
                progress(self._offset)
            # Drop consumed bytes so the buffer stays at most one batch plus the unread tail.
            consumed = self._offset - self._buf_start
            self._buf = self._buf[consumed:]
            self._buf_start = self._offset
            if size < self.batch_bytes:
                return sent

    def _decode_batch(self, base: int) -> tuple[list[records.Record], int, int]:
        """Records of the frames from buffer offset ``base`` not yet acked, up to about
        ``batch_bytes`` of payload; with the buffer offset after them and their payload size."""
        batch: list[records.Record] = []
        size = 0
        end = base
        skipped: list[records.Skipped] = []
        for frame_end, _, payload in records.iter_frames(
            self._buf, base, after_seq=self.acked_seq, final=self.final, skipped=skipped
        ):
            end = frame_end
            fresh = _after(records.decode_batch(payload), self.acked_seq)
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
                self.send_live()
                backoff = 0.0
                self._errors = 0
            except Exception as exc:
                self._errors += 1
                self.last_error = exc
                if self._errors == 1 and self._on_error is not None:
                    self._on_error(exc)
                backoff = min(5.0, 0.1 * 2 ** min(self._errors, 6)) * (0.5 + random.random())
                continue
            if target is not None and self.acked_seq >= target:
                self._done.set()
                return

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
        try:
            self.sink.close()
        except Exception as exc:  # closing must not break finish()
            print(f"labbook: closing the sink failed: {exc}", file=sys.__stderr__)


_seq_of = operator.itemgetter("seq")


_R = TypeVar("_R", records.Record, records.AnyRecord)


def _after(recs: list[_R], seq: int) -> list[_R]:
    """The records of ``recs`` (in seq order, as the writer numbered them) above ``seq``:
    a binary search, not a look at every record."""
    if not recs or _seq_of(recs[0]) > seq:
        return recs
    return recs[bisect.bisect_right(recs, seq, key=_seq_of) :]
