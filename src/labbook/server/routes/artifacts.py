"""Artifacts: collections, versions (committed from a manifest once its blobs are in), manifests,
files, aliases, a run's artifacts and the lineage graph. Routes are thin over the Store's
``ArtifactMixin``/``LineageMixin``; permissions are the project's, as for runs.

Upload is two steps so that it can resume: ``PUT .../blobs/{sha256}`` for each blob the commit
said was missing, then the commit again. Blobs already held by the project are never sent twice.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from labbook import manifests
from labbook.blobs import check_sha256
from labbook.errors import LabbookError, NotFoundError
from labbook.limits import normalize_path
from labbook.server.auth import Principal, require_project
from labbook.server.deps import (
    BlobsDep,
    Entity,
    Name,
    PrincipalDep,
    Project,
    RunId,
    SettingsDep,
    StoreDep,
)
from labbook.server.routes.files import _BINARY_DOC, _UPLOAD_DOC, receive_blob, serve_blob
from labbook.server.schemas.artifacts import (
    ArtifactRefIn,
    BlobOut,
    CollectionDetailOut,
    CollectionOut,
    EntryOut,
    LineageOut,
    ManifestOut,
    RunArtifactsOut,
    RunLinkOut,
    VersionDetailOut,
    VersionIn,
    VersionOut,
    VersionPatch,
)
from labbook.store import RunRef, Store, VersionInfo
from labbook.store.lineage import Readable

router = APIRouter(tags=["artifacts"])
PROJECT = "/projects/{entity}/{project}"
COLLECTION = PROJECT + "/artifacts/{name}"
VERSION = COLLECTION + "/{ref}"
RUN = PROJECT + "/runs/{run}"

Depth = Annotated[int, Query(ge=1, le=10, description="edges from the root")]
Direction = Annotated[Literal["upstream", "downstream", "both"], Query()]


def readable(store: Store, principal: Principal) -> Readable:
    """A memoised "may the caller read this project" for the lineage walk."""
    seen: dict[tuple[str, str], bool] = {}

    def can(entity: str, project: str) -> bool:
        key = (entity, project)
        if key not in seen:
            try:
                require_project(store, principal, entity, project, "read")
                seen[key] = True
            except LabbookError:
                seen[key] = False
        return seen[key]

    return can


def _version(
    store: Store, principal: Principal, entity: str, project: str, name: str, ref: str
) -> VersionInfo:
    require_project(store, principal, entity, project, "read")
    return store.artifact_version(entity, project, name, ref)


@router.get(PROJECT + "/artifacts", response_model=list[CollectionOut])
def list_collections(
    entity: Entity,
    project: Project,
    store: StoreDep,
    principal: PrincipalDep,
    type: Annotated[str | None, Query(description="only collections of this type")] = None,
) -> list[CollectionOut]:
    require_project(store, principal, entity, project, "read")
    return [CollectionOut.of(c) for c in store.artifact_collections(entity, project, type)]


@router.get(COLLECTION, response_model=CollectionDetailOut)
def get_collection(
    entity: Entity, project: Project, name: Name, store: StoreDep, principal: PrincipalDep
) -> CollectionDetailOut:
    require_project(store, principal, entity, project, "read")
    info, versions = store.artifact_collection(entity, project, name)
    return CollectionDetailOut(
        **CollectionOut.of(info).model_dump(), versions=[VersionOut.of(v) for v in versions]
    )


@router.put(PROJECT + "/blobs/{sha256}", response_model=BlobOut, openapi_extra=_UPLOAD_DOC)
async def put_blob(
    entity: Entity,
    project: Project,
    sha256: str,
    request: Request,
    store: StoreDep,
    blobs: BlobsDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> BlobOut:
    """One artifact file's raw bytes, refused unless they hash to ``sha256``."""
    check_sha256(sha256)
    await run_in_threadpool(require_project, store, principal, entity, project, "write")
    digest, size = await receive_blob(request, blobs, settings.max_file_bytes, expect=sha256)
    await run_in_threadpool(store.add_project_blobs, entity, project, [(digest, size)])
    return BlobOut(sha256=digest, size=size)


@router.post(
    COLLECTION + "/versions",
    response_model=VersionOut,
    status_code=201,
    responses={200: {"model": VersionOut, "description": "identical content: that version"}},
)
def commit_version(
    entity: Entity,
    project: Project,
    name: Name,
    body: VersionIn,
    response: Response,
    store: StoreDep,
    principal: PrincipalDep,
) -> VersionOut:
    """Commit a version; 409 ``blobs_missing`` (with ``missing``) until its blobs are in."""
    require_project(store, principal, entity, project, "write")
    entries = [manifests.check_entry(e.path, e.digest, e.size, e.ref) for e in body.entries]
    info, created = store.commit_artifact(
        entity,
        project,
        name,
        body.type,
        entries,
        description=body.description,
        metadata=body.metadata,
        aliases=body.aliases,
        run_id=body.run,
    )
    if not created:
        response.status_code = 200
    return VersionOut.of(info)


