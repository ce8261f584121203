"""The journal's framing and its writer thread."""

from __future__ import annotations

import errno
import gc
import itertools
import os
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import labbook
from labbook import records
from labbook.sdk import journal
from labbook.sdk.journal import JournalWriter, RunDir, read_records, valid_length
from labbook.settings import Settings


def _write_in_flushes(path: Path, flushes: int, per_flush: int) -> None:
    """Records put in separate writer flushes, so they land in separate frames."""
    w = JournalWriter(path, flush_interval=0.02)
    n = 0
    for _ in range(flushes):
        for _ in range(per_flush):
            w.put({"t": "h", "step": n, "ts": 0.0, "rt": 0.0, "d": {"x": float(n)}})
            n += 1
        deadline = time.monotonic() + 2
        while w.last_seq < n and time.monotonic() < deadline:
            time.sleep(0.005)
    w.close()


def test_reader_skips_a_torn_tail_and_notes_it_only_when_final(tmp_path: Path) -> None:
    path = tmp_path / "run.lbj"
    _write_in_flushes(path, flushes=5, per_flush=10)
    full = path.read_bytes()
    seqs = [seq for _, seq, _ in read_records(path)]
    assert seqs == list(range(1, 51))
    frames = list(records.iter_frames(full, len(records.FILE_MAGIC)))
    assert len(frames) == 5  # one frame per flush
    for cut in (1, 5, 17, 30):
        path.write_bytes(full[:-cut])
        # The torn last frame (one flush) is unread; every earlier record reads back intact.
        skipped: list[records.Skipped] = []
        got = [rec["d"]["x"] for _, _, rec in read_records(path, skipped=skipped)]
        assert got == [float(i) for i in range(40)]
        assert skipped == []  # while a writer may still be appending, that is not damage
        got = [rec["d"]["x"] for _, _, rec in read_records(path, final=True, skipped=skipped)]
        assert got == [float(i) for i in range(40)]
        end = frames[3][0]
        assert skipped == [records.Skipped(end, len(full) - cut - end, 40, None)]
        assert skipped[0].torn_tail and "torn tail after seq 40" in skipped[0].describe()
        assert valid_length(path) == (end, 40)
        assert path.read_bytes() == full[:-cut]  # read, never cut


def _flushed_journal(tmp_path: Path, start_seq: int = 0) -> tuple[Path, bytes, list[int]]:
    """A journal of 5 frames of 10 records; the frames' end offsets."""
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.02, start_seq=start_seq)
    n = 0
    for _ in range(5):
        for _ in range(10):
            w.put({"t": "h", "step": n, "ts": 0.0, "rt": 0.0, "d": {"x": float(n)}})
            n += 1
        deadline = time.monotonic() + 2
        while w.written_seq < start_seq + n and time.monotonic() < deadline:
            time.sleep(0.005)
    w.close()
    full = path.read_bytes()
    ends = [end for end, _, _ in records.iter_frames(full, len(records.FILE_MAGIC))]
    assert len(ends) == 5
    return path, full, ends


@pytest.mark.parametrize(
    "damage",
    [
        "flipped payload byte",
        "flipped crc",
        "huge length",
        "zeroed frame",
        "random bytes",
        "an older frame in its place",
        "length past the end",
    ],
)
def test_reader_resynchronises_past_a_damaged_frame(tmp_path: Path, damage: str) -> None:
    """A damaged frame in the middle costs only its own records: the reader finds the next
    frame whose length, CRC and seq check out and goes on, noting what it skipped."""
    path, full, ends = _flushed_journal(tmp_path)
    bad = bytearray(full)
    start, stop = ends[1], ends[2]  # the third frame: seqs 21-30
    if damage == "flipped payload byte":
        bad[start + 30] ^= 0xFF
    elif damage == "flipped crc":
        bad[start + 4] ^= 0x01
    elif damage == "huge length":
        bad[start : start + 4] = (2**31).to_bytes(4, "little")
    elif damage == "zeroed frame":
        bad[start:stop] = bytes(stop - start)
    elif damage == "random bytes":
        bad[start:stop] = random.Random(7).randbytes(stop - start)
    elif damage == "an older frame in its place":
        # Valid length and CRC, but seqs 11-20 were read already: skipped, not read twice.
        older = full[ends[0] : ends[1]]
        assert len(older) <= stop - start
        bad[start:stop] = older + b"\xaa" * (stop - start - len(older))
    else:  # a length that ends beyond the file: the reader must not wait for more bytes
        bad[start : start + 4] = (len(full) * 2).to_bytes(4, "little")
    path.write_bytes(bytes(bad))
    final = damage == "length past the end"
    skipped: list[records.Skipped] = []
    seqs = [seq for _, seq, _ in read_records(path, final=final, skipped=skipped)]
    assert seqs == list(range(1, 21)) + list(range(31, 51))
    assert skipped == [records.Skipped(start, stop - start, 20, 31)]
    assert "the 10 records between seq 20 and seq 31 are lost" in skipped[0].describe()
    assert valid_length(path) == (len(full), 50)
    assert path.read_bytes() == bytes(bad)


