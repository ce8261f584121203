"""The container entrypoint (login from the environment, then the command) and the deploy files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def _entrypoint(env: dict[str, str], *cmd: str) -> subprocess.CompletedProcess[str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *cmd],
        env={**os.environ, **env, "PATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_entrypoint_logs_in_from_the_env_then_trains(live_server: Any, tmp_path: Path) -> None:
    key = live_server.create_user("alice")
    script = (
        "import labbook; run = labbook.init(project='container'); run.log({'x': 2.0}); "
        "run.finish(); print(run.entity, run.id)"
    )
    out = _entrypoint(
        {"LABBOOK_API_KEY": key, "LABBOOK_BASE_URL": live_server.url},
        sys.executable,
        "-c",
        script,
    )
    assert out.returncode == 0, out.stderr
    entity, run_id = out.stdout.split()[-2:]
    assert entity == "alice"
    # The login was stored (0600) and the run reached the server.
    creds = Path(os.environ["LABBOOK_CONFIG_DIR"]) / "credentials.json"
    assert creds.is_file() and creds.stat().st_mode & 0o777 == 0o600
    import labbook

    with labbook.Api() as api:
        assert api.run(f"alice/container/{run_id}").history()["x"].tolist() == [2.0]


def test_entrypoint_fails_fast_on_a_bad_key(live_server: Any, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    out = _entrypoint(
        {"LABBOOK_API_KEY": "lb_wrongwrongwrong", "LABBOOK_BASE_URL": live_server.url},
        "touch",
        str(marker),
    )
    assert out.returncode != 0 and not marker.exists()
    assert "key" in (out.stderr + out.stdout).lower()


def test_entrypoint_without_a_key_just_runs_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    out = _entrypoint({"LABBOOK_API_KEY": ""}, "touch", str(marker))
    assert out.returncode == 0 and marker.exists()


def test_the_postgres_extra_brings_the_driver_the_server_uses() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(
        d.startswith("psycopg[binary]") for d in project["optional-dependencies"]["postgres"]
    )
    assert "pip install 'labbook[postgres]'" in (ROOT / "README.md").read_text()


def test_compose_describes_the_tested_topology() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"db", "s3", "labbook", "lb", "train"} <= set(services)
    env = services["labbook"]["environment"]
    assert env["LABBOOK_DB_URL"].startswith("postgresql+psycopg://")
    assert env["LABBOOK_BLOBS_URI"].startswith("s3://")
    assert services["labbook"]["deploy"]["replicas"] == 2
    assert services["train"]["env_file"] == ".env"
    dockerfile = (ROOT / "Dockerfile").read_text()
    for line in dockerfile.splitlines():
        if line.startswith("COPY") and "--from" not in line:
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src
    assert 'ENTRYPOINT ["labbook-entrypoint"]' in dockerfile


def test_the_image_builds_the_dashboard_in_a_node_stage_and_ships_it() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = dockerfile.split("\nFROM ")
    node = next(s for s in stages if s.startswith("node:20-slim AS web"))
    assert "RUN npm ci" in node and "npm run build" in node
    assert "COPY web/package.json web/package-lock.json ./" in node  # npm ci is cached by lock
    # Vite's outDir (../src/labbook/server/webapp from WORKDIR /src/web) goes into the wheel.
    assert "WORKDIR /src/web" in node
    build = next(s for s in stages if s.startswith("python:3.11-slim AS build"))
    assert "COPY --from=web /src/src/labbook/server/webapp ./src/labbook/server/webapp" in build
    assert "COPY pyproject.toml README.md hatch_build.py ./" in build  # the build hook is there
    assert "test -f src/labbook/server/webapp/index.html" in build
    ignored = (ROOT / ".dockerignore").read_text().split()
    # A local build or node_modules never reaches the image (stale hashed files would ship).
    assert {"src/labbook/server/webapp", "web/node_modules"} <= set(ignored)
    vite = ROOT / "web" / "vite.config.ts"
    assert vite.is_file(), "web/ holds the dashboard's sources"
    assert "../src/labbook/server/webapp" in vite.read_text()