@router.get(VERSION, response_model=VersionDetailOut)
def get_version(
    entity: Entity,
    project: Project,
    name: Name,
    ref: Name,
    store: StoreDep,
    principal: PrincipalDep,
) -> VersionDetailOut:
    v = _version(store, principal, entity, project, name, ref)
    users = [RunLinkOut.of(r) for r in store.artifact_users(v.id)]
    return VersionDetailOut(**VersionOut.of(v).model_dump(), used_by=users)


@router.patch(VERSION, response_model=VersionOut)
def patch_version(
    entity: Entity,
    project: Project,
    name: Name,
    ref: Name,
    body: VersionPatch,
    store: StoreDep,
    principal: PrincipalDep,
) -> VersionOut:
    """Aliases, description and metadata; the files of a version never change."""
    require_project(store, principal, entity, project, "write")
    v = store.artifact_version(entity, project, name, ref)
    return VersionOut.of(
        store.update_artifact_version(
            v, aliases=body.aliases, description=body.description, metadata=body.metadata
        )
    )


@router.delete(VERSION, status_code=204)
def delete_version(
    entity: Entity,
    project: Project,
    name: Name,
    ref: Name,
    store: StoreDep,
    principal: PrincipalDep,
) -> Response:
    require_project(store, principal, entity, project, "write")
    store.delete_artifact_version(store.artifact_version(entity, project, name, ref))
    return Response(status_code=204)


@router.get(VERSION + "/manifest", response_model=ManifestOut)
def get_manifest(
    entity: Entity,
    project: Project,
    name: Name,
    ref: Name,
    store: StoreDep,
    principal: PrincipalDep,
) -> ManifestOut:
    v = _version(store, principal, entity, project, name, ref)
    return ManifestOut(
        digest=v.digest, entries=[EntryOut.of(e) for e in store.artifact_manifest(v.id)]
    )


@router.get(VERSION + "/files/{path:path}", response_class=StreamingResponse, responses=_BINARY_DOC)
def download_version_file(
    entity: Entity,
    project: Project,
    name: Name,
    ref: Name,
    path: str,
    request: Request,
    store: StoreDep,
    blobs: BlobsDep,
    principal: PrincipalDep,
    preview: Annotated[bool, Query(description="at most the first 64 KiB")] = False,
    download: Annotated[bool, Query(description="Content-Disposition: attachment")] = False,
) -> StreamingResponse:
    """An entry's bytes, answered as run files are (types, ranges, previews, sandbox)."""
    clean = normalize_path(path)
    v = _version(store, principal, entity, project, name, ref)
    entry = store.artifact_entry(v.id, clean)
    if entry.ref is not None:
        raise NotFoundError(f"{clean!r} is a reference, not stored here: fetch {entry.ref}")
    return serve_blob(request, blobs, clean, entry.digest, entry.size, preview, download)


@router.get(VERSION + "/lineage", response_model=LineageOut)
def version_lineage(
    entity: Entity,
    project: Project,
    name: Name,
    ref: Name,
    store: StoreDep,
    principal: PrincipalDep,
    depth: Depth = 3,
    direction: Direction = "both",
) -> LineageOut:
    v = _version(store, principal, entity, project, name, ref)
    g = store.version_lineage(v, depth, direction, readable(store, principal))
    return LineageOut.of(g)


@router.get(RUN + "/artifacts", response_model=RunArtifactsOut)
def run_artifacts(
    entity: Entity, project: Project, run: RunId, store: StoreDep, principal: PrincipalDep
) -> RunArtifactsOut:
    require_project(store, principal, entity, project, "read")
    logged, used = store.run_artifacts(RunRef(entity, project, run))
    return RunArtifactsOut(
        logged=[VersionOut.of(v) for v in logged], used=[VersionOut.of(v) for v in used]
    )


@router.post(RUN + "/artifacts/used", response_model=VersionOut, status_code=201)
def use_version(
    entity: Entity,
    project: Project,
    run: RunId,
    body: ArtifactRefIn,
    store: StoreDep,
    principal: PrincipalDep,
) -> VersionOut:
    """Record that the run used a version (of this project or another the caller may read)."""
    require_project(store, principal, entity, project, "write")
    v = _version(store, principal, body.entity, body.project, body.name, body.ref)
    store.use_artifact(RunRef(entity, project, run), v.id)
    return VersionOut.of(v)


@router.get(RUN + "/lineage", response_model=LineageOut)
def run_lineage(
    entity: Entity,
    project: Project,
    run: RunId,
    store: StoreDep,
    principal: PrincipalDep,
    depth: Depth = 3,
    direction: Direction = "both",
) -> LineageOut:
    require_project(store, principal, entity, project, "read")
    g = store.run_lineage(
        RunRef(entity, project, run), depth, direction, readable(store, principal)
    )
    return LineageOut.of(g)
