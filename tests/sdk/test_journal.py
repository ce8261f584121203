"""The journal's framing and its writer thread."""

from __future__ import annotations

import time
from pathlib import Path

from labbook import records
from labbook.sdk.journal import JournalWriter, read_records, valid_length


def test_reader_stops_cleanly_at_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "run.lbj"
    w = JournalWriter(path, flush_interval=0.02)
    for i in range(50):
        w.put({"t": "h", "step": i, "ts": 0.0, "rt": 0.0, "d": {"x": float(i)}})
    w.close()
    full = path.read_bytes()
    seqs = [seq for _, seq, _ in read_records(path)]
    assert seqs == list(range(1, 51))
    for cut in (1, 5, 17, 30):
        path.write_bytes(full[:-cut])
        got = [rec["d"]["x"] for _, _, rec in read_records(path)]
        assert got == [float(i) for i in range(49)]
        assert valid_length(path)[1] == 49
    # A flipped byte inside a frame ends the readable journal at that frame.
    corrupt = bytearray(full)
    corrupt[len(records.FILE_MAGIC) + 20] ^= 0xFF
    path.write_bytes(bytes(corrupt))
    assert list(read_records(path)) == []


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
