"""Engine construction and migrations: the only dialect-aware set-up code.

SQLite is opened so that several processes can share one file (a training script writing through
the embedded store while ``labbook sync`` or the server reads or writes): WAL journal, a generous
busy timeout, and write transactions that take the write lock up front (``BEGIN IMMEDIATE``) so two
writers queue on the busy handler instead of failing with a lock-upgrade deadlock.

On PostgreSQL every table, the Alembic version table included, lives in one schema
(``LABBOOK_DB_SCHEMA``, default ``labbook``), so an application can keep its own ``users`` or
``runs`` in ``public`` of the same database. Each connection's ``search_path`` is that schema and
nothing else, set when the connection is made: the store's queries, Alembic's migrations (present
and future, ``op.execute`` included) and reflection all follow it without naming a schema, where
SQLAlchemy's ``schema_translate_map`` would miss Alembic's ALTER statements and any raw SQL. A
connection pooler in front of PostgreSQL must keep session state (PgBouncer's session mode), as
it must for the advisory lock that serialises migrations. The schema is created when missing; a
database whose labbook tables are still in ``public`` (made before the schema existed) has them
moved in, data and all (``_adopt_public_layout``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import re
import weakref
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

from labbook.errors import UsageError
from labbook.store import jsoncodec

log = logging.getLogger("labbook.store")

WRITE_OPTION = "labbook_write"
BUSY_TIMEOUT_MS = 60_000
SQLITE_PAGE_SIZE = 16384
_MIGRATION_LOCK = 0x1AB0_0C  # PostgreSQL advisory lock id held while migrating
DEFAULT_SCHEMA = "labbook"
"""The PostgreSQL schema of labbook's tables unless ``LABBOOK_DB_SCHEMA`` says otherwise."""
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SCHEMAS: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()


def normalize_url(url: str | URL) -> URL:
    """Parse ``url``; a SQLite file path may start with ``~``; a bare ``postgresql://`` means
    psycopg 3 where it is installed (the ``labbook[postgres]`` extra brings it), since
    SQLAlchemy's default there is psycopg2."""
    u = make_url(url)
    if u.get_backend_name() == "sqlite" and u.database and u.database.startswith("~"):
        u = u.set(database=str(Path(u.database).expanduser()))
    if u.drivername == "postgresql" and importlib.util.find_spec("psycopg") is not None:
        u = u.set(drivername="postgresql+psycopg")
    return u


def sqlite_file(u: URL) -> Path | None:
    """The database file of a SQLite URL, None for other databases and in-memory SQLite."""
    if u.get_backend_name() != "sqlite":
        return None
    db = u.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def check_schema(name: str) -> str:
    """``name`` when it is a usable PostgreSQL schema name for labbook, else a UsageError.

    Lower case only: PostgreSQL folds unquoted names to lower case, so ``Labbook`` typed in
    ``psql`` is ``labbook``, while labbook quotes the name; refusing upper case avoids two
    schemas that look the same. ``pg_`` names are reserved by PostgreSQL.
    """
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name) or name.startswith("pg_"):
        raise UsageError(
            f"invalid database schema {name!r} (LABBOOK_DB_SCHEMA): use 1-63 of a-z 0-9 _, "
            "not starting with a digit or pg_"
        )
    return name


def engine_schema(engine: Engine) -> str | None:
    """The schema ``make_engine`` set for a PostgreSQL engine; None for SQLite."""
    return _SCHEMAS.get(engine)


def make_engine(url: str | URL, *, schema: str = DEFAULT_SCHEMA) -> Engine:
    """An engine for ``url``; on PostgreSQL its connections work in ``schema`` (created when
    missing); SQLite has no schemas and ignores it."""
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
    try:
        engine = create_engine(u, **kwargs)
    except ModuleNotFoundError as e:
        hint = " (pip install 'labbook[postgres]')" if u.get_backend_name() == "postgresql" else ""
        raise UsageError(
            f"the database driver for {u.drivername} is not installed: {e}{hint}"
        ) from None
    if engine.dialect.name == "postgresql":
        _setup_postgresql(engine, check_schema(schema))
    return engine


