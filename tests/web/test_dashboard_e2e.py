"""The dashboard end to end: a real ``labbook server`` process (PostgreSQL where
``LABBOOK_TEST_POSTGRES_URL`` is set, else SQLite) with login on, seeded by real SDK runs that look
like the seeds' users' runs (a digits classifier swept over lr, batch size and optimizer, logging
loss and accuracy per epoch, printing, saving a file and logging a confusion matrix), driven in
Debian's Chromium: log in, sort, filter and group the runs table; chart three selected runs and
zoom; read a run's logs, download its file, see its confusion matrix; compare two runs and delete
one; watch a running run's chart grow. It writes screenshots of the main pages, into a temp
folder, or into ``docs/screenshots`` (the README's) when ``LABBOOK_SCREENSHOTS=docs/screenshots``
is set: a test run must not change tracked files.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import numpy as np
import pytest

from databases import PG_ENV, database
from webbuild import Labbook

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

USER = "alice"
PASSWORD = "correct horse battery staple"
PROJECT = "digits"
LIVE_PROJECT = "digits-live"
EPOCHS = 12
SCREENSHOTS = Path(tempfile.gettempdir()) / "labbook-e2e-screenshots"
TIMEOUT_MS = 20_000

# name → config: the seeds' sweep (a baseline, then lr, batch size, hidden units, optimizer
# changed), and a run that crashed (exit code 1) for the compare-and-delete test.
SWEEP: dict[str, dict[str, Any]] = {
    "baseline": {"lr": 0.001, "batch_size": 64, "optimizer": "adam", "hidden": 128},
    "lr-0.01": {"lr": 0.01, "batch_size": 64, "optimizer": "adam", "hidden": 128},
    "batch-128": {"lr": 0.003, "batch_size": 128, "optimizer": "adam", "hidden": 128},
    "hidden-256": {"lr": 0.008, "batch_size": 32, "optimizer": "adam", "hidden": 256},
    "sgd": {"lr": 0.05, "batch_size": 64, "optimizer": "sgd", "hidden": 128},
    "crashed": {"lr": 0.0005, "batch_size": 256, "optimizer": "sgd", "hidden": 128},
}
CRASHED = "crashed"

# One process makes every run in turn, as a sweep script would. argv[1]: the plan (a JSON file).
SEED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import labbook

    with open(sys.argv[1]) as f:
        plan = json.load(f)
    for spec in plan["runs"]:
        cfg = spec["config"]
        run = labbook.init(project=plan["project"], name=spec["name"],
                           config={**cfg, "epochs": plan["epochs"], "dataset": "digits"},
                           tags=["sweep"])
        rng = np.random.default_rng(spec["seed"])
        rate = 0.15 + 20 * cfg["lr"]
        for epoch in range(plan["epochs"]):
            loss = 2.3 * np.exp(-rate * (epoch + 1)) + 0.02 * rng.random()
            acc = 1.0 - loss / 2.5
            labbook.log({"epoch": epoch, "train/loss": loss, "train/accuracy": acc,
                         "val/loss": loss * 1.1, "val/accuracy": acc * 0.98})
            print(f"epoch {epoch}: loss={loss:.4f} val_accuracy={acc * 0.98:.4f}", flush=True)
        with open(spec["file"], "rb") as f:
            assert f.read()
        labbook.save(spec["file"])
        labbook.log({"confusion": labbook.plot.confusion_matrix(
            y_true=spec["y_true"], preds=spec["preds"], class_names=[str(d) for d in range(10)])})
        print(f"done {spec['name']}", flush=True)
        labbook.finish(exit_code=spec.get("exit_code", 0))
        sys.__stdout__.write(f"RUN {spec['name']} {run.id}\\n")
        sys.__stdout__.flush()
    """
)

# Two throwaway runs, for the workspace's bulk delete.
TRASH = textwrap.dedent(
    """
    import labbook

    for i in (1, 2):
        run = labbook.init(project="digits", name=f"trash-{i}", config={"lr": 0.1})
        labbook.log({"train/loss": 9.0})
        labbook.finish()
        print("RUN", run.id, flush=True)
    """
)

