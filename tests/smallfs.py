"""A real small filesystem for disk-full tests: a tmpfs of a few MB mounted in the test's dir.

Mounting needs root (CAP_SYS_ADMIN); where it is not allowed the tests that need it skip, and
the in-process tests that inject ENOSPC at the writer's system-call seam still run.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


class SmallFs:
    def __init__(self, path: Path) -> None:
        self.path = path

    def resize(self, size: str) -> None:
        """Grow (or shrink) the mounted filesystem in place: space coming back."""
        subprocess.run(
            ["mount", "-o", f"remount,size={size}", str(self.path)],
            check=True,
            capture_output=True,
        )

    def fill(self) -> Path:
        """Fill every free byte with one file; returns it (unlink it to free the space)."""
        filler = self.path / "filler"
        with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
        return filler


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "4m") -> Iterator[SmallFs]:
    """Mount a tmpfs of ``size`` at ``path`` (skip the test where that is not allowed)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield SmallFs(path)
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
