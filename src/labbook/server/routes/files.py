"""Run files: list, upload (streamed into the content-addressed BlobStore), download and preview.

Downloads carry a Content-Type from the file's name (text and logs as UTF-8 text, images inline),
honour single byte ranges (206) and, with ``preview=1``, answer at most the first 64 KiB. Every
file answer is sandboxed (``Content-Security-Policy: sandbox``, ``nosniff``): files are what a
run uploaded, and an HTML or SVG file opened from the API's origin must not run as the
dashboard.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from labbook.blobs import BlobStore
from labbook.errors import (
    NotFoundError,
    PayloadTooLarge,
    RangeNotSatisfiable,
    UsageError,
    ValidationError,
)
from labbook.limits import normalize_path
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
    digest, size = await receive_blob(request, blobs, settings.max_file_bytes)
    info = await run_in_threadpool(store.upsert_file, ref, clean, digest, size)
    return FileOut.of(info)


async def receive_blob(
    request: Request, blobs: BlobStore, limit: int, expect: str | None = None
) -> tuple[str, int]:
    """Stream a request's raw body into the BlobStore, hashing it on the way; ``(sha256,
    size)``. With ``expect``, bytes that hash to anything else are refused (422) and not stored.
    The body goes through a temporary file, so memory stays flat whatever its size."""
    if request.headers.get("content-encoding", "identity").lower() not in ("identity", ""):
        raise UsageError("file uploads take the raw bytes (no Content-Encoding)")
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
        if expect is not None and digest != expect:
            raise ValidationError(
                f"the body hashes to {digest}, not {expect}: changed or cut in transit"
            )
        if not await run_in_threadpool(blobs.exists, digest):
            await run_in_threadpool(blobs.put_file, Path(tmp), digest)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return digest, size


PREVIEW_BYTES = 64 * 1024
TEXT = "text/plain; charset=utf-8"
# fmt: off
_TEXT_SUFFIXES = frozenset({
    ".txt", ".log", ".out", ".err", ".md", ".rst", ".py", ".pyi", ".ipynb", ".yaml", ".yml",
    ".toml", ".cfg", ".ini", ".conf", ".env", ".sh", ".bash", ".zsh", ".patch", ".diff", ".csv",
    ".tsv", ".c", ".h", ".cc", ".cpp", ".hpp", ".cu", ".js", ".ts", ".tsx", ".jsx", ".java", ".go",
    ".rs", ".rb", ".r", ".jl", ".sql", ".lua", ".swift", ".kt", ".scala", ".tex", ".bib", ".lock",
    ".properties", ".gitignore", ".dockerfile",
})
_TEXT_NAMES = frozenset({
    "dockerfile", "makefile", "license", "readme", "changelog", "notice", "procfile",
    "requirements", "output",
})
# fmt: on
_KEPT_TEXT = {"text/csv", "text/html", "text/markdown", "text/tab-separated-values"}
_INLINE = ("text/", "image/", "application/json", "application/pdf", "audio/", "video/")
_MIME = mimetypes.MimeTypes()  # Python's own table only: the same answer on every host
_MIME.add_type("text/markdown", ".md")
_MIME.add_type("image/webp", ".webp")
_SANDBOX = (
    "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; style-src 'unsafe-inline'"
)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_BINARY_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the file (or its first 64 KiB with preview=1)",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    206: {"description": "the asked byte range (Range: bytes=a-b)"},
    416: {"description": "a malformed range or one outside the file"},
}


def content_type(path: str) -> str:
    """The Content-Type of a run file, from its name: text and logs as UTF-8 text (CSV, HTML and
    Markdown keep their type), images and other known types as Python's table has them."""
    name = PurePosixPath(path).name.lower()
    suffix = PurePosixPath(name).suffix
    guess = _MIME.guess_type(name, strict=False)[0]
    if guess in _KEPT_TEXT:
        return f"{guess}; charset=utf-8"
    if suffix in _TEXT_SUFFIXES or (not suffix and name in _TEXT_NAMES):
        return TEXT if guess != "application/json" else guess
    if guess is not None and guess.startswith("text/"):
        return TEXT
    return guess or "application/octet-stream"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) byte of a ``Range: bytes=...`` header (one range; ends past the file are
    cut to it), None for no header or another unit; RangeNotSatisfiable (416) for a malformed
    range or one that starts past the end."""
    if header is None:
        return None
    spec = "".join(header.split())
    if not spec.lower().startswith("bytes="):
        return None
    m = _RANGE.match("bytes=" + spec[6:])
    if m is None or (m[1] == "" and m[2] == ""):
        raise RangeNotSatisfiable(
            f"invalid Range {header[:80]!r}: use one range, bytes=first-last, bytes=first- or "
            "bytes=-suffix",
            size,
        )
    if m[1] == "":
        n = int(m[2])
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(f"the range {header[:80]!r} selects no byte", size)
        return max(0, size - n), size - 1
    first = int(m[1])
    last = size - 1 if m[2] == "" else min(int(m[2]), size - 1)
    if m[2] != "" and int(m[2]) < first:
        raise RangeNotSatisfiable(f"invalid Range {header[:80]!r}: last byte before first", size)
    if first >= size:
        raise RangeNotSatisfiable(f"the range starts past the end of the file ({size} bytes)", size)
    return first, last


def _utf8_cut(data: bytes) -> bytes:
    """``data`` without a trailing partial UTF-8 character (a preview cut inside one)."""
    for back in range(1, min(4, len(data)) + 1):
        b = data[-back]
        if b < 0x80:
            return data
        if b >= 0xC0:  # the lead byte of the last character: is it complete?
            need = 2 if b < 0xE0 else 3 if b < 0xF0 else 4
            return data if back >= need else data[:-back]
    return data


@router.get(RUN + "/files/{path:path}", response_class=StreamingResponse, responses=_BINARY_DOC)
def download_file(
    entity: Entity,
    project: Project,
    run: RunId,
    path: str,
    request: Request,
    store: StoreDep,
    blobs: BlobsDep,
    principal: PrincipalDep,
    preview: Annotated[
        bool, Query(description="at most the first 64 KiB; X-Labbook-Truncated tells if cut")
    ] = False,
    download: Annotated[bool, Query(description="Content-Disposition: attachment")] = False,
) -> StreamingResponse:
    """The file's bytes, typed by its name; ``Range`` → 206, ``preview=1`` → ≤ 64 KiB."""
    clean = normalize_path(path)
    require_project(store, principal, entity, project, "read")
    info = store.file(RunRef(entity, project, run), clean)
    return serve_blob(request, blobs, clean, info.sha256, info.size, preview, download)


