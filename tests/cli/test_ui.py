"""``labbook ui`` and the end of ``labbook demo``: the dashboard over the local store, served by a
real process on a loopback port without a login, its address printed, the browser opened."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import httpx
import pytest

import labbook
from labbook import Settings
from labbook.store import Store
from webbuild import INDEX, Labbook, write_build


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_ui_serves_the_local_store_without_a_login(tmp_path: Path) -> None:
    run = labbook.init(project="digits", config={"lr": 0.1}, settings=Settings(port=free_port()))
    run.log({"loss": 0.5})
    run.finish()
    port = run.settings.port
    build = write_build(tmp_path / "web")
    ui = Labbook(["ui", "--no-browser", "--port", str(port)], {"LABBOOK_WEB_DIR": str(build)})
    try:
        line = ui.wait_for(f"http://127.0.0.1:{port}/")
        assert line.startswith("labbook ui: ") and "Ctrl-C" in line
        assert any("single-user local mode" in x for x in ui.lines), ui.lines
        # The URL init printed for the run leads to the app, and the app's API answers for it.
        assert run.url == f"http://127.0.0.1:{port}/{run.entity}/digits/runs/{run.id}"
        page = httpx.get(run.url, headers={"Accept": "text/html"}, timeout=10)
        assert page.status_code == 200 and page.text == INDEX
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).text == INDEX
        api = f"http://127.0.0.1:{port}/api/v1"
        assert httpx.get(f"{api}/viewer", timeout=10).json()["name"] == run.entity
        runs = httpx.get(f"{api}/projects/{run.entity}/digits/runs", timeout=10).json()["items"]
        assert [r["id"] for r in runs] == [run.id]
    finally:
        ui.stop()


@pytest.mark.slow
def test_ui_opens_the_browser_and_explains_a_missing_build(tmp_path: Path) -> None:
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(
        f"#!{sys.executable}\nimport sys\nopen({str(opened)!r}, 'w').write(sys.argv[1])\n"
    )
    browser.chmod(0o755)
    port = free_port()
    env = {"BROWSER": str(browser), "LABBOOK_WEB_DIR": str(tmp_path / "none")}
    ui = Labbook(["ui", "--port", str(port)], env)
    try:
        ui.wait_for(f"http://127.0.0.1:{port}/")
        assert any("dashboard is not built" in x and "npm run build" in x for x in ui.lines)
        r = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert r.status_code == 503 and "npm ci" in r.text
        for _ in range(200):
            if opened.exists() and opened.read_text():
                break
            time.sleep(0.05)
        assert opened.read_text() == f"http://127.0.0.1:{port}/"
    finally:
        ui.stop()


def test_ui_says_when_its_port_is_taken(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from labbook.cli.main import cli

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = CliRunner().invoke(cli, ["ui", "--no-browser", "--port", str(port)])
    assert out.exit_code != 0
    assert f"port {port} on 127.0.0.1 is in use" in out.output and "--port" in out.output


def test_ui_refuses_auth_off_on_a_public_address() -> None:
    from click.testing import CliRunner

    from labbook.cli.main import cli

    out = CliRunner().invoke(cli, ["ui", "--host", "0.0.0.0"], env={"LABBOOK_AUTH": "false"})
    assert out.exit_code != 0 and "refusing to serve on 0.0.0.0 with auth off" in out.output


# The demo without the examples extra (numpy spirals: seconds, not minutes of Keras).
DEMO = (
    "import sys, labbook.cli.demo as d; d.keras_available = lambda: False; "
    "from labbook.cli.main import main; sys.argv[0] = 'labbook'; main()"
)


@pytest.mark.slow
def test_demo_ends_by_serving_the_dashboard_on_its_runs(tmp_path: Path) -> None:
    port = free_port()
    build = write_build(tmp_path / "web")
    demo = Labbook(
        ["demo", "--no-browser", "--port", str(port)], {"LABBOOK_WEB_DIR": str(build)}, code=DEMO
    )
    try:
        line = demo.wait_for(f"http://127.0.0.1:{port}/", timeout=240)
        assert "Logged 5 runs:" in demo.lines
        url = line.split()[2]
        entity, project = url.removeprefix(f"http://127.0.0.1:{port}/").split("/")
        assert project == "demo-spirals"
        assert httpx.get(url, timeout=10).text == INDEX
        api = f"http://127.0.0.1:{port}/api/v1/projects/{entity}/{project}/runs"
        assert len(httpx.get(api, timeout=10).json()["items"]) == 5
    finally:
        demo.stop()


@pytest.mark.slow
def test_demo_with_no_ui_returns(tmp_path: Path) -> None:
    demo = Labbook(["demo", "--no-ui"], {}, code=DEMO)
    demo.wait_for("Its history:", timeout=240)
    assert demo.proc.wait(timeout=60) == 0
    assert not any("Serving the dashboard" in x for x in demo.lines)
    with Store.from_settings(Settings()) as store:
        assert [p.name for p in store.projects()] == ["demo-spirals"]
    # each run keeps what its training printed (its Logs tab) and its validation charts
    with labbook.Api() as api:
        runs = list(api.runs("demo-spirals"))
        assert len(runs) == 5
        for run in runs:
            log = run.file("output.log").download(tmp_path / run.id).read()
            assert "epoch 40/40 - loss: " in log and "val_accuracy: " in log
            columns = set(run.history().columns)
            assert {"val/confusion_matrix", "val/roc"} <= columns
