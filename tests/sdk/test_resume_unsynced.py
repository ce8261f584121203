"""Resuming a run whose earlier process died with rows only in its journal (issue 9, item 4).

The earlier process logged while the server was down and was killed; the store knows less than
the journal holds. ``init(id=..., resume="allow")`` used to continue from the store's numbers,
reusing the unsent rows' seqs (the store then dropped them for good) and steps. End to end: real
training processes, SIGKILL, a real server on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from databases import database
from labbook.api import Api
from labbook.settings import Settings

if TYPE_CHECKING:
    from conftest import LiveServer

pytestmark = pytest.mark.slow

FIRST = textwrap.dedent(
    """
    import sys, time
    import labbook

    run = labbook.init(project="digits", id="resumable", config={"lr": 0.01})
    for step in range(5):
        labbook.log({"loss": float(step)})
    print("stored?", flush=True)
    sys.stdin.readline()  # the parent stops the server
    for step in range(5, 20):
        labbook.log({"loss": float(step)})
    time.sleep(0.5)  # more than the flush interval: the rows are in the journal
    print("journaled", flush=True)
    time.sleep(600)  # killed here
    """
)

SECOND = textwrap.dedent(
    """
    import json
    import labbook

    run = labbook.init(project="digits", id="resumable", resume="allow")
    first = run.step
    for i in range(10):
        labbook.log({"loss": 100.0 + i})
    labbook.finish()
    print(json.dumps({"first_step": first}), flush=True)
    """
)


@pytest.fixture
def pg_server(
    tmp_path: Path, server_factory: Callable[..., LiveServer]
) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    with database("postgresql", tmp_path) as url:
        srv = server_factory(db_url=url)
        env = {
            **os.environ,
            "LABBOOK_BASE_URL": srv.url,
            "LABBOOK_API_KEY": srv.create_user("alice"),
            "LABBOOK_CAPTURE_CONSOLE": "false",
        }
        yield srv.start(), env


def _killed_with_rows_only_in_its_journal(tmp_path: Path, srv: LiveServer, env: dict[str, str]):
    proc = subprocess.Popen(
        [sys.executable, "-c", FIRST],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        assert proc.stdout.readline().strip() == "stored?"
        deadline = time.monotonic() + 30
        with Api(Settings(base_url=srv.url, api_key=env["LABBOOK_API_KEY"])) as api:
            while time.monotonic() < deadline:  # the first rows reach the server
                keys = api.run("alice/digits/resumable").metric_keys()
                if keys and keys[0].count == 5:
                    break
                time.sleep(0.1)
        srv.stop()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "journaled"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    srv.start()


def test_resume_completes_the_old_journal_first_and_continues_after_it(
    tmp_path: Path, pg_server: tuple[LiveServer, dict[str, str]]
) -> None:
    srv, env = pg_server
    _killed_with_rows_only_in_its_journal(tmp_path, srv, env)
    with Api(Settings(base_url=srv.url, api_key=env["LABBOOK_API_KEY"])) as api:
        assert api.run("alice/digits/resumable").metric_keys()[0].count == 5  # the rest: journal

    out = subprocess.run(
        [sys.executable, "-c", SECOND],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.splitlines()[-1]) == {"first_step": 20}
    with Api(Settings(base_url=srv.url, api_key=env["LABBOOK_API_KEY"])) as api:
        run = api.run("alice/digits/resumable")
        h = run.history(["loss"])
        assert run.state == "finished"
    assert h["_step"].tolist() == list(range(30))
    assert h["loss"].tolist() == [float(s) for s in range(20)] + [100.0 + i for i in range(10)]


def test_resume_refuses_when_the_old_journal_cannot_be_stored(
    tmp_path: Path, pg_server: tuple[LiveServer, dict[str, str]]
) -> None:
    """Its header is damaged: nothing says for sure where its rows belong, so resuming would
    reuse their numbers. It refuses, printing the sync command, and the old journal is kept."""
    srv, env = pg_server
    _killed_with_rows_only_in_its_journal(tmp_path, srv, env)
    (journal,) = (tmp_path / "labbook").glob("run-*-resumable/run.lbj")
    data = bytearray(journal.read_bytes())
    data[30:38] = bytes(8)  # inside the first frame's payload: the run header
    journal.write_bytes(bytes(data))
    out = subprocess.run(
        [sys.executable, "-c", SECOND],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode != 0
    assert f"labbook sync {journal.parent}" in out.stderr
    assert journal.read_bytes() == bytes(data)  # left as it was, for the sync
    with Api(Settings(base_url=srv.url, api_key=env["LABBOOK_API_KEY"])) as api:
        assert api.run("alice/digits/resumable").metric_keys()[0].count == 5