# A run that is still training: a step every half second until the stop file appears.
LIVE = textwrap.dedent(
    """
    import os, sys, time
    import labbook

    stop = sys.argv[1]
    run = labbook.init(project=sys.argv[2], name="still-training", config={"lr": 0.01})
    sys.__stdout__.write(f"RUN {run.id}\\n")
    sys.__stdout__.flush()
    step = 0
    deadline = time.monotonic() + 240
    while not os.path.exists(stop) and time.monotonic() < deadline:
        labbook.log({"train/loss": 1.0 / (step + 1)})
        step += 1
        time.sleep(0.5)
    labbook.finish()
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@dataclass
class Site:
    """The served dashboard and what was seeded into it."""

    url: str
    key: str
    client_env: dict[str, str]
    tmp: Path
    runs: dict[str, str] = field(default_factory=dict)  # name → run id
    files: dict[str, bytes] = field(default_factory=dict)  # run name → its saved file's bytes
    confusion: dict[str, list[list[int]]] = field(default_factory=dict)  # run name → counts

    def api(self, path: str) -> httpx.Response:
        return httpx.get(
            f"{self.url}/api/v1{path}", headers={"Authorization": f"Bearer {self.key}"}, timeout=30
        )

    def alive(self) -> list[str]:
        """Names of the seeded runs the server still holds (a test deletes one)."""
        listed = self.api(f"/projects/{USER}/{PROJECT}/runs?limit=1000").json()["items"]
        ids = {r["id"] for r in listed}
        return [name for name, rid in self.runs.items() if rid in ids]


def _plan(tmp: Path) -> tuple[dict[str, Any], dict[str, bytes], dict[str, list[list[int]]]]:
    """The runs to make: config, the file each saves, the predictions of its confusion matrix."""
    runs, files, confusion = [], {}, {}
    for seed, (name, config) in enumerate(SWEEP.items()):
        rng = np.random.default_rng(seed)
        y_true = rng.integers(0, 10, 200)
        wrong = rng.random(200) < (0.4 if name == CRASHED else 0.1)
        preds = np.where(wrong, rng.integers(0, 10, 200), y_true)
        counts = np.zeros((10, 10), dtype=int)
        np.add.at(counts, (y_true, preds), 1)
        confusion[name] = counts.tolist()
        # a text file with a line per layer, and bytes beyond ASCII: it must come back unchanged
        body = f"model summary of {name}\n" + "".join(
            f"layer {i}: dense {config['hidden']} → relu, ±{rng.random():.6f} µs\n"
            for i in range(40)
        )
        path = tmp / "files" / name / "model_summary.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body.encode())
        files[name] = path.read_bytes()
        spec = {
            "name": name,
            "config": config,
            "seed": seed,
            "file": str(path),
            "y_true": y_true.tolist(),
            "preds": preds.tolist(),
        }
        if name == CRASHED:
            spec["exit_code"] = 1
        runs.append(spec)
    return {"project": PROJECT, "epochs": EPOCHS, "runs": runs}, files, confusion


@contextmanager
def login_server(tmp: Path, tag: str) -> Iterator[tuple[str, str, dict[str, str]]]:
    """A ``labbook server`` over a fresh database (PostgreSQL where configured) with auth on:
    ``USER`` has ``PASSWORD`` and an API key. Yields (its URL, the key, the environment without
    any ``LABBOOK_`` variable, for clients); stopped and the database dropped at the end."""
    from labbook.server.webapp import PACKAGED_DIR

    if not (PACKAGED_DIR / "index.html").is_file():
        pytest.fail(f"no dashboard build in {PACKAGED_DIR}: cd web && npm ci && npm run build")
    backend = "postgresql" if os.environ.get(PG_ENV) else "sqlite"
    with database(backend, tmp, tag) as db:
        base = {k: v for k, v in os.environ.items() if not k.startswith("LABBOOK_")}
        env = {
            **base,
            **db.env,
            "LABBOOK_DIR": str(tmp / "server-data"),
            "LABBOOK_CONFIG_DIR": str(tmp / "server-config"),
            "LABBOOK_WEB_DIR": str(PACKAGED_DIR),
        }
        _cli(env, "users", "create", USER, "--password-stdin", "--db", db.url, stdin=PASSWORD)
        key = _cli(env, "keys", "create", USER, "--name", "e2e", "--db", db.url).split()[0]
        port = free_port()
        server = Labbook(["server", "--port", str(port)], env)
        try:
            server.wait_for("auth on", timeout=60)
            url = f"http://127.0.0.1:{port}"
            _wait_http(url, server)
            yield url, key, base
        finally:
            server.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """``labbook server`` (auth on: alice has a password and a key) over a fresh database, with
    the sweep's runs made by the SDK against it; stopped (and the database dropped) at the end."""
    tmp = tmp_path_factory.mktemp("dashboard")
    with login_server(tmp, "dash") as (url, key, base):
        client_env = {
            **base,
            "LABBOOK_BASE_URL": url,
            "LABBOOK_API_KEY": key,
            "LABBOOK_DIR": str(tmp / "client-data"),
            "LABBOOK_CONFIG_DIR": str(tmp / "client-config"),
            "LABBOOK_CAPTURE_REQUIREMENTS": "false",
            "LABBOOK_SYSTEM_METRICS": "false",
        }
        out = Site(url=url, key=key, client_env=client_env, tmp=tmp)
        plan, out.files, out.confusion = _plan(tmp)
        # as a user runs a sweep: a script file (its command shows on the run's page)
        (tmp / "train_digits.py").write_text(SEED)
        (tmp / "sweep.json").write_text(json.dumps(plan))
        done = subprocess.run(
            [sys.executable, "train_digits.py", "sweep.json"],
            env=client_env,
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        for line in done.stdout.splitlines():
            if line.startswith("RUN "):
                _, name, rid = line.split()
                out.runs[name] = rid
        assert list(out.runs) == list(SWEEP), done.stdout
        yield out


def _wait_http(url: str, server: Labbook) -> None:
    for _ in range(300):
        try:
            httpx.get(url + "/api/v1/openapi.json", timeout=2)
            return
        except httpx.TransportError:
            if server.proc.poll() is not None:
                raise AssertionError("\n".join(server.lines)) from None
            time.sleep(0.1)
    raise AssertionError("the server never answered:\n" + "\n".join(server.lines))


def _login(page: Any, site: Site) -> None:
    """Log the page's browser context in through the API (the login form has its own test)."""
    r = page.context.request.post(
        site.url + "/api/v1/session", data={"username": USER, "password": PASSWORD}
    )
    assert r.ok, r.text()


def _shot(page: Any, name: str) -> None:
    folder = Path(os.environ.get("LABBOOK_SCREENSHOTS") or SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path))
    assert path.stat().st_size > 10_000, f"{path}: an empty page?"


def _query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def _table_names(page: Any) -> list[str]:
    return [t.strip() for t in page.locator(".grid tbody tr .name a").all_inner_texts()]


def _wait_names(page: Any, want: list[str]) -> None:
    """Until the runs table lists exactly ``want``, in that order."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        got = _table_names(page)
        if got == want:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"table lists {got}, not {want}")
        page.wait_for_timeout(100)


def _panel(page: Any, metric: str) -> Any:
    return page.locator(f'.panel[data-metric="{metric}"]')


# ---------------------------------------------------------------------------------- the tests
def test_log_in_open_the_project_sort_filter_and_group(site: Site, page: Any) -> None:
    page.goto(site.url + f"/{USER}/{PROJECT}")
    # not logged in: the app sends the visitor to the login page, and back afterwards
    page.wait_for_url(re.compile(r"/login\?next="), timeout=TIMEOUT_MS)
    page.fill("#user", USER)
    page.fill("#password", "wrong password")
    page.click("button[type=submit]")
    page.get_by_role("alert").filter(has_text="Wrong user name or password").wait_for()
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(site.url + f"/{USER}/{PROJECT}", timeout=TIMEOUT_MS)

    # the projects page lists the project with its run count; it opens the workspace
    page.click("header >> text=Projects")
    row = page.locator("tr", has=page.get_by_role("link", name=PROJECT, exact=True))
    row.wait_for()
    alive = site.alive()
    assert row.locator("td.num").inner_text() == str(len(alive))
    assert page.locator("header").inner_text().count(USER) == 1  # the account shows who
    _shot(page, "projects")
    row.get_by_role("link", name=PROJECT, exact=True).click()
    page.wait_for_url(site.url + f"/{USER}/{PROJECT}")
    # newest first by default
    _wait_names(page, list(reversed(alive)))

    # sort by lr: ascending, then descending (the URL holds it)
    lr = page.locator("th[title^='config.lr ']")
    lr.click()
    by_lr = sorted(alive, key=lambda n: SWEEP[n]["lr"])
    _wait_names(page, by_lr)
    assert _query(page)["sort"] == ["config.lr"]
    assert lr.get_attribute("aria-sort") == "ascending"
    lr.click()
    _wait_names(page, by_lr[::-1])
    assert _query(page)["sort"] == ["-config.lr"]

    # the filter bar: an error shows inline, a valid filter narrows the table
    bar = page.get_by_label("filter runs")
    bar.fill("config.lr >")
    assert bar.get_attribute("aria-invalid") == "true"
    bar.fill("config.lr > 0.005")
    bar.press("Enter")
    fast = [n for n in by_lr[::-1] if SWEEP[n]["lr"] > 0.005]
    assert 0 < len(fast) < len(alive)
    _wait_names(page, fast)
    assert _query(page)["q"] == ["config.lr > 0.005"]
    foot = page.locator(".tablefoot")
    assert foot.inner_text().startswith(f"{len(fast)} run")

    # group by optimizer: a row per value with its run count; the filter still applies
    page.get_by_label("group runs by").select_option("config.optimizer")
    groups = page.locator(".grid tbody tr.group")
    groups.first.wait_for()
    assert _query(page)["group"] == ["config.optimizer"]
    want: dict[str, int] = {}
    for n in fast:
        want[SWEEP[n]["optimizer"]] = want.get(SWEEP[n]["optimizer"], 0) + 1
    got: dict[str, int] = {}
    for i in range(groups.count()):
        label = groups.nth(i).locator("td").nth(1).inner_text()
        m = re.fullmatch(r"optimizer = (\w+) \((\d+) runs?\)", label.strip())
        assert m, label
        got[m.group(1)] = int(m.group(2))
    assert got == want
    assert sorted(_table_names(page)) == sorted(fast)
    # a group collapses on a click: its runs leave the table
    first = groups.nth(0)
    collapsed = re.match(r"optimizer = (\w+)", first.locator("td").nth(1).inner_text())
    assert collapsed
    first.click()
    assert first.get_attribute("aria-expanded") == "false"
    assert sorted(_table_names(page)) == sorted(
        n for n in fast if SWEEP[n]["optimizer"] != collapsed.group(1)
    )


def test_three_selected_runs_draw_three_lines_and_a_zoom_refetches(site: Site, page: Any) -> None:
    _login(page, site)
    page.goto(site.url + f"/{USER}/{PROJECT}")
    alive = site.alive()
    loss = _panel(page, "train/loss")
    # no selection: the first runs of the table are charted, one line each
    page.wait_for_selector(f'.panel[data-metric="train/loss"][data-lines="{len(alive)}"]')
    assert loss.get_attribute("data-points") == str(EPOCHS)
    # panels in sections by prefix
    sections = page.locator("details.section > summary").all_inner_texts()
    assert [s.split()[0].lower() for s in sections] == ["charts", "train", "val"]

    three = [n for n in alive if n != CRASHED][:3]
    for name in three:
        page.get_by_label(f"select {name}", exact=True).click()
    assert _query(page)["sel"] == [",".join(site.runs[n] for n in three)]
    for metric in ("train/loss", "train/accuracy", "val/loss", "val/accuracy"):
        page.wait_for_selector(f'.panel[data-metric="{metric}"][data-lines="3"]')
    page.get_by_text("showing the 3 selected runs").wait_for()
    # each selected row carries its line's colour
    swatches = page.locator(".grid tbody tr.selected .swatch")
    colours = {
        swatches.nth(i).evaluate("e => getComputedStyle(e).backgroundColor") for i in range(3)
    }
    assert len(colours) == 3
    page.mouse.move(0, 0)
    _shot(page, "workspace")

    # drag across the middle of a panel: the zoom goes into the URL (every panel follows it)
    # and the visible range is fetched again at full fidelity
    over = loss.locator(".u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    with page.expect_request(
        lambda r: "/envelopes?" in r.url and "step_min=" in r.url, timeout=TIMEOUT_MS
    ) as refetch:
        page.mouse.move(box["x"] + box["width"] * 0.3, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
        page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
        page.mouse.up()
    zoom = [float(v) for v in _query(page)["zoom"][0].split(",")]
    assert 0 < zoom[0] < zoom[1] < EPOCHS - 1
    asked = parse_qs(urlparse(refetch.value.url).query)
    assert int(asked["step_min"][0]) == int(np.floor(zoom[0]))
    assert int(asked["step_max"][0]) == int(np.ceil(zoom[1]))
    assert set(asked["runs"][0].split(",")) == {site.runs[n] for n in three}
    # the panels now hold the zoomed range's steps only
    page.wait_for_function(
        """([lo, hi]) => [...document.querySelectorAll('.panel[data-last-x]')].every(p =>
            +p.dataset.firstX >= lo && +p.dataset.lastX <= hi && p.dataset.lines === '3')""",
        arg=[np.floor(zoom[0]), np.ceil(zoom[1])],
        timeout=TIMEOUT_MS,
    )
    assert int(loss.get_attribute("data-points")) < EPOCHS
    # Reset zoom: the whole range again
    page.get_by_role("button", name="Reset zoom").click()
    assert "zoom" not in _query(page)
    page.wait_for_selector(f'.panel[data-metric="val/loss"][data-points="{EPOCHS}"]')


def test_a_run_page_shows_its_logs_files_and_confusion_matrix(site: Site, page: Any) -> None:
    _login(page, site)
    name = "baseline"
    run_url = site.url + f"/{USER}/{PROJECT}/runs/{site.runs[name]}"
    page.goto(run_url)
    page.get_by_role("heading", name=name).wait_for()
    # the overview: config and the run's metadata
    page.locator(".kv td", has_text="batch_size").first.wait_for()
    kv = dict(
        zip(
            page.locator(".kv td:nth-child(1)").all_inner_texts(),
            page.locator(".kv td:nth-child(2)").all_inner_texts(),
            strict=True,
        )
    )
    assert kv["lr"] == "0.001" and kv["optimizer"] == "adam" and kv["epochs"] == str(EPOCHS)
    _shot(page, "run")

    # logs: what the script printed, searchable
    page.get_by_role("tab", name="Logs").click()
    log = page.locator(".logview")
    log.get_by_text("epoch 3: loss=").wait_for()
    search = page.get_by_label("search the log")
    search.fill("val_accuracy")
    page.get_by_text(f"1 of {EPOCHS}", exact=True).wait_for()
    assert log.locator("mark").count() >= 1
    assert set(log.locator("mark").all_inner_texts()) == {"val_accuracy"}
    search.fill(f"done {name}")
    page.get_by_text("1 of 1", exact=True).wait_for()
    search.fill("no such line anywhere")
    page.get_by_text("no match", exact=True).wait_for()

    # files: the saved file previews, and downloads byte for byte
    page.goto(run_url + "?tab=files&file=model_summary.txt")
    preview = page.locator("pre.preview")
    preview.wait_for()
    assert preview.inner_text().startswith(f"model summary of {name}")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download").click()
    assert dl.value.suggested_filename == "model_summary.txt"
    assert Path(dl.value.path()).read_bytes() == site.files[name]

    # media: the confusion matrix as a heat map with the logged counts
    page.get_by_role("tab", name="Media").click()
    heat = page.get_by_role("table", name="confusion matrix")
    heat.wait_for()
    header = heat.locator("thead th").all_inner_texts()[1:]
    assert header == [str(d) for d in range(10)]
    rows = heat.locator("tbody tr")
    counts = [[int(t) for t in rows.nth(i).locator("td").all_inner_texts()] for i in range(10)]
    assert counts == site.confusion[name]
    _shot(page, "run-media")


def test_compare_two_runs_then_delete_one(site: Site, page: Any) -> None:
    _login(page, site)
    keep, doomed = "baseline", CRASHED
    # from the workspace: select the two, press Compare
    page.goto(site.url + f"/{USER}/{PROJECT}")
    for name in (keep, doomed):
        page.get_by_label(f"select {name}", exact=True).click()
    page.get_by_role("button", name="Compare 2").click()
    page.wait_for_url(re.compile(r"/compare\?runs="))
    assert _query(page)["runs"] == [f"{site.runs[keep]},{site.runs[doomed]}"]
    page.get_by_role("heading", name="Compare 2 runs").wait_for()

    # only the differences by default: the config keys that differ, highlighted
    config = page.locator(".cols2 > div").first
    differs = config.locator("tr.differs td.mono:first-child")
    differs.first.wait_for()
    want = sorted(k for k in SWEEP[keep] if SWEEP[keep][k] != SWEEP[doomed][k])
    assert sorted(differs.all_inner_texts()) == want
    lr_row = config.locator("tr", has=page.locator("td.mono", has_text=re.compile("^lr$")))
    cells = lr_row.locator("td").all_inner_texts()
    assert [float(v) for v in cells[1:]] == [SWEEP[keep]["lr"], SWEEP[doomed]["lr"]]
    # with every key shown, the same ones are plain and the differing one stands out
    page.get_by_label("only differences").uncheck()
    same = config.locator("tr", has=page.locator("td.mono", has_text=re.compile("^epochs$")))
    assert same.get_attribute("class") in ("", None)
    bg = "e => getComputedStyle(e.querySelector('td')).backgroundColor"
    assert lr_row.evaluate(bg) != same.evaluate(bg)
    page.get_by_label("only differences").check()
    # the curves of both, overlaid (panels load as they scroll into sight)
    _panel(page, "train/loss").scroll_into_view_if_needed()
    page.wait_for_selector('.panel[data-metric="train/loss"][data-lines="2"]')
    page.mouse.wheel(0, -5000)
    _shot(page, "compare")

    # delete the crashed run: asked first, then gone from the comparison and the table
    card = page.locator(".card", has=page.get_by_role("link", name=doomed, exact=True))
    card.get_by_role("button", name="delete").click()
    dialog = page.get_by_role("dialog")
    assert "cannot be undone" in dialog.inner_text()
    dialog.get_by_role("button", name="Cancel").click()
    assert site.api(f"/projects/{USER}/{PROJECT}/runs/{site.runs[doomed]}").status_code == 200
    card.get_by_role("button", name="delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_url(re.compile(rf"/compare\?runs={site.runs[keep]}$"))
    assert site.api(f"/projects/{USER}/{PROJECT}/runs/{site.runs[doomed]}").status_code == 404

    page.get_by_role("link", name=PROJECT).click()
    page.wait_for_url(site.url + f"/{USER}/{PROJECT}")
    alive = site.alive()
    assert doomed not in alive and keep in alive
    _wait_names(page, list(reversed(alive)))
    assert page.locator(".tablefoot").inner_text().startswith(f"{len(alive)} runs")


def test_deleting_selected_runs_in_the_workspace_asks_first(site: Site, page: Any) -> None:
    """The workspace's own delete (bulk, with confirmation) on a run made for it."""
    done = subprocess.run(
        [sys.executable, "-c", TRASH],
        env=site.client_env,
        cwd=site.tmp,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    trash = [line.split()[1] for line in done.stdout.splitlines() if line.startswith("RUN ")]
    assert len(trash) == 2
    _login(page, site)
    page.goto(site.url + f"/{USER}/{PROJECT}")
    for i in (1, 2):
        page.get_by_label(f"select trash-{i}", exact=True).click()
    page.get_by_role("button", name="Delete 2").click()
    dialog = page.get_by_role("dialog", name="Delete 2 runs?")
    assert "trash-1" in dialog.inner_text() and "trash-2" in dialog.inner_text()
    dialog.get_by_role("button", name="Delete").click()
    page.get_by_role("status").filter(has_text="Deleted 2 runs.").wait_for()
    alive = site.alive()
    _wait_names(page, list(reversed(alive)))
    for rid in trash:
        assert site.api(f"/projects/{USER}/{PROJECT}/runs/{rid}").status_code == 404


@pytest.fixture
def still_training(site: Site) -> Iterator[str]:
    """A run that logs a step every half second until the test ends; its id."""
    stop = site.tmp / "stop-live"
    stop.unlink(missing_ok=True)
    proc = Labbook([str(stop), LIVE_PROJECT], site.client_env, code=LIVE)
    try:
        line = proc.wait_for("RUN ", timeout=60)
        yield line.split()[1]
    finally:
        stop.touch()
        try:
            proc.proc.wait(timeout=60)
        finally:
            proc.stop()


def _last_x(page: Any, metric: str) -> float:
    v = _panel(page, metric).get_attribute("data-last-x")
    return float(v) if v is not None else -1.0


def test_a_running_runs_chart_grows_without_a_reload(
    site: Site, page: Any, still_training: str
) -> None:
    _login(page, site)
    page.goto(site.url + f"/{USER}/{LIVE_PROJECT}")
    page.locator(".tablefoot .badge.running").wait_for()  # the table knows it runs: "live"
    page.wait_for_selector('.panel[data-metric="train/loss"][data-last-x]')
    page.evaluate("window.__same_page = true")
    first = _last_x(page, "train/loss")
    # new steps arrive by polling (only the steps after the last one seen), no reload
    with page.expect_request(
        lambda r: "/envelopes?" in r.url and "step_min=" in r.url, timeout=TIMEOUT_MS
    ) as poll:
        page.wait_for_function(
            """([x]) => +document.querySelector('.panel[data-metric="train/loss"]')
                .dataset.lastX >= x""",
            arg=[first + 3],
            timeout=TIMEOUT_MS,
        )
    asked = parse_qs(urlparse(poll.value.url).query)
    assert asked["runs"] == [still_training] and int(asked["step_min"][0]) > 0
    grown = _last_x(page, "train/loss")
    page.wait_for_function(
        """([x]) => +document.querySelector('.panel[data-metric="train/loss"]')
            .dataset.lastX > x""",
        arg=[grown],
        timeout=TIMEOUT_MS,
    )
    assert page.evaluate("window.__same_page") is True
    assert int(_panel(page, "train/loss").get_attribute("data-points")) > first + 3


def test_the_teams_page_creates_a_team_and_lists_its_members(site: Site, page: Any) -> None:
    _login(page, site)
    page.goto(site.url + "/teams")
    page.get_by_label("team name").fill("vision-lab")
    page.get_by_role("button", name="Create team").click()
    members = page.get_by_label("members of vision-lab")
    members.wait_for(timeout=15_000)
    assert members.inner_text().split() == [USER, "admin"]
    assert site.api("/teams/vision-lab/members").json() == [
        {"team": "vision-lab", "user": USER, "role": "admin"}
    ]
    # adding someone who does not exist says so, and the list stays as it was
    page.get_by_label("user to add to vision-lab").fill("nobody")
    page.get_by_role("button", name="Add / set role").click()
    page.get_by_text("no user 'nobody'").wait_for(timeout=15_000)
    assert members.inner_text().split() == [USER, "admin"]
