"""The promises users leave over: no lost points, no hanging finish, kill -9 recoverable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import labbook
from labbook import Api, Settings
from labbook.sdk.journal import read_records
from labbook.sdk.sync import find_run_dirs, sync_run
from labbook.store import RunRef, Store

KEYS = [f"m{i}" for i in range(10)]


def _data(steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    data = rng.normal(size=(steps, len(KEYS)))
    # Spikes, NaN and ±Inf scattered through every column.
    flat = data.reshape(-1)
    idx = rng.choice(flat.size, size=flat.size // 100, replace=False)
    flat[idx[0::4]] = np.nan
    flat[idx[1::4]] = np.inf
    flat[idx[2::4]] = -np.inf
    flat[idx[3::4]] *= 1e6
    return data


@pytest.mark.slow
def test_100k_steps_round_trip_bit_for_bit_and_envelope_matches_numpy(
    settings: Settings, api: Api
) -> None:
    steps = 100_000
    data = _data(steps)
    rows = [dict(zip(KEYS, r, strict=True)) for r in data.tolist()]
    run = labbook.init(project="big", settings=settings)
    for row in rows:
        run.log(row)
    run.finish()
    h = api.run(run.path).history()
    assert len(h) == steps and list(h["_step"][:3]) == [0, 1, 2]
    for j, key in enumerate(KEYS):
        got = h[key].to_numpy()
        assert got.dtype == np.float64
        assert np.array_equal(got.view(np.uint64), data[:, j].view(np.uint64)), key

    ref = RunRef.parse(run.path, "x")
    buckets = 977
    for j, key in enumerate(KEYS[:3]):
        env = api.store.history_envelope(ref, key, buckets)
        col = data[:, j]
        b = (np.arange(steps) * buckets) // steps
        nonempty = np.unique(b)
        assert len(env.count) == len(nonempty)
        with np.errstate(all="ignore"), pytest.warns(RuntimeWarning) if False else _nullctx():
            for i, bucket in enumerate(nonempty):
                vals = col[b == bucket]
                assert env.count[i] == len(vals)
                exp_min = np.nanmin(vals) if not np.isnan(vals).all() else np.nan
                exp_max = np.nanmax(vals) if not np.isnan(vals).all() else np.nan
                assert np.array_equal([env.min[i], env.max[i]], [exp_min, exp_max], equal_nan=True)
                assert np.array_equal(
                    [env.first[i], env.last[i]], [vals[0], vals[-1]], equal_nan=True
                )


class _nullctx:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: object) -> None:
        return None


CHILD = textwrap.dedent(
    """
    import sys, time
    import labbook
    run = labbook.init(project="crashy", id="crash001")
    print(run.journal_dir, flush=True)
    i = 0
    while True:
        run.log({"i": float(i), "t": time.time()})
        i += 1
        if i % 50 == 0:
            time.sleep(0.001)
    """
)


@pytest.mark.slow
def test_sigkill_then_sync_recovers_everything_journaled(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LABBOOK_DIR": str(tmp_path / "data"),
        "LABBOOK_CAPTURE_REQUIREMENTS": "false",
    }
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        run_dir = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
        time.sleep(1.5)
        killed_at = time.time()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()  # type: ignore[union-attr]
    journaled = [rec for _, _, rec in read_records(run_dir / "run.lbj") if rec["t"] == "h"]
    assert len(journaled) > 100
    # Everything handed to the writer more than the flush interval before the kill is on disk
    # (with slack for a loaded 2-core CI machine scheduling the writer thread late).
    assert journaled[-1]["d"]["t"] >= killed_at - 0.35

    settings = Settings(dir=tmp_path / "data")
    out = subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", "sync", str(run_dir)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # A kill in the middle of a write leaves a torn tail: reported (exit 1), never cut.
    assert out.returncode == (1 if "torn tail" in out.stdout else 0), out.stdout + out.stderr
    assert "crashed" in out.stdout
    with Api(settings) as api:
        run = api.run("crashy/crash001")
        assert run.state == "crashed"
        h = run.history(["i"])
        assert list(h["i"]) == [float(r["d"]["i"]) for r in journaled]
        seq_before = run.last_seq
    again = subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", "sync", str(run_dir)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == out.returncode and "0 new records" in again.stdout
    with Api(settings) as api:
        assert api.run("crashy/crash001").last_seq == seq_before
        assert len(api.run("crashy/crash001").history(["i"])) == len(journaled)


def test_finish_never_hangs_and_sync_completes_later(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(dir=tmp_path / "data", finish_timeout=1.0, capture_console=False)
    Store.open(settings.resolved_db_url()).close()
    # Another process holding SQLite's write lock is a real fault the sender must ride out.
    blocker = sqlite3.connect(
        settings.expanded_dir() / "labbook.db", timeout=30, isolation_level=None
    )
    run = labbook.init(project="p", id="blocked1", settings=settings)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        for i in range(1000):
            run.log({"x": float(i)})
        started = time.monotonic()
        run.finish()
        elapsed = time.monotonic() - started
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert elapsed < 5.0
    err = capfd.readouterr().err
    assert f"labbook sync {run.journal_dir}" in err
    result = sync_run(next(find_run_dirs([run.journal_dir])), settings)
    assert result.state == "finished"
    with Api(settings) as api:
        stored = api.run(run.path)
        assert stored.state == "finished"
        assert list(stored.history()["x"]) == [float(i) for i in range(1000)]


def test_log_does_no_io_on_the_training_thread(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = labbook.init(project="p", settings=settings)
    main = threading.current_thread()
    calls: list[str] = []
    real_write, real_open = os.write, open

    def spy_write(fd: int, data: bytes) -> int:
        if threading.current_thread() is main:
            calls.append("os.write")
        return real_write(fd, data)

    def spy_open(*a: object, **k: object) -> object:
        if threading.current_thread() is main:
            calls.append("open")
        return real_open(*a, **k)  # type: ignore[call-overload]

    monkeypatch.setattr(os, "write", spy_write)
    monkeypatch.setattr("builtins.open", spy_open)
    # The kernel's count of this thread's read and write system calls catches I/O that no
    # Python-level spy sees (an already open file object, a socket, a C extension).
    idle = _syscalls_delta(lambda: None)
    during = _syscalls_delta(
        lambda: [run.log({"x": float(i), "nested": {"y": i}}) for i in range(2000)]
    )
    monkeypatch.undo()
    run.finish()
    assert calls == []
    assert during == idle
    with Api(settings) as api:
        assert len(api.run(run.path).history()) == 2000


def _thread_syscalls() -> tuple[int, int]:
    """(read, write) system calls made so far by the calling thread, from /proc."""
    fd = os.open("/proc/thread-self/io", os.O_RDONLY)  # not open(): the test spies on that
    try:
        text = os.read(fd, 4096).decode()
    finally:
        os.close(fd)
    fields = dict(line.split(": ") for line in text.splitlines())
    return int(fields["syscr"]), int(fields["syscw"])


def _syscalls_delta(work: object) -> tuple[int, int]:
    assert callable(work)
    r0, w0 = _thread_syscalls()
    work()
    r1, w1 = _thread_syscalls()
    return r1 - r0, w1 - w0


def test_finish_fsyncs_the_journal(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[str] = []
    real_fsync = os.fsync

    def spy_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    run = labbook.init(project="p", settings=settings)
    run.log({"x": 1.0})
    monkeypatch.setattr(os, "fsync", spy_fsync)
    run.finish()
    assert str(run.journal_dir / "run.lbj") in synced


def test_acked_offset_is_persisted_and_resumed_from(tmp_path: Path, settings: Settings) -> None:
    """The sender records how far the sink has stored; a later sync into the same destination
    starts there. A destination holding less than that (the run went to the local store, the
    sync goes elsewhere: a server) gets the whole journal: the acked file is another one's."""
    import json

    run = labbook.init(project="p", settings=settings)
    for i in range(500):
        run.log({"x": float(i)})
    run.finish()
    rd = next(find_run_dirs([run.journal_dir]))
    acked = json.loads(rd.acked.read_text())
    last_seq = [seq for _, seq, _ in read_records(rd.journal)][-1]
    assert (acked["seq"], acked["offset"]) == (last_seq, rd.journal.stat().st_size)
    assert sync_run(rd, settings).sent == 0  # all acked already
    elsewhere = Settings(dir=tmp_path / "elsewhere", capture_requirements=False)
    assert sync_run(rd, elsewhere).sent == last_seq  # holds nothing: everything
    assert sync_run(rd, elsewhere).sent == 0  # now acked there
    rd.acked.unlink()
    assert sync_run(rd, elsewhere).sent == 0  # without it: the store's own last seq says
