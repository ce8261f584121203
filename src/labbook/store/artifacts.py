"""Artifact collections, versions, aliases and usage: the Store's side of ``labbook.manifests``.

A version is committed in one transaction, only when every blob it names is already held by its
project (``project_blobs``): so a partly uploaded version is never visible, and an interrupted
upload, asked again, reports only the blobs still missing. Its identity is the manifest digest,
recomputed here from the entries (a client's digest is never trusted): committing identical
content again answers the existing version and moves the given aliases to it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from labbook import manifests
from labbook.errors import BlobsMissing, ConflictError, NotFoundError, ValidationError
from labbook.manifests import Entry
from labbook.store.models import CollectionInfo, RunLink, RunRef, VersionInfo
from labbook.store.schema import (
    artifact_aliases,
    artifact_collections,
    artifact_entries,
    artifact_usage,
    artifact_versions,
    project_blobs,
    projects,
    runs,
)

LOGGED = "logged"
USED = "used"
_CHUNK = 500  # bound parameters per IN list: SQLite allows 32,766, PostgreSQL 65,535


def _chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


_run_projects = projects.alias("run_projects")

VERSION_COLUMNS = (
    artifact_versions.c.id,
    projects.c.entity,
    projects.c.name.label("project"),
    artifact_collections.c.name,
    artifact_collections.c.type,
    artifact_versions.c.idx,
    artifact_versions.c.digest,
    artifact_versions.c.description,
    artifact_versions.c.metadata,
    artifact_versions.c.size,
    artifact_versions.c.file_count,
    artifact_versions.c.created_at,
    artifact_versions.c.collection_id,
    _run_projects.c.entity.label("run_entity"),
    _run_projects.c.name.label("run_project"),
    runs.c.run_id,
    runs.c.name.label("run_name"),
    runs.c.state.label("run_state"),
)
VERSION_FROM = (
    artifact_versions.join(
        artifact_collections, artifact_collections.c.id == artifact_versions.c.collection_id
    )
    .join(projects, projects.c.id == artifact_collections.c.project_id)
    .outerjoin(runs, runs.c.pk == artifact_versions.c.logged_by)
    .outerjoin(_run_projects, _run_projects.c.id == runs.c.project_id)
)


def versions_select() -> Any:
    """SELECT of everything a :class:`VersionInfo` needs but its aliases."""
    return select(*VERSION_COLUMNS).select_from(VERSION_FROM)


def load_versions(conn: Connection, rows: Sequence[Any]) -> list[VersionInfo]:
    """VersionInfos of ``versions_select()`` rows, with their aliases (``latest`` included)."""
    if not rows:
        return []
    ids = [int(r.id) for r in rows]
    aliases: dict[int, list[str]] = {i: [] for i in ids}
    for part in _chunks(ids):
        q = (
            select(artifact_aliases.c.version_id, artifact_aliases.c.alias)
            .where(artifact_aliases.c.version_id.in_(part))
            .order_by(artifact_aliases.c.alias)
        )
        for vid, alias in conn.execute(q):
            aliases[int(vid)].append(alias)
    colls = sorted({int(r.collection_id) for r in rows})
    newest: dict[int, int] = {}
    for part in _chunks(colls):
        q = (
            select(artifact_versions.c.collection_id, func.max(artifact_versions.c.idx))
            .where(artifact_versions.c.collection_id.in_(part))
            .group_by(artifact_versions.c.collection_id)
        )
        newest.update({int(c): int(m) for c, m in conn.execute(q)})
    out = []
    for r in rows:
        names = aliases[int(r.id)]
        if newest.get(int(r.collection_id)) == int(r.idx):
            names = [manifests.LATEST, *names]
        logged_by = None
        if r.run_id is not None:
            logged_by = RunLink(r.run_entity, r.run_project, r.run_id, r.run_name, r.run_state)
        out.append(
            VersionInfo(
                id=int(r.id),
                entity=r.entity,
                project=r.project,
                name=r.name,
                type=r.type,
                index=int(r.idx),
                digest=r.digest,
                description=r.description,
                metadata=dict(r.metadata or {}),
                aliases=names,
                size=int(r.size),
                file_count=int(r.file_count),
                created_at=r.created_at,
                logged_by=logged_by,
            )
        )
    return out


def _collection_id(conn: Connection, pid: int, name: str) -> int | None:
    q = select(artifact_collections.c.id).where(
        artifact_collections.c.project_id == pid, artifact_collections.c.name == name
    )
    cid = conn.execute(q).scalar()
    return None if cid is None else int(cid)


def resolve_version_id(conn: Connection, cid: int, ref: str) -> int | None:
    """The version ``ref`` (``vN``, ``latest`` or an alias) names in a collection."""
    idx = manifests.version_index(ref)
    if idx is not None:
        q = select(artifact_versions.c.id).where(
            artifact_versions.c.collection_id == cid, artifact_versions.c.idx == idx
        )
    elif ref == manifests.LATEST:
        q = (
            select(artifact_versions.c.id)
            .where(artifact_versions.c.collection_id == cid)
            .order_by(artifact_versions.c.idx.desc())
            .limit(1)
        )
    else:
        q = select(artifact_aliases.c.version_id).where(
            artifact_aliases.c.collection_id == cid, artifact_aliases.c.alias == ref
        )
    vid = conn.execute(q).scalar()
    return None if vid is None else int(vid)


def move_aliases(conn: Connection, cid: int, vid: int, aliases: Sequence[str]) -> None:
    """Point each alias at ``vid``, taking it from whichever version of the collection held it."""
    if not aliases:
        return
    conn.execute(
        delete(artifact_aliases).where(
            artifact_aliases.c.collection_id == cid, artifact_aliases.c.alias.in_(list(aliases))
        )
    )
    conn.execute(
        insert(artifact_aliases),
        [{"collection_id": cid, "alias": a, "version_id": vid} for a in aliases],
    )


class ArtifactMixin:
    """Artifact methods of :class:`labbook.store.Store` (it provides the connections)."""

    _read: Callable[[], AbstractContextManager[Connection]]
    _write: Callable[[], AbstractContextManager[Connection]]
    _project_id: Callable[[Connection, str, str], int | None]
    _run_pk: Callable[[Connection, RunRef], int]
    ensure_project: Callable[..., bool]

    # ---------------------------------------------------------------------------------- blobs
    def missing_blobs(self, entity: str, project: str, digests: Iterable[str]) -> list[str]:
        """Which of ``digests`` the project has not shown it holds (see ``project_blobs``)."""
        wanted = sorted(set(digests))
        with self._read() as conn:
            pid = self._project_id(conn, entity, project)
            if pid is None:
                return wanted
            held: set[str] = set()
            for part in _chunks(wanted):
                q = select(project_blobs.c.sha256).where(
                    project_blobs.c.project_id == pid, project_blobs.c.sha256.in_(part)
                )
                held.update(conn.execute(q).scalars())
        return [d for d in wanted if d not in held]

    def add_project_blobs(
        self, entity: str, project: str, blobs: Sequence[tuple[str, int]]
    ) -> None:
        """Record that the project holds these blobs (their bytes are in the BlobStore); the
        project is created (private) when missing, as a run's first upload would."""
        self.ensure_project(entity, project)
        for attempt in range(2):
            try:
                with self._write() as conn:
                    pid = self._project_id(conn, entity, project)
                    assert pid is not None
                    _add_blobs(conn, pid, blobs)
                return
            except IntegrityError:  # a concurrent upload of the same blob recorded it first
                if attempt:
                    raise

    # -------------------------------------------------------------------------------- commits
    def commit_artifact(
        self,
        entity: str,
        project: str,
        name: str,
        type: str,
        entries: Iterable[Entry],
        *,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
        aliases: Iterable[str] = (),
        run_id: str | None = None,
    ) -> tuple[VersionInfo, bool]:
        """Commit a version; ``(version, created)``. Raises :class:`BlobsMissing` (nothing
        stored) while any blob entry is not held by the project."""
        manifests.check_name("artifact name", name)
        manifests.check_name("artifact type", type)
        wanted_aliases = manifests.check_aliases(aliases)
        if metadata is not None and not isinstance(metadata, dict):
            raise ValidationError("artifact metadata must be a dict")
        ordered = manifests.sorted_entries(entries)
        digest = manifests.manifest_digest(ordered)
        missing = self.missing_blobs(entity, project, [e.digest for e in ordered if e.ref is None])
        if missing:
            raise BlobsMissing(
                f"{len(missing)} of the version's blobs are not stored yet; upload them first",
                missing,
            )
        self.ensure_project(entity, project)
        for attempt in range(3):
            try:
                return self._commit(
                    entity, project, name, type, ordered, digest, description, metadata,
                    wanted_aliases, run_id,
                )  # fmt: skip
            except IntegrityError:
                # Another writer made the collection or took the next index first (PostgreSQL,
                # between our read and insert): the retry sees its row.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _commit(
        self,
        entity: str,
        project: str,
        name: str,
        type: str,
        ordered: list[Entry],
        digest: str,
        description: str | None,
        metadata: dict[str, Any] | None,
        aliases: list[str],
        run_id: str | None,
    ) -> tuple[VersionInfo, bool]:
        now = dt.datetime.now(dt.UTC)
        with self._write() as conn:
            pid = self._project_id(conn, entity, project)
            assert pid is not None
            run_pk = self._run_pk(conn, RunRef(entity, project, run_id)) if run_id else None
            cid = _collection_id(conn, pid, name)
            if cid is None:
                cid = conn.execute(
                    insert(artifact_collections)
                    .returning(artifact_collections.c.id)
                    .values(
                        project_id=pid,
                        name=name,
                        type=type,
                        description=description,
                        created_at=now,
                        updated_at=now,
                    )
                ).scalar_one()
                cid = int(cid)
            # Locks the collection (PostgreSQL) so two commits do not take the same index.
            row = conn.execute(
                select(artifact_collections.c.type)
                .where(artifact_collections.c.id == cid)
                .with_for_update()
            ).one()
            if row.type != type:
                raise ConflictError(
                    f"artifact {name!r} is of type {row.type!r}, not {type!r}: "
                    "use another name for another type"
                )
            q = select(artifact_versions.c.id).where(
                artifact_versions.c.collection_id == cid, artifact_versions.c.digest == digest
            )
            existing = conn.execute(q).scalar()
            created = existing is None
            if existing is None:
                top = conn.execute(
                    select(func.max(artifact_versions.c.idx)).where(
                        artifact_versions.c.collection_id == cid
                    )
                ).scalar()
                vid = conn.execute(
                    insert(artifact_versions)
                    .returning(artifact_versions.c.id)
                    .values(
                        collection_id=cid,
                        idx=0 if top is None else int(top) + 1,
                        digest=digest,
                        description=description,
                        metadata=metadata or {},
                        size=sum(e.size for e in ordered),
                        file_count=len(ordered),
                        created_at=now,
                        logged_by=run_pk,
                    )
                ).scalar_one()
                vid = int(vid)
                for part in _chunks(ordered, 2000):
                    conn.execute(
                        insert(artifact_entries),
                        [{"version_id": vid, **e.as_dict()} for e in part],
                    )
                if description is not None:
                    conn.execute(
                        update(artifact_collections)
                        .where(artifact_collections.c.id == cid)
                        .values(description=description)
                    )
            else:
                vid = int(existing)
            conn.execute(
                update(artifact_collections)
                .where(artifact_collections.c.id == cid)
                .values(updated_at=now)
            )
            move_aliases(conn, cid, vid, aliases)
            if run_pk is not None:
                _record_usage(conn, run_pk, vid, LOGGED, now)
            info = load_versions(conn, conn.execute(versions_select().where(_vid(vid))).all())
        return info[0], created

    # ---------------------------------------------------------------------------------- reads
    def artifact_collections(
        self, entity: str, project: str, type: str | None = None
    ) -> list[CollectionInfo]:
        """A project's collections, the most recently updated first, each with its newest
        version."""
        with self._read() as conn:
            pid = self._project_id(conn, entity, project)
            if pid is None:
                return []
            q = select(
                artifact_collections.c.id,
                artifact_collections.c.name,
                artifact_collections.c.type,
                artifact_collections.c.description,
                artifact_collections.c.updated_at,
            ).where(artifact_collections.c.project_id == pid)
            if type is not None:
                q = q.where(artifact_collections.c.type == type)
            colls = conn.execute(q.order_by(artifact_collections.c.updated_at.desc())).all()
            return self._collections(conn, entity, project, colls)

    def _collections(
        self, conn: Connection, entity: str, project: str, colls: Sequence[Any]
    ) -> list[CollectionInfo]:
        ids = [int(c.id) for c in colls]
        counts: dict[int, tuple[int, int]] = {}
        for part in _chunks(ids):
            q = (
                select(
                    artifact_versions.c.collection_id,
                    func.count(),
                    func.max(artifact_versions.c.idx),
                )
                .where(artifact_versions.c.collection_id.in_(part))
                .group_by(artifact_versions.c.collection_id)
            )
            counts.update({int(c): (int(n), int(m)) for c, n, m in conn.execute(q)})
        latest_rows: list[Any] = []
        for part in _chunks(ids):
            conds = [
                and_(
                    artifact_versions.c.collection_id == c, artifact_versions.c.idx == counts[c][1]
                )
                for c in part
                if c in counts
            ]
            if conds:
                latest_rows.extend(conn.execute(versions_select().where(or_(*conds))).all())
        by_coll = {
            int(r.collection_id): v
            for r, v in zip(latest_rows, load_versions(conn, latest_rows), strict=True)
        }
        return [
            CollectionInfo(
                entity=entity,
                project=project,
                name=c.name,
                type=c.type,
                description=c.description,
                version_count=counts.get(int(c.id), (0, 0))[0],
                latest=by_coll.get(int(c.id)),
                updated_at=c.updated_at,
            )
            for c in colls
        ]

    def artifact_collection(
        self, entity: str, project: str, name: str
    ) -> tuple[CollectionInfo, list[VersionInfo]]:
        """One collection and its versions, newest first."""
        with self._read() as conn:
            cid = self._cid(conn, entity, project, name)
            c = conn.execute(
                select(
                    artifact_collections.c.id,
                    artifact_collections.c.name,
                    artifact_collections.c.type,
                    artifact_collections.c.description,
                    artifact_collections.c.updated_at,
                ).where(artifact_collections.c.id == cid)
            ).one()
            info = self._collections(conn, entity, project, [c])[0]
            rows = conn.execute(
                versions_select()
                .where(artifact_versions.c.collection_id == cid)
                .order_by(artifact_versions.c.idx.desc())
            ).all()
            return info, load_versions(conn, rows)

    def _cid(self, conn: Connection, entity: str, project: str, name: str) -> int:
        pid = self._project_id(conn, entity, project)
        cid = None if pid is None else _collection_id(conn, pid, name)
        if cid is None:
            raise NotFoundError(f"artifact {entity}/{project}/{name} not found")
        return cid

    def artifact_version(self, entity: str, project: str, name: str, ref: str) -> VersionInfo:
        """The version ``ref`` (``vN``, ``latest`` or an alias) names."""
        with self._read() as conn:
            return self._version(conn, entity, project, name, ref)

    def _version(
        self, conn: Connection, entity: str, project: str, name: str, ref: str
    ) -> VersionInfo:
        cid = self._cid(conn, entity, project, name)
        vid = resolve_version_id(conn, cid, ref)
        if vid is None:
            raise NotFoundError(f"artifact {entity}/{project}/{name}:{ref} not found")
        return load_versions(conn, conn.execute(versions_select().where(_vid(vid))).all())[0]

    def artifact_manifest(self, version_id: int) -> list[Entry]:
        """The version's entries by path."""
        with self._read() as conn:
            rows = conn.execute(
                select(
                    artifact_entries.c.path,
                    artifact_entries.c.digest,
                    artifact_entries.c.size,
                    artifact_entries.c.ref,
                )
                .where(artifact_entries.c.version_id == version_id)
                .order_by(artifact_entries.c.path)
            ).all()
        return [Entry(r.path, r.digest, int(r.size), r.ref) for r in rows]

    def artifact_entry(self, version_id: int, path: str) -> Entry:
        with self._read() as conn:
            r = conn.execute(
                select(
                    artifact_entries.c.path,
                    artifact_entries.c.digest,
                    artifact_entries.c.size,
                    artifact_entries.c.ref,
                ).where(
                    artifact_entries.c.version_id == version_id, artifact_entries.c.path == path
                )
            ).first()
        if r is None:
            raise NotFoundError(f"the artifact version has no file {path!r}")
        return Entry(r.path, r.digest, int(r.size), r.ref)

    # ---------------------------------------------------------------------------------- edits
    def update_artifact_version(
        self,
        version: VersionInfo,
        *,
        aliases: Iterable[str] | None = None,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> VersionInfo:
        """Replace a version's aliases (moved from wherever they were) and its description or
        metadata; its content never changes."""
        wanted = None if aliases is None else manifests.check_aliases(aliases)
        if metadata is not None and not isinstance(metadata, dict):
            raise ValidationError("artifact metadata must be a dict")
        with self._write() as conn:
            cid = self._cid(conn, version.entity, version.project, version.name)
            if wanted is not None:
                conn.execute(
                    delete(artifact_aliases).where(artifact_aliases.c.version_id == version.id)
                )
                move_aliases(conn, cid, version.id, wanted)
            values: dict[str, Any] = {}
            if description is not None:
                values["description"] = description
            if metadata is not None:
                values["metadata"] = metadata
            if values:
                conn.execute(update(artifact_versions).where(_vid(version.id)).values(**values))
            conn.execute(
                update(artifact_collections)
                .where(artifact_collections.c.id == cid)
                .values(updated_at=dt.datetime.now(dt.UTC))
            )
            rows = conn.execute(versions_select().where(_vid(version.id))).all()
            return load_versions(conn, rows)[0]

    def delete_artifact_version(self, version: VersionInfo) -> None:
        """The version with its entries, aliases and lineage edges (blobs stay); a collection
        left without versions goes too."""
        with self._write() as conn:
            cid = self._cid(conn, version.entity, version.project, version.name)
            conn.execute(delete(artifact_versions).where(_vid(version.id)))
            left = conn.execute(
                select(func.count()).where(artifact_versions.c.collection_id == cid)
            ).scalar()
            if not left:
                conn.execute(delete(artifact_collections).where(artifact_collections.c.id == cid))

    # ---------------------------------------------------------------------------------- usage
    def use_artifact(self, ref: RunRef, version_id: int) -> None:
        """Record that the run used the version (idempotent)."""
        with self._write() as conn:
            _record_usage(conn, self._run_pk(conn, ref), version_id, USED, dt.datetime.now(dt.UTC))

    def run_artifacts(self, ref: RunRef) -> tuple[list[VersionInfo], list[VersionInfo]]:
        """``(logged, used)`` versions of a run, in the order it touched them."""
        with self._read() as conn:
            pk = self._run_pk(conn, ref)
            out: dict[str, list[VersionInfo]] = {}
            for kind in (LOGGED, USED):
                q = (
                    versions_select()
                    .join(artifact_usage, artifact_usage.c.version_id == artifact_versions.c.id)
                    .where(artifact_usage.c.run_pk == pk, artifact_usage.c.kind == kind)
                    .order_by(artifact_usage.c.created_at, artifact_versions.c.id)
                )
                out[kind] = load_versions(conn, conn.execute(q).all())
        return out[LOGGED], out[USED]

    def artifact_users(self, version_id: int) -> list[RunLink]:
        """Runs that used the version, in the order they did."""
        q = (
            select(projects.c.entity, projects.c.name, runs.c.run_id, runs.c.name, runs.c.state)
            .select_from(
                artifact_usage.join(runs, runs.c.pk == artifact_usage.c.run_pk).join(
                    projects, projects.c.id == runs.c.project_id
                )
            )
            .where(artifact_usage.c.version_id == version_id, artifact_usage.c.kind == USED)
            .order_by(artifact_usage.c.created_at)
        )
        with self._read() as conn:
            return [RunLink(e, p, r, n, s) for e, p, r, n, s in conn.execute(q)]


def _vid(version_id: int) -> Any:
    return artifact_versions.c.id == version_id


def _add_blobs(conn: Connection, pid: int, blobs: Sequence[tuple[str, int]]) -> None:
    wanted = {d: int(s) for d, s in blobs}
    for part in _chunks(sorted(wanted)):
        held = set(
            conn.execute(
                select(project_blobs.c.sha256).where(
                    project_blobs.c.project_id == pid, project_blobs.c.sha256.in_(part)
                )
            ).scalars()
        )
        new = [{"project_id": pid, "sha256": d, "size": wanted[d]} for d in part if d not in held]
        if new:
            conn.execute(insert(project_blobs), new)


def _record_usage(conn: Connection, run_pk: int, vid: int, kind: str, now: dt.datetime) -> None:
    q = select(artifact_usage.c.run_pk).where(
        artifact_usage.c.run_pk == run_pk,
        artifact_usage.c.version_id == vid,
        artifact_usage.c.kind == kind,
    )
    if conn.execute(q).first() is None:
        conn.execute(
            insert(artifact_usage).values(run_pk=run_pk, version_id=vid, kind=kind, created_at=now)
        )
