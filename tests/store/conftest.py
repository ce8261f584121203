"""Fixtures of the Store contract suite.

Every test taking ``store`` runs against a fresh SQLite file and, when ``LABBOOK_TEST_POSTGRES_URL``
is set, against PostgreSQL in a schema of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from databases import Database, database
from labbook.store import RunRef, Store

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def store_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    with database(request.param, tmp_path) as db:
        yield db


@pytest.fixture(scope="module", params=BACKENDS)
def module_store_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One database for a whole module of read-only tests."""
    with database(request.param, tmp_path_factory.mktemp("store")) as db:
        yield db


@pytest.fixture
def make_store(store_db: Database) -> Iterator[Callable[..., Store]]:
    opened: list[Store] = []

    def make(crash_after: float = 300.0) -> Store:
        s = store_db.open(crash_after=crash_after)
        opened.append(s)
        return s

    yield make
    for s in opened:
        s.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()


@pytest.fixture
def ref() -> RunRef:
    return RunRef("alice", "digits", "run1")


class Journal:
    """Builds records the way the SDK's writer frames them: consecutive seqs from 1."""

    def __init__(self, start: int = 1) -> None:
        self.seq = start - 1
        self.t0 = 1_700_000_000.0

    def _rec(self, t: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        return {"t": t, "seq": self.seq, **fields}

    def run(self, **fields: Any) -> dict[str, Any]:
        base = {
            "id": "run1",
            "project": "digits",
            "entity": "alice",
            "name": "first",
            "tags": [],
            "notes": None,
            "group": None,
            "job_type": None,
            "config": {},
            "started_at": self.t0,
        }
        return self._rec("run", **(base | fields))

    def h(self, step: int, d: dict[str, Any], ts: float | None = None) -> dict[str, Any]:
        return self._rec(
            "h", step=step, ts=self.t0 + step if ts is None else ts, rt=float(step), d=d
        )

    def rows(self, n: int, start: int = 0, **cols: Callable[[int], Any]) -> list[dict[str, Any]]:
        return [self.h(start + i, {k: f(start + i) for k, f in cols.items()}) for i in range(n)]

    def summary(
        self, u: dict[str, Any] | None = None, delete: list[str] | None = None
    ) -> dict[str, Any]:
        rec = self._rec("summary", u=u or {})
        if delete is not None:
            rec["del"] = delete
        return rec

    def config(self, u: dict[str, Any]) -> dict[str, Any]:
        return self._rec("config", u=u)

    def meta(self, m: dict[str, Any]) -> dict[str, Any]:
        return self._rec("meta", m=m)

    def update(self, **fields: Any) -> dict[str, Any]:
        return self._rec("update", **fields)

    def file(self, path: str, sha256: str, size: int) -> dict[str, Any]:
        return self._rec("file", path=path, sha256=sha256, size=size)

    def hb(self) -> dict[str, Any]:
        return self._rec("hb", ts=time.time())

    def exit(
        self, code: int = 0, state: str = "finished", ts: float | None = None
    ) -> dict[str, Any]:
        return self._rec("exit", code=code, state=state, ts=self.t0 + 1000 if ts is None else ts)


@pytest.fixture
def journal() -> Journal:
    return Journal()


def block_counts(store: Store, ref: RunRef) -> dict[str, int]:
    """Blocks per key, read straight from the tables (the public API hides the layout)."""
    from labbook.store.schema import history_blocks, metric_keys, projects, runs

    q = (
        sa.select(metric_keys.c.key, sa.func.count(history_blocks.c.id))
        .select_from(
            metric_keys.join(history_blocks, history_blocks.c.key_id == metric_keys.c.id)
            .join(runs, runs.c.pk == metric_keys.c.run_pk)
            .join(projects, projects.c.id == runs.c.project_id)
        )
        .where(
            projects.c.entity == ref.entity, projects.c.name == ref.project, runs.c.run_id == ref.id
        )
        .group_by(metric_keys.c.key)
    )
    with store.engine.connect() as conn:
        return {k: int(n) for k, n in conn.execute(q)}


@pytest.fixture
def blocks() -> Callable[[Store, RunRef], dict[str, int]]:
    return block_counts


@pytest.fixture(scope="session")
def new_journal() -> Callable[..., Journal]:
    """The Journal class itself, for tests (and module fixtures) that need several journals."""
    return Journal
