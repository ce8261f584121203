"""The dashboard: the web app's build, served at ``/`` next to the REST API.

The build (``index.html`` and hashed files under ``assets/``, written by ``web/``'s Vite) lives in
``labbook/server/webapp`` (``LABBOOK_WEB_DIR`` elsewhere). It is served by the router's *default*
handler, the one Starlette calls when no route matched: every ``/api`` route keeps its own answers
(a 405 for a wrong method included), and an unknown ``/api/...`` path keeps the JSON 404.

- ``/assets/...``: the hashed files, cached for a year (``immutable``: a new build has new names).
  A missing asset is a 404, never ``index.html``: a browser given HTML for a script fails in
  ways that are hard to read.
- Other files at the build's top level (``favicon.svg``, ``robots.txt``): revalidated each time.
- The app's own URLs (``/``, ``/login``, ``/teams``, ``/{entity}/{project}``, ``.../runs/{id}``,
  ``.../compare``, ``.../artifacts[/{name}[/{ref}]]``, ``/registry[/{entity}[/{model}]]``) and
  any other GET that accepts HTML: ``index.html`` (the SPA fallback), with
  ``no-cache`` so a new build is picked up on the next load. The app routes in the browser.
- No build: a page (503) that says how to make one. 503 and not 200: the server cannot serve
  what the URL names, and a probe or a test looking at the status should see that; a person sees
  the explanation either way. The API is unaffected.

Every file answer carries an ``ETag`` (304 on ``If-None-Match``); text is gzipped for clients that
accept it, once per file (a ``.gz`` file beside it is used as is), and kept in memory: the whole
build is a few hundred KB. The API's responses are left alone (no middleware on the ingest path).
HTML carries a Content-Security-Policy that keeps every request on the server's origin.
"""

from __future__ import annotations

import gzip
import logging
import mimetypes
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import anyio.to_thread
from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.responses import FileResponse, Response
from starlette.routing import get_route_path
from starlette.types import ASGIApp, Receive, Scope, Send

from labbook.settings import Settings

log = logging.getLogger("labbook.server")

PACKAGED_DIR = Path(__file__).resolve().parent / "webapp"
"""Where the package's build lands (``web/vite.config.ts``'s ``outDir``) and the wheel has it."""

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # uPlot and React set inline styles
        "img-src 'self' data: blob:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
"""No request leaves the server's origin: no CDN, no web fonts, no telemetry."""

HTML_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

_APP_ROUTE = re.compile(
    r"^/(?:login|teams|registry(?:/[^/]+){0,2}"
    r"|[^/]+/[^/]+(?:/compare|/runs/[^/]+|/artifacts(?:/[^/]+){0,2})?)?/?$"
)
"""The app's own URLs: ``index.html`` whatever the Accept header says (a script or ``curl``
following a link the app printed gets the app, not a 404)."""

_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain",
    ".wasm": "application/wasm",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
"""Fixed here rather than left to the host's ``/etc/mime.types``: a module script served with a
wrong type (and ``nosniff``) does not run."""
_COMPRESSIBLE = ("text/", "application/json", "application/manifest+json", "image/svg+xml")
_GZIP_MIN = 1024
_MEMORY_MAX = 4 * 1024 * 1024
"""Files up to this size are answered from memory (gzipped once); larger ones stream from disk."""
_CACHE_BUDGET = 64 * 1024 * 1024


def web_dir(settings: Settings) -> Path:
    """The build this server serves: ``LABBOOK_WEB_DIR``, else the package's."""
    return Path(settings.web_dir).expanduser() if settings.web_dir else PACKAGED_DIR


def is_built(directory: Path) -> bool:
    return (directory / "index.html").is_file()


def describe(settings: Settings) -> str:
    """One line for ``labbook server``/``ui`` at start: is there a dashboard to serve."""
    directory = web_dir(settings)
    if is_built(directory):
        return f"dashboard from {directory}"
    return (
        f"the dashboard is not built (no index.html in {directory}): the API works; build it with "
        "`cd web && npm ci && npm run build` in a source checkout"
    )


def media_type(path: Path) -> str:
    kind = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    kind = kind or "application/octet-stream"
    if kind.startswith("text/") or kind in ("application/json", "image/svg+xml"):
        kind += "; charset=utf-8"
    return kind


def _accepts_gzip(headers: Headers) -> bool:
    for part in headers.get("accept-encoding", "").lower().split(","):
        name, _, params = part.strip().partition(";")
        if name.strip() in ("gzip", "*"):
            q = params.strip()
            return not (q.startswith("q=") and _is_zero(q[2:]))
    return False


def _is_zero(text: str) -> bool:
    try:
        return float(text) == 0.0
    except ValueError:
        return False


def _accepts_html(headers: Headers) -> bool:
    return "text/html" in headers.get("accept", "").lower()


@dataclass(frozen=True)
class _Body:
    plain: bytes
    gzipped: bytes | None
    etag: str


