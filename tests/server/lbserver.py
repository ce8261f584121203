"""Helpers of the server tests: a database per test (SQLite, or PostgreSQL in a schema of its own
where ``LABBOOK_TEST_POSTGRES_URL`` is set), the app under test and the error-shape check."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from databases import Database
from databases import database as shared_database
from labbook.store import Store


@contextmanager
def database(backend: str, directory: Path) -> Iterator[Database]:
    with shared_database(backend, directory, "server") as db:
        yield db


class Server:
    """A running app plus helpers to make users and their API keys."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.store: Store = client.app.state.store  # type: ignore[attr-defined]
        settings = client.app.state.settings  # type: ignore[attr-defined]
        self.blobs_root = Path(settings.resolved_blobs_uri().removeprefix("file://"))

    def user(
        self, name: str, *, admin: bool = False, password: str | None = None
    ) -> dict[str, str]:
        """Create a user; the Authorization headers of a fresh key of theirs."""
        if self.store.get_user(name) is None:
            self.store.create_user(name, password=password, admin=admin)
        return {"Authorization": f"Bearer {self.store.create_key(name).key}"}

    def team(self, team: str, owner: str, **members: str) -> None:
        self.store.create_team(team, owner)
        for user, role in members.items():
            self.store.set_member(team, user, role)

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get("/api/v1" + url, **kw)

    def put(self, url: str, **kw: Any) -> Any:
        return self.client.put("/api/v1" + url, **kw)

    def post(self, url: str, **kw: Any) -> Any:
        return self.client.post("/api/v1" + url, **kw)

    def patch(self, url: str, **kw: Any) -> Any:
        return self.client.patch("/api/v1" + url, **kw)

    def delete(self, url: str, **kw: Any) -> Any:
        return self.client.delete("/api/v1" + url, **kw)


def error(resp: Any, status: int, code: str | None = None) -> str:
    """Assert the error shape and status; return the message."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message"}, body
    if code is not None:
        assert body["error"]["code"] == code, body
    return str(body["error"]["message"])
