"""Fixtures: the real app over HTTP on temp-dir SQLite, and PostgreSQL where configured."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from lbserver import Server, database

from labbook.server import create_app
from labbook.settings import Settings


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    clients: list[TestClient] = []

    def make(db_url: str | None = None, **overrides: Any) -> Server:
        fields: dict[str, Any] = {"dir": tmp_path / "data", "auth": True, "entity": "local"}
        if db_url:
            fields["db_url"] = db_url
        settings = Settings(**(fields | overrides))
        client = TestClient(create_app(settings), raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return Server(client)

    yield make
    for c in clients:
        c.__exit__(None, None, None)


@pytest.fixture
def server(make_server: Callable[..., Server]) -> Server:
    return make_server()


@pytest.fixture(params=["sqlite", "postgresql"])
def any_server(
    request: pytest.FixtureRequest, tmp_path: Path, make_server: Callable[..., Server]
) -> Iterator[Server]:
    """The app over SQLite and (where configured) PostgreSQL."""
    with database(request.param, tmp_path) as db:
        yield make_server(**db.settings)
