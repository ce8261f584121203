"""Every test gets its own data dir and working dir; no test touches ~/.labbook."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import labbook
from databases import Database
from labbook.settings import Settings

# S3 fixtures (moto's server), shared by the blob and the server topology tests.
from s3server import aws_env, moto_endpoint, s3_bucket, s3_settings, s3_uri  # noqa: F401

# Keras 3 runs on the torch backend here (torch==2.13.0, CPU); no TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "torch")


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in (
        "LABBOOK_DIR",
        "LABBOOK_DB_URL",
        "LABBOOK_MODE",
        "LABBOOK_PROJECT",
        "LABBOOK_ENTITY",
        "LABBOOK_BASE_URL",
        "LABBOOK_API_KEY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LABBOOK_DIR", str(tmp_path / "data"))
    # Never a developer's `labbook login`: that would send every test's runs to their server.
    monkeypatch.setenv("LABBOOK_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("LABBOOK_CACHE_DIR", str(tmp_path / "cache"))  # artifact downloads
    monkeypatch.setenv("LABBOOK_CAPTURE_REQUIREMENTS", "false")
    monkeypatch.chdir(tmp_path)
    yield
    if labbook.run is not None:
        labbook.finish()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings over this test's own data dir (what the SDK and read API tests pass around)."""
    return Settings(dir=tmp_path / "data", capture_requirements=False)


@pytest.fixture
def api(settings: Settings) -> Iterator[labbook.Api]:
    a = labbook.Api(settings)
    yield a
    a.close()


class LiveServer:
    """``create_app(settings)`` under uvicorn in a thread on a loopback port; stop and start it
    again on the same port (the data stays in its directory)."""

    def __init__(self, settings: Settings, port: int) -> None:
        self.settings = settings
        self.port = port
        # An ASGI middleware to put in front of the app (a test that watches the wire).
        self.wrap: Callable[[Any], Any] | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveServer:
        import uvicorn

        from labbook.server.app import create_app

        app = create_app(self.settings)
        config = uvicorn.Config(
            self.wrap(app) if self.wrap is not None else app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="test-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"test server did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
            assert not self._thread.is_alive(), "test server did not stop"
        self._server = None
        self._thread = None

    def create_user(self, name: str) -> str:
        """Create ``name`` (if needed) and return a new API key for them."""
        from labbook.store import Store

        with Store.from_settings(self.settings) as store:
            if store.get_user(name) is None:
                store.create_user(name)
            return store.create_key(name).key


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Makes (unstarted) servers with auth on, their data under ``tmp_path/server``."""
    made: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        db = overrides.pop("db_url", None)
        if isinstance(db, Database):  # a test database: its URL and its schema
            overrides |= db.settings
        elif db is not None:
            overrides["db_url"] = db
        settings = Settings(
            dir=tmp_path / f"server{len(made) or ''}", auth=True, host="127.0.0.1", **overrides
        )
        srv = LiveServer(settings, free_port())
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.stop()


@pytest.fixture
def live_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    return server_factory().start()
