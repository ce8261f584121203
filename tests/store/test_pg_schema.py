"""On PostgreSQL every labbook table lives in one schema (``LABBOOK_DB_SCHEMA``, default
``labbook``), so an application keeps its own ``users`` and ``runs`` in ``public`` of the same
database; tables an older labbook made in ``public`` are moved in without losing a row.

Each test gets a whole database of its own, so ``public`` is a real, shared ``public``.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from databases import postgres_database, postgres_url
from labbook.errors import UsageError
from labbook.store import RunRef, Store
from labbook.store.engine import HEAD_REVISION, migrations_config, stored_revision, upgrade
from labbook.store.schema import metadata

LABBOOK_TABLES = {*metadata.tables, "alembic_version"}
LEGACY_0001 = {
    *("projects", "runs", "run_tags", "metric_keys", "history_blocks", "history_values", "files")
}
LEGACY_0002 = {*LEGACY_0001, "users", "teams", "memberships", "api_keys", "sessions"}
APP_USERS = [(1, "ann@example.com"), (2, "bo@example.com")]


@pytest.fixture
def pg() -> Iterator[str]:
    with postgres_database() as url:
        yield url


def _tables(url: str) -> dict[str, set[str]]:
    """Tables per schema, as PostgreSQL lists them."""
    eng = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with eng.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT schemaname, tablename FROM pg_tables "
                    "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
                )
            )
            out: dict[str, set[str]] = {}
            for schema, table in rows:
                out.setdefault(schema, set()).add(table)
            return out
    finally:
        eng.dispose()


def _sql(url: str, *statements: str) -> list[Any]:
    """Run ``statements`` as the application would (its own connection, default search_path);
    the rows of the last one."""
    eng = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with eng.begin() as conn:
            result: Any = None
            for st in statements:
                result = conn.execute(sa.text(st))
            return list(result) if result is not None and result.returns_rows else []
    finally:
        eng.dispose()


def _app_tables(url: str, runs: bool = True) -> None:
    """An application's own tables in ``public``, named like labbook's."""
    _sql(
        url,
        "CREATE TABLE users (id integer PRIMARY KEY, email text NOT NULL)",
        "INSERT INTO users VALUES (1, 'ann@example.com'), (2, 'bo@example.com')",
        *(["CREATE TABLE runs (id integer PRIMARY KEY, note text)"] if runs else []),
    )


def _use(store: Store, ref: RunRef, journal: Any) -> None:
    """Write what a server writes: a run with history, a user with a password and a key."""
    store.ingest(ref, [journal.run(), *journal.rows(3, loss=lambda i: 1.0 / (i + 1))])
    store.create_user("alice", password="pw")
    store.create_key("alice")


@pytest.mark.parametrize("replay", [False, True], ids=["created", "migrated"])
def test_every_table_lives_in_the_labbook_schema_beside_an_apps_users(
    pg: str, ref: RunRef, journal: Any, replay: bool
) -> None:
    _app_tables(pg)
    if replay:  # the migrations themselves, not only the fresh-database shortcut
        bare = Store(pg)
        upgrade(bare.engine, create_fresh=False)
        bare.close()
    with Store.open(pg) as store:
        assert store.schema == "labbook"
        _use(store, ref, journal)
        assert store.get_user("alice") is not None and store.get_user("ann") is None
        assert store.history(ref)["loss"].values.tolist() == [1.0, 0.5, 1 / 3]
    tables = _tables(pg)
    assert tables["labbook"] == LABBOOK_TABLES  # all 13, the Alembic version table included
    assert tables["public"] == {"users", "runs"}  # the application's, and nothing of labbook's
    assert _sql(pg, "SELECT id, email FROM users ORDER BY id") == APP_USERS
    assert _sql(pg, "SELECT count(*) FROM runs") == [(0,)]
    assert _sql(pg, "SELECT name FROM labbook.users") == [("alice",)]
    with Store.open(pg) as again:  # reopening finds its tables, not the application's
        assert again.last_seq(ref) == 4 and stored_revision(again.engine) == HEAD_REVISION


def test_the_schema_is_a_setting(pg: str, ref: RunRef, journal: Any) -> None:
    """Two labbook instances in one database, each in the schema its settings name."""
    from labbook.settings import Settings

    with (
        Store.from_settings(Settings(db_url=pg, db_schema="team_a")) as a,
        Store.from_settings(Settings(db_url=pg, db_schema="team_b")) as b,
    ):
        a.ingest(ref, [journal.run()])
        assert a.schema == "team_a" and b.schema == "team_b"
        assert b.projects() == [] and [p.name for p in a.projects()] == ["digits"]
    tables = _tables(pg)
    assert tables["team_a"] == tables["team_b"] == LABBOOK_TABLES
    assert "labbook" not in tables and "public" not in tables


@pytest.mark.parametrize("revision", ["0001", "0002"])
def test_tables_an_older_labbook_made_in_public_are_moved_in(
    pg: str, ref: RunRef, journal: Any, revision: str
) -> None:
    """A deployment from before the schema setting (its tables in ``public``) upgrades in place:
    labbook's tables move into ``labbook`` with their rows, ids and keys, then migrate to head;
    the application's tables in ``public`` stay where they are, untouched."""
    old = Store(pg, schema="public")  # what the older labbook did: public, by search_path
    upgrade(old.engine, create_fresh=False)
    old.ingest(ref, [journal.run(), *journal.rows(3, loss=float)])
    with old.engine.begin() as conn:  # back to the revision, as if it had written the rows
        command.downgrade(migrations_config(conn), revision)
    key = None
    if revision == "0002":
        old.create_user("alice", password="pw")
        key = old.create_key("alice").key
    else:  # before 0002 labbook had no users table: an application may have its own
        _app_tables(pg, runs=False)
    old.close()
    before = _tables(pg)["public"]

    with Store.open(pg) as store:
        assert store.history(ref)["loss"].values.tolist() == [0.0, 1.0, 2.0]
        assert store.last_seq(ref) == 4
        store.ingest(ref, journal.rows(1, start=3, loss=float))  # ids continue: sequences moved
        assert store.history(ref)["loss"].values.tolist() == [0.0, 1.0, 2.0, 3.0]
        if key is not None:
            user = store.user_for_key(key)
            assert user is not None and user.name == "alice"
            assert store.check_password("alice", "pw") is not None
        assert stored_revision(store.engine) == HEAD_REVISION
    tables = _tables(pg)
    assert tables["labbook"] == LABBOOK_TABLES
    if revision == "0001":
        assert before == {*LEGACY_0001, "alembic_version", "users"}
        assert tables["public"] == {"users"}
        assert _sql(pg, "SELECT id, email FROM users ORDER BY id") == APP_USERS
    else:
        assert before == {*LEGACY_0002, "alembic_version"} and "public" not in tables


