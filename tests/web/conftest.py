"""Browser tests: Debian's Chromium driven by Playwright's Python package.

Nothing here downloads a browser (never ``playwright install``): the tests use
``/usr/bin/chromium``, installed with ``apt-get install -y chromium`` when it is missing and this
process may do so (root, with apt-get), and skip with the reason otherwise. Headless, without the
sandbox (containers run as root) or a GPU (software rendering), and without Chromium's own
background requests, so what the page asks for is all that goes out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def _install_chromium() -> str | None:
    """Install Debian's chromium; the reason it could not be, or None once it is there."""
    apt = shutil.which("apt-get")
    if apt is None:
        return "no /usr/bin/chromium, and no apt-get to install it with"
    if os.geteuid() != 0:
        return "no /usr/bin/chromium; install it with `sudo apt-get install -y chromium`"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update"], [apt, "install", "-y", "--no-install-recommends", "chromium"]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"`{' '.join(cmd)}` failed: {exc}"
        if done.returncode != 0 and cmd[1] == "install":
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"`apt-get install chromium` failed: {' / '.join(tail)}"
    return None if CHROMIUM.is_file() else "apt-get installed no /usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """``/usr/bin/chromium``, installed when missing and allowed; else the test skips."""
    if not CHROMIUM.is_file():
        why = _install_chromium()
        if why is not None:
            pytest.skip(why)
    return CHROMIUM


@pytest.fixture(scope="session")
def browser(chromium_path: Path) -> Iterator[Any]:
    """One headless Chromium for the session (a fresh context per test: see ``page``)."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the test extra brings playwright (the Python package)"
    )
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(chromium_path), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A page in a context of its own (no cookies or cache shared between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context.new_page()
    finally:
        context.close()
