"""Alembic environment for the store's schema.

``Store.open`` runs this programmatically with a Config built in code and hands over its open
connection through ``config.attributes["connection"]``; with a plain URL in the config (e.g. the
``alembic`` command line during development, ``-x url=... -x schema=...``) it makes its own engine,
whose connections work in that PostgreSQL schema (default ``labbook``) like the Store's.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from labbook.store.engine import DEFAULT_SCHEMA, make_engine
from labbook.store.schema import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables for later migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    x = context.get_x_argument(as_dictionary=True)
    url = x.get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection or sqlalchemy.url given to the migration environment")
    engine = make_engine(url, schema=x.get("schema") or DEFAULT_SCHEMA)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported")
run_migrations_online()