def test_an_unfinished_frame_of_a_live_journal_is_waited_for_not_skipped(
    tmp_path: Path,
) -> None:
    """The sender tails a journal being written: a frame whose bytes are still arriving (even
    one whose complete header promises more bytes) is read once it is whole, never skipped."""
    _, full, ends = _flushed_journal(tmp_path)
    for cut in range(ends[2] + 1, ends[3], 7):
        skipped: list[records.Skipped] = []
        got = list(records.iter_frames(full[:cut], len(records.FILE_MAGIC), skipped=skipped))
        assert [end for end, _, _ in got] == ends[:3] and skipped == []
    got = list(records.iter_frames(full, len(records.FILE_MAGIC), skipped=skipped))
    assert [end for end, _, _ in got] == ends and skipped == []


def test_a_damaged_first_frame_of_a_resumed_journal_is_read_past(tmp_path: Path) -> None:
    """A resumed run's journal starts at a high seq: with nothing read before the damage, any
    seq above the reader's starting point is accepted."""
    path, full, ends = _flushed_journal(tmp_path, start_seq=1000)
    bad = bytearray(full)
    bad[len(records.FILE_MAGIC) + 20] ^= 0x55
    path.write_bytes(bytes(bad))
    skipped: list[records.Skipped] = []
    seqs = [seq for _, seq, _ in read_records(path, skipped=skipped)]
    assert seqs == list(range(1011, 1051))
    magic = len(records.FILE_MAGIC)
    assert skipped == [records.Skipped(magic, ends[0] - magic, 0, 1011)]


def test_an_unencodable_record_is_dropped_and_seqs_stay_contiguous(tmp_path: Path) -> None:
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.02)
    w.put({"t": "hb", "ts": 1.0})
    w.put({"t": "hb", "ts": object()})  # log() never lets this through; the writer must cope
    w.put({"t": "hb", "ts": 3.0})
    w.close()
    assert [(seq, rec["ts"]) for _, seq, rec in read_records(path)] == [(1, 1.0), (2, 3.0)]


def test_writer_flushes_within_the_interval_without_close(tmp_path: Path) -> None:
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.1)
    try:
        w.put({"t": "hb", "ts": 1.0})
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and not list(read_records(path)):
            time.sleep(0.01)
        assert [rec["t"] for _, _, rec in read_records(path)] == ["hb"]
    finally:
        w.close()


def test_a_run_journals_each_record_within_the_default_interval(tmp_path: Path) -> None:
    """With the default settings, what ``log()`` queued is in the file within ``flush_interval``
    (100 ms): what a kill -9 may lose. Latencies of several records, so that one late wake-up of
    a loaded machine does not decide the test."""
    settings = labbook.Settings(dir=tmp_path / "data", capture_requirements=False)
    assert settings.flush_interval == 0.1
    run = labbook.init(project="p", settings=settings)
    journal = run.journal_dir / "run.lbj"
    latencies = []
    try:
        for i in range(7):
            time.sleep(0.013 * i)  # land at different points of the writer's cycle
            run.log({"x": float(i)})
            t0 = time.monotonic()
            while time.monotonic() - t0 < 2.0:
                if any(r.get("t") == "h" and r["step"] == i for _, _, r in read_records(journal)):
                    break
                time.sleep(0.002)
            latencies.append(time.monotonic() - t0)
    finally:
        run.finish()
    latencies.sort()
    assert latencies[3] < settings.flush_interval, latencies
    assert latencies[-1] < 2.0, latencies


