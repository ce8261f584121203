"""Run files: list, upload (streamed into the content-addressed BlobStore), download."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from labbook.errors import NotFoundError, PayloadTooLarge, UsageError
from labbook.server.auth import require_project
from labbook.server.deps import (
    BlobsDep,
    Entity,
    PrincipalDep,
    Project,
    RunId,
    SettingsDep,
    StoreDep,
)
from labbook.server.schemas import FileOut
from labbook.server.wire import normalize_path
from labbook.store import RunRef

router = APIRouter(tags=["files"])
RUN = "/projects/{entity}/{project}/runs/{run}"
_UPLOAD_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(RUN + "/files", response_model=list[FileOut])
def list_files(
    entity: Entity, project: Project, run: RunId, store: StoreDep, principal: PrincipalDep
) -> list[FileOut]:
    require_project(store, principal, entity, project, "read")
    return [FileOut.of(f) for f in store.files(RunRef(entity, project, run))]


@router.put(RUN + "/files/{path:path}", response_model=FileOut, openapi_extra=_UPLOAD_DOC)
async def upload_file(
    entity: Entity,
    project: Project,
    run: RunId,
    path: str,
    request: Request,
    store: StoreDep,
    blobs: BlobsDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> FileOut:
    """The raw body is the file; stored once per distinct content (SHA-256)."""
    clean = normalize_path(path)
    ref = RunRef(entity, project, run)
    await run_in_threadpool(require_project, store, principal, entity, project, "write")
    await run_in_threadpool(store.get_run, ref)  # 404 before reading a large body
    if request.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
        raise UsageError("file uploads take the raw bytes (no Content-Encoding)")
    limit = settings.max_file_bytes
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(prefix="labbook-upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"file is larger than {limit} bytes")
                h.update(chunk)
                await run_in_threadpool(out.write, chunk)
        digest = h.hexdigest()
        await run_in_threadpool(blobs.put_file, Path(tmp), digest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    info = await run_in_threadpool(store.upsert_file, ref, clean, digest, size)
    return FileOut.of(info)


@router.get(RUN + "/files/{path:path}", response_class=StreamingResponse)
def download_file(
    entity: Entity,
    project: Project,
    run: RunId,
    path: str,
    store: StoreDep,
    blobs: BlobsDep,
    principal: PrincipalDep,
) -> StreamingResponse:
    clean = normalize_path(path)
    require_project(store, principal, entity, project, "read")
    info = store.file(RunRef(entity, project, run), clean)
    if not blobs.exists(info.sha256):
        raise NotFoundError(f"the content of {clean!r} is missing from the blob store")
    return StreamingResponse(
        blobs.open_read(info.sha256),
        media_type="application/octet-stream",
        headers={"Content-Length": str(info.size), "ETag": f'"{info.sha256}"'},
    )