def serve_blob(
    request: Request,
    blobs: BlobStore,
    path: str,
    sha256: str,
    size: int,
    preview: bool = False,
    download: bool = False,
) -> StreamingResponse:
    """A stored file's answer (run files and artifact files alike): typed by its name, sandboxed,
    with ranges, previews and its content hash as ETag."""
    if not blobs.exists(sha256):
        raise NotFoundError(f"the content of {path!r} is missing from the blob store")
    ctype = content_type(path)
    etag = f'"{sha256}"'
    name = quote(PurePosixPath(path).name, safe="")
    inline = not download and ctype.startswith(_INLINE)
    headers = {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Content-Disposition": f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{name}",
        "Content-Security-Policy": _SANDBOX,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-cache",
    }
    if_range = request.headers.get("if-range")
    wanted = byte_range(request.headers.get("range"), size)
    if wanted is not None and if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's copy is of other content: send the whole file
    status = 200
    if wanted is None:
        start, length = 0, size
    else:
        start, length = wanted[0], wanted[1] - wanted[0] + 1
        status = 206
    if preview:
        status = 200
        cut = min(length, PREVIEW_BYTES)
        headers["X-Labbook-Truncated"] = "true" if start + cut < size else "false"
        if cut < length and ctype.startswith("text/"):
            data = _utf8_cut(b"".join(blobs.open_read(sha256, start, cut)))
            headers["Content-Length"] = str(len(data))
            return StreamingResponse(iter((data,)), media_type=ctype, headers=headers)
        length = cut
    elif status == 206:
        headers["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    headers["Content-Length"] = str(length)
    body: Iterator[bytes] = blobs.open_read(sha256, start, length)
    return StreamingResponse(body, status_code=status, media_type=ctype, headers=headers)
