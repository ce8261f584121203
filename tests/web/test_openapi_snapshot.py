"""The dashboard's API client is generated from ``web/openapi.json``: these tests fail when that
snapshot, or the TypeScript generated from it, no longer matches the server's routes.

After changing a route or a wire schema, regenerate both with ``cd web && npm run api``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from labbook.server import create_app
from labbook.settings import Settings

WEB = Path(__file__).resolve().parents[2] / "web"


def _live_document(tmp_path: Path) -> dict[str, object]:
    settings = Settings(
        dir=tmp_path,
        db_url=f"sqlite:///{tmp_path}/openapi.db",
        blobs_uri=(tmp_path / "blobs").as_uri(),
        auth=False,
    )
    app = create_app(settings)
    doc: dict[str, object] = json.loads(json.dumps(app.openapi()))
    return doc


def test_openapi_snapshot_matches_the_app(tmp_path: Path) -> None:
    committed = json.loads((WEB / "openapi.json").read_text(encoding="utf-8"))
    live = _live_document(tmp_path)
    if committed != live:
        paths_now = set(live.get("paths", {}))  # type: ignore[arg-type]
        paths_then = set(committed.get("paths", {}))
        added = sorted(paths_now - paths_then)
        gone = sorted(paths_then - paths_now)
        pytest.fail(
            "web/openapi.json is stale (the dashboard's generated API client would be too): "
            f"routes added {added}, removed {gone}, or schemas changed. "
            "Run `cd web && npm run api` and commit openapi.json and src/api/schema.d.ts."
        )


def test_generated_typescript_matches_the_snapshot() -> None:
    node = shutil.which("node")
    generator = WEB / "node_modules" / ".bin" / "openapi-typescript"
    if node is None or not generator.exists():
        pytest.skip("node or web/node_modules missing (cd web && npm ci)")
    done = subprocess.run(
        [node, str(WEB / "scripts" / "check-api.mjs")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
