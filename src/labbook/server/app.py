"""The composition root of the server: ``create_app(settings)``.

It opens the Store and the BlobStore (closed again on shutdown), installs the error handlers that
answer ``{"error": {"code", "message"}}`` for every failure, and mounts one router per resource.
"""

from __future__ import annotations

import getpass
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from labbook import __version__
from labbook.blobs import open_blobstore
from labbook.errors import LabbookError, RangeNotSatisfiable, RateLimited, UsageError
from labbook.server import webapp
from labbook.server.auth import AuthMode, LoginLimiter
from labbook.server.routes import (
    artifacts,
    envelopes,
    files,
    history,
    keys,
    projects,
    records,
    registry,
    runs,
    session,
    table,
    teams,
    users,
    viewer,
)
from labbook.server.wire import LabbookJSONResponse
from labbook.settings import Settings, is_loopback
from labbook.store import Store

log = logging.getLogger("labbook.server")
API = "/api/v1"
_FILE_PATH = re.compile(rf"^{API}/projects/[^/]+/[^/]+/runs/[^/]+/files/")
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    416: "range_not_satisfiable",
    422: "validation_error",
    429: "rate_limited",
}


def check_bind(settings: Settings) -> None:
    """Refuse to serve a non-loopback address with auth turned off (unset, auth is on there)."""
    if settings.auth is False and not is_loopback(settings.host):
        raise UsageError(
            f"refusing to serve on {settings.host} with auth off: anyone who can reach it would "
            "act as the local admin. Bind 127.0.0.1, or leave auth on (drop --no-auth and "
            "LABBOOK_AUTH=false: it is on by default there)."
        )


def local_user_name(settings: Settings) -> str:
    name = settings.entity
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "local"
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:128] or "local"


def _error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, object] | None = None,
) -> Response:
    body = {"error": {"code": code, "message": message, **(details or {})}}
    return LabbookJSONResponse(body, status_code=status, headers=headers)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(LabbookError)
    async def _labbook(_: Request, exc: LabbookError) -> Response:
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else None
        if isinstance(exc, RangeNotSatisfiable) and exc.size is not None:
            headers = {"Content-Range": f"bytes */{exc.size}"}
        if exc.status >= 500:
            log.error("server error: %s", exc.message, exc_info=exc)
        return _error(exc.status, exc.code, exc.message, headers, exc.details())

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> Response:
        parts = []
        for e in exc.errors()[:5]:
            where = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return _error(422, "validation_error", "; ".join(parts) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "error")
        return _error(exc.status_code, code, str(exc.detail), dict(exc.headers or {}) or None)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "internal server error")


def create_app(settings: Settings) -> FastAPI:
    """The labbook server for ``settings``: the one place that wires store, blobs and routes."""
    check_bind(settings)
    store = Store.from_settings(settings)
    try:
        blobs = open_blobstore(settings.resolved_blobs_uri())
        auth = AuthMode(settings, store, local_user_name(settings))
        local_user = None
        if not auth.enabled():  # the one local user is an admin, even if the name existed
            local_user = replace(store.ensure_user(auth.local_user, admin=True), admin=True)
    except BaseException:
        store.close()
        raise

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()
            close = getattr(blobs, "close", None)
            if callable(close):
                close()

    app = FastAPI(
        title="labbook",
        version=__version__,
        openapi_url=f"{API}/openapi.json",
        docs_url=f"{API}/docs",
        redoc_url=None,
        default_response_class=LabbookJSONResponse,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    app.state.blobs = blobs
    app.state.auth = auth
    app.state.local_user = local_user
    app.state.login_limiter = LoginLimiter(settings.login_max_failures)
    _install_handlers(app)
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=True,
            allow_methods=["*"],
            allow_headers=["*"],
        )
    for module in (
        viewer,
        session,
        users,
        keys,
        teams,
        projects,
        runs,
        table,
        records,
        history,
        envelopes,
        files,
        artifacts,
        registry,
    ):
        app.include_router(module.router, prefix=API)
    webapp.install(app, settings)  # every other path: the dashboard
    return app


class BodyLimit:
    """413 for a declared body over the limit, except file uploads (they stream to the blobs).

    Plain ASGI (no response wrapping), so the ingest path pays nothing for it. Bodies without a
    Content-Length are bounded where they are read (``wire.read_body``).
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope["headers"]).get(b"content-length", b"")
            is_file = scope["method"] == "PUT" and _FILE_PATH.match(scope["path"]) is not None
            if not is_file and length.isdigit() and int(length) > self.limit:
                msg = f"request body is larger than {self.limit} bytes"
                await _error(413, "payload_too_large", msg)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` (several workers): settings from the environment."""
    return create_app(Settings())
