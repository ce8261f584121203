"""A server down at ``init`` with only ``LABBOOK_API_KEY`` set (issue 9, item 5).

Nobody can say whose key it is then: the run was journaled under the machine's user (``root`` in
a container) and later landed there, or failed to sync. Now the journal says the entity is not
known, and the key's owner is asked when the server answers: by the running process's sender, or
by ``labbook sync``. End to end: a real training process, a real server on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from databases import database
from labbook import records
from labbook.api import Api
from labbook.sdk.journal import read_records
from labbook.settings import Settings

if TYPE_CHECKING:
    from conftest import LiveServer

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import labbook

    run = labbook.init(project="digits", config={"lr": 0.01})
    print(json.dumps({"dir": str(run.journal_dir), "id": run.id, "entity": run.entity}), flush=True)
    for step in range(20):
        labbook.log({"loss": 1.0 / (step + 1)})
    if sys.argv[1] == "wait":  # the parent starts the server now; the sender must find alice
        print("logged", flush=True)
        deadline = time.monotonic() + 60
        while not run.entity and time.monotonic() < deadline:
            time.sleep(0.1)
        for step in range(20, 30):
            labbook.log({"loss": 1.0 / (step + 1)})
    labbook.finish()
    print(json.dumps({"entity": run.entity}), flush=True)
    """
)


@pytest.fixture
def pg_server(
    tmp_path: Path, server_factory: Callable[..., LiveServer]
) -> Iterator[tuple[LiveServer, str]]:
    """An unstarted server on PostgreSQL, and a key of alice's (no `labbook login` done)."""
    with database("postgresql", tmp_path) as url:
        srv = server_factory(db_url=url)
        yield srv, srv.create_user("alice")


def _env(tmp_path: Path, srv: LiveServer, key: str) -> dict[str, str]:
    return {
        **os.environ,
        "LABBOOK_BASE_URL": srv.url,
        "LABBOOK_API_KEY": key,
        "LABBOOK_CONFIG_DIR": str(tmp_path / "config"),  # never logged in
        "LABBOOK_FINISH_TIMEOUT": "1",
        "LABBOOK_CAPTURE_CONSOLE": "false",
    }


def _stored(srv: LiveServer, key: str, run_id: str) -> list[float]:
    with Api(Settings(base_url=srv.url, api_key=key)) as api:
        run = api.run(f"alice/digits/{run_id}")
        assert run.state == "finished"
        return [float(x) for x in run.history(["loss"])["loss"]]


def test_sync_resolves_the_key_owner_and_nothing_lands_under_the_machine_user(
    tmp_path: Path, pg_server: tuple[LiveServer, str]
) -> None:
    srv, key = pg_server
    env = _env(tmp_path, srv, key)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, "exit"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    started = json.loads(out.stdout.splitlines()[0])
    assert started["entity"] == ""  # not guessed
    head = next(rec for _, _, rec in read_records(Path(started["dir"]) / "run.lbj"))
    assert head["t"] == records.RUN and head["entity"] is None  # the journal says so

    srv.start()
    sync = subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", "sync", started["dir"]],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sync.returncode == 0, sync.stderr
    assert f"alice/digits/{started['id']}" in sync.stdout
    assert _stored(srv, key, started["id"]) == [1.0 / (s + 1) for s in range(20)]
    with Api(Settings(base_url=srv.url, api_key=key)) as api:
        assert [p.entity for p in api.projects()] == ["alice"]


def test_the_running_process_learns_the_owner_when_the_server_answers(
    tmp_path: Path, pg_server: tuple[LiveServer, str]
) -> None:
    srv, key = pg_server
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, "wait"],
        cwd=tmp_path,
        env=_env(tmp_path, srv, key),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert proc.stdout.readline().strip() == "logged"
        time.sleep(0.5)  # the sender has failed at least once by now
        srv.start()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1]) == {"entity": "alice"}
    assert _stored(srv, key, started["id"]) == [1.0 / (s + 1) for s in range(30)]
