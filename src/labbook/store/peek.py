"""The one read a training thread makes of a local store: how many runs a project holds.

``init`` numbers a new run's generated name (``bright-fox-7``: the project's 7th run) and prints
it before returning, like wandb. Opening the :class:`~labbook.store.Store` for that would put
SQLAlchemy's import and the migration check (~0.3 s) on the training thread, which DESIGN.md keeps
under 100 ms; the stdlib's ``sqlite3`` answers the count in about a millisecond. This is a peek,
not a second store: read-only, one query, and any doubt (another database, an old or missing
schema, a locked file) answers None so the caller asks the real Store instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import unquote

_COUNT = (
    "SELECT count(*) FROM runs JOIN projects ON projects.id = runs.project_id "
    "WHERE projects.entity = ? AND projects.name = ?"
)


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL; None for anything else (in-memory, other databases,
    URLs with options the stdlib would read differently)."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    path = unquote(url[len(prefix) :])
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return os.path.expanduser(path)


def count_runs(url: str, entity: str, project: str) -> int | None:
    """Runs of ``entity/project`` in the SQLite store at ``url``; 0 when the store does not exist
    yet; None when this cannot be answered without the Store."""
    path = sqlite_path(url)
    if path is None:
        return None
    if not os.path.exists(path):
        return 0
    import sqlite3

    try:
        uri = Path(os.path.abspath(path)).as_uri() + "?mode=ro"
        conn = sqlite3.connect(uri, uri=True, timeout=0.2)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute(_COUNT, (entity, project)).fetchone()
    except sqlite3.Error:  # locked for longer than the timeout, or a schema we don't know
        return None
    finally:
        conn.close()
    return int(row[0]) if row else None
