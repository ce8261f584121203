"""Hatch build hook: build the dashboard (``web/``) into the package when its build is missing.

The build (``src/labbook/server/webapp/``) is git-ignored and shipped in the wheel as an artifact
(``pyproject.toml``). When ``index.html`` is not there and ``web/package.json`` is, this runs
``npm ci && npm run build`` in ``web/`` (Vite writes into the package). It does nothing when:

- the build is already there (a developer's build, the Docker image's node stage, an sdist that
  carries one): building again would only cost time;
- ``LABBOOK_SKIP_WEB_BUILD=1`` is set (``true``/``yes`` also), for builds that bring their own;
- there is no ``web/package.json`` (a tree without the app's sources): nothing to build from.

Without npm, or when the npm build fails, the outcome depends on what is being built:

- a **wheel** fails, with the message below: a wheel is what gets installed elsewhere (a release,
  a Docker image, a colleague's machine), and one without its dashboard would only show the
  "not built" page there, where nobody can fix it;
- an **editable install** (``pip install -e .``, the README's newcomer command) warns and goes on:
  the checkout is right there, the server's "not built" page says how to build it, and the
  install (SDK, CLI, the REST server) works without Node. Failing it would turn "I wanted to try
  the tracker" into "install Node first" for everyone, the training-script-only users included.
  pip shows a backend's warnings only with ``-v``; the server's page and ``labbook ui``'s first
  line say it too.

This file runs in pip's isolated build environment: standard library and hatchling only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

WEBAPP = Path("src", "labbook", "server", "webapp")
SKIP_VAR = "LABBOOK_SKIP_WEB_BUILD"
_TRUE = {"1", "true", "yes", "on"}

NO_NPM = (
    "labbook: the dashboard (web/) is not built and npm is not on the PATH.\n"
    "  Install Node.js 20 or later with npm (https://nodejs.org, or your system's package, e.g.\n"
    "  `apt-get install nodejs npm`), then build again; or build the app yourself\n"
    "  (`cd web && npm ci && npm run build`); or set LABBOOK_SKIP_WEB_BUILD=1 to build without\n"
    "  it (the server then shows a page that says how to build it)."
)


class WebBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        if (root / WEBAPP / "index.html").is_file():
            return
        if os.environ.get(SKIP_VAR, "").strip().lower() in _TRUE:
            self.app.display_info(f"labbook: {SKIP_VAR} is set: the dashboard is not built")
            return
        web = root / "web"
        if not (web / "package.json").is_file():
            return
        editable = version == "editable"
        npm = shutil.which("npm")
        if npm is None:
            self._fail(NO_NPM, editable)
            return
        for args in (["ci"], ["run", "build"]):
            cmd = " ".join(["npm", *args])
            self.app.display_info(f"labbook: building the dashboard: {cmd} (in {web})")
            try:
                done = subprocess.run([npm, *args], cwd=web, check=False)
            except OSError as exc:
                self._fail(f"labbook: `{cmd}` in {web} could not start: {exc}", editable)
                return
            if done.returncode != 0:
                self._fail(
                    f"labbook: `{cmd}` in {web} failed (exit status {done.returncode}; its output "
                    f"is above). Fix it and build again, or set {SKIP_VAR}=1 to build without "
                    "the dashboard.",
                    editable,
                )
                return
        if not (root / WEBAPP / "index.html").is_file():
            self._fail(
                f"labbook: `npm run build` in {web} left no {WEBAPP / 'index.html'} (web/'s Vite "
                "outDir must be the package's webapp folder).",
                editable,
            )

    def _fail(self, message: str, editable: bool) -> None:
        if editable:
            self.app.display_warning(
                message + "\n  This editable install goes on without the dashboard; the server "
                "shows a page that says how to build it."
            )
            return
        self.app.abort(message)
