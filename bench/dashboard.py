"""Dashboard load times in a real browser (issue 10, item 8).

Builds one store (SQLite in a temp dir, or the PostgreSQL of ``--db``/``LABBOOK_TEST_POSTGRES_URL``
in a schema of its own) holding

* ``table``: a project of ``--runs`` runs (10,000 by default) as the SDK leaves them: 12 config
  keys of which three vary, 4 metrics over 10 steps, a summary, a finished state;
* ``charts``: 20 runs x 4 metrics x 1,000 steps;
* ``wide``: ``--wide`` runs (1,000) x 1 metric x 100 steps;
* ``long``: one run with one key of ``--points`` points (10M), written straight into columnar
  blocks by the Store's block writer (as ``read_paths.py`` does);

starts ``labbook server`` on it (auth on, a user with a password), logs in through the API in a
headless Debian Chromium (Playwright, ``executable_path=/usr/bin/chromium``; nothing downloads a
browser) and loads, for each case, the page a user opens, reading the marks the app sets:

* ``lb:table-ready``: the runs table shows its first rows of data (``table``);
* ``lb:charts-drawn``: every visible chart panel has drawn its lines (the others).

Each case is loaded once cold (discarded), then ``--reps`` times warm (a reload: the browser
cache holds the app's assets, the server's caches are warm); the table gives the median mark
time since navigation start, and the bundle's size (raw and gzip) from the build folder.

Examples::

    python bench/dashboard.py                      # the issue's sizes, SQLite
    python bench/dashboard.py --quick              # 1,000 runs, 1M points
    LABBOOK_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python bench/dashboard.py --db postgres
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import USER, Server, _cli
from read_paths import _header, build_long, sweep_config

from labbook import records as rk
from labbook.store import RunRef, Store

PASSWORD = "bench-password-1"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
METRICS4 = ("train/loss", "train/accuracy", "val/loss", "val/accuracy")


# ------------------------------------------------------------------------------------ building
def _ingest_runs(
    store: Store, project: str, n: int, steps: int, keys: tuple[str, ...], seed: int
) -> None:
    """``n`` finished runs of ``project``, each ``steps`` rows of ``keys``, in one store
    transaction per run (what a finished run's sender leaves)."""
    rng = np.random.default_rng(seed)
    t0 = time.time() - 86_400
    for i in range(n):
        run_id = f"run-{i:05d}"
        config = sweep_config(rng, epochs=steps)
        recs: list[rk.Record] = [_header(run_id, project, config, t0 + i)]
        walk = np.cumsum(rng.standard_normal((steps, len(keys))) * 0.05, axis=0)
        for step in range(steps):
            d = {k: float(walk[step, j]) for j, k in enumerate(keys)}
            recs.append(
                {"t": rk.HISTORY, "step": step, "ts": t0 + i + step, "rt": float(step), "d": d}
            )
        recs.append({"t": rk.EXIT, "code": 0, "ts": t0 + i + steps, "state": "finished"})
        for seq, r in enumerate(recs, 1):
            r["seq"] = seq
        store.ingest(RunRef(USER, project, run_id), recs)


def build(store: Store, runs: int, wide: int, points: int) -> dict[str, float]:
    took: dict[str, float] = {}
    t = time.perf_counter()
    _ingest_runs(store, "table", runs, 10, METRICS4, seed=1)
    took["table"] = time.perf_counter() - t
    t = time.perf_counter()
    _ingest_runs(store, "charts", 20, 1000, METRICS4, seed=2)
    took["charts"] = time.perf_counter() - t
    t = time.perf_counter()
    _ingest_runs(store, "wide", wide, 100, ("loss",), seed=3)
    took["wide"] = time.perf_counter() - t
    t = time.perf_counter()
    build_long(store, points)
    took["long"] = time.perf_counter() - t
    return took


# ------------------------------------------------------------------------------------- the cases
def cases(wide: int) -> dict[str, tuple[str, str]]:
    """Case name -> (path and query of the page, the mark that ends it)."""
    return {
        "table": (f"/{USER}/table", "lb:table-ready"),
        "charts 20x4": (f"/{USER}/charts", "lb:charts-drawn"),
        f"charts {wide}x1": (f"/{USER}/wide?n={wide}", "lb:charts-drawn"),
        "10M series": (f"/{USER}/long/runs/long-1?tab=charts", "lb:charts-drawn"),
    }


def bundle_size(webapp: Path) -> tuple[int, int]:
    """Bytes of the app's JS and CSS, raw and gzipped (what a first visit transfers)."""
    raw = packed = 0
    for f in sorted((webapp / "assets").glob("*")):
        if f.suffix in (".js", ".css"):
            data = f.read_bytes()
            raw += len(data)
            packed += len(gzip.compress(data, 6))
    return raw, packed


@contextmanager
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# What the page shows after its mark: the table's run count, or the chart panels that have
# drawn and the most lines any of them holds (the panels' data attributes, see Charts.tsx).
SHOWN = """(mark) => {
  const foot = document.querySelector('.tablefoot');
  const panels = [...document.querySelectorAll('.panel[data-lines]')];
  if (mark === 'lb:charts-drawn' && panels.length) {
    const lines = Math.max(...panels.map(p => +p.dataset.lines));
    const points = Math.max(...panels.map(p => +p.dataset.points));
    return `${panels.length} panels, up to ${lines} lines of ${points} x values`;
  }
  return foot?.querySelector('span')?.textContent?.trim() ?? '';
}"""


# When the last API response before the mark had arrived (ms since navigation start): the
# mark's time less this is the app's own work (parsing, layout, drawing).
DATA_AT = """(t) => Math.max(0, ...performance.getEntriesByType('resource')
  .filter(e => e.name.includes('/api/v1/') && e.responseEnd <= t).map(e => e.responseEnd))"""


def measure(
    base: str, reps: int, wide: int, timeout_s: float
) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, str]]:
    times: dict[str, list[float]] = {}
    data_at: dict[str, list[float]] = {}
    shown: dict[str, str] = {}
    with browser() as b:
        ctx = b.new_context(viewport={"width": 1440, "height": 900}, base_url=base)
        login = ctx.request.post("/api/v1/session", data={"username": USER, "password": PASSWORD})
        if not login.ok:
            raise RuntimeError(f"login answered {login.status}: {login.text()}")
        page = ctx.new_page()
        for name, (path, mark) in cases(wide).items():
            got: list[float] = []
            data: list[float] = []
            for rep in range(reps + 1):
                if rep == 0:
                    page.goto(path)
                else:
                    page.reload()
                page.wait_for_function(
                    "m => performance.getEntriesByName(m).length > 0",
                    arg=mark,
                    timeout=timeout_s * 1000,
                )
                ms = page.evaluate("m => performance.getEntriesByName(m)[0].startTime", mark)
                if rep > 0:  # the first load is cold: the browser fetches the app
                    got.append(float(ms))
                    data.append(float(page.evaluate(DATA_AT, ms)))
            times[name] = got
            data_at[name] = data
            shown[name] = page.evaluate(SHOWN, mark)
            print(
                f"  {name:<16} " + " ".join(f"{t:7.0f}" for t in got) + f" ms  ({shown[name]})",
                flush=True,
            )
        ctx.close()
    return times, data_at, shown


