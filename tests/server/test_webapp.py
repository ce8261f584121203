"""The dashboard served by the real app: SPA fallback, cache headers, gzip, the missing-build page,
the security headers, and paths that try to leave the build folder."""

from __future__ import annotations

import gzip
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lbserver import Server, error

from labbook.server.webapp import CSP
from webbuild import INDEX, SCRIPT, SECRET, write_build

APP_ROUTES = [
    "/",
    "/login",
    "/teams",
    "/alice/digits",
    "/alice/digits/",
    "/alice/digits/runs/abc123",
    "/alice/digits/compare?runs=a,b,c",
    "/alice/digits?filter=config.lr%3E0.1&sort=-summary.acc",
    "/alice/digits/artifacts",
    "/alice/digits/artifacts/mnist",
    "/alice/digits/artifacts/mnist/v3?tab=lineage&depth=2",
    "/registry",
    "/registry/vision-lab",
    "/registry/vision-lab/classifier",
]


@pytest.fixture
def web(tmp_path: Path, make_server: Callable[..., Server]) -> Server:
    return make_server(web_dir=write_build(tmp_path / "web"))


def is_index(r: Any) -> bool:
    return bool(r.status_code == 200 and r.text == INDEX)


def test_the_apps_urls_answer_index_html_with_its_headers(web: Server) -> None:
    for url in APP_ROUTES:
        r = web.client.get(url)  # Accept: */* (a script, curl): the app's URLs still get the app
        assert is_index(r), (url, r.status_code, r.text[:200])
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["cache-control"] == "no-cache"
        assert r.headers["content-security-policy"] == CSP
        assert "default-src 'self'" in CSP and "https:" not in CSP and "*" not in CSP
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert is_index(web.client.get("/index.html"))


def test_other_paths_fall_back_only_for_a_browser_asking_for_html(web: Server) -> None:
    html = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    for url in (
        "/alice/digits/runs/abc/files/x.txt",
        "/nowhere",
        "/a/b/c/d",
        "/alice/digits/artifacts/mnist/v3/files/x.txt",
        "/registry/a/b/c",
    ):
        assert is_index(web.client.get(url, headers=html)), url
        error(web.client.get(url, headers={"Accept": "application/json"}), 404, "not_found")
    error(web.client.get("/favicon.ico"), 404)  # not in the build, not an app URL
    # A method other than GET/HEAD is no page request.
    error(web.client.post("/alice/digits", headers=html), 404)


def test_api_paths_never_fall_back(web: Server) -> None:
    html = {"Accept": "text/html"}
    for url in ("/api", "/api/", "/api/v1", "/api/v1/nope", "/api/v2/projects", "/api/v1/x/y/z"):
        error(web.client.get(url, headers=html), 404, "not_found")
    # Real API routes answer as before: a 405 stays a 405, a route its JSON.
    error(web.client.post("/api/v1/viewer", headers=html), 405)
    error(web.client.get("/api/v1/viewer", headers=html), 401)
    assert web.client.get("/api/v1/openapi.json").json()["info"]["title"] == "labbook"


