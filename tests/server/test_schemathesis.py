"""Property-based requests generated from the OpenAPI document: bad input never gives a 5xx."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from lbserver import database

from labbook.server import create_app
from labbook.settings import Settings
from labbook.store import RunRef

schemathesis = pytest.importorskip("schemathesis")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "auth"),
    [("sqlite", False), ("sqlite", True), ("postgresql", False)],
    ids=["local-admin", "anonymous", "postgresql-local-admin"],
)
def test_no_server_errors(tmp_path: Path, backend: str, auth: bool) -> None:
    # Local mode: every request is the admin, so generated requests reach the deep code paths;
    # with auth on they are anonymous and exercise the permission checks. PostgreSQL refuses
    # some values SQLite stores (NUL in text), so the deep paths run on it too.
    with database(backend, tmp_path) as db:
        _check_openapi_operations(
            Settings(dir=tmp_path, auth=auth, host="127.0.0.1", entity="ada", **db.settings)
        )


def _check_openapi_operations(app_settings: Settings) -> None:
    app = create_app(app_settings)
    try:
        app.state.store.ensure_run(RunRef("ada", "p", "r"))
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        ops = [r.ok() for r in schema.get_all_operations()]
        assert len(ops) >= 25
        assert _server_errors(ops) == []
    finally:
        app.state.store.close()


def _server_errors(ops: list[Any]) -> list[str]:
    failures: list[str] = []
    for op in ops:

        @settings(
            max_examples=10,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=op.as_strategy())
        def check(case: Any) -> None:
            resp = case.call()
            if resp.status_code >= 500:
                failures.append(f"{case.method} {case.path}: {resp.status_code} {resp.text}")

        check()
    return failures
