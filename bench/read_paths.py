"""Read-side speed: ``Api().run().history()``, ``labbook history`` and ``labbook runs``.

Builds, in a temp dir, one SQLite store holding

* one run with ONE key of ``--points`` points (10,000,000 by default: a random walk with spikes,
  NaN and ±Inf), written straight into columnar blocks by the Store's own block writer (the SDK's
  ingest of 10M rows would take minutes and is not what is measured here), and
* a project of ``--runs`` runs (1,000 by default) as the SDK leaves them: a config of 12 keys of
  which three vary, 80 summary keys (metrics logged over 5 steps, so each is a history metric too)
  and a finished state, ingested through ``Store.ingest``;

then times, each in a fresh subprocess (as a user would run it), the median of ``--reps``:

1. ``Api().run(path).history()`` to a pandas DataFrame (the call only, after import), and the
   process's peak RSS;
2. ``labbook history PATH KEY`` of the whole series, stdout to a file (wall time of the command,
   peak RSS);
3. ``labbook runs PROJECT --limit 1000``, stdout to a file (wall time, peak RSS);

over the local store, and again over HTTP against a ``labbook server`` subprocess on the same
database (``--no-http`` skips that; ``--cases`` picks some). Each command's CPU seconds (user +
system, which a loaded machine inflates less than wall time) and peak RSS are read by a small
parent process from ``getrusage``.

Targets (issue 9, item 10): history() <= 2 s for 10M points; ``labbook runs --limit 1000`` <= 1 s.

Examples::

    python bench/read_paths.py
    python bench/read_paths.py --quick          # 1M points, 200 runs
    python bench/read_paths.py --reps 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import USER, Server, _cli, series

from labbook import records as rk
from labbook.store import RunRef, Store
from labbook.store.blocks import Collected, KeyBatch, write_history

LONG_PROJECT = "long"
LONG_RUN = "long-1"
KEY = "loss"
MANY_PROJECT = "many"
CHUNK = 1_000_000

HISTORY_CHILD = """
import json, sys, time
from labbook import Api
api = Api()
t0 = time.perf_counter()
df = api.run(sys.argv[1]).history()
dt = time.perf_counter() - t0
print(json.dumps({"call_s": dt, "rows": len(df)}))
"""


# ------------------------------------------------------------------------------------ building
def _header(run_id: str, project: str, config: dict[str, Any], t0: float) -> rk.Record:
    return {
        "t": rk.RUN,
        "seq": 1,
        "id": run_id,
        "project": project,
        "entity": USER,
        "name": run_id,
        "tags": [],
        "notes": None,
        "group": None,
        "job_type": None,
        "config": config,
        "started_at": t0,
    }


def build_long(store: Store, points: int) -> str:
    """One run, one key, ``points`` points, in blocks as a finished run leaves them."""
    ref = RunRef(USER, LONG_PROJECT, LONG_RUN)
    t0 = time.time() - points * 1e-4
    store.ingest(ref, [_header(LONG_RUN, LONG_PROJECT, {"lr": 0.1}, t0)])
    values = series(points)
    with store._write() as conn:
        pk = store._run_pk(conn, ref)
        for lo in range(0, points, CHUNK):
            vals = values[lo : lo + CHUNK]
            steps = np.arange(lo, lo + len(vals), dtype=np.int64)
            batch = KeyBatch(
                np.arange(len(vals), dtype=np.int64), vals, "float", [], [], None, float(vals[-1])
            )
            write_history(conn, pk, Collected(steps, t0 + steps * 1e-4, {KEY: batch}))
    store.ingest(
        ref,
        [
            {"t": rk.SUMMARY, "seq": 2, "u": {KEY: float(values[-1])}},
            {"t": rk.EXIT, "seq": 3, "code": 0, "ts": time.time(), "state": "finished"},
        ],
    )
    return f"{USER}/{LONG_PROJECT}/{LONG_RUN}"


METRICS = [
    *(f"{split}{m}" for split in ("", "val_") for m in ("loss", "accuracy", "precision", "recall")),
    *(f"layer_{i}/{s}" for i in range(18) for s in ("grad_norm", "weight_norm", "act_mean", "lr")),
]  # 80 keys: the summary of a run with per-layer diagnostics


def sweep_config(rng: np.random.Generator, epochs: int) -> dict[str, Any]:
    """A run's config as a sweep leaves it: 12 keys, of which lr, batch_size and optimizer vary."""
    return {
        "lr": float(rng.choice([0.1, 0.01, 0.001])),
        "batch_size": int(rng.choice([32, 64, 128])),
        "optimizer": str(rng.choice(["adam", "sgd"])),
        "epochs": epochs,
        "filters": 32,
        "kernel": 3,
        "dropout": 0.25,
        "activation": "relu",
        "dataset": "digits",
        "seed": 0,
        "augment": False,
        "model": {"depth": 18, "width": 64},
    }


def build_many(store: Store, n: int) -> None:
    rng = np.random.default_rng(5)
    t0 = time.time() - 3600
    for i in range(n):
        run_id = f"run-{i:05d}"
        config = sweep_config(rng, epochs=5)
        recs: list[rk.Record] = [_header(run_id, MANY_PROJECT, config, t0 + i)]
        for step in range(5):
            d = {k: float(rng.random()) for k in METRICS}
            recs.append({"t": rk.HISTORY, "step": step, "ts": t0 + i + step, "rt": step, "d": d})
        recs.append({"t": rk.EXIT, "code": 0, "ts": t0 + i + 6, "state": "finished"})
        for seq, r in enumerate(recs, 1):
            r["seq"] = seq
        store.ingest(RunRef(USER, MANY_PROJECT, run_id), recs)


