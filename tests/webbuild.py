"""A small hand-written dashboard build (as Vite lays one out) for the tests that serve one, and a
``labbook`` command run as a real process whose output is read as it comes."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import psutil

SCRIPT_NAME = "index-3f9a1c.js"
INDEX = (
    f'<!doctype html><html><head><script type="module" src="/assets/{SCRIPT_NAME}"></script>'
    '<link rel="stylesheet" href="/assets/index-77b2e0.css"></head>'
    '<body><div id="root"></div></body></html>'
)
SCRIPT = "export const rows = [" + ",".join(f'{{"i": {i}}}' for i in range(400)) + "];\n"
CSS = "body{margin:0}\n"
SECRET = "secret outside the build\n"


def write_build(root: Path, index: str = INDEX, script: str = SCRIPT) -> Path:
    """``root/build`` with index.html, two hashed assets and a favicon; beside it a file that
    must stay out of reach, and a link in ``assets/`` that points at it."""
    build = root / "build"
    (build / "assets").mkdir(parents=True)
    (build / "index.html").write_text(index)
    (build / "assets" / SCRIPT_NAME).write_text(script)
    (build / "assets" / "index-77b2e0.css").write_text(CSS)
    (build / "favicon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    (root / "secret.txt").write_text(SECRET)
    (build / "assets" / "link.txt").symlink_to(root / "secret.txt")
    return build


class Labbook:
    """``python -m labbook.cli.main ARGS`` with its output (stdout and stderr) read on a thread."""

    def __init__(
        self,
        args: Sequence[str],
        env: dict[str, str],
        code: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        cmd = (
            [sys.executable, "-c", code, *args]
            if code
            else [sys.executable, "-m", "labbook.cli.main", *args]
        )
        self.proc = subprocess.Popen(
            cmd,
            env={**os.environ, **env},
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._q.put(line.rstrip("\n"))
        self._q.put(None)

    def wait_for(self, text: str, timeout: float = 120) -> str:
        """The first output line holding ``text``; fails with all the output when none comes."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                line = self._q.get(timeout=max(left, 0.01))
            except queue.Empty:
                line = ""
            if line == "" and left <= 0:
                self.stop()
                raise AssertionError(f"no line with {text!r} in:\n" + "\n".join(self.lines))
            if line is None:
                self.proc.wait()
                raise AssertionError(
                    f"exited ({self.proc.returncode}) without {text!r}:\n" + "\n".join(self.lines)
                )
            if line:
                self.lines.append(line)
                if text in line:
                    return line

    def stop(self) -> int:
        """SIGTERM, then wait; the process and any child it made are gone afterwards."""
        try:
            family = [psutil.Process(self.proc.pid), *psutil.Process(self.proc.pid).children(True)]
        except psutil.NoSuchProcess:
            family = []
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        _gone, alive = psutil.wait_procs(family, timeout=10)
        for p in alive:
            p.kill()
        assert not alive, f"left running: {alive}"
        return self.proc.returncode