class _Files:
    """File bodies by (path, mtime, size), gzipped once: a rebuilt file has a new key."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, int], _Body] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, path: Path, st: os.stat_result, compress: bool) -> _Body:
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            body = self._cache.get(key)
        if body is not None:
            return body
        plain = path.read_bytes()
        gzipped = None
        if compress and len(plain) >= _GZIP_MIN:
            pre = path.with_name(path.name + ".gz")
            if pre.is_file() and pre.stat().st_mtime_ns >= st.st_mtime_ns:
                gzipped = pre.read_bytes()
            else:
                gzipped = gzip.compress(plain, compresslevel=9, mtime=0)
            if len(gzipped) >= len(plain):
                gzipped = None
        body = _Body(plain, gzipped, f'"{st.st_mtime_ns:x}-{st.st_size:x}"')
        size = len(plain) + len(gzipped or b"")
        with self._lock:
            if self._bytes + size > _CACHE_BUDGET:  # a server that saw many builds: start over
                self._cache.clear()
                self._bytes = 0
            self._cache[key] = body
            self._bytes += size
        return body


class WebApp:
    """The ASGI app behind every path no API route matched (``Router.default``)."""

    def __init__(self, directory: Path, not_found: ASGIApp) -> None:
        self.directory = directory
        self.not_found = not_found
        self._files = _Files()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.not_found(scope, receive, send)
            return
        path = get_route_path(scope)
        if path == "/api" or path.startswith("/api/"):
            await self.not_found(scope, receive, send)
            return
        headers = Headers(scope=scope)
        response: Response | None
        if path.startswith("/assets/"):
            response = await self._file(self._inside("assets", path[8:]), IMMUTABLE, headers)
        elif path == "/index.html":
            response = await self._index(headers)
        else:
            response = None
            if path.count("/") == 1 and len(path) > 1:  # a top-level file of the build
                response = await self._file(self._inside("", path[1:]), REVALIDATE, headers)
            if response is None and (_APP_ROUTE.match(path) or _accepts_html(headers)):
                response = await self._index(headers)
        if response is None:
            await self.not_found(scope, receive, send)
            return
        await response(scope, receive, send)

    def _inside(self, sub: str, rel: str) -> Path | None:
        """``rel`` under the build's ``sub`` folder, or None for anything that would leave it.

        ``scope["path"]`` is percent-decoded, so ``%2e%2e%2f`` arrives here as ``../``: refused
        by name before the file system is asked, and a link out of the folder is refused too.
        """
        if not rel or "\\" in rel or "\0" in rel:
            return None
        parts = rel.split("/")
        if any(not p or p.startswith(".") for p in parts):  # "..", ".", hidden files
            return None
        base = (self.directory / sub) if sub else self.directory
        try:
            root = base.resolve()
            target = (root / Path(*parts)).resolve()
        except (OSError, ValueError):
            return None
        if not target.is_relative_to(root) or (target.name == "index.html" and not sub):
            return None
        return target

    async def _file(self, path: Path | None, cache: str, headers: Headers) -> Response | None:
        if path is None:
            return None
        try:
            st = path.stat()
        except (OSError, ValueError):
            return None
        if not path.is_file():
            return None
        kind = media_type(path)
        extra = {"Cache-Control": cache, "X-Content-Type-Options": "nosniff"}
        if kind.startswith("text/html"):
            extra.update(HTML_HEADERS)
        compress = kind.startswith(_COMPRESSIBLE)
        if st.st_size > _MEMORY_MAX:
            return FileResponse(path, media_type=kind, headers=extra, stat_result=st)
        body = await anyio.to_thread.run_sync(self._files.get, path, st, compress)
        return _answer(body, kind, extra, headers)

    async def _index(self, headers: Headers) -> Response:
        response = await self._file(self.directory / "index.html", REVALIDATE, headers)
        return response if response is not None else missing_build_page()


def _answer(body: _Body, kind: str, extra: dict[str, str], request: Headers) -> Response:
    out = {**extra, "ETag": body.etag}
    if body.gzipped is not None:
        out["Vary"] = "Accept-Encoding"
    if body.etag in [t.strip() for t in request.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=out)
    if body.gzipped is not None and _accepts_gzip(request):
        out["Content-Encoding"] = "gzip"
        return Response(body.gzipped, media_type=kind, headers=out)
    return Response(body.plain, media_type=kind, headers=out)


_MISSING = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>labbook: the dashboard is not built</title>
<style>
body { font: 16px/1.5 system-ui, sans-serif; max-width: 44rem; margin: 3rem auto; padding: 0 1rem;
       color: #1f2328; background: #fff; }
code, pre { font-family: ui-monospace, monospace; background: #f3f4f6; border-radius: 4px; }
pre { padding: .75rem 1rem; overflow-x: auto; }
@media (prefers-color-scheme: dark) {
  body { color: #e6edf3; background: #0d1117; } code, pre { background: #161b22; }
}
</style>
</head>
<body>
<h1>The labbook dashboard is not built</h1>
<p>This labbook server answers its REST API (<a href="/api/v1/openapi.json">/api/v1</a>), but the
web app's build is missing from its installation, so there is no dashboard to show.</p>
<p>In a source checkout, build it (Node.js 20 or later with npm), then reload this page:</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build</pre>
<p>Or reinstall labbook with <code>npm</code> on the <code>PATH</code>:
<code>pip install -e .</code> builds the app when its build is missing. Released wheels and
the Docker image ship it built. A build elsewhere can be served with
<code>LABBOOK_WEB_DIR=/path/to/build</code>.</p>
<p>Your runs are all there: <code>labbook runs PROJECT</code> lists them from the command
line.</p>
</body>
</html>
"""


def missing_build_page() -> Response:
    headers = {**HTML_HEADERS, "Cache-Control": "no-store"}
    return Response(_MISSING, status_code=503, media_type="text/html", headers=headers)


def install(app: FastAPI, settings: Settings) -> None:
    """Serve the dashboard from every path no API route answers."""
    directory = web_dir(settings)
    app.state.web_dir = directory
    app.router.default = WebApp(directory, app.router.not_found)
