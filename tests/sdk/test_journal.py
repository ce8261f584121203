"""The journal's framing and its writer thread."""

from __future__ import annotations

import time
from pathlib import Path

from labbook import records
from labbook.sdk.journal import JournalWriter, read_records, valid_length


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


def test_seq_continues_from_start_seq(tmp_path: Path) -> None:
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.01, start_seq=41)
    w.put({"t": "hb", "ts": 1.0})
    w.put({"t": "hb", "ts": 2.0})
    w.close()
    assert [seq for _, seq, _ in read_records(path)] == [42, 43]
