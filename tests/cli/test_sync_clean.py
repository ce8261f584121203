"""``labbook sync --clean [--dry-run]``: remove the run folders whose runs are fully stored, and
only those; keep (and say why) a live run, a damaged journal, one with refused records."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

import labbook
from databases import database
from labbook import Api, Settings, records
from labbook.cli.main import cli
from labbook.errors import NotFoundError
from labbook.sdk.journal import JournalWriter, RunDir, read_records
from labbook.settings import local_entity

if TYPE_CHECKING:
    from conftest import LiveServer


def _run(project: str, rows: int = 5, **kw: object) -> labbook.Run:
    # Settings made here, not at import: the test's own data dir is in the environment now.
    quiet = Settings(capture_console=False, system_metrics=False)
    run = labbook.init(project=project, settings=quiet, **kw)  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    while not list(read_records(run.journal_dir / "run.lbj")) and time.monotonic() < deadline:
        time.sleep(0.01)  # the run header in a frame of its own
    for i in range(rows):
        run.log({"x": float(i)})
    return run


def _sync(*args: str) -> Result:
    return CliRunner().invoke(cli, ["sync", *args])


def _crashed_run_dir(parent: Path, run_id: str) -> Path:
    """A run dir whose process died: header and rows journaled, no exit record, lock free."""
    rd = RunDir.create(parent, run_id, offline=True, started=0.0)
    w = JournalWriter(rd.journal, flush_interval=0.01)
    w.put(
        {
            "t": records.RUN,
            "id": run_id,
            "project": "clean",
            "entity": local_entity(),
            "name": "dead",
            "tags": [],
            "notes": None,
            "group": None,
            "job_type": None,
            "config": {},
            "started_at": 1.0,
        }
    )
    for i in range(3):
        w.put({"t": records.HISTORY, "step": i, "ts": 2.0, "rt": 1.0, "d": {"x": float(i)}})
    w.close()
    return rd.path


def test_clean_removes_only_fully_stored_runs_and_dry_run_removes_nothing(
    tmp_path: Path,
) -> None:
    stored = _run("clean")
    stored.finish()  # online to the local store: fully stored already
    offline = _run("clean", mode="offline")
    offline.finish()  # ended, but not uploaded yet
    crashed = _crashed_run_dir(tmp_path, "dead0001")
    damaged = _run("clean", mode="offline", rows=200)
    damaged.finish()
    journal = damaged.journal_dir / "run.lbj"
    data = bytearray(journal.read_bytes())
    data[-3] ^= 0xFF  # in the last frame: the rows or the exit record
    journal.write_bytes(bytes(data))
    refused = _run("clean")
    refused.finish()
    (refused.journal_dir / "rejected.jsonl").write_text('{"seq": 3, "reason": "too long"}\n')
    live = _run("clean")  # its process (this one) holds the lock
    root = tmp_path / "labbook"
    dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    assert len(dirs) == 6

    dry = _sync(str(root), "--clean", "--dry-run")
    assert dry.exit_code == 1, dry.output  # the damaged journal is not fully stored
    assert f"would remove {stored.journal_dir}" in dry.output
    assert f"then remove {offline.journal_dir}" in dry.output and "would upload seq 1 to" in (
        dry.output
    )
    assert f"and mark it crashed, then remove {crashed}" in dry.output
    assert f"would keep {damaged.journal_dir}: part of its journal" in dry.output
    assert f"would keep {refused.journal_dir}: the destination refused records" in dry.output
    assert f"would keep {live.journal_dir}: its process is still running" in dry.output
    assert sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()) == dirs
    with Api() as api:  # nothing was uploaded either
        ids = {r.id for r in api.runs("clean")}
        assert stored.id in ids and not ids & {offline.id, damaged.id, "dead0001"}

    out = _sync(str(root), "--clean")
    assert out.exit_code == 1, out.output
    for gone in (stored.journal_dir, offline.journal_dir, crashed):
        assert f"removed {gone}" in out.output and not gone.exists()
    for kept in (damaged.journal_dir, refused.journal_dir, live.journal_dir):
        assert f"kept {kept}" in out.output and (kept / "run.lbj").is_file()
    with Api() as api:
        runs = {r.id: r for r in api.runs("clean")}
        assert runs[offline.id].state == "finished"
        assert list(runs[offline.id].history()["x"]) == [float(i) for i in range(5)]
        assert runs["dead0001"].state == "crashed"
    live.finish()
    # The live run has ended since: a second clean removes it; the link to it goes with it.
    assert (root / "latest-run").resolve() == live.journal_dir
    again = _sync(str(live.journal_dir), "--clean")
    assert again.exit_code == 0, again.output
    assert not live.journal_dir.exists() and not (root / "latest-run").is_symlink()


def test_dry_run_needs_clean() -> None:
    out = _sync(".", "--dry-run")
    assert out.exit_code == 2 and "--dry-run goes with --clean" in out.output


def test_clean_against_a_server_on_postgresql(
    tmp_path: Path, server_factory: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dry run asks the server by a read (it creates no run); the real one uploads, then
    removes the folder once the server holds the run's last seq."""
    offline = _run("clean", mode="offline", entity="alice")
    offline.finish()
    last = [seq for _, seq, _ in read_records(offline.journal_dir / "run.lbj")][-1]
    with database("postgresql", tmp_path) as url:
        server = server_factory(db_url=url).start()
        monkeypatch.setenv("LABBOOK_BASE_URL", server.url)
        monkeypatch.setenv("LABBOOK_API_KEY", server.create_user("alice"))
        dry = _sync(str(offline.journal_dir), "--clean", "--dry-run")
        assert dry.exit_code == 0, dry.output
        assert f"would upload seq 1 to {last}, then remove {offline.journal_dir}" in dry.output
        with Api() as api, pytest.raises(NotFoundError):
            api.run(f"alice/clean/{offline.id}")  # the dry run created nothing
        out = _sync(str(offline.journal_dir), "--clean")
        assert out.exit_code == 0, out.output
        assert f"removed {offline.journal_dir}" in out.output
        assert not offline.journal_dir.exists()
        with Api() as api:
            run = api.run(f"alice/clean/{offline.id}")
            assert run.state == "finished" and run.last_seq == last
        server.stop()
