"""One Store over SQLAlchemy (SQLite or PostgreSQL) with Alembic migrations.

The SDK's local sink, ``labbook sync`` and the server all write through :class:`Store.ingest` and
read through the same class; there is no other storage backend.
"""

from __future__ import annotations

from labbook.store.models import (
    Envelope,
    FileInfo,
    KeySeries,
    MetricKeyInfo,
    ProjectInfo,
    RunInfo,
    RunRef,
)
from labbook.store.store import Store

__all__ = [
    "Envelope",
    "FileInfo",
    "KeySeries",
    "MetricKeyInfo",
    "ProjectInfo",
    "RunInfo",
    "RunRef",
    "Store",
]