# ------------------------------------------------------------------------------------------ main
def _database(choice: str, tmp: Path, stack: ExitStack) -> tuple[str, str]:
    """The database URL and (on PostgreSQL) a schema of its own, dropped at the end."""
    if choice == "sqlite":
        return f"sqlite:///{tmp / 'dashboard.db'}", "labbook"
    url = os.environ.get("LABBOOK_TEST_POSTGRES_URL") if choice == "postgres" else choice
    if not url:
        raise SystemExit("--db postgres needs LABBOOK_TEST_POSTGRES_URL")
    schema = f"bench_{uuid.uuid4().hex[:8]}"

    def drop() -> None:
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()

    stack.callback(drop)
    return url, schema


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--wide", type=int, default=1_000)
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=5, help="warm loads per case")
    parser.add_argument("--quick", action="store_true", help="1,000 runs, 200 wide, 1M points")
    parser.add_argument("--db", default="sqlite", help="sqlite, postgres or a database URL")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per page load")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.wide, args.points = 1_000, 200, 1_000_000
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing: apt-get install -y chromium")

    from labbook.server.webapp import web_dir
    from labbook.settings import Settings

    webapp = web_dir(Settings())
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="labbook-dashboard-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        db, schema = _database(args.db, tmp, stack)
        with Store.open(db, schema=schema) as store:
            took = build(store, args.runs, args.wide, args.points)
        print(
            "built: " + ", ".join(f"{k} {v:.1f}s" for k, v in took.items()),
            f"; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith("LABBOOK_")}
        base["LABBOOK_DB_SCHEMA"] = schema
        base["LABBOOK_DIR"] = str(tmp / "data")
        base["LABBOOK_CONFIG_DIR"] = str(tmp / "config")
        create = [sys.executable, "-m", "labbook.cli.main", "users", "create", USER]
        create += ["--admin", "--password-stdin", "--db", db]
        subprocess.run(
            create, input=PASSWORD + "\n", text=True, env=base, check=True, capture_output=True
        )
        key = _cli("keys", "create", USER, "--name", "bench", "--db", db, env=base).split()[0]
        server = Server(db, tmp, base)
        stack.callback(server.stop)
        server.wait_ready(key)
        index = httpx.get(server.base + "/", timeout=10)
        if index.status_code != 200 or "<html" not in index.text.lower():
            raise SystemExit(f"the server has no dashboard build to serve ({index.status_code})")
        times, data_at, shown = measure(server.base, args.reps, args.wide, args.timeout)

    print(f"\ndashboard, {args.db}; median of {args.reps} warm loads (ms since navigation start)")
    print("(data at: the last API response before the mark; the rest is the page's own work)")
    head = f"{'case':<18} {'mark':<16} {'median ms':>10} {'min':>6} {'max':>6} {'data at':>8}"
    print(head + "  shown")
    for name, (_, mark) in cases(args.wide).items():
        t = times[name]
        print(
            f"{name:<18} {mark:<16} {statistics.median(t):>10.0f} {min(t):>6.0f} {max(t):>6.0f}"
            f" {statistics.median(data_at[name]):>8.0f}  {shown[name]}"
        )
    if (webapp / "assets").is_dir():
        raw, packed = bundle_size(webapp)
        print(f"bundle (JS + CSS): {raw / 1024:.0f} KiB, {packed / 1024:.0f} KiB gzipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