def test_an_applications_own_alembic_history_is_not_mistaken_for_labbooks(pg: str) -> None:
    """``public.alembic_version`` of an application (its own revision) moves nothing."""
    _app_tables(pg)
    _sql(
        pg,
        "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
        "INSERT INTO alembic_version VALUES ('4f2a9c1b7d3e')",
    )
    with Store.open(pg) as store:
        assert store.projects() == []
    assert _tables(pg)["public"] == {"users", "runs", "alembic_version"}
    assert _sql(pg, "SELECT version_num FROM public.alembic_version") == [("4f2a9c1b7d3e",)]


def test_a_role_that_cannot_create_the_schema_gets_the_command(pg: str) -> None:
    """Without the CREATE privilege on the database the error says what to run; once a DBA has
    made the schema for that role, labbook uses it (it checks before trying to create it)."""
    role = "lbrole_" + uuid.uuid4().hex[:8]
    _sql(pg, f"CREATE ROLE {role} LOGIN")
    try:
        as_role = sa.make_url(pg).set(username=role, password=None)
        with pytest.raises(UsageError, match=r'CREATE SCHEMA "labbook" AUTHORIZATION'):
            Store.open(as_role)
        _sql(pg, f"CREATE SCHEMA labbook AUTHORIZATION {role}")
        with Store.open(as_role) as store:
            store.ensure_run(RunRef("a", "b", "c"))
        assert _tables(pg)["labbook"] == LABBOOK_TABLES
    finally:
        _sql(pg, "DROP SCHEMA IF EXISTS labbook CASCADE", f"DROP OWNED BY {role}")
        _sql(postgres_url(), f"DROP ROLE IF EXISTS {role}")


@pytest.mark.parametrize("name", ["Labbook", "pg_labbook", "1abc", "a-b", "a;drop", "", "x" * 64])
def test_bad_schema_names_are_refused(name: str) -> None:
    with pytest.raises(UsageError, match="LABBOOK_DB_SCHEMA"):
        Store(postgres_url(), schema=name)
    Store(f"sqlite:///{uuid.uuid4().hex}.db", schema="labbook").close()  # SQLite: no schemas


def test_a_bare_postgresql_url_uses_psycopg_and_a_missing_driver_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = sa.make_url(postgres_url()).set(drivername="postgresql")
    with Store.open(url) as store:  # SQLAlchemy's default would be psycopg2 (not installed)
        assert store.url.drivername == "postgresql+psycopg"
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the extra were not installed
    with pytest.raises(UsageError, match=r"pip install 'labbook\[postgres\]'"):
        Store(url.set(drivername="postgresql+psycopg"))
