"""``run.url``: the run's page in the dashboard, and what ``init`` prints. Local runs lead to what
``labbook ui`` serves (127.0.0.1 on ``LABBOOK_PORT``, 8080); server runs to the server."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

import labbook
from labbook import Settings

if TYPE_CHECKING:
    from conftest import LiveServer


def test_a_local_runs_url_is_the_ui_s(capfd: pytest.CaptureFixture[str]) -> None:
    run = labbook.init(project="digits", settings=Settings(capture_console=False))
    run.finish()
    assert run.entity and run.id
    assert run.url == f"http://127.0.0.1:8080/{run.entity}/digits/runs/{run.id}"
    said = capfd.readouterr().err
    assert f"labbook: run {run.name} → local store " in said
    assert f"; {run.url} (`labbook ui` serves it)" in said


def test_the_port_of_labbook_ui_is_the_port_in_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABBOOK_PORT", "9123")
    assert Settings().port == 9123  # what `labbook ui` binds without --port
    run = labbook.init(project="p", settings=Settings(capture_console=False))
    run.finish()
    assert run.url == f"http://127.0.0.1:9123/{run.entity}/p/runs/{run.id}"


def test_a_server_runs_url_is_on_that_server(
    live_server: LiveServer, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LABBOOK_BASE_URL", live_server.url + "/")
    monkeypatch.setenv("LABBOOK_API_KEY", live_server.create_user("alice"))
    run = labbook.init(project="digits", settings=Settings(capture_console=False))
    run.finish()
    assert run.url == f"{live_server.url}/alice/digits/runs/{run.id}"
    assert f"labbook: run {run.name} → {run.url}" in capfd.readouterr().err
