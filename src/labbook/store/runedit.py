"""Store methods the server needs besides ingest: projects, run edits, heartbeats and files.

The SDK changes runs through journal records (``Store.ingest``); these are the direct edits of the
REST API (creating a run before its first batch, a PATCH from the dashboard, a file upload).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, Row, Select, delete, func, insert, select, update

from labbook import limits
from labbook.errors import NotFoundError, ValidationError
from labbook.limits import MAX_PATH_CHARS
from labbook.store import ingest as ing
from labbook.store import jsoncodec
from labbook.store.models import FileInfo, ProjectInfo, RunInfo, RunRef
from labbook.store.schema import files, projects, run_tags, runs

VISIBILITIES = ("private", "public")
_EDITABLE_STATES = ("running", "finished", "failed", "crashed")


def _aware(v: Any) -> dt.datetime | None:
    if isinstance(v, str):  # SQLite: an aggregate loses the column's type
        v = dt.datetime.fromisoformat(v)
    if v is not None and v.tzinfo is None:
        v = v.replace(tzinfo=dt.UTC)
    return v


LAST_RUN_AT = func.max(runs.c.created_at)


def project_infos() -> Select[Any]:
    """Projects with their run count and last run time: rows for :func:`project_info`."""
    return (
        select(
            projects.c.entity,
            projects.c.name,
            projects.c.created_at,
            func.count(runs.c.pk),
            LAST_RUN_AT,
            projects.c.visibility,
        )
        .select_from(projects.outerjoin(runs, runs.c.project_id == projects.c.id))
        .group_by(projects.c.id, projects.c.entity, projects.c.name, projects.c.created_at)
    )


def project_info(row: Row[Any]) -> ProjectInfo:
    e, n, created, count, last_at, vis = tuple(row)
    return ProjectInfo(e, n, created, int(count), _aware(last_at), vis)


class RunEditMixin:
    """Project and run edits of :class:`labbook.store.Store` (it provides the connections)."""

    _read: Callable[[], AbstractContextManager[Connection]]
    _write: Callable[[], AbstractContextManager[Connection]]
    _run_pk: Callable[[Connection, RunRef], int]
    get_run: Callable[[RunRef], RunInfo]

    @staticmethod
    def _now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    # ------------------------------------------------------------------------------- projects
    def project(self, entity: str, name: str) -> ProjectInfo | None:
        """One project with its run count and visibility, None when it does not exist."""
        q = project_infos().where(projects.c.entity == entity, projects.c.name == name)
        with self._read() as conn:
            row = conn.execute(q).first()
        return None if row is None else project_info(row)

    def project_visibility(self, entity: str, name: str) -> str | None:
        """A project's visibility ("private" | "public"), None when it does not exist (cheap)."""
        q = select(projects.c.visibility).where(
            projects.c.entity == entity, projects.c.name == name
        )
        with self._read() as conn:
            v = conn.execute(q).scalar()
        return None if v is None else str(v)

    def ensure_project(self, entity: str, name: str, visibility: str | None = None) -> bool:
        """Create the project (private unless told) or set its visibility; True when created."""
        if visibility is not None and visibility not in VISIBILITIES:
            raise ValidationError(f"visibility must be one of {', '.join(VISIBILITIES)}")
        RunRef(entity, name, "x")  # validates the names
        with self._write() as conn:
            pid = conn.execute(
                select(projects.c.id).where(projects.c.entity == entity, projects.c.name == name)
            ).scalar()
            if pid is None:
                ing._insert_ignore(
                    conn,
                    projects,
                    {
                        "entity": entity,
                        "name": name,
                        "created_at": self._now(),
                        "visibility": visibility or "private",
                    },
                    ["entity", "name"],
                )
                return True
            if visibility is not None:
                conn.execute(
                    update(projects).where(projects.c.id == pid).values(visibility=visibility)
                )
            return False

    # ----------------------------------------------------------------------------------- runs
    def ensure_run(self, ref: RunRef) -> tuple[RunInfo, bool]:
        """The run, created (with its project) when missing; ``(info, existed)``."""
        with self._read() as conn:
            try:
                self._run_pk(conn, ref)
                existed = True
            except NotFoundError:
                existed = False
        if not existed:
            with self._write() as conn:
                ing.lock_run(conn, ref, self._now())
        return self.get_run(ref), existed

    def update_run(
        self,
        ref: RunRef,
        *,
        name: str | None = None,
        tags: list[str] | None = None,
        notes: str | None = None,
        state: str | None = None,
        config: dict[str, Any] | None = None,
        group: str | None = None,
        job_type: str | None = None,
    ) -> RunInfo:
        """Change a run's attributes after the fact (None leaves a field as it is).

        ``config`` replaces the whole config (what the read API's ``run.update()`` sends after
        ``run.config`` was edited); it is stored as given, nested dicts kept nested.
        """
        values: dict[str, Any] = {}
        if name is not None:
            values["name"] = ing._text(name, "name")
        if notes is not None:
            values["notes"] = ing._text_field("notes", notes)
        if group is not None:
            values["group_name"] = ing._text(group, "group")
        if job_type is not None:
            values["job_type"] = ing._text(job_type, "job_type")
        if config is not None:
            if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
                raise ValidationError("config must be an object with string keys")
            found = limits.nested_problem(config)  # the limits log()'s config writes meet
            if found is not None:
                raise ValidationError(f"config{limits.shorten(found[0])}: {found[1]}")
            try:
                jsoncodec.dumps(config)
            except (TypeError, ValueError) as e:
                raise ValidationError(f"config cannot be stored as JSON: {e}") from None
            values["config"] = config
        new_tags = ing._tags(tags) if tags is not None else None
        if new_tags is not None:
            values["tags"] = new_tags
        if state is not None:
            if state not in _EDITABLE_STATES:
                raise ValidationError(f"state must be one of {', '.join(_EDITABLE_STATES)}")
            values["state"] = state
            now = self._now()
            if state == "running":
                values.update(finished_at=None, exit_code=None, heartbeat_at=now)
            else:
                values["finished_at"] = now
        with self._write() as conn:
            pk = self._run_pk(conn, ref)
            if values:
                values["updated_at"] = self._now()
                conn.execute(update(runs).where(runs.c.pk == pk).values(**values))
            if new_tags is not None:
                conn.execute(delete(run_tags).where(run_tags.c.run_pk == pk))
                if new_tags:
                    conn.execute(insert(run_tags), [{"run_pk": pk, "tag": t} for t in new_tags])
        return self.get_run(ref)

    def delete_run(self, ref: RunRef) -> None:
        """Delete a run with its history, metric keys, tags and file records.

        The database cascades from the runs row. File contents stay in the blob store: blobs are
        content-addressed and may be shared with other runs.
        """
        with self._write() as conn:
            pk = self._run_pk(conn, ref)
            conn.execute(delete(runs).where(runs.c.pk == pk))

    def touch_run(self, ref: RunRef) -> None:
        """Record a heartbeat now (a running run stays 'running' while these arrive)."""
        now = self._now()
        with self._write() as conn:
            pk = self._run_pk(conn, ref)
            conn.execute(update(runs).where(runs.c.pk == pk).values(heartbeat_at=now))

    # ---------------------------------------------------------------------------------- files
    def upsert_file(self, ref: RunRef, path: str, sha256: str, size: int) -> FileInfo:
        """Register (or replace) a run file whose bytes are in the blob store."""
        if not 0 < len(path) <= MAX_PATH_CHARS:
            raise ValidationError(f"a file path is 1-{MAX_PATH_CHARS} characters")
        now = self._now()
        with self._write() as conn:
            pk = self._run_pk(conn, ref)
            ing._write_files(conn, pk, {path: (sha256, int(size))}, now)
        return FileInfo(path, sha256, int(size), now)

    def file(self, ref: RunRef, path: str) -> FileInfo:
        with self._read() as conn:
            pk = self._run_pk(conn, ref)
            row = conn.execute(
                select(files.c.path, files.c.sha256, files.c.size, files.c.updated_at).where(
                    files.c.run_pk == pk, files.c.path == path
                )
            ).first()
        if row is None:
            raise NotFoundError(f"run {ref} has no file {path!r}")
        return FileInfo(row.path, row.sha256, int(row.size), row.updated_at)
