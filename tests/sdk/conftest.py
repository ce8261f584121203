from __future__ import annotations

from pathlib import Path

import pytest

from labbook import Api, Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(dir=tmp_path / "data", capture_requirements=False)


@pytest.fixture
def api(settings: Settings) -> Api:
    a = Api(settings)
    yield a
    a.close()
