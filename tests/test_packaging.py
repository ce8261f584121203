"""The wheel ships the dashboard's git-ignored build, and the hatch hook (hatch_build.py) makes it
with npm when it is missing; without npm a wheel fails with a clear message and an editable
install goes on. Built through hatchling's PEP 517 entry points in a subprocess, from a copy of
the project: no network, no build isolation, npm replaced by a script that records its calls."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("hatchling", reason="the test extra brings hatchling (the build backend)")

ROOT = Path(__file__).resolve().parents[1]
WEBAPP = Path("src", "labbook", "server", "webapp")

FAKE_NPM = """#!{python}
# Records its arguments; `npm run build` writes a build the way web/'s Vite does.
import pathlib, sys
with open({log!r}, "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
if sys.argv[1:] == ["run", "build"]:
    out = pathlib.Path("..", "src", "labbook", "server", "webapp")
    (out / "assets").mkdir(parents=True)
    (out / "index.html").write_text("<!doctype html><title>built by npm</title>")
    (out / "assets" / "index-abc123.js").write_text("console.log(1)")
sys.exit({status})
"""


def project_copy(tmp_path: Path, *, build: bool, web: bool) -> Path:
    """The files a wheel is built from, without a build unless ``build``; ``web/`` if ``web``."""
    dst = tmp_path / "labbook-src"
    dst.mkdir()
    for name in ("pyproject.toml", "README.md", ".gitignore", "hatch_build.py"):
        shutil.copy2(ROOT / name, dst / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "webapp")
    shutil.copytree(ROOT / "src", dst / "src", ignore=ignore)
    (dst / "examples").mkdir()
    for example in ("digits_cnn_keras.py", "evaluate_predictions.py"):  # the wheel carries them
        shutil.copy2(ROOT / "examples" / example, dst / "examples")
    if build:
        (dst / WEBAPP / "assets").mkdir(parents=True)
        (dst / WEBAPP / "index.html").write_text("<!doctype html><title>fake build</title>")
        (dst / WEBAPP / "assets" / "index-3f9a1c.js").write_text("export {};\n")
    if web:
        (dst / "web").mkdir()
        (dst / "web" / "package.json").write_text('{"name": "labbook-web", "private": true}')
    return dst


def fake_npm(tmp_path: Path, status: int = 0) -> tuple[Path, Path]:
    """A folder holding only ``npm`` (the fake), and the file it logs its calls to."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "npm.log"
    npm = bin_dir / "npm"
    npm.write_text(FAKE_NPM.format(python=sys.executable, log=str(log), status=status))
    npm.chmod(0o755)
    return bin_dir, log


def build(
    src: Path, kind: str, path: Path, **env: str
) -> tuple[subprocess.CompletedProcess[str], Path | None]:
    """``hatchling.build.build_<kind>`` in ``src``; the wheel it made (None on failure)."""
    out = src.parent / "dist"
    out.mkdir(exist_ok=True)
    code = f"from hatchling.build import build_{kind}; print(build_{kind}({str(out)!r}))"
    environ = {k: v for k, v in os.environ.items() if k != "LABBOOK_SKIP_WEB_BUILD"}
    environ.update(env, PATH=str(path))
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=src,
        env=environ,
        capture_output=True,
        text=True,
        timeout=240,
    )
    if done.returncode != 0:
        return done, None
    return done, out / done.stdout.strip().splitlines()[-1]


def names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as z:
        return set(z.namelist())


@pytest.mark.slow
def test_the_wheel_ships_the_ignored_build(tmp_path: Path) -> None:
    src = project_copy(tmp_path, build=True, web=True)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done, wheel = build(src, "wheel", empty, LABBOOK_SKIP_WEB_BUILD="1")
    assert wheel is not None, done.stderr
    inside = names(wheel)
    assert "labbook/server/webapp/index.html" in inside
    assert "labbook/server/webapp/assets/index-3f9a1c.js" in inside
    assert {
        "labbook/server/webapp.py",
        "labbook/_examples/digits_cnn_keras.py",
        "labbook/_examples/evaluate_predictions.py",
    } <= inside
    assert not any(n.startswith(("web/", "src/")) for n in inside)
    with zipfile.ZipFile(wheel) as z:
        assert b"fake build" in z.read("labbook/server/webapp/index.html")


@pytest.mark.slow
def test_the_hook_builds_a_missing_dashboard_with_npm(tmp_path: Path) -> None:
    src = project_copy(tmp_path, build=False, web=True)
    bin_dir, log = fake_npm(tmp_path)
    done, wheel = build(src, "wheel", bin_dir)
    assert wheel is not None, done.stderr
    assert log.read_text().splitlines() == ["ci", "run build"]  # in that order, in web/
    assert "labbook/server/webapp/index.html" in names(wheel)
    assert "labbook/server/webapp/assets/index-abc123.js" in names(wheel)
    # A build that is there is not made again.
    log.unlink()
    done, wheel = build(src, "wheel", bin_dir)
    assert wheel is not None and not log.exists(), done.stderr


@pytest.mark.slow
def test_without_npm_a_wheel_fails_saying_what_to_do(tmp_path: Path) -> None:
    src = project_copy(tmp_path, build=False, web=True)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    done, wheel = build(src, "wheel", empty)
    assert wheel is None
    said = done.stdout + done.stderr
    assert "npm is not on the PATH" in said and "Node.js" in said
    assert "LABBOOK_SKIP_WEB_BUILD=1" in said and "Traceback" not in said
    # An editable install (the README's newcomer command) goes on, and says why.
    done, wheel = build(src, "editable", empty)
    assert wheel is not None, done.stderr
    assert "npm is not on the PATH" in done.stderr
    assert "goes on without the dashboard" in done.stderr
    # LABBOOK_SKIP_WEB_BUILD=1: a wheel without the dashboard, on purpose.
    done, wheel = build(src, "wheel", empty, LABBOOK_SKIP_WEB_BUILD="1")
    assert wheel is not None, done.stderr
    assert not any("webapp/" in n for n in names(wheel))


@pytest.mark.slow
def test_a_failing_npm_build_fails_the_wheel(tmp_path: Path) -> None:
    src = project_copy(tmp_path, build=False, web=True)
    bin_dir, log = fake_npm(tmp_path, status=3)
    done, wheel = build(src, "wheel", bin_dir)
    assert wheel is None and "`npm ci`" in done.stderr and "exit status 3" in done.stderr
    assert log.read_text().splitlines() == ["ci"]  # stopped at the first failure


@pytest.mark.slow
def test_without_web_sources_the_hook_does_nothing(tmp_path: Path) -> None:
    src = project_copy(tmp_path, build=False, web=False)
    bin_dir, log = fake_npm(tmp_path)
    done, wheel = build(src, "wheel", bin_dir)
    assert wheel is not None, done.stderr
    assert not log.exists() and not any("webapp/" in n for n in names(wheel))
