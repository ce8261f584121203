"""Single-user local mode, the bind/auth rule, CORS, and the admin CLI (no HTTP needed)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from lbserver import error

from labbook.cli.main import cli
from labbook.errors import UsageError
from labbook.server import create_app
from labbook.settings import Settings
from labbook.store import Store


def test_local_mode_acts_as_local_admin(make_server: Any, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'local.db'}"
    with Store.open(db) as store:
        store.create_user("ada")  # exists already, without the admin flag
    s = make_server(db_url=db, auth=None, host="127.0.0.1", entity="ada")
    viewer = s.get("/viewer").json()
    assert viewer["name"] == "ada" and viewer["admin"] is True
    assert s.put("/projects/ada/p/runs/r1").status_code == 200
    assert s.put("/projects/someone/p/runs/r1").status_code == 200  # the one user is admin
    assert s.store.get_user("ada") is not None
    assert [p["name"] for p in s.get("/projects?entity=ada").json()["items"]] == ["p"]


def test_auth_default_on_a_fresh_database_follows_the_bind_address(tmp_path: Path) -> None:
    """On a database without credentials (see test_auth_mode.py for one with them)."""
    for host, on in [("127.0.0.1", False), ("::1", False), ("localhost", False), ("0.0.0.0", True)]:
        app = create_app(Settings(dir=tmp_path / host, host=host))
        assert app.state.auth.enabled() is on, host
        app.state.store.close()
    app = create_app(Settings(dir=tmp_path / "on", host="127.0.0.1", auth=True))
    assert app.state.auth.enabled() is True
    app.state.store.close()


def test_auth_off_on_a_public_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="refusing"):
        create_app(Settings(dir=tmp_path, host="0.0.0.0", auth=False))
    r = CliRunner().invoke(cli, ["server", "--host", "0.0.0.0", "--no-auth"])
    assert r.exit_code != 0 and "refusing to serve on 0.0.0.0 with auth off" in r.output
    r = CliRunner().invoke(cli, ["server", "--host", "0.0.0.0"], env={"LABBOOK_AUTH": "false"})
    assert r.exit_code != 0 and "refusing" in r.output


def test_auth_on_keeps_anonymous_out(make_server: Any) -> None:
    s = make_server(auth=True)
    error(s.get("/viewer"), 401)
    error(s.put("/projects/local/p/runs/r1"), 404)


def test_cors_off_by_default_on_when_configured(make_server: Any) -> None:
    s = make_server()
    pre = {"Origin": "http://ui.example", "Access-Control-Request-Method": "GET"}
    r = s.client.options("/api/v1/viewer", headers=pre)
    assert "access-control-allow-origin" not in r.headers
    s2 = make_server(cors_origins=["http://ui.example"], db_url=f"sqlite:///{s.blobs_root}.db")
    r = s2.client.options("/api/v1/viewer", headers=pre)
    assert r.headers["access-control-allow-origin"] == "http://ui.example"


def test_admin_cli(tmp_path: Path, make_server: Any) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = CliRunner()

    def ok(*args: str, stdin: str | None = None) -> str:
        r = run.invoke(cli, list(args), input=stdin)
        assert r.exit_code == 0, r.output
        return r.output

    assert "created user root (site admin)" in ok(
        "users", "create", "root", "--admin", "--password-stdin", "--db", db, stdin="s3cret\n"
    )
    ok("users", "create", "mike", "--db", db)
    r = run.invoke(cli, ["users", "create", "mike", "--db", db])
    assert r.exit_code != 0 and "taken" in r.output
    out = run.invoke(cli, ["keys", "create", "root", "--db", db])
    assert out.exit_code == 0
    key = out.stdout.strip().splitlines()[0]
    assert key.startswith("lb_") and len(key) >= 40
    ok("teams", "create", "acme", "--owner", "root", "--db", db)
    ok("teams", "add", "acme", "mike", "--role", "viewer", "--db", db)
    # the server over the same database accepts the key and knows the team
    s = make_server(db_url=db)
    h = {"Authorization": f"Bearer {key}"}
    viewer = s.get("/viewer", headers=h).json()
    assert viewer["admin"] is True and {"name": "acme", "role": "admin"} in viewer["entities"]
    assert s.store.entity_role("mike", "acme") == "viewer"
    assert s.post("/session", json={"username": "root", "password": "s3cret"}).status_code == 200
    ok("keys", "revoke", key[:11], "--db", db)
    error(s.get("/viewer", headers=h), 401)
    r = run.invoke(cli, ["keys", "revoke", key[:11], "--db", db])
    assert r.exit_code != 0 and "no such API key" in r.output
    r = run.invoke(cli, ["teams", "add", "acme", "nobody", "--db", db])
    assert r.exit_code != 0 and "no user" in r.output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_labbook_server_serves_http(tmp_path: Path) -> None:
    port = _free_port()
    env = dict(os.environ, LABBOOK_DIR=str(tmp_path / "d"), LABBOOK_ENTITY="ada")
    proc = subprocess.Popen(
        [sys.executable, "-m", "labbook.cli.main", "server", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/v1/viewer", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    out = proc.communicate()[0].decode(errors="replace")
                    raise AssertionError(f"labbook server did not answer:\n{out}") from None
                time.sleep(0.2)
        assert r.status_code == 200 and r.json()["name"] == "ada"
        doc = httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json").json()
        assert "/api/v1/projects/{entity}/{project}/runs/{run}/records" in doc["paths"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_app_factory_for_several_workers_reads_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from labbook.server.app import app_from_env

    monkeypatch.setenv("LABBOOK_DB_URL", f"sqlite:///{tmp_path / 'w.db'}")
    monkeypatch.setenv("LABBOOK_AUTH", "true")
    with TestClient(app_from_env()) as client:
        assert client.get("/api/v1/viewer").status_code == 401
    assert (tmp_path / "w.db").is_file()


def test_users_set_password_gives_the_local_user_a_login(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'local.db'}"
    runner = CliRunner()
    r = runner.invoke(cli, ["users", "create", "ada", "--db", db])
    assert r.exit_code == 0, r.output
    again = runner.invoke(cli, ["users", "create", "ada", "--db", db], input="pw\n")
    assert again.exit_code != 0  # the name is taken: create cannot add a password later
    r = runner.invoke(cli, ["users", "set-password", "ada", "--db", db], input="s3cret pass\n")
    assert r.exit_code == 0 and "password of ada set" in r.output
    with Store.open(db) as store:
        assert store.check_password("ada", "s3cret pass") is not None
        assert store.check_password("ada", "wrong") is None
    app = create_app(Settings(dir=tmp_path, db_url=db, host="127.0.0.1"))
    assert app.state.auth.enabled() is True  # a user with a password: auth is on
    app.state.store.close()
    r = runner.invoke(cli, ["users", "set-password", "nobody", "--db", db], input="x\n")
    assert r.exit_code != 0 and "no user 'nobody'" in r.output
    r = runner.invoke(cli, ["users", "set-password", "ada", "--db", db], input="\n")
    assert r.exit_code != 0 and "no password on stdin" in r.output
