"""One Store over SQLAlchemy (SQLite or PostgreSQL) with Alembic migrations.

The SDK's local sink, ``labbook sync`` and the server all write through :class:`Store.ingest` and
read through the same class; there is no other storage backend.

Names load on first use: the SDK's training thread imports ``labbook.store.peek`` (one count) and
must not pay for SQLAlchemy (~0.2 s) or even the value types' dataclasses; the sender's thread
loads the rest when it opens the store.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labbook.store.models import (
        CollectionInfo,
        Envelope,
        FileInfo,
        KeySeries,
        LineageGraph,
        LinkInfo,
        MetricKeyInfo,
        ProjectInfo,
        RegisteredModelInfo,
        RunInfo,
        RunLink,
        RunRef,
        VersionInfo,
    )
    from labbook.store.store import Store

_WHERE = {
    "CollectionInfo": "models",
    "LineageGraph": "models",
    "LinkInfo": "models",
    "RegisteredModelInfo": "models",
    "RunLink": "models",
    "VersionInfo": "models",
    "Envelope": "models",
    "FileInfo": "models",
    "KeySeries": "models",
    "MetricKeyInfo": "models",
    "ProjectInfo": "models",
    "RunInfo": "models",
    "RunRef": "models",
    "Store": "store",
}

__all__ = [
    "CollectionInfo",
    "Envelope",
    "FileInfo",
    "KeySeries",
    "LineageGraph",
    "LinkInfo",
    "MetricKeyInfo",
    "ProjectInfo",
    "RegisteredModelInfo",
    "RunInfo",
    "RunLink",
    "RunRef",
    "Store",
    "VersionInfo",
]


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
