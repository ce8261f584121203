"""A real ``labbook server`` process serving a small hand-written build to Chromium: a deep link
gets the app (SPA fallback), its hashed asset loads and runs, and no request leaves the origin:
the asset's attempt at a request elsewhere is blocked by the server's Content-Security-Policy."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from databases import database
from webbuild import Labbook, write_build

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ELSEWHERE = "http://203.0.113.7/collect"  # TEST-NET-3: a third party the page must not reach
INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>labbook test build</title>
<script type="module" src="/assets/app-5e1f0a.js"></script>
<link rel="stylesheet" href="/assets/app-9c2d4b.css"></head>
<body><div id="root">loading</div></body></html>
"""
SCRIPT = f"""
const root = document.getElementById("root");
const blocked = [];
document.addEventListener("securitypolicyviolation", (e) => {{
  blocked.push(e.blockedURI);
  document.body.dataset.blocked = blocked.join(" ");
}});
const viewer = await (await fetch("/api/v1/viewer")).json();
root.textContent = "app at " + location.pathname + " for " + viewer.name;
document.body.dataset.ready = "1";
try {{ await fetch("{ELSEWHERE}", {{ mode: "no-cors" }}); }} catch (e) {{}}
document.body.dataset.tried = "1";
"""
CSS = "#root { color: rgb(1, 2, 3); }\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``labbook server`` over a fresh database with the test build; its base URL."""
    build = write_build(tmp_path / "web", index=INDEX)
    (build / "assets" / "app-5e1f0a.js").write_text(SCRIPT)
    (build / "assets" / "app-9c2d4b.css").write_text(CSS)
    with database(request.param, tmp_path, "e2e") as db:
        port = free_port()
        env = {**db.env, "LABBOOK_WEB_DIR": str(build), "LABBOOK_ENTITY": "alice"}
        server = Labbook(["server", "--port", str(port)], env)
        try:
            server.wait_for("single-user local mode", timeout=60)
            assert f"labbook server: dashboard from {build}" in server.lines
            url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    httpx.get(url + "/api/v1/viewer", timeout=2)
                    break
                except httpx.TransportError:
                    if server.proc.poll() is not None:
                        raise AssertionError("\n".join(server.lines)) from None
                    time.sleep(0.1)
            yield url
        finally:
            server.stop()


def test_a_deep_link_loads_the_app_and_nothing_leaves_the_origin(served: str, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    failed: list[str] = []
    page.on("requestfailed", lambda r: failed.append(r.url))
    response = page.goto(served + "/alice/digits/runs/abc?smoothing=0.6", wait_until="load")
    assert response is not None and response.status == 200
    assert response.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in response.headers["content-security-policy"]
    page.wait_for_selector("body[data-tried='1']", timeout=15_000)
    # The SPA fallback served index.html at the deep link (no redirect), and its asset ran.
    assert page.url == served + "/alice/digits/runs/abc?smoothing=0.6"
    assert page.text_content("#root") == "app at /alice/digits/runs/abc for alice"
    color = page.eval_on_selector("#root", "e => getComputedStyle(e).color")
    assert color == "rgb(1, 2, 3)"  # the stylesheet loaded too
    assert served + "/assets/app-5e1f0a.js" in requests
    assert served + "/assets/app-9c2d4b.css" in requests
    # The attempt to reach another origin was blocked by the CSP before any request was made.
    assert page.get_attribute("body", "data-blocked") == ELSEWHERE
    others = [u for u in requests if not u.startswith(served + "/")]
    assert others == [], others
    assert failed == [], failed
