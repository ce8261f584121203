"""A damaged journal: sync reads past the damage, stores every intact record, says what it
skipped, exits non-zero, and never changes the journal."""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

from databases import database
from labbook import Api, Settings, records
from labbook.cli.main import cli
from labbook.sdk.journal import read_records

if TYPE_CHECKING:
    from conftest import LiveServer

TRAIN = textwrap.dedent(
    """
    import time
    import labbook
    run = labbook.init(project="dmg", id="dmg001", mode="offline", config={"lr": 0.1})
    print(run.journal_dir, flush=True)
    for i in range(1000):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 1000})
        if i % 10 == 9:
            time.sleep(0.025)  # > the flush interval: about 10 rows per frame
    run.finish()
    """
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LABBOOK_DIR": str(tmp_path / "data"),
        "LABBOOK_CAPTURE_REQUIREMENTS": "false",
        "LABBOOK_CAPTURE_CONSOLE": "false",
        "LABBOOK_FLUSH_INTERVAL": "0.01",
        **extra,
    }


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _sync(paths: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return _run([sys.executable, "-m", "labbook.cli.main", "sync", *paths], env, cwd)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _train(tmp_path: Path, env: dict[str, str]) -> Path:
    out = _run([sys.executable, "-c", TRAIN], env, tmp_path)
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def _steps_of_frames(data: bytes, keep: Callable[[int, int], bool]) -> list[int]:
    steps = []
    start = len(records.FILE_MAGIC)
    for end, _, payload in records.iter_frames(data, start):
        if keep(start, end):
            steps += [r["step"] for r in records.decode_batch(payload) if r["t"] == "h"]
        start = end
    return steps


@pytest.mark.slow
def test_sync_reads_past_a_damaged_frame_and_never_changes_the_journal(tmp_path: Path) -> None:
    """Flip 8 bytes halfway into a finished offline run's journal (1,000 steps in ~100 frames):
    every intact frame is stored, the run stays finished, the journal stays as it was, and the
    report names the damage and exits 1 (it stored 509 steps, marked the run crashed, cut 49
    valid frames off the journal and exited 0)."""
    env = _env(tmp_path)
    run_dir = _train(tmp_path, env)
    journal = run_dir / "run.lbj"
    data = bytearray(journal.read_bytes())
    frames = list(records.iter_frames(bytes(data), len(records.FILE_MAGIC)))
    assert len(frames) > 40
    mid = len(data) // 2
    # The rows of every frame the flipped bytes miss (from the journal as it was written).
    intact = _steps_of_frames(bytes(data), lambda s, e: e <= mid or s >= mid + 8)
    assert 900 < len(intact) < 1000
    data[mid : mid + 8] = bytes(b ^ 0xFF for b in data[mid : mid + 8])
    journal.write_bytes(bytes(data))
    before = _digest(journal)

    out = _sync([str(run_dir)], env, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert "dmg001" in out.stdout and "finished" in out.stdout
    line = next(ln for ln in out.stdout.splitlines() if "skipped" in ln)
    assert "damaged" in line and "offset" in line and "are lost" in line
    assert "not fully stored" in out.stderr
    assert _digest(journal) == before  # sync never writes a journal
    with Api(Settings(dir=tmp_path / "data")) as api:
        run = api.run("dmg/dmg001")
        assert run.state == "finished"
        assert run.config == {"lr": 0.1}
        assert list(run.history(["loss"])["_step"]) == intact

    # Safe to repeat: nothing new is stored, the same damage is reported again.
    again = _sync([str(run_dir)], env, tmp_path)
    assert again.returncode == 1 and "0 new records" in again.stdout
    assert line in again.stdout
    assert _digest(journal) == before


def test_a_damaged_run_header_is_supplied_on_the_command_line(tmp_path: Path) -> None:
    import labbook

    run = labbook.init(project="hdr", id="hdr001", mode="offline", config={"a": 1})
    journal = run.journal_dir / "run.lbj"
    deadline = time.monotonic() + 10
    while not list(read_records(journal)) and time.monotonic() < deadline:
        time.sleep(0.01)  # the header in a frame of its own, the rows in later ones
    run.log({"x": 1.0})
    run.finish()
    data = bytearray(journal.read_bytes())
    data[len(records.FILE_MAGIC) + 20] ^= 0xFF  # inside the first frame: the run header
    journal.write_bytes(bytes(data))
    assert any(r["t"] == "h" for _, _, r in read_records(journal))

    out = CliRunner().invoke(cli, ["sync", str(run.journal_dir)])
    assert out.exit_code == 1
    assert "--entity and --project" in out.output and "run header" in out.output
    entity = run.entity
    out = CliRunner().invoke(
        cli, ["sync", str(run.journal_dir), "--entity", entity, "--project", "hdr"]
    )
    assert out.exit_code == 1, out.output
    assert "the run header (name, config) was unreadable" in out.output
    with Api() as api:
        stored = api.run(f"{entity}/hdr/hdr001")
        assert stored.state == "finished"
        assert list(stored.history(["x"])["x"]) == [1.0]


def test_flags_that_contradict_an_intact_header_are_refused(tmp_path: Path) -> None:
    import labbook

    run = labbook.init(project="hdr", id="hdr002", mode="offline")
    run.finish()
    out = CliRunner().invoke(cli, ["sync", str(run.journal_dir), "--project", "other"])
    assert out.exit_code != 0
    assert "belongs to run" in out.output and "--project other does not match" in out.output


CRASHY = textwrap.dedent(
    """
    import time
    import labbook
    run = labbook.init(project="crashy", id="crash002", mode="offline")
    print(run.journal_dir, flush=True)
    i = 0
    while True:
        run.log({"i": float(i)})
        i += 1
        if i % 100 == 0:
            time.sleep(0.005)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["local", "server-postgresql"])
def test_a_killed_run_is_marked_crashed_in_the_store_not_in_its_journal(
    tmp_path: Path, backend: str, server_factory: Callable[..., LiveServer]
) -> None:
    """The crashed state reaches the store as an exit record with seq = the journal's last + 1,
    sent to the sink only: the journal keeps the bytes its writer left, torn tail included."""
    with contextlib.ExitStack() as stack:
        env = _env(tmp_path, LABBOOK_ENTITY="alice")
        settings = Settings(dir=tmp_path / "data")
        if backend != "local":
            url = stack.enter_context(database("postgresql", tmp_path))
            server = server_factory(db_url=url).start()
            key = server.create_user("alice")
            env |= {"LABBOOK_BASE_URL": server.url, "LABBOOK_API_KEY": key}
            settings = Settings(base_url=server.url, api_key=key)
        child = subprocess.Popen(
            [sys.executable, "-c", CRASHY],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            run_dir = Path(child.stdout.readline().strip())  # type: ignore[union-attr]
            time.sleep(1.0)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()  # type: ignore[union-attr]
        journal = run_dir / "run.lbj"
        # A writer killed mid-write leaves part of a frame: a torn tail, reported and kept.
        with open(journal, "ab") as f:
            f.write(records.FRAME_HEADER.pack(999, 0, 10**6) + b"partial")
        before = _digest(journal)
        journaled = [rec for _, _, rec in read_records(journal)]
        last = journaled[-1]["seq"]

        out = _sync([str(run_dir)], env, tmp_path)
        assert out.returncode == 1, out.stdout + out.stderr  # the torn tail was not stored
        assert "Traceback" not in out.stderr
        assert "crashed" in out.stdout and "torn tail after seq" in out.stdout
        assert _digest(journal) == before
        again = _sync([str(run_dir)], env, tmp_path)
        assert again.returncode == 1 and "0 new records" in again.stdout
        assert _digest(journal) == before
        with Api(settings) as api:
            run = api.run("alice/crashy/crash002")
            assert run.state == "crashed"
            assert run.last_seq == last + 1
            rows = [r["d"]["i"] for r in journaled if r["t"] == "h"]
            assert list(run.history(["i"])["i"]) == rows
