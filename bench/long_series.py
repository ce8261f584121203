"""One run logging a long series of one key: does the sender keep up? (issue 9, item 10)

A fresh process logs ``--points`` rows of one float key (``run.log({"loss": x})`` in a loop),
then calls ``finish()``. Reported per repetition and as medians:

* ``log loop s``: wall time of the loop (the training thread's view, GIL sharing included);
* ``finish s``: ``finish()`` after the last ``log()``: how far behind the sender was (target
  <= 2 s at 10M points);
* ``peak RSS MB``: the process's maximum resident set (target <= 300 MB);
* ``CPU s``: user+sys of the whole process;
* ``stored``: points the store holds afterwards (must equal ``--points``).

Examples::

    python bench/long_series.py                       # 10M points, 3 repetitions
    python bench/long_series.py --points 1000000 --reps 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

WORKER = textwrap.dedent(
    """
    import json, resource, sys, time
    import labbook

    n = int(sys.argv[1])
    run = labbook.init(project="long-series", config={"points": n})
    log = run.log
    t0 = time.perf_counter()
    for i in range(n):
        log({"loss": i * 0.5})
    t1 = time.perf_counter()
    run.finish()
    t2 = time.perf_counter()
    with labbook.Api() as api:
        (key,) = [k for k in api.run(run.path).metric_keys() if k.key == "loss"]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({
        "log_s": t1 - t0,
        "finish_s": t2 - t1,
        "rss_mb": usage.ru_maxrss / 1024,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "stored": key.count,
    }))
    """
)

COLUMNS = (
    ("log loop s", "log_s", ".1f"),
    ("finish s", "finish_s", ".2f"),
    ("peak RSS MB", "rss_mb", ".0f"),
    ("CPU s", "cpu_s", ".1f"),
    ("stored", "stored", ",.0f"),
)


def run_once(points: int, python: str) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="labbook-long-") as tmp:
        env = {
            **os.environ,
            "LABBOOK_DIR": str(Path(tmp) / "data"),
            "LABBOOK_SILENT": "true",
            "LABBOOK_SYSTEM_METRICS": "false",
            "LABBOOK_CAPTURE_GIT": "false",
            "LABBOOK_FINISH_TIMEOUT": "600",
        }
        for name in ("LABBOOK_DB_URL", "LABBOOK_BASE_URL", "LABBOOK_API_KEY", "LABBOOK_MODE"):
            env.pop(name, None)
        out = subprocess.run(
            [python, "-c", WORKER, str(points)],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=3600,
        )
        if out.returncode != 0:
            raise SystemExit(f"worker failed:\n{out.stderr}")
        result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=10_000_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--python", default=sys.executable, help="interpreter of the worker")
    args = parser.parse_args(argv)
    results = []
    for rep in range(args.reps):
        r = run_once(args.points, args.python)
        results.append(r)
        cells = ", ".join(f"{h} {r[f]:{spec}}" for h, f, spec in COLUMNS)
        print(f"rep {rep + 1}/{args.reps}: {cells}", flush=True)
    print()
    print(f"{args.points:,} points of one key, one run; median of {args.reps}")
    print("  ".join(f"{h:>12}" for h, _, _ in COLUMNS))
    print(
        "  ".join(f"{statistics.median(r[f] for r in results):>12{spec}}" for _, f, spec in COLUMNS)
    )
    finish = statistics.median(r["finish_s"] for r in results)
    rss = statistics.median(r["rss_mb"] for r in results)
    print(f"target finish() <= 2 s after the last log(): {'MET' if finish <= 2 else 'NOT MET'}")
    print(f"target peak RSS <= 300 MB: {'MET' if rss <= 300 else 'NOT MET'}")
    if any(r["stored"] != args.points for r in results):
        print("ERROR: not every point was stored")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