def test_seq_continues_from_start_seq(tmp_path: Path) -> None:
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.01, start_seq=41)
    w.put({"t": "hb", "ts": 1.0})
    w.put({"t": "hb", "ts": 2.0})
    w.close()
    assert [seq for _, seq, _ in read_records(path)] == [42, 43]


def test_history_rows_encode_as_the_dict_form_and_stay_out_of_the_gc(tmp_path: Path) -> None:
    """``log()`` hands the writer HistoryRow objects: journaled, they read back as the plain
    ``h`` dicts, and in flight they are invisible to the cyclic GC (a row lives long enough to
    reach its oldest generation, whose growth triggers full collections inside ``log()``)."""
    row = records.HistoryRow(3, 1.5, 0.25, {"x": 1.0, "n": 2, "s": "a", "nan": float("nan")})
    as_dict = {"t": "h", "seq": 0, "step": 3, "ts": 1.5, "rt": 0.25, "d": row.d}
    assert not gc.is_tracked(row) and gc.is_tracked(as_dict)
    [plain] = records.as_dicts([row])
    assert repr(sorted(plain.items())) == repr(sorted(as_dict.items()))  # repr: NaN != NaN
    assert (row["t"], row.get("step"), row.get("nope", 7), "seq" in row, "_bytes" in row) == (
        "h",
        3,
        7,
        True,
        False,
    )
    with pytest.raises(KeyError):
        row["nope"]
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.02)
    w.put(row)
    w.put({"t": "hb", "ts": 2.0})
    w.close()
    back = [rec for _, _, rec in read_records(path)]
    expected = [dict(as_dict, seq=1), {"t": "hb", "ts": 2.0, "seq": 2}]
    assert [repr(sorted(r.items())) for r in back] == [repr(sorted(r.items())) for r in expected]


def test_log_puts_untracked_rows(tmp_path: Path) -> None:
    run = labbook.init(project="gc", mode="offline", dir=str(tmp_path))
    seen: list[object] = []
    put = run._put
    run._put = lambda rec: (seen.append(rec), put(rec))[1]
    run.log({"loss": 0.5, "nested": {"acc": 1}})
    run.finish()
    rows = [r for r in seen if isinstance(r, records.HistoryRow)]
    assert len(rows) == 1 and rows[0].d == {"loss": 0.5, "nested/acc": 1}
    assert not gc.is_tracked(rows[0])


def test_sender_skips_what_the_sink_already_holds() -> None:
    from labbook.sdk.sender import _after

    recs: list[records.AnyRecord] = [{"t": "hb", "seq": 5, "ts": 0.0}]
    recs += [records.HistoryRow(i, 0.0, 0.0, {}, seq=i) for i in range(6, 10)]
    assert _after(recs, 4) is recs  # all fresh: no copy
    assert [r["seq"] for r in _after(recs, 5)] == [6, 7, 8, 9]
    assert [r["seq"] for r in _after(recs, 7)] == [8, 9]
    assert _after(recs, 9) == [] and _after([], 3) == []


def test_sender_reads_a_long_unsent_journal_back_in_bounded_parts(tmp_path: Path) -> None:
    """A sender far behind (the server was down for an hour, or ``labbook sync`` of a long run)
    reads the journal in parts of at most READ_AHEAD bytes, not the whole unsent tail at once
    (a 10M-point run's process peaked at 851 MB that way), and still delivers every record."""
    from labbook.sdk.sender import READ_AHEAD, Sender
    from labbook.sdk.sinks import LocalSink
    from labbook.store import RunRef

    run_dir = RunDir.create(tmp_path, "longrun", offline=True, started=0.0)
    writer = JournalWriter(run_dir.journal, flush_interval=0.01)
    text = "x" * 1000
    n = 3 * READ_AHEAD // len(text)
    writer.put({"t": records.RUN, "id": "longrun", "project": "p", "entity": "e", "config": {}})
    for i in range(n):
        writer.put(records.HistoryRow(i, 0.0, 0.0, {"s": text, "i": i}))
    writer.close()
    assert run_dir.journal.stat().st_size > 2.5 * READ_AHEAD

    sink = LocalSink.from_settings(
        Settings(dir=tmp_path / "data"), RunRef("e", "p", "longrun"), run_dir.files
    )
    sender = Sender(run_dir, sink, batch_bytes=1_000_000)
    reads: list[int] = []
    real = sender._file

    class Recording:
        def seek(self, pos: int) -> int:
            return real.seek(pos)

        def read(self, size: int = -1) -> bytes:
            data = real.read(size)
            reads.append(len(data))
            return data

        def close(self) -> None:
            real.close()

        @property
        def closed(self) -> bool:
            return real.closed

    sender._file = Recording()  # type: ignore[assignment]
    assert sender.send_available() == n + 1
    sender.close()
    assert max(reads) <= READ_AHEAD
    assert len(sender._buf) < READ_AHEAD
    keys = {k.key: k for k in sink.store.metric_keys(RunRef("e", "p", "longrun"))}
    assert keys["i"].count == n and keys["i"].last == n - 1


