"""Migrations build exactly the schema the code declares; several processes can share SQLite."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from databases import Database, database
from labbook.store import RunRef, Store
from labbook.store.engine import (
    HEAD_REVISION,
    current_revision,
    head_revision,
    migrations_config,
    stored_revision,
    upgrade,
)
from labbook.store.schema import metadata

TABLES = {
    "projects",
    "runs",
    "run_tags",
    "metric_keys",
    "history_blocks",
    "history_block_stats",
    "history_values",
    "files",
    "users",
    "teams",
    "memberships",
    "api_keys",
    "sessions",
}


def test_upgrade_from_empty_matches_schema(store_db: Database) -> None:
    bare = store_db.bare()  # engine only: nothing created yet
    try:
        assert not TABLES & set(sa.inspect(bare.engine).get_table_names())
        assert current_revision(bare.engine) is None
    finally:
        bare.close()
    store = store_db.bare()
    try:
        upgrade(store.engine, create_fresh=False)  # replay every migration
        assert current_revision(store.engine) == head_revision() == HEAD_REVISION
        assert stored_revision(store.engine) == HEAD_REVISION
        assert set(sa.inspect(store.engine).get_table_names()) >= TABLES
        with store.engine.connect() as conn:
            mc = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(mc, metadata)
        assert diff == [], diff
    finally:
        store.close()


def _schema(engine: sa.Engine) -> dict[str, Any]:
    """Everything the database reports about its tables, in a comparable form."""
    insp = sa.inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], str(c.get("default")))
                for c in insp.get_columns(table)
            ],
            "pk": insp.get_pk_constraint(table),
            "fks": sorted(insp.get_foreign_keys(table), key=repr),
            "indexes": sorted(insp.get_indexes(table), key=lambda i: str(i["name"])),
            "uniques": sorted(insp.get_unique_constraints(table), key=lambda u: str(u["name"])),
            "checks": sorted(insp.get_check_constraints(table), key=lambda c: str(c["name"])),
        }
    return out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_fresh_database_is_created_as_the_migrations_build_it(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Store.open`` on an empty database creates the declared tables and stamps head instead
    of replaying the migrations (no Alembic import); the result is the replayed schema."""
    with (
        database(backend, tmp_path, "replayed") as replayed_db,
        database(backend, tmp_path, "created") as created_db,
    ):
        replayed = replayed_db.bare()
        upgrade(replayed.engine, create_fresh=False)
        real_import = builtins.__import__

        def no_alembic(name: str, *args: Any, **kwargs: Any) -> Any:
            assert not name.startswith("alembic"), "a fresh database imported Alembic"
            return real_import(name, *args, **kwargs)

        monkeypatch.setattr(builtins, "__import__", no_alembic)
        created = created_db.open()
        monkeypatch.undo()
        try:
            assert stored_revision(created.engine) == current_revision(created.engine)
            assert current_revision(created.engine) == HEAD_REVISION
            assert set(_schema(created.engine)) >= TABLES
            assert _schema(created.engine) == _schema(replayed.engine)
            # and later migrations start from the stamped revision: nothing left to do
            upgrade(created.engine, create_fresh=False)
            assert _schema(created.engine) == _schema(replayed.engine)
        finally:
            created.close()
            replayed.close()


def test_downgrade_then_upgrade(store_db: Database, ref: RunRef, journal: Any) -> None:
    store = store_db.open()
    try:
        store.ingest(ref, [journal.run()])
        with store.engine.begin() as conn:
            command.downgrade(migrations_config(conn), "base")
        assert not TABLES & set(sa.inspect(store.engine).get_table_names())
    finally:
        store.close()
    store = store_db.open()
    try:
        assert store.projects() == []
        assert store.ingest(ref, [journal.run()]) == 2
    finally:
        store.close()


def test_reopen_keeps_data(store_db: Database, ref: RunRef, journal: Any) -> None:
    with store_db.open() as s:
        s.ingest(ref, journal.rows(3, x=float))
    with store_db.open() as s:
        assert s.last_seq(ref) == 3
        assert s.history(ref)["x"].values.tolist() == [0.0, 1.0, 2.0]


def test_open_makes_parent_dirs_and_expands_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with Store.open("sqlite:///~/deep/er/labbook.db") as s:
        assert s.count_runs("a", "b") == 0
    assert (tmp_path / "deep" / "er" / "labbook.db").is_file()


def test_sqlite_pragmas(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path / 'p.db'}") as s, s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_in_memory_sqlite_works() -> None:
    with Store.open("sqlite://") as s:
        ref = RunRef("a", "b", "c")
        s.ingest(ref, [{"t": "h", "seq": 1, "step": 0, "ts": 0.0, "d": {"x": 1.0}}])
        assert s.history(ref)["x"].values.tolist() == [1.0]


WRITER = textwrap.dedent(
    """
    import sys, time
    from labbook.store import RunRef, Store
    url, me = sys.argv[1], sys.argv[2]
    store = Store.open(url)  # several processes migrate the same new file at once
    own, shared = RunRef("e", "p", me), RunRef("e", "p", "shared")
    for b in range(25):
        recs = [{"t": "h", "seq": b * 40 + i + 1, "step": b * 40 + i, "ts": time.time(),
                 "d": {"x": float(b * 40 + i), "who": me}} for i in range(40)]
        store.ingest(own, recs)
        store.ingest(shared, [dict(r, d={"x": r["d"]["x"]}) for r in recs])
        store.list_runs("e", "p", filters={"metrics.x.max": {"$gt": 5}})
    store.close()
    """
)


def test_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    src = str(Path(__file__).resolve().parents[2] / "src")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, f"w{i}"], env=env, stderr=subprocess.PIPE, text=True
        )
        for i in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    with Store.open(url) as s:
        assert s.count_runs("e", "p") == 4
        for rid in ("w0", "w1", "w2", "shared"):
            h = s.history(RunRef("e", "p", rid))["x"]
            assert h.steps.tolist() == list(range(1000)), rid  # no point lost or duplicated
            assert s.last_seq(RunRef("e", "p", rid)) == 1000
