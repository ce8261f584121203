"""One worker process of ``log_overhead.py --compare``.

Usage::

    python bench/_compare_workers.py TOOL STEPS KEYS OUTDIR

TOOL is ``labbook``, ``trackio`` or ``wandb`` (or ``baseline``: no tracker, ``log()`` is a
no-op function, which shows the fixed cost of the interpreter, numpy and the loop itself; or
``stack``: the baseline plus importing the libraries labbook's logging path is built on, by
DESIGN.md — SQLAlchemy for the Store, msgspec for records, PyYAML for the run's config file —
which is the least whole-process CPU any labbook run can use).

The worker points every place the tool writes (store, caches, config) into OUTDIR, imports the
tool, starts one run, logs STEPS rows of KEYS float scalars (``m0``, ``m1``, ...), times each
``log()`` call with ``time.perf_counter_ns()``, calls ``finish()`` and, for labbook and trackio,
checks that all STEPS rows can be queried from the local SQLite store. It prints one JSON line
(the last line of stdout) and exits 0, or exits non-zero with a message on stderr.

The values are computed before timing starts: a numpy array turned into plain dicts of Python
floats with ``.tolist()``, so every tool gets the same plain-Python input.

CPU time is not measured here as the benchmark's figure: the parent measures the whole process,
children included (see ``_compare.py``). The worker still reports its own user+sys time and that
of the children it waited for (for wandb, that is the ``wandb-core`` service), so the two can be
told apart.

Set ``BENCH_SYSTEM_METRICS=1`` to leave each tool's system-metrics sampler on (off by default, so
that the run measures logging and not the sampler).
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sqlite3  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

TOOLS = ("labbook", "trackio", "wandb", "baseline", "stack")
PROJECT = "log-overhead-bench"


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


SYSTEM_METRICS = _truthy(os.environ.get("BENCH_SYSTEM_METRICS"))


def make_rows(steps: int, keys: int) -> list[dict[str, float]]:
    import numpy as np

    values = np.random.default_rng(1234).standard_normal((steps, keys))
    names = [f"m{i}" for i in range(keys)]
    return [dict(zip(names, row, strict=True)) for row in values.tolist()]


def _cpu_s(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------- environment


def _isolate_environment(tool: str, outdir: Path) -> None:
    """Point every tool's files into ``outdir`` and keep it off the network.

    Runs before the tool is imported, because the tools read some of these at import time
    (trackio resolves ``TRACKIO_DIR`` when ``trackio.utils`` is imported).
    """
    env = os.environ
    # Hugging Face hub (trackio depends on it): no token, no calls.
    env["HF_HOME"] = str(outdir / "hf_home")
    env["HF_HUB_OFFLINE"] = "1"
    env["HF_HUB_DISABLE_TELEMETRY"] = "1"
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    env["DO_NOT_TRACK"] = "1"
    if tool == "labbook":
        env["LABBOOK_DIR"] = str(outdir)
        env["LABBOOK_CAPTURE_GIT"] = "false"
        env["LABBOOK_SILENT"] = "true"
        env["LABBOOK_CAPTURE_SYSTEM"] = "true" if SYSTEM_METRICS else "false"
        env["LABBOOK_SYSTEM_METRICS"] = "true" if SYSTEM_METRICS else "false"
        for name in ("LABBOOK_DB_URL", "LABBOOK_BLOBS_URI", "LABBOOK_MODE", "LABBOOK_RUN_DIR"):
            env.pop(name, None)
    elif tool == "trackio":
        # Local mode: no Space, no self-hosted server, no bucket; write straight to SQLite
        # (TRACKIO_STORAGE_MODE=auto would pick JSONL fragments on a network filesystem).
        for name in (
            "TRACKIO_SPACE_ID",
            "TRACKIO_SERVER_URL",
            "TRACKIO_BUCKET_ID",
            "TRACKIO_DATASET_ID",
            "TRACKIO_WRITE_TOKEN",
            "TRACKIO_WEBHOOK_URL",
        ):
            env.pop(name, None)
        env["TRACKIO_DIR"] = str(outdir / "trackio")
        env["TRACKIO_STORAGE_MODE"] = "sqlite"
        env["TRACKIO_LOGBOOK_AUTONOTE"] = "0"
    elif tool == "wandb":
        env["WANDB_MODE"] = "offline"
        env["WANDB_SILENT"] = "true"
        env["WANDB_DISABLE_GIT"] = "true"
        env["WANDB_DISABLE_CODE"] = "true"
        env["WANDB_ERROR_REPORTING"] = "false"
        env["WANDB_DIR"] = str(outdir)
        env["WANDB_CONFIG_DIR"] = str(outdir / "wandb_config")
        env["WANDB_CACHE_DIR"] = str(outdir / "wandb_cache")
        env["WANDB_DATA_DIR"] = str(outdir / "wandb_data")
        env["WANDB_ARTIFACT_DIR"] = str(outdir / "wandb_artifacts")
        for name in ("WANDB_API_KEY", "WANDB_BASE_URL", "WANDB_RUN_ID", "WANDB_RESUME"):
            env.pop(name, None)


# --------------------------------------------------------------------------- adapters
#
# Each adapter returns (log, finish, verify, extra): ``log(row)`` is what is timed,
# ``finish()`` ends the run, ``verify()`` returns the number of rows that can be read back
# from the store (None where the tool has no local query path) and ``extra`` is a dict of
# facts to add to the JSON line.

Adapter = tuple[
    Callable[[dict[str, float]], Any],
    Callable[[], Any],
    Callable[[], int | None],
    dict[str, Any],
]


def _labbook(outdir: Path, steps: int, config: dict[str, Any]) -> Adapter:
    import labbook

    run = labbook.init(project=PROJECT, dir=str(outdir), config=config)
    path = getattr(run, "path", None)
    if not (isinstance(path, str) and path.count("/") == 2):
        path = f"{run.entity}/{run.project}/{run.id}"
    extra: dict[str, Any] = {"run_path": path}

    def verify() -> int | None:
        # Like trackio's check (a COUNT over its table): ask the store for the stored points of
        # every key; reading them into pandas would add pandas' import to labbook's CPU alone.
        with labbook.Api() as api:
            counts = [k.count for k in api.run(path).metric_keys()]
        extra["query"] = "metric_keys"
        return min(counts) if counts else 0

    return run.log, run.finish, verify, extra


def _trackio(outdir: Path, steps: int, config: dict[str, Any]) -> Adapter:
    import trackio
    from trackio.sqlite_storage import SQLiteStorage

    run = trackio.init(
        project=PROJECT,
        config=config,
        embed=False,
        auto_log_cpu=SYSTEM_METRICS,
        auto_log_gpu=SYSTEM_METRICS,
    )
    db_path = SQLiteStorage.get_project_db_path(PROJECT)
    extra: dict[str, Any] = {"db": str(db_path)}

    def verify() -> int | None:
        with sqlite3.connect(db_path) as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM metrics WHERE run_id = ?", (run.id,)
            ).fetchone()
        return int(count)

    # trackio.finish() (not run.finish()) also clears the current run, as a user's script would.
    return run.log, trackio.finish, verify, extra


def _wandb(outdir: Path, steps: int, config: dict[str, Any]) -> Adapter:
    import wandb

    settings = wandb.Settings(x_disable_stats=not SYSTEM_METRICS)
    run = wandb.init(project=PROJECT, dir=str(outdir), config=config, settings=settings)
    extra: dict[str, Any] = {}

    def finish() -> None:
        run.finish()
        # wandb.finish() returns once the service has written the run; the wandb-core service
        # process lives on until teardown. Tear it down here (it is then waited for, so its CPU
        # lands in this process's RUSAGE_CHILDREN and in turn in the parent's) and time it
        # separately from finish().
        t0 = time.perf_counter()
        wandb.teardown()
        extra["teardown_s"] = time.perf_counter() - t0
        files = list(Path(outdir, "wandb").glob("offline-run-*/*.wandb"))
        extra["wandb_file_bytes"] = sum(f.stat().st_size for f in files)

    # wandb offline writes a binary transaction log; it is not queryable until `wandb sync`.
    return run.log, finish, lambda: None, extra


def _baseline(outdir: Path, steps: int, config: dict[str, Any]) -> Adapter:
    def log(row: dict[str, float]) -> None:
        return None

    return log, lambda: None, lambda: None, {}


def _stack(outdir: Path, steps: int, config: dict[str, Any]) -> Adapter:
    import msgspec  # noqa: F401
    import sqlalchemy  # noqa: F401
    import yaml  # noqa: F401

    return _baseline(outdir, steps, config)


ADAPTERS: dict[str, Callable[[Path, int, dict[str, Any]], Adapter]] = {
    "labbook": _labbook,
    "trackio": _trackio,
    "wandb": _wandb,
    "baseline": _baseline,
    "stack": _stack,
}


# --------------------------------------------------------------------------- main


def _percentile(sorted_ns: list[int], q: float) -> float:
    """Nearest-rank percentile of an ascending list, in ns."""
    if not sorted_ns:
        return float("nan")
    rank = max(1, min(len(sorted_ns), round(q / 100.0 * len(sorted_ns) + 0.5)))
    return float(sorted_ns[rank - 1])


def run(tool: str, steps: int, keys: int, outdir: Path) -> dict[str, Any]:
    outdir.mkdir(parents=True, exist_ok=True)
    _isolate_environment(tool, outdir)
    rows = make_rows(steps, keys)
    config = {"steps": steps, "keys": keys, "bench": "log_overhead"}

    t_import = time.perf_counter()
    log, finish, verify, extra = ADAPTERS[tool](outdir, steps, config)
    init_s = time.perf_counter() - t_import

    durations = [0] * steps
    clock = time.perf_counter_ns
    for i, row in enumerate(rows):
        t0 = clock()
        log(row)
        durations[i] = clock() - t0

    t_finish = time.perf_counter()
    finish()
    finish_s = time.perf_counter() - t_finish
    count = verify()
    finish_to_queryable_s = time.perf_counter() - t_finish if count is not None else None
    if count is not None and count != steps:
        raise SystemExit(f"{tool}: {count} rows queryable after finish(), expected {steps}")

    durations.sort()
    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    child_usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "tool": tool,
        "steps": steps,
        "keys": keys,
        "log_total_s": sum(durations) / 1e9,
        "log_median_us": _percentile(durations, 50) / 1e3,
        "log_p99_us": _percentile(durations, 99) / 1e3,
        "log_max_us": durations[-1] / 1e3 if durations else None,
        "init_s": init_s,
        "finish_s": finish_s,
        "finish_to_queryable_s": finish_to_queryable_s,
        "rows_queryable": count,
        "wall_s": time.perf_counter() - _T_START,
        "self_cpu_s": _cpu_s(self_usage),
        "waited_children_cpu_s": _cpu_s(child_usage),
        # Peak resident set of this process (the rows to log, made up front, included: the
        # same for every tool) and of the largest child it waited for (wandb-core).
        "peak_rss_mb": self_usage.ru_maxrss / 1024,
        "service_rss_mb": child_usage.ru_maxrss / 1024 or None,
        "system_metrics": SYSTEM_METRICS,
        **extra,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 4 or argv[0] not in TOOLS:
        print(__doc__, file=sys.stderr)
        return 2
    tool, steps, keys, outdir = argv[0], int(argv[1]), int(argv[2]), Path(argv[3])
    result = run(tool, steps, keys, outdir)
    sys.stdout.flush()
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
