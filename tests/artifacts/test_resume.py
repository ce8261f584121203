"""An artifact upload killed half-way (SIGKILL of a real process) leaves no visible version, and
running it again completes it without sending again the blobs the server already stored."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import LiveServer

FILES = 24


class SlowBlobs:
    """ASGI middleware: counts blob uploads and holds each one for a moment, so the uploading
    process can be killed while it is half done."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.puts: list[str] = []
        self.delay = 0.15

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "PUT" and "/blobs/" in scope["path"]:
            self.puts.append(scope["path"].rsplit("/", 1)[1])
            await asyncio.sleep(self.delay)
        await self.app(scope, receive, send)


def _put(env: dict[str, str], folder: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "labbook.cli.main", "artifact", "put", str(folder),
           "--project", "digits", "--name", "big", "--type", "dataset"]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


@pytest.mark.slow
def test_killed_upload_is_invisible_and_resumes(server_factory: Any, tmp_path: Path) -> None:
    live: LiveServer = server_factory()
    slow: dict[str, SlowBlobs] = {}

    def wrap(app: Any) -> Any:
        slow["mw"] = SlowBlobs(app)
        return slow["mw"]

    live.wrap = wrap
    live.start()
    key = live.create_user("alice")
    folder = tmp_path / "big"
    folder.mkdir()
    digests = []
    for i in range(FILES):
        data = os.urandom(64 * 1024)
        (folder / f"part-{i:02d}.bin").write_bytes(data)
        digests.append(hashlib.sha256(data).hexdigest())
    env = {
        **os.environ,
        "LABBOOK_BASE_URL": live.url,
        "LABBOOK_API_KEY": key,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    mw = slow["mw"]
    proc = _put(env, folder)
    try:
        deadline = time.monotonic() + 60
        while len(mw.puts) < FILES // 3:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "the upload never started"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    first = list(mw.puts)
    assert len(first) < FILES

    headers = {"Authorization": f"Bearer {key}"}
    api = f"{live.url}/api/v1/projects/alice/digits"
    assert httpx.get(f"{api}/artifacts", headers=headers).json() == []  # nothing visible
    time.sleep(0.5)  # requests the kill cut short have ended on the server
    missing = set(_missing(live, digests))
    stored = set(digests) - missing
    assert stored  # the first process got part of the way

    mw.delay = 0.0
    mw.puts.clear()
    proc = _put(env, folder)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "big:v0 (new" in out
    assert sorted(mw.puts) == sorted(missing)  # only what the server lacked, once each
    assert not set(mw.puts) & stored
    versions = httpx.get(f"{api}/artifacts/big", headers=headers).json()["versions"]
    assert [v["file_count"] for v in versions] == [FILES]


def _missing(live: LiveServer, digests: list[str]) -> list[str]:
    """The blobs the server's project does not hold, read at its store."""
    from labbook.store import Store

    with Store.from_settings(live.settings) as store:
        return store.missing_blobs("alice", "digits", digests)
