"""``labbook login`` / ``whoami`` / ``logout``, ``labbook.login()`` and the credentials file."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

import labbook
from labbook import Settings
from labbook.cli.main import cli
from labbook.client import ServerUnavailable
from labbook.client.credentials import (
    credentials_path,
    load_credentials,
    save_credentials,
    server_settings,
)
from labbook.errors import AuthenticationError, NotFoundError, UsageError

if TYPE_CHECKING:
    from conftest import LiveServer


def _creds_file(tmp_path: Path) -> Path:
    return tmp_path / "config" / "credentials.json"  # LABBOOK_CONFIG_DIR (tests/conftest.py)


def test_login_verifies_then_stores_a_0600_file_and_whoami_reads_it(
    live_server: LiveServer, tmp_path: Path
) -> None:
    key = live_server.create_user("alice")
    runner = CliRunner()
    out = runner.invoke(cli, ["login", key, "--host", live_server.url + "/"])
    assert out.exit_code == 0, out.output
    assert f"Logged in to {live_server.url} as alice" in out.output
    path = _creds_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["host"] == live_server.url
    assert data["keys"] == {live_server.url: key}
    assert [p.name for p in path.parent.iterdir()] == ["credentials.json"]  # no temp left over

    who = runner.invoke(cli, ["whoami"])
    assert who.exit_code == 0, who.output
    assert f"alice on {live_server.url}" in who.output
    assert "alice: admin" in who.output  # the user's own entity

    bye = runner.invoke(cli, ["logout"])
    assert bye.exit_code == 0 and "Logged out" in bye.output
    assert load_credentials(Settings()).keys == {}
    gone = runner.invoke(cli, ["whoami"])
    assert gone.exit_code != 0


def test_login_prompts_without_echo(live_server: LiveServer, tmp_path: Path) -> None:
    key = live_server.create_user("alice")
    out = CliRunner().invoke(cli, ["login", "--host", live_server.url], input=key + "\n")
    assert out.exit_code == 0, out.output
    assert "API key for" in out.output
    assert key not in out.output
    assert json.loads(_creds_file(tmp_path).read_text())["keys"][live_server.url] == key


def test_login_with_a_bad_key_stores_nothing(live_server: LiveServer, tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["login", "lb_wrong", "--host", live_server.url])
    assert isinstance(out.exception, AuthenticationError)
    assert "rejected the API key" in str(out.exception)
    assert not _creds_file(tmp_path).exists()


def test_python_login(live_server: LiveServer, tmp_path: Path) -> None:
    key = live_server.create_user("alice")
    with pytest.raises(UsageError, match="no API key"):
        labbook.login(host=live_server.url)  # nothing stored, no terminal to ask on
    with pytest.raises(AuthenticationError):
        labbook.login(key="lb_wrong", host=live_server.url)
    assert not _creds_file(tmp_path).exists()
    assert labbook.login(key=key, host=live_server.url) is True
    assert load_credentials(Settings()).keys == {live_server.url: key}
    assert labbook.login() is True  # the stored key, verified again
    live_server.stop()
    with pytest.raises(ServerUnavailable, match="cannot reach"):
        labbook.login(settings=Settings(http_retry_seconds=0.3))


def test_stored_login_sends_runs_to_the_server(live_server: LiveServer, tmp_path: Path) -> None:
    key = live_server.create_user("alice")
    assert labbook.login(key=key, host=live_server.url)
    with labbook.init(project="p", settings=Settings(capture_console=False)) as run:
        run.log({"x": 1.5})
    assert run.entity == "alice"
    assert not (tmp_path / "data" / "labbook.db").exists()
    with labbook.Api() as api:
        assert api.run(f"p/{run.id}").history()["x"].tolist() == [1.5]
    runner = CliRunner()
    listed = runner.invoke(cli, ["runs", "p"], catch_exceptions=False)  # read from the server
    assert run.id in listed.output and "finished" in listed.output
    shown = runner.invoke(cli, ["run", "show", f"p/{run.id}"], catch_exceptions=False)
    assert f"alice/p/{run.id}" in shown.output and "1.5" in shown.output
    hist = runner.invoke(cli, ["history", f"p/{run.id}", "x"], catch_exceptions=False)
    assert hist.output.splitlines() == ["_step\tx", "0\t1.5"]
    env = runner.invoke(cli, ["history", f"p/{run.id}", "x", "--buckets", "2"])
    assert env.exit_code == 0, env.output
    assert env.output.splitlines()[1].split("\t")[:4] == ["0", "0", "0", "1"]


def test_environment_overrides_the_file(
    live_server: LiveServer,
    server_factory: Callable[..., LiveServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = live_server.create_user("alice")
    save_credentials(Settings(), live_server.url, key, "alice")
    s = server_settings(Settings())
    assert (s.base_url, s.api_key) == (live_server.url, key)

    monkeypatch.setenv("LABBOOK_API_KEY", "lb_from_env")
    s = server_settings(Settings())
    assert (s.base_url, s.api_key) == (live_server.url, "lb_from_env")
    out = CliRunner().invoke(cli, ["whoami"])
    assert isinstance(out.exception, AuthenticationError)  # the env key was used, and rejected

    monkeypatch.delenv("LABBOOK_API_KEY")
    other = server_factory()
    monkeypatch.setenv("LABBOOK_BASE_URL", other.url)
    s = server_settings(Settings())
    # Another server: the stored key (for the stored host) is not sent there.
    assert (s.base_url, s.api_key) == (other.url, None)


def test_no_server_configured_means_local(tmp_path: Path) -> None:
    s = server_settings(Settings())
    assert s.base_url is None
    with labbook.init(project="p", settings=Settings(capture_console=False)) as run:
        run.log({"x": 1})
    assert run.url.startswith("http://127.0.0.1:8080/")
    assert (tmp_path / "data" / "labbook.db").exists()
    assert not credentials_path(Settings()).exists()
    out = CliRunner().invoke(cli, ["whoami"])
    assert isinstance(out.exception, UsageError) and "not logged in" in str(out.exception)


def test_unreadable_or_foreign_credentials_are_ignored(tmp_path: Path) -> None:
    path = _creds_file(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert server_settings(Settings()).base_url is None
    path.write_text(json.dumps({"host": "http://h:1", "keys": {"http://h:1": "k"}}))
    s = server_settings(Settings())
    assert (s.base_url, s.api_key) == ("http://h:1", "k")
    with pytest.raises(UsageError, match="scheme"):
        save_credentials(Settings(), "h:1", "k")


def test_offline_run_of_a_logged_in_user_syncs_to_the_server(
    live_server: LiveServer, tmp_path: Path
) -> None:
    key = live_server.create_user("alice")
    assert labbook.login(key=key, host=live_server.url)
    s = Settings(capture_console=False)
    with labbook.init(project="p", mode="offline", settings=s) as run:
        run.log({"x": 2.5})
    assert run.entity == "alice"  # who logged in, known without asking the server
    with labbook.Api() as api, pytest.raises(NotFoundError):
        api.run(f"alice/p/{run.id}")
    out = CliRunner().invoke(cli, ["sync", str(run.journal_dir)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    with labbook.Api() as api:
        assert api.run(f"alice/p/{run.id}").history()["x"].tolist() == [2.5]


def test_credentials_live_under_the_user_config_directory(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without LABBOOK_CONFIG_DIR: ``~/.config/labbook/``, or ``$XDG_CONFIG_HOME/labbook/``."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LABBOOK_CONFIG_DIR")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    key = live_server.create_user("alice")
    labbook.login(key=key, host=live_server.url)
    path = home / ".config" / "labbook" / "credentials.json"
    assert credentials_path(Settings()) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_credentials(Settings()).keys == {live_server.url: key}
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert credentials_path(Settings()) == tmp_path / "xdg" / "labbook" / "credentials.json"


def test_login_without_a_host_says_how_to_name_one(tmp_path: Path) -> None:
    out = CliRunner().invoke(cli, ["login", "lb_somekey"])
    assert isinstance(out.exception, UsageError)
    message = str(out.exception)
    assert "--host" in message and "LABBOOK_BASE_URL" in message
    assert "refused" not in message and "127.0.0.1" not in message
    with pytest.raises(UsageError, match="LABBOOK_BASE_URL"):
        labbook.login(key="lb_somekey")
    assert not _creds_file(tmp_path).exists()


def test_login_prints_the_user_and_the_entity_runs_go_to(live_server: LiveServer) -> None:
    from labbook.store import Store

    key = live_server.create_user("alice")
    with Store.open(live_server.settings.resolved_db_url()) as store:
        store.create_user("bob")
        store.create_team("vision", "bob")
        store.set_member("vision", "alice", "member")
    out = CliRunner().invoke(cli, ["login", key, "--host", live_server.url])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == f"Logged in to {live_server.url} as alice."
    assert lines[1] == "Runs go to entity alice; your teams: vision (member)."
    assert lines[2].startswith("Key stored in ")
    # LABBOOK_BASE_URL is a host too: no --host needed.
    again = CliRunner().invoke(
        cli, ["login", key], env={"LABBOOK_BASE_URL": live_server.url, "LABBOOK_ENTITY": "vision"}
    )
    assert again.exit_code == 0, again.output
    assert "Runs go to entity vision (LABBOOK_ENTITY)" in again.output