# ----------------------------------------------------------------------------------- measuring
TIMER = """
import json, resource, subprocess, sys, time
with open(sys.argv[1], "wb") as out:
    t0 = time.perf_counter()
    rc = subprocess.call(sys.argv[3:], stdout=out)
    wall = time.perf_counter() - t0
use = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[2], "w") as f:
    json.dump(
        {"wall_s": wall, "cpu_s": use.ru_utime + use.ru_stime, "rss_mb": use.ru_maxrss / 1024}, f
    )
sys.exit(rc)
"""


def timed(cmd: list[str], env: dict[str, str], stdout: Path) -> dict[str, float]:
    """Run ``cmd`` to completion: its wall and CPU (user + system) seconds and peak RSS (MB).

    On a shared machine the CPU seconds move less with the load than the wall time does.

    A small Python process starts it and reads the numbers: a child's peak RSS counts the pages
    it shares with the process it was forked from until it execs, and that would be this one,
    which holds the data it just built.
    """
    numbers = stdout.with_suffix(".json")
    proc = subprocess.run(
        [sys.executable, "-c", TIMER, str(stdout), str(numbers), *cmd],
        env=env,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {err[-2000:]}")
    result: dict[str, float] = json.loads(numbers.read_text())
    return result


CASES = ("api_history", "cli_history", "cli_runs")


def measure(
    label: str,
    env: dict[str, str],
    tmp: Path,
    reps: int,
    points: int,
    nruns: int,
    cases: Sequence[str] = CASES,
) -> dict[str, dict[str, float]]:
    """Median wall seconds and peak RSS of each case (``call_s``: history() alone)."""
    py = sys.executable
    path = f"{USER}/{LONG_PROJECT}/{LONG_RUN}"
    out = tmp / "out.txt"
    runs_cmd = [py, "-m", "labbook.cli.main", "runs", f"{USER}/{MANY_PROJECT}", "--limit", "1000"]
    got: dict[str, list[dict[str, float]]] = {c: [] for c in cases}
    for rep in range(reps):
        if "api_history" in got:
            r = timed([py, "-c", HISTORY_CHILD, path], env, out)
            child = json.loads(out.read_text())
            assert child["rows"] == points, child
            got["api_history"].append({"call_s": child["call_s"], **r})
        if "cli_history" in got:
            r = timed([py, "-m", "labbook.cli.main", "history", path, KEY], env, out)
            with open(out, "rb") as f:
                lines = sum(1 for _ in f)
            assert lines == points + 1, lines
            got["cli_history"].append(r)
        if "cli_runs" in got:
            r = timed(runs_cmd, env, out)
            assert out.read_text().count("run-0") >= min(nruns, 1000), "not every run listed"
            got["cli_runs"].append(r)
        print(f"[{label}] rep {rep + 1}: " + _line(got, -1), flush=True)
    return {
        name: {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        for name, rows in got.items()
    }


def _line(got: dict[str, Any], i: int | None = None) -> str:
    parts = []
    for name, label in (
        ("api_history", "history()"),
        ("cli_history", "labbook history"),
        ("cli_runs", "labbook runs"),
    ):
        if name not in got:
            continue
        r = got[name][i] if i is not None else got[name]
        process = f"process {r['wall_s']:.2f}s, " if "call_s" in r else ""
        secs = r.get("call_s", r["wall_s"])
        parts.append(f"{label} {secs:.2f}s ({process}CPU {r['cpu_s']:.2f}s, {r['rss_mb']:.0f} MB)")
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1M points, 200 runs")
    parser.add_argument("--no-http", action="store_true", help="local store only")
    parser.add_argument(
        "--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}"
    )
    parser.add_argument("--json", dest="json_out", help="also write the medians to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.points, args.runs = 1_000_000, 200

    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix="labbook-read-bench-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        db = f"sqlite:///{tmp / 'bench.db'}"
        t0 = time.perf_counter()
        with Store.open(db) as store:
            build_long(store, args.points)
            t1 = time.perf_counter()
            build_many(store, args.runs)
        print(
            f"built {args.points:,} points in {t1 - t0:.1f}s and {args.runs:,} runs in "
            f"{time.perf_counter() - t1:.1f}s; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        base = {k: v for k, v in os.environ.items() if not k.startswith("LABBOOK_")}
        base["LABBOOK_DIR"] = str(tmp / "data")
        base["LABBOOK_CONFIG_DIR"] = str(tmp / "config")
        results: dict[str, Any] = {}
        local = dict(base, LABBOOK_DB_URL=db, LABBOOK_ENTITY=USER)
        cases = [c for c in args.cases.split(",") if c]
        if not set(cases) <= set(CASES):
            parser.error(f"--cases takes {', '.join(CASES)}")
        results["local"] = measure("local", local, tmp, args.reps, args.points, args.runs, cases)
        if not args.no_http:
            _cli("users", "create", USER, "--admin", "--db", db, env=base)
            key = _cli("keys", "create", USER, "--name", "bench", "--db", db, env=base).split()[0]
            server = Server(db, tmp, base)
            stack.callback(server.stop)
            server.wait_ready(key)
            http = dict(base, LABBOOK_BASE_URL=server.base, LABBOOK_API_KEY=key)
            results["http"] = measure("http", http, tmp, args.reps, args.points, args.runs, cases)
        results["loadavg_1m"] = os.getloadavg()[0]

    print(f"\nmedians of {args.reps} ({args.points:,} points; {args.runs:,} runs)")
    for where in ("local", "http"):
        if where in results:
            print(f"{where:6} {_line(results[where])}")
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"points": args.points, "runs": args.runs, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
