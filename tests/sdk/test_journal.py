"""The journal's framing and its writer thread."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest

import labbook
from labbook import records
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


def test_reader_stops_cleanly_at_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "run.lbj"
    _write_in_flushes(path, flushes=5, per_flush=10)
    full = path.read_bytes()
    seqs = [seq for _, seq, _ in read_records(path)]
    assert seqs == list(range(1, 51))
    frames = list(records.iter_frames(full, len(records.FILE_MAGIC)))
    assert len(frames) == 5  # one frame per flush
    for cut in (1, 5, 17, 30):
        path.write_bytes(full[:-cut])
        # The torn last frame (one flush) is gone; every earlier record reads back intact.
        got = [rec["d"]["x"] for _, _, rec in read_records(path)]
        assert got == [float(i) for i in range(40)]
        assert valid_length(path) == (frames[3][0], 40)
    # A flipped byte inside a frame ends the readable journal at that frame.
    corrupt = bytearray(full)
    corrupt[frames[1][0] + 20] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    assert [seq for _, seq, _ in read_records(path)] == list(range(1, 21))


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
        run_dir.journal, flush_interval=0.01, on_flush=lambda end, recs: wake[0].offer(end, recs)
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
    assert any(dict in types and len(types) == 1 for types in seen_types)  # the file in between
