"""A record the store or the server refuses never blocks the run (issue 9, item 3).

End to end: a training script in a child process logs against a real ``labbook server`` (a child
process too) on PostgreSQL, or against the local SQLite store, and ``labbook sync`` runs after it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from databases import database
from s3server import free_port

pytestmark = pytest.mark.slow

API = "/api/v1"
MiB = 1 << 20


@dataclass
class ServerProc:
    url: str
    key: str
    db: str
    log: Path


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _start_server(tmp_path: Path, db: str, **env_extra: str) -> Iterator[ServerProc]:
    env = {
        **os.environ,
        "LABBOOK_DIR": str(tmp_path / "server-data"),
        "LABBOOK_AUTH": "true",
        **env_extra,
    }
    made = _cli(env, "users", "create", "alice", "--db", db)
    assert made.returncode == 0, made.stderr
    keyed = _cli(env, "keys", "create", "alice", "--db", db)
    assert keyed.returncode == 0, keyed.stderr
    port = free_port()
    log = tmp_path / "server.log"
    args = [sys.executable, "-m", "labbook.cli.main", "server", "--port", str(port), "--db", db]
    with open(log, "ab") as out:
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + API + "/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise AssertionError(f"labbook server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield ServerProc(url, keyed.stdout.strip().splitlines()[-1], db, log)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def pg_server(tmp_path: Path) -> Iterator[ServerProc]:
    """``labbook server`` on PostgreSQL (a schema of its own), alice's key."""
    with database("postgresql", tmp_path, "poison") as db:
        yield from _start_server(tmp_path, db)


@pytest.fixture
def pg_server_small_bodies(tmp_path: Path) -> Iterator[ServerProc]:
    """As ``pg_server``, with the request body limit an admin lowered to 2 MiB."""
    with database("postgresql", tmp_path, "poison") as db:
        yield from _start_server(tmp_path, db, LABBOOK_MAX_BODY_BYTES=str(2 * MiB))


TRAIN = textwrap.dedent(
    """
    import sys
    import labbook

    case = sys.argv[1]
    run = labbook.init(project="poison", config={"lr": 0.1})
    print("RUN", run.id, run.journal_dir, flush=True)
    for i in range(5):
        run.log({"loss": 1.0 / (i + 1)})
    bad = {
        "long_key": lambda: {"k" * 10_000: 1.0},
        "nul_key": lambda: {"acc\\x00top1": 1.0},
        "big_string": lambda: {"text": "x" * (17 << 20)},
        "3mib_string": lambda: {"text": "y" * (3 << 20)},
    }[case]()
    try:
        run.log(bad)
        print("ACCEPTED", flush=True)
    except (ValueError, TypeError) as e:
        print("REFUSED", type(e).__name__, e, flush=True)
    for i in range(5, 20):
        run.log({"loss": 1.0 / (i + 1)})
    run.config.update({"later": 1})
    run.summary["best"] = 0.05
    run.finish()
    print("FINISHED", flush=True)
    """
)


def _train(tmp_path: Path, case: str, env: dict[str, str]) -> tuple[str, Path, str]:
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    out = subprocess.run(
        [sys.executable, str(script), case],
        env={**os.environ, "LABBOOK_FINISH_TIMEOUT": "8", "LABBOOK_SYSTEM_METRICS": "false", **env},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "FINISHED" in out.stdout, out.stdout + out.stderr
    run_line = next(ln for ln in out.stdout.splitlines() if ln.startswith("RUN "))
    _, run_id, run_dir = run_line.split(" ", 2)
    return run_id, Path(run_dir), out.stdout + out.stderr


def _remote_run(srv: ServerProc, run_id: str) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {srv.key}"}
    r = httpx.get(f"{srv.url}{API}/projects/alice/poison/runs/{run_id}", headers=headers)
    assert r.status_code == 200, r.text
    run: dict[str, object] = r.json()
    h = httpx.get(
        f"{srv.url}{API}/projects/alice/poison/runs/{run_id}/history",
        params={"keys": "loss"},
        headers=headers,
    )
    assert h.status_code == 200, h.text
    run["_history"] = h.json()
    return run


def _loss_steps(run: dict[str, object]) -> list[int]:
    history = run["_history"]
    assert isinstance(history, dict)
    return list(history["keys"].get("loss", {}).get("steps", []))


POISON = ["long_key", "nul_key", "big_string"]


@pytest.mark.parametrize("case", POISON)
def test_poison_value_refused_at_log_rest_reaches_postgres_server(
    pg_server: ServerProc, tmp_path: Path, case: str
) -> None:
    env = {"LABBOOK_BASE_URL": pg_server.url, "LABBOOK_API_KEY": pg_server.key}
    run_id, run_dir, out = _train(tmp_path, case, env)
    refused = next((ln for ln in out.splitlines() if ln.startswith("REFUSED")), None)
    assert refused is not None, out
    assert len(refused) < 300, refused  # the key is shortened, not printed whole
    run = _remote_run(pg_server, run_id)
    assert run["state"] == "finished", run
    assert run["config"] == {"lr": 0.1, "later": 1}, run["config"]
    assert run["summary"]["best"] == 0.05  # type: ignore[index]
    assert _loss_steps(run) == list(range(20))
    synced = _cli(
        {**os.environ, **env, "LABBOOK_DIR": str(tmp_path / "data")}, "sync", str(run_dir)
    )
    assert synced.returncode == 0, synced.stderr
