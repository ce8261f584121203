"""A record the store or the server refuses never blocks the run (issue 9, item 3).

End to end: a training script in a child process logs against a real ``labbook server`` (a child
process too) on PostgreSQL, or against the local SQLite store, and ``labbook sync`` runs after it.
"""

from __future__ import annotations

import json
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

import labbook
from databases import Database, database
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


def _start_server(tmp_path: Path, db: Database, **env_extra: str) -> Iterator[ServerProc]:
    env = {
        **os.environ,
        **db.env,
        "LABBOOK_DIR": str(tmp_path / "server-data"),
        "LABBOOK_AUTH": "true",
        **env_extra,
    }
    made = _cli(env, "users", "create", "alice")
    assert made.returncode == 0, made.stderr
    keyed = _cli(env, "keys", "create", "alice")
    assert keyed.returncode == 0, keyed.stderr
    port = free_port()
    log = tmp_path / "server.log"
    args = [sys.executable, "-m", "labbook.cli.main", "server", "--port", str(port)]
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
        yield ServerProc(url, keyed.stdout.strip().splitlines()[-1], db.url, log)
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


@pytest.mark.parametrize("case", POISON)
def test_poison_value_refused_at_log_local_run_syncs_to_postgres_later(
    pg_server: ServerProc, tmp_path: Path, case: str
) -> None:
    """The same limits on every backend: a run on the local SQLite store (which would have kept
    a NUL or a 17 MiB string) is later synced, journal and all, to the server on PostgreSQL."""
    # The local run is alice's, as the server's key (what a user logged in later would sync).
    local = {"LABBOOK_DIR": str(tmp_path / "data"), "LABBOOK_ENTITY": "alice"}
    run_id, run_dir, out = _train(tmp_path, case, local)
    assert any(ln.startswith("REFUSED") for ln in out.splitlines()), out
    shown = subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", "run", "show", f"alice/poison/{run_id}"],
        env={**os.environ, **local},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0 and "finished" in shown.stdout, shown.stdout + shown.stderr
    remote = {**local, "LABBOOK_BASE_URL": pg_server.url, "LABBOOK_API_KEY": pg_server.key}
    synced = _cli({**os.environ, **remote}, "sync", str(run_dir))
    assert synced.returncode == 0, synced.stdout + synced.stderr
    run = _remote_run(pg_server, run_id)
    assert run["state"] == "finished"
    assert run["config"] == {"lr": 0.1, "later": 1}
    assert _loss_steps(run) == list(range(20))


def test_a_record_the_server_refuses_is_set_aside_live_and_the_run_completes(
    pg_server_small_bodies: ServerProc, tmp_path: Path
) -> None:
    """A 3 MiB string is within every limit, but this server takes 2 MiB bodies: 413. The run's
    sender sets that one row aside (warning once) and stores every other record."""
    srv = pg_server_small_bodies
    env = {"LABBOOK_BASE_URL": srv.url, "LABBOOK_API_KEY": srv.key}
    run_id, run_dir, out = _train(tmp_path, "3mib_string", env)
    assert "ACCEPTED" in out
    assert out.count("was refused") == 1 and "record seq" in out and "key 'text'" in out
    assert "1 record(s) of run" in out and "rejected.jsonl" in out
    assert "not fully uploaded" not in out
    run = _remote_run(srv, run_id)
    assert run["state"] == "finished", run
    assert run["config"] == {"lr": 0.1, "later": 1} and run["summary"]["best"] == 0.05  # type: ignore[index]
    assert _loss_steps(run) == [*range(5), *range(6, 21)]  # step 5 was the refused row's
    [rejected] = [json.loads(ln) for ln in (run_dir / "rejected.jsonl").read_text().splitlines()]
    assert rejected["t"] == "h" and rejected["key"] == "text"
    assert "larger than" in rejected["reason"]
    # `labbook sync` afterwards completes: nothing new to store, the set-aside record reported
    # (and the status says not everything is stored).
    env["LABBOOK_DIR"] = str(tmp_path / "data")
    synced = _cli({**os.environ, **env}, "sync", str(run_dir))
    assert synced.returncode == 1, synced.stdout + synced.stderr
    assert "0 new records" in synced.stdout and "finished" in synced.stdout
    assert "1 record(s) refused by the destination (0 by this sync)" in synced.stdout


OLD_TRAIN = textwrap.dedent(
    """
    # What a labbook without limits let through: the records go to the journal writer as
    # log() would put them, past its checks, from a real training process.
    import sys
    import labbook
    from labbook import records

    run = labbook.init(project="poison", config={"lr": 0.1}, mode="offline")
    print("RUN", run.id, run.journal_dir, flush=True)
    put = run._writer.put
    for i in range(20):
        d = {"loss": 1.0 / (i + 1)}
        if i == 5:
            d = {"k" * 10_000: 1.0}
        if i == 6:
            d = {"acc\\x00top1": 1.0}
        if i == 7:
            d = {"text": "x" * (17 << 20)}
        put(records.HistoryRow(i, 0.0, 0.0, d))
    put({"t": records.CONFIG, "u": {"later": 1}})
    run.finish()
    print("FINISHED", flush=True)
    """
)


@pytest.mark.parametrize("target", ["postgres_server", "local_sqlite"])
def test_labbook_sync_of_an_old_poisoned_journal_completes(
    pg_server: ServerProc, tmp_path: Path, target: str
) -> None:
    """Before: `labbook sync` failed on the first bad batch, every time, printing a 10 KB key."""
    script = tmp_path / "old_train.py"
    script.write_text(OLD_TRAIN)
    local = {"LABBOOK_DIR": str(tmp_path / "data"), "LABBOOK_ENTITY": "alice"}
    out = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, **local},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "FINISHED" in out.stdout, out.stdout + out.stderr
    _, run_id, run_dir = next(ln for ln in out.stdout.splitlines() if ln.startswith("RUN ")).split(
        " ", 2
    )
    env = {**os.environ, **local}
    if target == "postgres_server":
        env |= {"LABBOOK_BASE_URL": pg_server.url, "LABBOOK_API_KEY": pg_server.key}
    synced = _cli(env, "sync", run_dir)
    assert synced.returncode == 1, synced.stdout + synced.stderr
    assert "3 record(s) refused by the destination (3 by this sync)" in synced.stdout
    assert len(synced.stdout + synced.stderr) < 2000  # no 10 KB key printed
    assert "finished" in synced.stdout
    if target == "postgres_server":
        run = _remote_run(pg_server, run_id)
        state, config, steps = run["state"], run["config"], _loss_steps(run)
    else:
        with labbook.Api(labbook.Settings(dir=tmp_path / "data")) as api:
            r = api.run(f"alice/poison/{run_id}")
            state, config = r.state, r.config
            steps = r.history(keys=["loss"])["_step"].tolist()
    assert state == "finished"
    assert config == {"lr": 0.1, "later": 1}
    assert steps == [i for i in range(20) if i not in (5, 6, 7)]
    again = _cli(env, "sync", run_dir)
    assert again.returncode == 1, again.stderr
    assert "0 new records" in again.stdout
    assert "3 record(s) refused by the destination (0 by this sync)" in again.stdout
