"""``labbook demo`` end to end in the browser: every dashboard page works on the demo's own runs.

The demo runs as a user runs it: ``labbook demo --no-browser --port P`` in a scratch git checkout
with one local change (so its runs carry a commit and a diff), into a temp store, once for each of
its two workloads: the digits CNNs with Keras on torch (what it trains with the examples extra,
skipped without it) and the numpy spirals (what it trains without). It ends by serving the
dashboard; the tests drive
Debian's Chromium through the pages on those runs: projects and teams, the workspace (the runs
table sorted, filtered and grouped by the demo's config columns; chart panels drawn, smoothed, on
the epoch axis, on a log scale, zoomed; parallel coordinates; parameter importance), a run's every
tab (overview with git, charts, system, logs, files, media), the compare page, and last the login
page once the store holds a password (auth turns on in the running server, no restart).

What the pages show is checked against what the server's API holds for the same runs (history,
files, media), and no page may log a console error, throw, fail a request or get an HTTP error.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import numpy as np
import pytest

from webbuild import Labbook

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(1200)]

TIMEOUT_MS = 20_000
DEMO_TIMEOUT_S = 900  # the Keras demo: about a minute on two idle cores, minutes on busy ones
REMOTE = "https://git.example.com/lab/digits.git"
CHANGE = "- try a smaller learning rate next"
PASSWORD = "demo password, long enough"


@dataclass(frozen=True)
class Kind:
    """What the demo logs, by the project it logs to (which of its two workloads ran)."""

    group: str  # a text config key to group by and filter on
    printed: str  # a line its training prints, with {epochs}
    preview: str  # a file every run has, to preview
    media: frozenset[str]  # kinds of media panels every run has


KINDS = {
    "digits": Kind(
        "optimizer",
        "Epoch {epochs}/{epochs}",
        "predictions.csv",
        frozenset({"plot", "image", "table", "histogram"}),
    ),
    "demo-spirals": Kind(
        "activation", "epoch {epochs}/{epochs}", "config.yaml", frozenset({"plot"})
    ),
}


@dataclass
class Demo:
    url: str  # the address the demo printed (its project's workspace)
    base: str
    entity: str
    project: str
    kind: Kind
    runs: list[dict[str, Any]]  # the API's runs, oldest first
    repo: Path
    head: str
    env: dict[str, str]
    seconds: float

    def api(self, path: str) -> Any:
        r = httpx.get(f"{self.base}/api/v1{path}", timeout=30)
        assert r.status_code == 200, (path, r.status_code, r.text)
        return r.json()

    def run_api(self, run: dict[str, Any], path: str = "") -> Any:
        return self.api(f"/projects/{self.entity}/{self.project}/runs/{run['id']}{path}")

    def file(self, run: dict[str, Any], path: str) -> bytes:
        """A run's file as stored (its bytes, whatever its type)."""
        r = httpx.get(
            f"{self.base}/api/v1/projects/{self.entity}/{self.project}/runs/{run['id']}/files/{path}",
            timeout=30,
        )
        assert r.status_code == 200, (path, r.status_code)
        return r.content

    def path(self, rest: str = "") -> str:
        return f"{self.base}/{self.entity}/{self.project}{rest}"

    @property
    def varied(self) -> set[str]:
        """The config keys whose values differ between the runs (the table's default columns)."""
        keys = {k for r in self.runs for k in r["config"]}
        return {k for k in keys if len({json.dumps(r["config"].get(k)) for r in self.runs}) > 1}

    @property
    def epochs(self) -> int:
        return int(self.runs[0]["config"]["epochs"])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _checkout(path: Path) -> str:
    """A project checkout to run the demo in: one commit, a remote, one uncommitted change."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Lab",
        "GIT_AUTHOR_EMAIL": "lab@example.com",
        "GIT_COMMITTER_NAME": "Lab",
        "GIT_COMMITTER_EMAIL": "lab@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=path, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    path.mkdir()
    git("init", "-q", "-b", "main")
    git("remote", "add", "origin", REMOTE)
    (path / "NOTES.md").write_text("# digits\n")
    git("add", "NOTES.md")
    git("commit", "-q", "-m", "notes")
    (path / "NOTES.md").write_text(f"# digits\n{CHANGE}\n")
    return git("rev-parse", "HEAD")


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any LABBOOK_ setting (a developer's login), plus
    ``extra``: the child processes see exactly the demo's settings."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("LABBOOK_")}, **extra}


# `labbook demo` as a machine without the examples extra runs it (the CLI's own spirals branch)
WITHOUT_KERAS = (
    "import sys, labbook.cli.demo as d; d.keras_available = lambda: False; "
    "from labbook.cli.main import main; sys.argv[0] = 'labbook'; main()"
)


@pytest.fixture(scope="module", params=["digits", "spirals"])
def demo(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Demo]:
    """``labbook demo`` run to its end (the dashboard served on its runs); stopped afterwards."""
    from labbook.cli.demo import keras_available
    from labbook.server.webapp import PACKAGED_DIR

    if not (PACKAGED_DIR / "index.html").is_file():
        pytest.fail(f"no dashboard build in {PACKAGED_DIR}: cd web && npm ci && npm run build")
    if request.param == "digits" and not keras_available():
        pytest.skip("the digits demo needs the examples extra (keras, torch, scikit-learn)")
    tmp = tmp_path_factory.mktemp("demo")
    repo = tmp / "lab"
    head = _checkout(repo)
    env = _clean_env(
        {
            "LABBOOK_DIR": str(tmp / "data"),
            "LABBOOK_CONFIG_DIR": str(tmp / "config"),
            "LABBOOK_WEB_DIR": str(PACKAGED_DIR),
            "KERAS_BACKEND": "torch",
        }
    )
    port = free_port()
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:  # the child's environment is exactly env
        for k in [k for k in os.environ if k not in env]:
            mp.delenv(k)
        code = WITHOUT_KERAS if request.param == "spirals" else None
        proc = Labbook(["demo", "--no-browser", "--port", str(port)], env, code=code, cwd=repo)
    try:
        line = proc.wait_for(f"labbook demo: http://127.0.0.1:{port}/", timeout=DEMO_TIMEOUT_S)
        seconds = time.monotonic() - started
        url = line.split()[2]
        entity, project = urlparse(url).path.strip("/").split("/")
        assert project == {"digits": "digits", "spirals": "demo-spirals"}[request.param], line
        base = f"http://127.0.0.1:{port}"
        listed = httpx.get(
            f"{base}/api/v1/projects/{entity}/{project}/runs?limit=100", timeout=30
        ).json()["items"]
        runs = sorted(listed, key=lambda r: r["created_at"])
        assert len(runs) == 5 and all(r["state"] == "finished" for r in runs), runs
        print(f"labbook demo logged {len(runs)} {project} runs and served them in {seconds:.0f} s")
        yield Demo(url, base, entity, project, KINDS[project], runs, repo, head, env, seconds)
    finally:
        proc.stop()


@dataclass
class Quiet:
    """What went wrong on the page: console errors, uncaught errors, failed requests, HTTP >= 400.

    A request the app cancels itself (``net::ERR_ABORTED``: a view changed under a fetch) is no
    failure. ``allow`` holds statuses a test expects (the login page's 401s).
    """

    problems: list[str] = field(default_factory=list)
    allow: set[int] = field(default_factory=set)

    def console(self, msg: Any) -> None:
        if msg.type != "error":
            return
        status = re.search(r"status of (\d{3})", msg.text)
        if status and int(status.group(1)) in self.allow:
            return
        self.problems.append(f"console error: {msg.text} ({msg.location.get('url')})")

    def response(self, r: Any) -> None:
        if r.status >= 400 and r.status not in self.allow:
            self.problems.append(f"HTTP {r.status} {r.request.method} {r.url}")

    def failed(self, r: Any) -> None:
        if r.failure != "net::ERR_ABORTED":
            self.problems.append(f"request failed: {r.method} {r.url}: {r.failure}")


@pytest.fixture
def quiet(page: Any) -> Iterator[Quiet]:
    """Watches the test's page; the test fails when anything went wrong on it."""
    q = Quiet()
    page.on("console", q.console)
    page.on("pageerror", lambda e: q.problems.append(f"page error: {e}"))
    page.on("requestfailed", q.failed)
    page.on("response", q.response)
    yield q
    assert not q.problems, "\n".join(q.problems)


# ------------------------------------------------------------------------------------ helpers
def _query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def _marked(page: Any, mark: str) -> None:
    page.wait_for_function(
        "m => performance.getEntriesByName(m).length > 0", arg=mark, timeout=TIMEOUT_MS
    )


def _panel(page: Any, metric: str) -> Any:
    return page.locator(f'.panel[data-metric="{metric}"]')


def _drawn(page: Any, metric: str, lines: int, points: int | None = None) -> Any:
    """The panel once it draws ``lines`` lines (of ``points`` x values)."""
    panel = _panel(page, metric)
    panel.scroll_into_view_if_needed()
    sel = f'.panel[data-metric="{metric}"][data-lines="{lines}"]'
    if points is not None:
        sel += f'[data-points="{points}"]'
    page.wait_for_selector(sel, timeout=TIMEOUT_MS)
    return panel


def _table(page: Any) -> list[dict[str, str]]:
    """The runs table as shown: a dict per run row, field → the cell's exact value (its title)."""
    return page.evaluate(
        """() => {
        const fields = [...document.querySelectorAll('.grid thead th')]
            .map(th => (th.getAttribute('title') || '').split(' (')[0]);
        return [...document.querySelectorAll('.grid tbody tr')]
            .filter(tr => tr.querySelector('.name a'))
            .map(tr => {
                const o = {};
                [...tr.children].forEach((td, i) => {
                    if (fields[i]) o[fields[i]] = td.getAttribute('title') ?? td.innerText;
                });
                o.name = tr.querySelector('.name a').innerText.trim();
                return o;
            });
        }"""
    )


def _wait_table(page: Any, names: list[str], filled: tuple[str, ...] = ()) -> list[dict[str, str]]:
    """The table once it lists the runs ``names`` with a value in each of the ``filled`` fields
    (the default columns come with a second request, once the project's keys are known)."""
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while True:
        rows = _table(page)
        if sorted(r["name"] for r in rows) == sorted(names) and all(
            r.get(f) for r in rows for f in filled
        ):
            return rows
        if time.monotonic() > deadline:
            raise AssertionError(f"table lists {[r['name'] for r in rows]}, not {names}")
        page.wait_for_timeout(100)


def _same(shown: str, value: Any) -> bool:
    """Whether a cell's text shows ``value`` (numbers to the digits shown)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return shown == str(value)
    try:
        return math.isclose(float(shown), value, rel_tol=1e-3, abs_tol=1e-12)
    except ValueError:
        return False


def _kv(table: Any) -> dict[str, str]:
    table.wait_for()
    keys = table.locator("td:nth-child(1)").all_inner_texts()
    return dict(zip(keys, table.locator("td:nth-child(2)").all_inner_texts(), strict=True))


def _history(demo: Demo, run: dict[str, Any], key: str) -> tuple[list[int], list[float]]:
    h = demo.run_api(run, f"/history?keys={key}&limit=10000")["keys"][key]
    return h["steps"], h["values"]


def _ema(ys: list[float], w: float) -> list[float]:
    """The dashboard's smoothing (web/src/lib/smoothing.ts): a debiased EMA."""
    out, acc, debias = [], 0.0, 1.0
    for y in ys:
        acc = acc * w + (1 - w) * y
        debias *= w
        out.append(acc / (1 - debias) if w else y)
    return out


def _tooltip(page: Any, panel: Any, at: float) -> tuple[float, dict[str, float]]:
    """Hover ``at`` (0..1) across the panel's plot: the x under the cursor and each line's value."""
    over = panel.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    page.mouse.move(box["x"] + box["width"] * at, box["y"] + box["height"] / 2, steps=3)
    tip = page.locator(".tooltip[role=tooltip]")
    tip.wait_for(state="visible", timeout=TIMEOUT_MS)
    x = float(tip.locator(".x").first.inner_text().split()[-1])
    names = tip.locator(".it .n").all_inner_texts()
    values = [float(v) for v in tip.locator(".it .v").all_inner_texts()]
    return x, dict(zip(names, values, strict=True))


def _inked(page: Any, panel: Any, rgb: list[int]) -> None:
    """Until the panel's chart shows pixels of the colour ``rgb`` (its run's line, or dot)."""
    page.wait_for_function(
        """([c, [r, g, b]]) => {
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 0; i < d.length; i += 4) {
                const off = Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b);
                if (d[i + 3] > 128 && off < 60) n++;
            }
            return n >= 8; }""",
        arg=[panel.locator("canvas").first.element_handle(), rgb],
        timeout=TIMEOUT_MS,
    )


def _coloured(locator: Any) -> int:
    """Pixels of a canvas in a saturated colour: lines drawn, not the grey axes, grid or text."""
    return int(
        locator.evaluate(
            """c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                let n = 0;
                for (let i = 0; i < d.length; i += 4) {
                    const hi = Math.max(d[i], d[i + 1], d[i + 2]);
                    const lo = Math.min(d[i], d[i + 1], d[i + 2]);
                    if (d[i + 3] > 128 && hi - lo > 60) n++;
                }
                return n; }"""
        )
    )


# -------------------------------------------------------------------------------------- tests
def test_the_demo_ends_serving_its_projects_and_teams(demo: Demo, page: Any, quiet: Quiet) -> None:
    # the address the demo printed opens its project's workspace, no login (a local store)
    page.goto(demo.url)
    _wait_table(page, [r["name"] for r in demo.runs])
    page.click("header >> text=Projects")
    row = page.locator("tr", has=page.get_by_role("link", name=demo.project, exact=True))
    row.wait_for()
    assert row.locator("td.num").inner_text() == "5"
    assert demo.entity in row.inner_text()
    row.get_by_role("link", name=demo.project, exact=True).click()
    page.wait_for_url(demo.url)
    _wait_table(page, [r["name"] for r in demo.runs])

    # the local admin's teams: none yet; one made here lists its admin
    page.goto(demo.base + "/teams")
    page.get_by_text(f"You are {demo.entity} (site admin)").wait_for()
    page.get_by_label("team name").fill("demo-lab")
    page.get_by_role("button", name="Create team").click()
    members = page.get_by_label("members of demo-lab")
    members.wait_for(timeout=TIMEOUT_MS)
    assert members.inner_text().split() == [demo.entity, "admin"]


def test_the_runs_table_has_the_demos_config_and_sorts_filters_groups(
    demo: Demo, page: Any, quiet: Quiet
) -> None:
    page.goto(demo.url)
    _marked(page, "lb:table-ready")
    columns = tuple(f"config.{k}" for k in sorted(demo.varied))
    rows = _wait_table(page, [r["name"] for r in demo.runs], columns)
    by_name = {r["name"]: r for r in demo.runs}
    # a column for each config key the demo varies, each cell its run's value
    for key in demo.varied:
        for row in rows:
            assert _same(row[f"config.{key}"], by_name[row["name"]]["config"][key]), (key, row)

    # sort by a varied number: ascending, then descending
    numeric = sorted(k for k in demo.varied if isinstance(demo.runs[0]["config"][k], int | float))
    key = numeric[0]
    head = page.locator(f"th[title^='config.{key} ']")
    head.click()
    assert _query(page)["sort"] == [f"config.{key}"]
    page.wait_for_function(
        "() => document.querySelector('.grid thead th[aria-sort]') !== null", timeout=TIMEOUT_MS
    )
    for order in ("ascending", "descending"):
        page.wait_for_selector(f"th[title^='config.{key} '][aria-sort='{order}']")
        page.wait_for_timeout(300)  # the table's new order arrives with its request
        shown = [float(r[f"config.{key}"]) for r in _table(page)]
        assert shown == sorted(shown, reverse=order == "descending"), (order, shown)
        if order == "ascending":
            head.click()

    # filter on the text key: the runs with its rarer value
    group = demo.kind.group
    values = [r["config"][group] for r in demo.runs]
    rare = min(set(values), key=values.count)
    bar = page.get_by_label("filter runs")
    bar.fill(f'config.{group} = "{rare}"')
    bar.press("Enter")
    want = [r["name"] for r in demo.runs if r["config"][group] == rare]
    _wait_table(page, want)
    assert page.locator(".tablefoot").inner_text().startswith(f"{len(want)} run")
    bar.fill("")
    bar.press("Enter")
    _wait_table(page, [r["name"] for r in demo.runs])

    # group by it: a row per value with its run count
    page.get_by_label("group runs by").select_option(f"config.{group}")
    groups = page.locator(".grid tbody tr.group")
    groups.first.wait_for()
    got = {}
    for label in groups.locator("td:nth-child(2)").all_inner_texts():
        m = re.fullmatch(rf"{group} = (\S+) \((\d+) runs?\)", label.strip())
        assert m, label
        got[m.group(1)] = int(m.group(2))
    assert got == {v: values.count(v) for v in set(values)}


def test_the_charts_draw_smooth_take_the_epoch_axis_a_log_scale_and_zoom(
    demo: Demo, page: Any, quiet: Quiet
) -> None:
    page.goto(demo.url)
    _marked(page, "lb:charts-drawn")
    loss = _drawn(page, "loss", 5, demo.epochs)
    steps = {r["name"]: _history(demo, r, "loss") for r in demo.runs}

    # the tooltip reads each run's logged value at the step under the cursor ...
    x, shown = _tooltip(page, loss, 0.55)
    for name, (st, ys) in steps.items():
        i = max(j for j, s in enumerate(st) if s <= x)
        assert math.isclose(shown[name], ys[i], rel_tol=1e-4), (name, shown[name], ys[i])
    # ... and, smoothed, their debiased moving average
    slider = page.get_by_label("smoothing")
    slider.focus()
    for _ in range(6):
        slider.press("PageUp")
    w = float(_query(page)["smooth"][0])
    assert 0.3 < w < 0.99
    page.mouse.move(0, 0)
    x, smoothed = _tooltip(page, loss, 0.55)
    for name, (st, ys) in steps.items():
        i = max(j for j, s in enumerate(st) if s <= x)
        assert math.isclose(smoothed[name], _ema(ys, w)[i], rel_tol=1e-4), name
    assert any(smoothed[n] != pytest.approx(shown[n]) for n in shown)

    # log scale: the panels' y axis becomes logarithmic (over the values logged), and back
    page.get_by_label("log scale").check()
    assert _query(page)["log"] == ["1"]
    scale = loss.locator("[data-y-scale='log']")
    scale.wait_for(timeout=TIMEOUT_MS)
    lo, hi = (float(scale.get_attribute(a) or "nan") for a in ("data-y-min", "data-y-max"))
    values = [y for _, ys in steps.values() for y in ys]
    assert 0 < lo <= min(values) and hi >= max(values), (lo, hi)
    page.get_by_label("log scale").uncheck()
    loss.locator("[data-y-scale='linear']").wait_for(timeout=TIMEOUT_MS)

    # drag across a panel: the zoom goes into the URL and the range is fetched again
    over = loss.locator(".u-over")
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    with page.expect_request(
        lambda r: "/envelopes?" in r.url and "step_min=" in r.url, timeout=TIMEOUT_MS
    ):
        page.mouse.move(box["x"] + box["width"] * 0.3, y)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
        page.mouse.move(box["x"] + box["width"] * 0.7, y, steps=5)
        page.mouse.up()
    zoom = [float(v) for v in _query(page)["zoom"][0].split(",")]
    assert 0 < zoom[0] < zoom[1] < demo.epochs - 1
    page.wait_for_function(
        """([lo, hi]) => { const p = document.querySelector('.panel[data-metric="loss"]');
            return +p.dataset.firstX >= lo && +p.dataset.lastX <= hi; }""",
        arg=[math.floor(zoom[0]), math.ceil(zoom[1])],
        timeout=TIMEOUT_MS,
    )
    page.get_by_role("button", name="Reset zoom").click()
    assert "zoom" not in _query(page)
    _drawn(page, "loss", 5, demo.epochs)

    # the epoch as x-axis (the metrics' step_metric): its own panel goes, the others follow it
    page.get_by_label("x-axis").select_option("metric:epoch")
    assert _query(page)["x"] == ["metric:epoch"]
    page.wait_for_selector('.panel[data-metric="epoch"]', state="detached")
    epochs = _history(demo, demo.runs[0], "epoch")[1]
    page.wait_for_selector(
        f'.panel[data-metric="loss"][data-first-x="{epochs[0]}"][data-last-x="{epochs[-1]}"]',
        timeout=TIMEOUT_MS,
    )
    assert loss.get_attribute("data-lines") == "5"


def test_parallel_coordinates_and_parameter_importance(demo: Demo, page: Any, quiet: Quiet) -> None:
    page.goto(demo.path("?tab=parallel"))
    canvas = page.locator("canvas[aria-label^='parallel coordinates of']")
    canvas.wait_for(timeout=TIMEOUT_MS)
    metric = page.get_by_label("metric").input_value()
    label = canvas.get_attribute("aria-label") or ""
    m = re.fullmatch(r"parallel coordinates of (.+) against (.+)", label)
    assert m and m.group(2) == metric, label
    assert set(m.group(1).split(", ")) == demo.varied
    page.get_by_text(f"5 runs · colour = {metric}").wait_for()
    page.wait_for_function("c => c.width > 0", arg=canvas.element_handle())
    assert _coloured(canvas) > 500  # five runs' lines, coloured by the metric

    page.get_by_role("button", name="Parameter importance").click()
    assert _query(page)["tab"] == ["importance"]
    page.get_by_text(f"How much each config key explains {metric}, over 5 runs").wait_for()
    rows = page.locator(".card table tbody tr")
    got: dict[str, tuple[float, str]] = {}
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td").all_inner_texts()
        got[cells[0].split()[0]] = (float(cells[1].split()[-1]), cells[2].strip())
    assert set(got) == demo.varied
    assert all(0 <= imp <= 1 for imp, _ in got.values()) and max(i for i, _ in got.values()) > 0
    # the correlation of each numeric key with the metric, as numpy has it
    ys = np.array([r["summary"][metric] for r in demo.runs], dtype=float)
    for key, (_, corr) in got.items():
        xs = [r["config"][key] for r in demo.runs]
        if isinstance(xs[0], str):
            assert corr == "—", key
        else:
            want = float(np.corrcoef(np.array(xs, dtype=float), ys)[0, 1])
            assert float(corr) == pytest.approx(want, abs=0.006), key


def test_a_runs_overview_charts_and_system_metrics(demo: Demo, page: Any, quiet: Quiet) -> None:
    run = demo.runs[0]
    page.goto(demo.path(f"/runs/{run['id']}"))
    page.get_by_role("heading", name=run["name"]).wait_for()
    config, summary = (_kv(page.locator(f".cols2 > div:nth-child({i}) .kv")) for i in (1, 2))
    assert config.keys() == run["config"].keys()
    for key, value in run["config"].items():
        assert _same(config[key], value), (key, config[key], value)
    for key, value in run["summary"].items():
        if isinstance(value, int | float) and not key.startswith("_"):
            assert _same(summary[key], value), (key, summary[key], value)
    meta = page.locator(".meta-grid").first.inner_text()
    assert "demo --no-browser --port" in meta and str(demo.repo) in meta
    # git: the checkout's commit, branch and remote, and the uncommitted change as a diff
    git = page.locator(".meta-grid").nth(1).inner_text()
    assert f"{demo.head} (with local changes)" in git and "main" in git and REMOTE in git
    page.get_by_role("button", name="Show diff.patch").click()
    page.locator("pre.diff .add", has_text=CHANGE).wait_for()

    # charts: a panel per metric the run logged, on its steps
    page.goto(demo.path(f"/runs/{run['id']}?tab=charts"))
    _marked(page, "lb:charts-drawn")
    metrics = demo.run_api(run, "/metrics")
    plain = sorted(
        m["key"]
        for m in metrics
        if isinstance(m["last"], int | float) and not m["key"].startswith(("system/", "_"))
    )
    swatch = page.locator(".swatch").first.evaluate("e => getComputedStyle(e).backgroundColor")
    colour = [int(v) for v in re.findall(r"\d+", swatch)[:3]]  # the run's line colour
    for key in plain:
        count = next(m["count"] for m in metrics if m["key"] == key)
        _inked(page, _drawn(page, key, 1, count), colour)
    assert page.locator(".panel").count() == len(plain)

    # system metrics, sampled while it trained, against its run time: each panel shows its
    # samples, a run short enough for one sample included (a dot: no line has one point)
    page.goto(demo.path(f"/runs/{run['id']}?tab=system"))
    _marked(page, "lb:charts-drawn")
    system = sorted(m["key"] for m in metrics if m["key"].startswith("system/"))
    assert system and page.locator(".panel").count() == len(system)
    for key in system:
        count = next(m["count"] for m in metrics if m["key"] == key)
        _inked(page, _drawn(page, key, 1, count), colour)


def test_a_runs_logs_files_and_media(demo: Demo, page: Any, quiet: Quiet) -> None:
    run = demo.runs[0]
    page.goto(demo.path(f"/runs/{run['id']}?tab=logs"))
    printed = demo.kind.printed.format(epochs=demo.epochs)
    log = page.locator(".logview")
    log.get_by_text(printed).first.wait_for(timeout=TIMEOUT_MS)
    text = demo.file(run, "output.log").decode()
    hits = sum("val_loss" in line for line in text.splitlines())
    assert hits >= demo.epochs if demo.project == "digits" else hits >= 1
    page.get_by_label("search the log").fill("val_loss")
    page.get_by_text(f"1 of {hits}", exact=True).wait_for()
    assert set(log.locator("mark").all_inner_texts()) == {"val_loss"}

    # files: a preview of what it wrote, and the download byte for byte
    name = demo.kind.preview
    body = demo.file(run, name)
    page.goto(demo.path(f"/runs/{run['id']}?tab=files&file={name}"))
    preview = page.locator("pre.preview")
    preview.wait_for(timeout=TIMEOUT_MS)
    assert preview.inner_text().strip() == body.decode().strip()
    with page.expect_download() as dl:
        page.get_by_role("link", name="Download").click()
    assert Path(dl.value.path()).read_bytes() == body

    # media: a panel per logged media key, each drawing what was stored
    page.goto(demo.path(f"/runs/{run['id']}?tab=media"))
    metrics = {m["key"]: m for m in demo.run_api(run, "/metrics")}
    media = {
        k: m["last"]
        for k, m in metrics.items()
        if isinstance(m["last"], dict)
        and m["last"].get("_type") in ("plot", "table", "histogram", "list")
    }
    kinds = {"list": "image"}
    shown = {k: kinds.get(v["_type"], v["_type"]) for k, v in media.items()}
    assert demo.kind.media <= set(shown.values()), shown
    page.locator(".panel .title").first.wait_for(timeout=TIMEOUT_MS)
    titles = [" ".join(t.split()) for t in page.locator(".panel .title").all_inner_texts()]
    assert sorted(titles) == sorted(f"{k} {kind}" for k, kind in shown.items())
    charts = {v.get("chart"): k for k, v in media.items() if v["_type"] == "plot"}
    assert {"confusion_matrix", "roc_curve"} <= set(charts), charts

    # the confusion matrix: the stored counts, by actual and predicted class
    stored = json.loads(demo.file(run, media[charts["confusion_matrix"]]["path"]))
    heat = page.get_by_role("table", name="confusion matrix")
    heat.wait_for(timeout=TIMEOUT_MS)
    classes = heat.locator("thead th").all_inner_texts()[1:]
    col = {c: i for i, c in enumerate(stored["columns"])}
    want = {
        (str(r[col["Actual"]]), str(r[col["Predicted"]])): r[col["nPredictions"]]
        for r in stored["data"]
    }
    body_rows = heat.locator("tbody tr")
    for i, actual in enumerate(classes):
        counts = [int(t) for t in body_rows.nth(i).locator("td").all_inner_texts()]
        assert counts == [want.get((actual, p), 0) for p in classes], actual
    assert sum(want.values()) > 0

    # ROC (and PR): the curves drawn, the AUC per class as stored
    for chart, word, meta in (("roc_curve", "AUC", "auc"), ("pr_curve", "AP", "average_precision")):
        if chart not in charts:
            continue
        ref = media[charts[chart]]
        stored = json.loads(demo.file(run, ref["path"]))
        panel = page.locator(
            ".panel", has=page.locator(".title", has_text=re.compile(rf"^{charts[chart]}\s"))
        )
        note = panel.get_by_text(re.compile(rf"· {word} ")).inner_text()
        got = dict(p.split(": ") for p in note.split(f"· {word} ")[1].split(", "))
        assert got.keys() == stored["meta"][meta].keys()
        for cls, v in stored["meta"][meta].items():
            assert float(got[cls]) == pytest.approx(v, abs=0.0006), (chart, cls)
        canvas = panel.locator("canvas").first
        canvas.wait_for()
        page.wait_for_function("c => c.width > 0", arg=canvas.element_handle())
        assert _coloured(canvas) > 300  # a curve per class

    for key, ref in media.items():
        panel = page.locator(
            ".panel", has=page.locator(".title", has_text=re.compile(rf"^{re.escape(key)}\s"))
        )
        if ref["_type"] == "list":  # images: the last step's, captioned, loaded
            figures = panel.locator("figure")
            figures.first.wait_for()
            assert figures.locator("figcaption").all_inner_texts() == [
                i["caption"] for i in ref["items"]
            ]
            panel.locator("img").last.scroll_into_view_if_needed()
            page.wait_for_function(
                "imgs => imgs.every(i => i.complete && i.naturalWidth > 0)",
                arg=panel.locator("img").element_handles(),
                timeout=TIMEOUT_MS,
            )
        elif ref["_type"] == "histogram":
            panel.get_by_text(f"{metrics[key]['count']} steps · values").wait_for()
        elif ref["_type"] == "table":
            panel.get_by_text(f"of {ref['nrows']}").wait_for()
            assert panel.locator("thead th").all_inner_texts() == ref["columns"]


def test_compare_two_of_the_demos_runs(demo: Demo, page: Any, quiet: Quiet) -> None:
    first = demo.runs[0]
    other = max(
        demo.runs[1:],
        key=lambda r: sum(r["config"].get(k) != v for k, v in first["config"].items()),
    )
    page.goto(demo.url)
    for run in (first, other):
        page.get_by_label(f"select {run['name']}", exact=True).click()
    page.get_by_role("button", name="Compare 2").click()
    page.wait_for_url(re.compile(r"/compare\?runs="))
    assert set(_query(page)["runs"][0].split(",")) == {first["id"], other["id"]}
    page.reload()  # a fresh page, to see its charts' mark
    page.get_by_role("heading", name="Compare 2 runs").wait_for()
    config = page.locator(".cols2 > div").first
    differs = config.locator("tr.differs td.mono:first-child")
    differs.first.wait_for()
    want = sorted(k for k, v in first["config"].items() if other["config"].get(k) != v)
    assert sorted(differs.all_inner_texts()) == want
    page.get_by_label("only differences").uncheck()
    same_key = next(k for k in first["config"] if k not in want)
    same = config.locator("tr", has=page.locator("td.mono", has_text=re.compile(f"^{same_key}$")))
    changed = config.locator("tr", has=page.locator("td.mono", has_text=re.compile(f"^{want[0]}$")))
    assert same.get_attribute("class") in ("", None)
    bg = "e => getComputedStyle(e.querySelector('td')).backgroundColor"
    assert changed.evaluate(bg) != same.evaluate(bg)
    # their curves overlaid, below the tables: drawn once they scroll into sight
    _drawn(page, "loss", 2, demo.epochs)
    _marked(page, "lb:charts-drawn")


def test_login_once_the_store_has_a_password(demo: Demo, page: Any, quiet: Quiet) -> None:
    """Last: a password in the store turns auth on in the running demo server."""
    # before logging in: the viewer is 401 (which leads to the login page), the private project
    # 404 (the server does not say it exists); then the wrong password's 401
    quiet.allow |= {401, 404}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "labbook.cli.main",
            "users",
            "create",
            "alice",
            "--admin",
            "--password-stdin",
        ],
        env=demo.env,
        input=PASSWORD,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    page.goto(demo.url)
    page.wait_for_url(re.compile(r"/login\?next="), timeout=TIMEOUT_MS)
    page.fill("#user", "alice")
    page.fill("#password", "not it")
    page.click("button[type=submit]")
    page.get_by_role("alert").filter(has_text="Wrong user name or password").wait_for()
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(demo.url, timeout=TIMEOUT_MS)
    _wait_table(page, [r["name"] for r in demo.runs])
    assert "alice" in page.locator("header").inner_text()
    assert httpx.get(f"{demo.base}/api/v1/projects", timeout=30).json()["items"] == []
