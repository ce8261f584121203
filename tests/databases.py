"""A fresh database per test: a SQLite file, or PostgreSQL in a schema of its own.

PostgreSQL runs where ``LABBOOK_TEST_POSTGRES_URL`` is set (CI sets it); elsewhere those test
variants skip with that reason. A test's PostgreSQL schema is labbook's own setting
(``LABBOOK_DB_SCHEMA``, ``Store.open(schema=...)``) set to a name of its own, so labbook creates it
as it would create ``labbook`` in a deployment; the harness only drops it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from labbook.store import Store

PG_ENV = "LABBOOK_TEST_POSTGRES_URL"


@dataclass(frozen=True)
class Database:
    """Where a test's store lives: the URL and the schema setting to open it with."""

    url: str
    schema: str = "labbook"  # the setting's default; SQLite ignores it

    def open(self, **kwargs: Any) -> Store:
        """``Store.open`` on this database (migrated, in its schema)."""
        from labbook.store import Store

        return Store.open(self.url, schema=self.schema, **kwargs)

    def bare(self, **kwargs: Any) -> Store:
        """A Store on this database that creates nothing yet (engine only)."""
        from labbook.store import Store

        return Store(self.url, schema=self.schema, **kwargs)

    @property
    def settings(self) -> dict[str, str]:
        """``Settings`` fields for this database."""
        return {"db_url": self.url, "db_schema": self.schema}

    @property
    def env(self) -> dict[str, str]:
        """Environment of a labbook process (server, CLI) using this database."""
        return {"LABBOOK_DB_URL": self.url, "LABBOOK_DB_SCHEMA": self.schema}


def postgres_url() -> str:
    """The test PostgreSQL server's URL; skips the test where there is none."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"{PG_ENV} is not set")
    return base


def drop_schema(url: str, schema: str) -> None:
    import sqlalchemy as sa

    admin = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


@contextmanager
def database(backend: str, directory: Path, name: str = "store") -> Iterator[Database]:
    """Yield an empty database of ``backend``; drop it afterwards."""
    if backend == "sqlite":
        yield Database(f"sqlite:///{directory / f'{name}.db'}")
        return
    base = postgres_url()
    schema = f"lb{name[:3]}_" + uuid.uuid4().hex[:12]
    try:
        yield Database(base, schema)
    finally:
        drop_schema(base, schema)


@contextmanager
def postgres_database() -> Iterator[str]:
    """A whole PostgreSQL database of its own (its ``public`` schema included), for tests of
    what labbook does beside other schemas; dropped afterwards."""
    import sqlalchemy as sa

    base = sa.make_url(postgres_url())
    name = "lbdb_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base, poolclass=sa.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()