def _setup_postgresql(engine: Engine, schema: str) -> None:
    _SCHEMAS[engine] = schema
    ready: list[bool] = []  # the schema was seen to exist (checked on the first connection)

    # insert=True: before SQLAlchemy's own first-connect set-up, which reads current_schema()
    # as the dialect's default schema (reflection and Alembic's comparisons rely on it).
    @event.listens_for(engine, "connect", insert=True)
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        autocommit = dbapi_conn.autocommit
        dbapi_conn.autocommit = True  # a SET inside a transaction would end with its rollback
        try:
            cur = dbapi_conn.cursor()
            try:
                if not ready:
                    _create_schema(cur, schema)
                    ready.append(True)
                # The name was checked against _SCHEMA_NAME: quoting it is enough.
                cur.execute(f'SET search_path TO "{schema}"')
            finally:
                cur.close()
        finally:
            dbapi_conn.autocommit = autocommit


def _create_schema(cur: Any, schema: str) -> None:
    """Create ``schema`` unless it exists (checked first: ``CREATE SCHEMA IF NOT EXISTS`` needs
    the CREATE privilege on the database even when the schema is there, and a DBA may have made
    it for a role without that privilege)."""

    def exists() -> bool:
        cur.execute(f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'")
        return cur.fetchone() is not None

    if exists():
        return
    try:
        cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    except Exception as e:  # the driver's own error class: psycopg, psycopg2, pg8000...
        if exists():  # another process made it at the same moment
            return
        raise UsageError(
            f"the PostgreSQL schema {schema!r} does not exist and this database role cannot "
            f'create it ({str(e).strip()}): run CREATE SCHEMA "{schema}" AUTHORIZATION <role> '
            "as the database owner, or choose another schema with LABBOOK_DB_SCHEMA"
        ) from None


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
    schema = engine_schema(engine)
    if schema is not None and schema != "public":
        _adopt_public_layout(engine, schema)
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


_TABLES_0001 = (
    "projects",
    "runs",
    "run_tags",
    "metric_keys",
    "history_blocks",
    "history_values",
    "files",
)
LEGACY_TABLES: dict[str, tuple[str, ...]] = {
    "0001": _TABLES_0001,
    "0002": (*_TABLES_0001, "users", "teams", "memberships", "api_keys", "sessions"),
}
"""The tables that labbook created in ``public`` at each revision made before the schema setting
existed. Frozen: a database migrated by any later code is already in its schema, so a revision
added after 0002 never appears here."""


def _adopt_public_layout(engine: Engine, schema: str) -> None:
    """Move labbook's tables from ``public`` into ``schema`` when that is where an older labbook
    put them, so the upgrade loses nothing.

    Only when ``schema`` holds none of labbook's tables yet, ``public.alembic_version`` records
    one of labbook's own pre-schema revisions (an application's Alembic revision does not match)
    and every table of that revision is in ``public``; exactly those tables move, so an
    application's tables there are never touched. ``ALTER TABLE ... SET SCHEMA`` takes indexes,
    constraints and the id sequences along and copies no rows; it runs in one transaction under
    the migration lock, so a concurrent opener waits and then finds the moved tables.
    """
    from labbook.store.schema import metadata

    with engine.connect() as conn:
        conn = conn.execution_options(**{WRITE_OPTION: True})
        with conn.begin():
            _lock_for_migration(conn)
            insp = inspect(conn)
            mine = set(insp.get_table_names(schema=schema))
            if "alembic_version" in mine or mine & set(metadata.tables):
                return
            public = set(insp.get_table_names(schema="public"))
            if "alembic_version" not in public:
                return
            rev = conn.execute(text("SELECT version_num FROM public.alembic_version")).scalar()
            tables = LEGACY_TABLES.get(str(rev))
            if tables is None or not set(tables) <= public:
                return
            for table in (*tables, "alembic_version"):
                conn.execute(text(f'ALTER TABLE public."{table}" SET SCHEMA "{schema}"'))
    log.warning(
        "moved labbook's %d tables (revision %s) from schema public into %r",
        len(tables) + 1,
        rev,
        schema,
    )


def _version_table() -> Table:
    """Alembic's bookkeeping table, declared as Alembic creates it."""
    return Table(
        "alembic_version",
        MetaData(),
        Column("version_num", String(32), nullable=False),
        PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
    )


HEAD_REVISION = "0004"
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
