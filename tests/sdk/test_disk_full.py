"""A full disk, for real: a few-MB tmpfs under a training script's journal, and under the store
that ``labbook sync`` writes to. Nothing is dropped while the writer's memory bound holds; past
it, drops are counted and reported; ``finish()`` and ``sync`` say exactly what is stored.

These need root to mount a tmpfs and skip elsewhere; tests/sdk/test_journal.py covers the same
writer behaviour with ENOSPC injected at its write call.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from databases import database
from labbook import Api, Settings, records
from labbook.sdk.journal import read_records
from labbook.store import RunRef, Store
from smallfs import SmallFs, small_tmpfs

if TYPE_CHECKING:
    from conftest import LiveServer

pytestmark = pytest.mark.slow

TRAIN = textwrap.dedent(
    """
    import sys
    import labbook
    run = labbook.init(project="full", id="full001")
    print(run.journal_dir, flush=True)

    def rows(first, n):
        for i in range(first, first + n):
            run.log({"loss": 1.0 / (i + 1), "acc": i / 1e5, "lr": 1e-3, "epoch": i // 1000})

    steps = [int(x) for x in sys.argv[1:]]
    first = 0
    for n in steps:
        sys.stdin.readline()  # the test changes the disk between the phases
        rows(first, n)
        first += n
        print("logged", flush=True)
    sys.stdin.readline()
    run.finish()
    """
)


class Child:
    """The training script, driven phase by phase over its stdin."""

    def __init__(self, cwd: Path, env: dict[str, str], phases: list[int]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", TRAIN, *map(str, phases)],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.run_dir = Path(self._line())

    def _line(self) -> str:
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise AssertionError(f"training script failed: {self.proc.stderr.read()}")  # type: ignore[union-attr]
        return line.strip()

    def step(self) -> None:
        self.proc.stdin.write("\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        assert self._line() == "logged"

    def finish(self) -> str:
        self.proc.stdin.write("\n")  # type: ignore[union-attr]
        self.proc.stdin.flush()  # type: ignore[union-attr]
        _, err = self.proc.communicate(timeout=120)
        assert self.proc.returncode == 0, err
        return err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def fs(tmp_path: Path) -> Iterator[SmallFs]:
    with small_tmpfs(tmp_path / "fs", "4m") as small:
        yield small


def _env(tmp_path: Path, run_parent: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "LABBOOK_DIR": str(tmp_path / "data"),
        "LABBOOK_RUN_DIR": str(run_parent),
        "LABBOOK_CAPTURE_REQUIREMENTS": "false",
        "LABBOOK_CAPTURE_CONSOLE": "false",
        "LABBOOK_SYSTEM_METRICS": "false",
        "LABBOOK_FINISH_TIMEOUT": "20",
        **extra,
    }


def _sync(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", "sync", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _journal(run_dir: Path) -> list[records.Record]:
    return [rec for _, _, rec in read_records(run_dir / "run.lbj", final=True)]


def _steps(recs: list[records.Record]) -> list[int]:
    return [r["step"] for r in recs if r["t"] == "h"]


def test_a_full_disk_under_the_journal_loses_no_row_and_the_writer_catches_up(
    tmp_path: Path, fs: SmallFs
) -> None:
    env = _env(tmp_path, fs.path)
    child = Child(tmp_path, env, [20_000, 5_000])
    try:
        filler = fs.fill()
        assert os.statvfs(fs.path).f_bavail == 0
        child.step()  # 20,000 rows logged onto a full disk: all held in memory
        time.sleep(1.0)  # several flush intervals: the writer has met the full disk
        filler.unlink()
        child.step()
        err = child.finish()
    finally:
        child.kill()
    assert err.count("cannot write to the run directory") == 1, err
    assert "No space left on device" in err and "is written again" in err
    assert "lost" not in err and "not fully uploaded" not in err
    recs = _journal(child.run_dir)
    assert _steps(recs) == list(range(25_000))
    assert recs[-1]["t"] == "exit" and recs[-1]["state"] == "finished"
    with Api(Settings(dir=tmp_path / "data")) as api:
        run = api.run(f"{recs[0]['entity']}/full/full001")
        assert run.state == "finished"
        assert list(run.history(["loss"])["_step"]) == list(range(25_000))


def test_past_the_memory_bound_rows_are_dropped_counted_and_reported(
    tmp_path: Path, fs: SmallFs
) -> None:
    """With a 100 kB bound, rows logged onto a full disk beyond it are dropped: the
    warning says so once, finish() gives the exact count, the journal keeps a seq gap where they
    were, and ``labbook sync`` names that gap and exits 1."""
    env = _env(tmp_path, fs.path, LABBOOK_JOURNAL_BUFFER_BYTES="100000", LABBOOK_MODE="offline")
    child = Child(tmp_path, env, [2_000] * 10 + [1_000])
    try:
        filler = fs.fill()
        assert os.statvfs(fs.path).f_bavail == 0
        for _ in range(10):  # in several flushes: the first fails, the later ones meet the bound
            child.step()
            time.sleep(0.1)
        filler.unlink()
        child.step()
        err = child.finish()
    finally:
        child.kill()
    assert err.count("new history rows are dropped") == 1, err
    m = re.search(
        r"run full001: ([\d,]+) records are lost \(No space left on device\): "
        r"([\d,]+) dropped while the run directory could not be written\. The journal \S+ "
        r"holds the other ([\d,]+)\.",
        err,
    )
    assert m, err
    lost, dropped, held = (int(g.replace(",", "")) for g in m.groups())
    assert lost == dropped > 0
    recs = _journal(child.run_dir)
    assert len(recs) == held
    seqs = [r["seq"] for r in recs]
    gaps = [(a + 1, b - 1) for a, b in itertools.pairwise(seqs) if b != a + 1]
    assert len(gaps) == 1 and gaps[0][1] - gaps[0][0] + 1 == dropped
    steps = _steps(recs)
    assert steps[-1_000:] == list(range(20_000, 21_000))  # rows after the space came back
    assert len(steps) == 21_000 - dropped

    out = _sync([str(child.run_dir)], env, tmp_path)
    assert out.returncode == 1, out.stdout + out.stderr
    a, b = gaps[0]
    assert f"seq {a} to {b} not in the journal ({dropped:,} records the writer dropped)" in (
        out.stdout
    )
    assert "finished" in out.stdout


def test_a_disk_still_full_at_finish_is_reported_exactly_over_a_server(
    tmp_path: Path, fs: SmallFs, server_factory: Callable[..., LiveServer]
) -> None:
    """The journal's disk stays full to the end, the server (on PostgreSQL) is fine: finish()
    says how many records are lost and how many are in the journal (it claimed "everything is
    in the journal"), uploads every journaled record without waiting for the lost ones, and
    ``labbook sync`` completes the run as crashed (its exit record never reached the journal)."""
    with database("postgresql", tmp_path) as url:
        server = server_factory(db_url=url).start()
        key = server.create_user("alice")
        env = _env(tmp_path, fs.path, LABBOOK_BASE_URL=server.url, LABBOOK_API_KEY=key)
        child = Child(tmp_path, env, [2_000, 10_000])
        try:
            child.step()
            deadline = time.monotonic() + 30
            while len(_steps(_journal(child.run_dir))) < 2_000 and time.monotonic() < deadline:
                time.sleep(0.01)  # the first rows are in the journal before the disk fills
            fs.fill()
            child.step()
            err = child.finish()
        finally:
            child.kill()
        assert "not fully uploaded" not in err, err
        m = re.search(
            r"run full001: ([\d,]+) records are lost .*The journal \S+ holds the "
            r"other ([\d,]+)\.",
            err,
        )
        assert m, err
        lost, held = (int(g.replace(",", "")) for g in m.groups())
        recs = _journal(child.run_dir)
        assert len(recs) == held and lost >= 10_000
        assert recs[-1]["t"] != "exit"
        settings = Settings(base_url=server.url, api_key=key)
        with Api(settings) as api:
            run = api.run("alice/full/full001")
            assert run.last_seq == recs[-1]["seq"]  # every journaled record, no more
            assert list(run.history(["loss"])["_step"]) == _steps(recs)

        out = _sync([str(child.run_dir)], env, tmp_path)
        assert "Traceback" not in out.stderr
        assert out.returncode == (1 if "torn tail" in out.stdout else 0), out.stdout + out.stderr
        assert "crashed" in out.stdout
        with Api(settings) as api:
            assert api.run("alice/full/full001").state == "crashed"
        server.stop()


def _offline_run(tmp_path: Path, rows: int, **env: str) -> Path:
    script = textwrap.dedent(
        f"""
        import labbook
        run = labbook.init(project="big", id="big001", mode="offline")
        print(run.journal_dir, flush=True)
        for i in range({rows}):
            run.log({{"a": i * 0.5, "b": -i * 0.25, "c": i % 7, "d": 1.0 / (i + 1)}})
        run.finish()
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=_env(tmp_path, tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return Path(out.stdout.strip())


def test_a_full_store_during_sync_is_one_clear_error_and_loses_nothing(
    tmp_path: Path,
) -> None:
    """The local store's SQLite file on a 1 MB filesystem: sync says the store is full, names
    it, says nothing was lost, exits 1 (it printed an 87-line traceback); the acknowledged
    offset covers only what was stored; with room, the same command stores the rest."""
    run_dir = _offline_run(tmp_path, 60_000)
    with small_tmpfs(tmp_path / "store", "1m") as small:
        env = {**_env(tmp_path, tmp_path), "LABBOOK_DIR": str(small.path)}
        out = _sync([str(run_dir)], env, tmp_path)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) <= 3
        assert f"the store {small.path / 'labbook.db'} is full (database or disk" in out.stderr
        assert "Nothing is lost" in out.stderr and f"labbook sync {run_dir}" in out.stderr
        acked_file = run_dir / "acked.json"
        acked = json.loads(acked_file.read_text()) if acked_file.exists() else {"seq": 0}
        small.resize("64m")
        ref = RunRef(_journal(run_dir)[0]["entity"], "big", "big001")
        with Store.open(f"sqlite:///{small.path / 'labbook.db'}") as store:
            stored = store.last_seq(ref)
        assert acked["seq"] <= stored  # never acknowledged past what the store holds
        again = _sync([str(run_dir)], env, tmp_path)
        assert again.returncode == 0, again.stdout + again.stderr
        with Api(Settings(dir=small.path)) as api:
            run = api.run(f"{ref.entity}/big/big001")
            assert run.state == "finished"
            assert len(run.history(["a"])) == 60_000


def test_a_full_server_store_during_sync_is_one_clear_error(
    tmp_path: Path, server_factory: Callable[..., LiveServer]
) -> None:
    run_dir = _offline_run(tmp_path, 60_000, LABBOOK_ENTITY="alice")
    with small_tmpfs(tmp_path / "store", "1m") as small:
        server = server_factory(db_url=f"sqlite:///{small.path / 'server.db'}").start()
        key = server.create_user("alice")
        env = {
            **_env(tmp_path, tmp_path),
            "LABBOOK_BASE_URL": server.url,
            "LABBOOK_API_KEY": key,
        }
        out = _sync([str(run_dir)], env, tmp_path)
        assert out.returncode == 1, out.stdout + out.stderr
        assert "Traceback" not in out.stderr
        assert f"the server {server.url} is full (database or disk is full)" in out.stderr
        assert str(small.path) not in out.stderr  # the server's paths stay on the server
        assert "Nothing is lost" in out.stderr
        server.stop()
