"""Every test gets its own data dir and working dir; no test touches ~/.labbook."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import labbook


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in (
        "LABBOOK_DIR",
        "LABBOOK_DB_URL",
        "LABBOOK_MODE",
        "LABBOOK_PROJECT",
        "LABBOOK_ENTITY",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LABBOOK_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LABBOOK_CAPTURE_REQUIREMENTS", "false")
    monkeypatch.chdir(tmp_path)
    yield
    if labbook.run is not None:
        labbook.finish()