def test_hashed_assets_are_immutable_gzipped_and_revalidated(web: Server) -> None:
    r = web.client.get("/assets/index-3f9a1c.js", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.text == SCRIPT  # httpx gunzips
    assert r.headers["content-type"] == "text/javascript; charset=utf-8"
    assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert r.headers["content-encoding"] == "gzip" and r.headers["vary"] == "Accept-Encoding"
    assert int(r.headers["content-length"]) < len(SCRIPT) / 3
    assert r.headers["x-content-type-options"] == "nosniff"
    plain = web.client.get("/assets/index-3f9a1c.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers and plain.content == SCRIPT.encode()
    refused = web.client.get("/assets/index-3f9a1c.js", headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    again = web.client.get("/assets/index-3f9a1c.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["cache-control"] == "public, max-age=31536000, immutable"
    head = web.client.head("/assets/index-3f9a1c.js", headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(SCRIPT)
    css = web.client.get("/assets/index-77b2e0.css")
    assert css.headers["content-type"].startswith("text/css") and css.text == "body{margin:0}\n"
    # Top-level files of the build are served, revalidated on each use.
    icon = web.client.get("/favicon.svg")
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.headers["cache-control"] == "no-cache"


def test_a_missing_asset_is_a_404_never_the_app(web: Server) -> None:
    r = web.client.get("/assets/index-000000.js", headers={"Accept": "text/html"})
    error(r, 404, "not_found")
    error(web.client.get("/assets/"), 404)


def test_a_precompressed_file_beside_the_asset_is_used(web: Server) -> None:
    build = Path(web.client.app.state.web_dir)  # type: ignore[attr-defined]
    text = "x" * 5000
    (build / "assets" / "big-1a2b3c.css").write_text(text)
    made = gzip.compress(b"/* from the .gz file */" + text.encode())
    (build / "assets" / "big-1a2b3c.css.gz").write_bytes(made)
    r = web.client.get("/assets/big-1a2b3c.css", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.text.startswith("/* from the .gz file */")


def test_a_new_build_is_served_without_a_restart(web: Server) -> None:
    build = Path(web.client.app.state.web_dir)  # type: ignore[attr-defined]
    first = web.client.get("/")
    newer = INDEX.replace("3f9a1c", "9d8e7f0")
    (build / "index.html").write_text(newer)
    st = (build / "index.html").stat()
    os.utime(build / "index.html", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    r = web.client.get("/", headers={"If-None-Match": first.headers["etag"]})
    assert r.status_code == 200 and r.text == newer and r.headers["etag"] != first.headers["etag"]


def test_without_a_build_a_page_says_how_to_make_one(
    tmp_path: Path, make_server: Callable[..., Server]
) -> None:
    empty = tmp_path / "nothing-built"
    s = make_server(web_dir=empty)
    for url in ("/", "/alice/digits/runs/abc"):
        r = s.client.get(url)
        assert r.status_code == 503
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["cache-control"] == "no-store"
        assert r.headers["content-security-policy"] == CSP
        assert "cd web &amp;&amp; npm ci &amp;&amp; npm run build" in r.text
        assert "not built" in r.text and str(tmp_path) not in r.text
    error(s.client.get("/assets/index-3f9a1c.js"), 404)
    error(s.get("/viewer"), 401)  # the API works
    # Once built, it is served: no restart.
    write_build(tmp_path / "later")
    (tmp_path / "later" / "build").rename(empty)
    assert is_index(s.client.get("/alice/digits"))


TRAVERSALS = [
    "/assets/%2e%2e/%2e%2e/secret.txt",
    "/assets/%2E%2E/%2E%2E/secret.txt",
    "/assets/..%2f..%2fsecret.txt",
    "/assets/%2e%2e%2f%2e%2e%2fsecret.txt",
    "/assets/..%5c..%5csecret.txt",
    "/assets/%252e%252e/%252e%252e/secret.txt",
    "/assets/.%2e/.%2e/secret.txt",
    "/assets/link.txt",  # a link out of the build
    "/assets/%2fetc%2fpasswd",
    "/%2e%2e/secret.txt",
    "/..%2fsecret.txt",
    "/assets/index-3f9a1c.js%00.txt",
]


def test_paths_that_leave_the_build_are_refused(web: Server) -> None:
    for url in TRAVERSALS:
        for accept in ("*/*", "text/html"):
            r = web.client.get(url, headers={"Accept": accept})
            assert SECRET not in r.text and "root:" not in r.text, url
            assert r.status_code == 404 or is_index(r), (url, r.status_code)
        if url.startswith("/assets/"):
            error(web.client.get(url), 404)


def test_raw_dot_segments_over_a_real_socket_are_refused(
    tmp_path: Path, server_factory: Callable[..., Any]
) -> None:
    """What an HTTP client would normalise away, sent as bytes to uvicorn."""
    srv = server_factory(web_dir=write_build(tmp_path / "web")).start()
    for target in (
        "/assets/../../secret.txt",
        "/assets/../../../../../../etc/passwd",
        "/assets/./../../secret.txt",
        "/assets/..\\..\\secret.txt",
    ):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sock:
            head = f"GET {target} HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nConnection: close\r\n"
            sock.sendall(head.encode() + b"\r\n")
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        status = answer.split(b"\r\n", 1)[0]
        assert b" 404 " in status or b" 400 " in status, (target, status)
        assert SECRET.encode() not in answer and b"root:" not in answer, target
