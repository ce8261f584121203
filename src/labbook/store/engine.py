"""Engine construction and migrations: the only dialect-aware set-up code.

SQLite is opened so that several processes can share one file (a training script writing through
the embedded store while ``labbook sync`` or the server reads or writes): WAL journal, a generous
busy timeout, and write transactions that take the write lock up front (``BEGIN IMMEDIATE``) so two
writers queue on the busy handler instead of failing with a lock-upgrade deadlock.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

from labbook.store import jsoncodec

WRITE_OPTION = "labbook_write"
BUSY_TIMEOUT_MS = 60_000
SQLITE_PAGE_SIZE = 16384
_MIGRATION_LOCK = 0x1AB0_0C  # PostgreSQL advisory lock id held while migrating


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; a SQLite file path may start with ``~``."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database.startswith("~"):
        u = u.set(database=str(Path(u.database).expanduser()))
    return u


def sqlite_file(u: URL) -> Path | None:
    """The database file of a SQLite URL, None for other databases and in-memory SQLite."""
    if u.get_backend_name() != "sqlite":
        return None
    db = u.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def make_engine(url: str | URL) -> Engine:
    u = normalize_url(url)
    kwargs: dict[str, Any] = {
        "json_serializer": jsoncodec.dumps,
        "json_deserializer": jsoncodec.loads,
    }
    if u.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False}
        if sqlite_file(u) is None:
            kwargs["poolclass"] = (
                StaticPool  # one shared in-memory database, not one per connection
            )
        engine = create_engine(u, **kwargs)
        _setup_sqlite(engine, in_memory=sqlite_file(u) is None)
        return engine
    kwargs["pool_pre_ping"] = True
    return create_engine(u, **kwargs)


def _setup_sqlite(engine: Engine, *, in_memory: bool) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Transactions are begun by us (below), not implicitly by the sqlite3 module.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # Only takes effect when the file is new (before WAL is set): 16 KiB pages read history
        # blobs with fewer overflow pages (~20% faster envelopes) at little cost to small rows.
        cur.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def migrations_config(connection: Connection | None = None, url: str | None = None) -> Any:
    """An Alembic Config built in code: no alembic.ini is needed at runtime."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", "labbook.store:migrations")
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "head", *, create_fresh: bool = True) -> None:
    """Bring the schema to ``revision`` inside one write transaction.

    Concurrent openers serialise on the SQLite write lock or a PostgreSQL advisory lock, so the
    second one finds the schema current and does nothing.

    An empty database is brought to head by creating the declared tables and recording the head
    revision (``create_fresh``), the way Alembic's documentation suggests for new databases:
    replaying every migration means importing Alembic (~0.25 s of CPU, in a training process on
    its first run) to arrive at the same schema. A test holds the two schemas identical; pass
    ``create_fresh=False`` to replay the migrations instead.
    """
    if revision == "head" and stored_revision(engine) == HEAD_REVISION:
        # The common case, decided without importing Alembic and without a write lock, so
        # opening never waits on a writer.
        return
    if revision == "head" and create_fresh and _create_if_empty(engine):
        return
    from alembic import command

    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            _lock_for_migration(conn)
            command.upgrade(migrations_config(conn), revision)


def _lock_for_migration(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})


def _create_if_empty(engine: Engine) -> bool:
    """Create the head schema when the database holds none of its tables; False otherwise (a
    partly built or older schema is left to the migrations)."""
    from labbook.store.schema import metadata

    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            _lock_for_migration(conn)
            existing = set(inspect(conn).get_table_names())
            if existing & set(metadata.tables):
                return stored_revision_of(conn) == HEAD_REVISION
            metadata.create_all(conn)
            version = _version_table()
            version.create(conn, checkfirst=True)
            conn.execute(version.delete())
            conn.execute(version.insert().values(version_num=HEAD_REVISION))
    return True


def _version_table() -> Table:
    """Alembic's bookkeeping table, declared as Alembic creates it."""
    return Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )


HEAD_REVISION = "0002"
"""The newest revision in ``migrations/versions``; a test holds it equal to Alembic's head."""


def stored_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database, None when it has none yet."""
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None
    return None if value is None else str(value)


def stored_revision_of(conn: Connection) -> str | None:
    """Like :func:`stored_revision`, on an open connection; inside a transaction on PostgreSQL a
    missing table aborts it, so callers there check for the table first (``_create_if_empty``
    does, by listing tables)."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@functools.cache
def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(migrations_config()).get_current_head()