def test_a_sink_that_opens_late_gets_every_record_once_objects_then_file_then_objects(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store opens on the sender's thread while the script already logs. Records beyond the
    object queue's bound are read back from the file, then the sender takes objects again; every
    record is stored once, in order, and the tail arrives as the structs log() made."""
    import threading

    from labbook.sdk import sender as sender_mod
    from labbook.sdk.sinks import LocalSink
    from labbook.store import RunRef

    monkeypatch.setattr(sender_mod, "HOT_LIMIT", 500)
    from_file: list[int] = []
    decode_frame = records.decode_frame

    def counting_decode(payload: bytes) -> list[records.AnyRecord]:
        recs = decode_frame(payload)
        from_file.append(len(recs))
        return recs

    monkeypatch.setattr(records, "decode_frame", counting_decode)
    ref = RunRef("e", "p", "late")
    run_dir = RunDir.create(tmp_path, "late", offline=False, started=0.0)
    opened = threading.Event()
    seen_types: list[set[type]] = []

    class Watching(LocalSink):
        def send(self, batch: list[records.AnyRecord]) -> int:  # type: ignore[override]
            seen_types.append(set(map(type, batch)))
            return super().send(batch)

    def open_sink() -> LocalSink:
        opened.wait(30)
        real = LocalSink.from_settings(Settings(dir=tmp_path / "data"), ref, run_dir.files)
        return Watching(real.store, real.blobs, ref, run_dir.files)

    wake: list[sender_mod.Sender] = []
    writer = JournalWriter(
        run_dir.journal,
        flush_interval=0.01,
        on_flush=lambda start, end, recs: wake[0].offer(start, end, recs),
    )
    sender = sender_mod.Sender(run_dir, None, open_sink=open_sink, min_interval=0.01)
    wake.append(sender)
    sender.start()
    writer.put({"t": records.RUN, "id": "late", "project": "p", "entity": "e", "config": {}})
    for i in range(3000):  # six times the bound while the store is not open
        writer.put(records.HistoryRow(i, 0.0, 0.0, {"i": i}))
        if i % 100 == 0:
            time.sleep(0.005)
    time.sleep(0.3)
    opened.set()
    time.sleep(0.5)
    for i in range(3000, 3400):  # caught up: objects again
        writer.put(records.HistoryRow(i, 0.0, 0.0, {"i": i}))
        time.sleep(0.001)
    writer.close()
    assert sender.finish(writer.last_seq, 30)
    sender.close()
    store = LocalSink.from_settings(Settings(dir=tmp_path / "data"), ref, run_dir.files).store
    h = store.history(ref)["i"]
    assert h.steps.tolist() == list(range(3400)) and h.values.tolist() == list(range(3400))
    assert any(types == {records.HistoryRow} for types in seen_types[-3:])  # objects at the end
    # The file in between: what the full queue refused was read back (as the same structs).
    assert 2000 <= sum(from_file) < 3400


class _FullDisk:
    """The writer's write system call on a disk that is full until ``space`` is called: it
    raises ENOSPC (after writing what fits, like the kernel: a short write first)."""

    def __init__(self, room: int = 0) -> None:
        self.room = room
        self.full = True
        self.real = journal._os_write

    def __call__(self, fd: int, data: bytes | bytearray) -> int:
        if not self.full:
            return self.real(fd, data)
        if self.room > 0:
            n = self.real(fd, bytes(data[: self.room]))
            self.room -= n
            return n
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def space(self) -> None:
        self.full = False


def _rows(w: JournalWriter, first: int, n: int) -> None:
    for i in range(first, first + n):
        w.put(records.HistoryRow(i, 0.0, 0.0, {"x": float(i)}))


def _wait(cond: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 10
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.005)


def test_a_full_disk_loses_no_row_within_the_bound_and_the_writer_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    disk = _FullDisk(room=300)  # part of the first frame fits: a short write, then ENOSPC
    monkeypatch.setattr(journal, "_os_write", disk)
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.01, max_buffer_bytes=10_000_000)
    _rows(w, 0, 5000)
    _wait(lambda: w.last_seq == 5000)
    assert w.written_seq == 0  # nothing whole reached the file yet
    disk.space()
    _rows(w, 5000, 100)
    _wait(lambda: w.written_seq == 5100)
    w.close()
    report = w.report()
    assert (report.written, report.dropped, report.unwritten) == (5100, 0, 0)
    got = [rec["step"] for _, _, rec in read_records(path, final=True)]
    assert got == list(range(5100))
    err = capfd.readouterr().err
    assert err.count("cannot write to the run directory") == 1  # warned once, not per retry
    assert "No space left on device" in err and "is written again" in err


def test_past_the_bound_rows_are_dropped_counted_and_leave_a_seq_gap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    disk = _FullDisk()
    monkeypatch.setattr(journal, "_os_write", disk)
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.01, max_buffer_bytes=20_000)
    w.put({"t": "run", "id": "r", "project": "p", "entity": "e"})
    _rows(w, 0, 200)  # ~5 kB: held
    _wait(lambda: w.last_seq == 201)
    _rows(w, 200, 2000)  # past the bound
    _wait(lambda: w.last_seq == 2201)
    w.put({"t": "config", "u": {"kept": True}})  # never dropped
    _wait(lambda: w.last_seq == 2202)
    disk.space()
    _rows(w, 2200, 10)
    w.close()
    report = w.report()
    assert report.dropped > 0 and report.unwritten == 0 and report.error
    assert report.written + report.dropped == 2212
    recs = [rec for _, _, rec in read_records(path, final=True)]
    assert len(recs) == report.written
    seqs = [r["seq"] for r in recs]
    assert seqs == sorted(seqs) and seqs[-1] == 2212
    gaps = [(a, b) for a, b in itertools.pairwise(seqs) if b != a + 1]
    assert len(gaps) == 1 and gaps[0][1] - gaps[0][0] - 1 == report.dropped
    assert {"kept": True} in [r.get("u") for r in recs]
    assert [r["step"] for r in recs if r["t"] == "h"][-10:] == list(range(2200, 2210))
    err = capfd.readouterr().err
    assert err.count("new history rows are dropped") == 1
    assert f"({report.dropped:,} were dropped before)" in err


def test_records_still_unwritten_at_close_are_counted_not_claimed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = _FullDisk()
    monkeypatch.setattr(journal, "_os_write", disk)
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.01)
    _rows(w, 0, 100)
    w.close()
    report = w.report()
    assert (report.written, report.last_written_seq, report.unwritten) == (0, 0, 100)
    assert "100 still unwritten" in report.describe()
    assert list(read_records(path)) == []


def test_a_media_file_that_does_not_fit_is_held_and_written_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = {"on": True}
    real = Path.write_bytes

    def write_bytes(self: Path, data: bytes) -> int:
        if full["on"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", write_bytes)
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.01)
    w.put({"t": "file", "path": "media/a.png", "sha256": "x", "size": 3, "_bytes": b"abc"})
    _rows(w, 0, 3)
    _wait(lambda: w.written_seq == 3)
    assert not (tmp_path / "files" / "media" / "a.png").exists()
    full["on"] = False
    _wait(lambda: w.written_seq == 4)
    w.close()
    assert (tmp_path / "files" / "media" / "a.png").read_bytes() == b"abc"
    recs = [rec for _, _, rec in read_records(path)]
    assert [r["t"] for r in recs] == ["h", "h", "h", "file"] and "_bytes" not in recs[-1]
    assert w.report().lost == 0
