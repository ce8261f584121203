"""When the server requires credentials (DESIGN.md, Server): single-user local mode only while the
database holds no user with a password or an API key, whatever the bind address says once one
exists (a reverse proxy on the same host connects from 127.0.0.1 too); a presented key is never
ignored; the server says on start which mode it is in and why."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lbserver import error

from databases import Database, database
from s3server import free_port

API = "/api/v1"


class ServerProcess:
    """``labbook server`` as a user starts it (no LABBOOK_AUTH, default bind 127.0.0.1)."""

    def __init__(self, env: dict[str, str], log: Path, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with open(log, "ab") as out:
            cmd = [sys.executable, "-m", "labbook.cli.main", "server", "--port", str(self.port)]
            self.proc = subprocess.Popen(
                [*cmd, *args],
                env=env,
                stdout=out,
                stderr=out,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + API + "/openapi.json", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"server did not start:\n{self.output()[-3000:]}")
            time.sleep(0.2)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


TRAIN = textwrap.dedent(
    """
    import labbook
    run = labbook.init(project="digits", config={"lr": 0.1})
    for step in range(5):
        labbook.log({"loss": 1.0 / (step + 1)})
    labbook.finish()
    print("ENTITY", run.entity, run.id)
    """
)


@pytest.fixture
def pg(tmp_path: Path) -> Iterator[Database]:
    with database("postgresql", tmp_path, "auth") as db:
        yield db


@pytest.fixture
def server_env(pg: Database, tmp_path: Path) -> dict[str, str]:
    env = {**os.environ, **pg.env, "LABBOOK_DIR": str(tmp_path / "server-data")}
    env.pop("LABBOOK_AUTH", None)
    env.pop("LABBOOK_ENTITY", None)  # the local admin is the OS user ("root" in a container)
    return env


@pytest.fixture
def start(server_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def go(*args: str) -> ServerProcess:
        srv = ServerProcess(server_env, tmp_path / f"server{len(started)}.log", *args)
        started.append(srv)
        return srv

    yield go
    for srv in started:
        srv.stop()


def _train(url: str, key: str, tmp_path: Path) -> tuple[str, str]:
    env = {
        **os.environ,
        "LABBOOK_BASE_URL": url,
        "LABBOOK_API_KEY": key,
        "LABBOOK_DIR": str(tmp_path / "client-data"),
    }
    env.pop("LABBOOK_ENTITY", None)
    out = subprocess.run(
        [sys.executable, "-c", TRAIN],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    line = next(x for x in out.stdout.splitlines() if x.startswith("ENTITY "))
    _, entity, run_id = line.split()
    return entity, run_id


@pytest.mark.slow
def test_a_loopback_server_over_a_database_with_users_requires_their_keys(
    start: Any, server_env: dict[str, str], tmp_path: Path
) -> None:
    """The issue's case, end to end: alice has a key in the PostgreSQL database; `labbook server`
    binds 127.0.0.1 (as behind nginx on the same host). Her run lands under alice, anonymous
    clients read nothing private, and a wrong key is 401."""
    _cli(server_env, "users", "create", "alice")
    key = _cli(server_env, "keys", "create", "alice").splitlines()[0]
    srv = start()
    assert "auth on" in srv.output() and "password or an API key" in srv.output()

    entity, run_id = _train(srv.url, key, tmp_path)
    assert entity == "alice"
    h = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=srv.url + API, timeout=30) as http:
        run = http.get(f"/projects/alice/digits/runs/{run_id}", headers=h).json()
        assert run["state"] == "finished" and run["config"]["lr"] == 0.1
        assert [p["entity"] for p in http.get("/projects", headers=h).json()["items"]] == ["alice"]
        # anonymous: no viewer, no private project, no list of anyone's runs
        error(http.get("/viewer"), 401)
        error(http.get(f"/projects/alice/digits/runs/{run_id}"), 404)
        error(http.get("/projects/alice/digits/runs"), 404)
        assert http.get("/projects").json()["items"] == []
        error(http.put("/projects/root/stolen/runs/r1"), 404)
        # a key that is not one of the database's is refused, never ignored
        bad = {"Authorization": "Bearer lb_" + "x" * 48}
        error(http.get("/viewer", headers=bad), 401)
    with Database(server_env["LABBOOK_DB_URL"], server_env["LABBOOK_DB_SCHEMA"]).open() as store:
        assert [p.entity for p in store.projects()] == ["alice"]
        assert store.get_user("root") is None  # no local admin was made


@pytest.mark.slow
def test_auth_turns_on_while_the_server_runs_once_a_key_exists(
    start: Any, server_env: dict[str, str], tmp_path: Path
) -> None:
    """A fresh database is single-user local mode, and the server says so. The admin then makes
    the first user and key on the host; the running server requires credentials from the next
    request on, without a restart."""
    srv = start()
    assert "single-user local mode" in srv.output()
    with httpx.Client(base_url=srv.url + API, timeout=30) as http:
        local = http.get("/viewer").json()
        assert local["admin"] is True
        assert http.put(f"/projects/{local['name']}/scratch/runs/r1").status_code == 200

        _cli(server_env, "users", "create", "alice", "--password-stdin", stdin="s3cret\n")
        error(http.get("/viewer"), 401)
        error(http.get(f"/projects/{local['name']}/scratch/runs/r1"), 404)
        key = _cli(server_env, "keys", "create", "alice").splitlines()[0]
        me = http.get("/viewer", headers={"Authorization": f"Bearer {key}"}).json()
        assert me["name"] == "alice" and me["admin"] is False
        assert http.post("/session", json={"username": "alice", "password": "s3cret"}).is_success
    entity, _ = _train(srv.url, key, tmp_path)
    assert entity == "alice"


# ------------------------------------------------------------------ the rule, in one process


def _local(make_server: Any, tmp_path: Path, **overrides: Any) -> Any:
    """The app over one SQLite file, as ``labbook server`` on 127.0.0.1 would serve it."""
    fields = {"db_url": f"sqlite:///{tmp_path / 'lb.db'}", "auth": None, "host": "127.0.0.1"}
    return make_server(**(fields | {"entity": "ada"} | overrides))


def test_a_local_store_written_by_the_sdk_stays_single_user(
    make_server: Any, tmp_path: Path
) -> None:
    """Runs logged through the local store, and users nobody can log in as (no password, no
    key), leave the database fresh: single-user local mode, the one user is admin."""
    from labbook.store import RunRef, Store

    with Store.open(f"sqlite:///{tmp_path / 'lb.db'}") as store:
        store.ingest(
            RunRef("ada", "digits", "r1"),
            [{"t": "h", "seq": 1, "step": 0, "ts": 0.0, "d": {"x": 1.0}}],
        )
        store.create_user("mike")  # `labbook users create mike` without a password
    s = _local(make_server, tmp_path)
    assert s.client.app.state.auth.enabled() is False
    assert "single-user local mode" in s.client.app.state.auth.describe()
    viewer = s.get("/viewer").json()
    assert viewer["name"] == "ada" and viewer["admin"] is True
    assert s.get("/projects/ada/digits/runs/r1").status_code == 200


def test_a_presented_key_is_never_ignored_in_single_user_mode(
    make_server: Any, tmp_path: Path
) -> None:
    s = _local(make_server, tmp_path)
    assert s.get("/viewer").json()["name"] == "ada"
    error(s.get("/viewer", headers={"Authorization": "Bearer lb_" + "z" * 48}), 401)
    error(s.get("/viewer", headers={"Authorization": "Basic YTpi"}), 401)
    # the local admin makes a key for bob over REST: from that request on, auth is on
    assert s.post("/users", json={"name": "bob"}).status_code == 201
    assert s.get("/viewer").json()["name"] == "ada"  # bob has neither password nor key yet
    key = s.store.create_key("bob").key
    bob = {"Authorization": f"Bearer {key}"}
    assert s.get("/viewer", headers=bob).json() == {
        "name": "bob",
        "admin": False,
        "entities": [{"name": "bob", "role": "admin"}],
    }
    error(s.get("/viewer"), 401)
    error(s.put("/projects/ada/p/runs/r1"), 404)
    # and it stays on, even when the only key is revoked
    s.store.revoke_key(key[:11])
    error(s.get("/viewer"), 401)
    assert s.client.app.state.auth.enabled() is True


def test_a_password_alone_turns_auth_on(make_server: Any, tmp_path: Path) -> None:
    from labbook.store import Store

    with Store.open(f"sqlite:///{tmp_path / 'lb.db'}") as store:
        store.create_user("alice", password="s3cret")
    s = _local(make_server, tmp_path)
    assert s.client.app.state.auth.describe().startswith("auth on: the database holds users")
    error(s.get("/viewer"), 401)
    assert s.store.get_user("ada") is None  # no local admin was made
    assert s.post("/session", json={"username": "alice", "password": "s3cret"}).is_success
    assert s.get("/viewer").json()["name"] == "alice"  # the session cookie


def test_an_explicit_setting_decides_and_says_so(make_server: Any, tmp_path: Path) -> None:
    from labbook.store import Store

    with Store.open(f"sqlite:///{tmp_path / 'lb.db'}") as store:
        store.create_user("alice")
        key = store.create_key("alice").key
    off = _local(make_server, tmp_path, auth=False)
    line = off.client.app.state.auth.describe()
    assert line.startswith("auth off (LABBOOK_AUTH=false") and "anyone who reaches" in line
    assert off.get("/viewer").json()["name"] == "ada"  # asked for: anonymous is the local admin
    me = off.get("/viewer", headers={"Authorization": f"Bearer {key}"}).json()
    assert me["name"] == "alice"  # ... but a presented key is still its user
    error(off.get("/viewer", headers={"Authorization": "Bearer nope"}), 401)

    fresh = make_server(db_url=f"sqlite:///{tmp_path / 'fresh.db'}", auth=True)
    line = fresh.client.app.state.auth.describe()
    assert "LABBOOK_AUTH=true" in line and "labbook keys create NAME" in line


def test_a_public_address_always_has_auth(tmp_path: Path) -> None:
    """Unset, auth is on for a non-loopback bind even on a fresh database (DESIGN: ``--host
    0.0.0.0`` requires auth), and the start line says how to make the first user."""
    from fastapi.testclient import TestClient

    from labbook.server import create_app
    from labbook.settings import Settings

    app = create_app(Settings(dir=tmp_path, host="0.0.0.0"))
    with TestClient(app) as client:
        error(client.get(API + "/viewer"), 401)
    line = app.state.auth.describe()
    assert line.startswith("auth on: 0.0.0.0 is not a loopback address")
    assert "no user can log in yet" in line
