"""Comparison mode of ``log_overhead.py``: labbook vs trackio vs wandb (offline).

Each (tool, repetition) is one fresh process running ``_compare_workers.py``: it inits one run,
logs ``steps`` rows of ``keys`` float scalars, finishes, and (labbook, trackio) reads the rows
back from the local SQLite store. Tools alternate within each repetition (labbook, trackio,
wandb, labbook, trackio, wandb, ...) so that drift on a shared machine hits them alike.

What is measured, per process:

* time inside ``log()``: total, and median / p99 per call (measured by the worker with
  ``time.perf_counter_ns()`` around each call);
* whole-process CPU (user + sys), from interpreter start to exit, children included. The parent
  takes ``resource.getrusage(RUSAGE_CHILDREN)`` before and after it runs the worker. That counts
  the worker and every descendant that was *waited for*. wandb's ``wandb-core`` service is a
  child of the worker, and the worker calls ``wandb.teardown()``, which waits for it, so its CPU
  is in the worker's own RUSAGE_CHILDREN and hence in the parent's delta. To also catch a
  descendant that outlives its parent (a detached service, say), the parent makes itself a
  child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``): such orphans are re-parented to it, and it
  reaps them with ``os.wait4`` before reading the usage, so their CPU is counted too (the table
  notes how much, if any);
* seconds from the start of ``finish()`` until every row is queryable (labbook, trackio; wandb
  offline writes a binary log that needs ``wandb sync`` before it can be queried, so it has
  none: its ``finish()`` time is shown instead).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("_compare_workers.py")
ALL_TOOLS = ("labbook", "trackio", "wandb", "baseline", "stack")
DEFAULT_TOOLS = ("labbook", "trackio", "wandb")
INIT_TARGET_S = 0.100
"""``import labbook`` + ``init()`` on the training thread, median (issue 9, item 11)."""


def targets(steps: int) -> tuple[float | None, float]:
    """(trackio/labbook log() time, trackio/labbook process CPU) the run should reach.

    Issue 9, item 11: a seed-sized run (10 epochs x 4 metrics) costs no more CPU than trackio;
    at 20k steps labbook spends 5x less time in log() and 2.5x less CPU; from 100k steps 4x less
    CPU (the fixed cost of imports weighs less the longer the run).
    """
    if steps <= 1_000:
        return None, 1.0
    if steps < 100_000:
        return 5.0, 2.5
    return 5.0, 4.0


ORPHAN_WAIT_S = 120.0


# --------------------------------------------------------------------------- process accounting


def _become_subreaper() -> bool:
    """Make orphaned descendants of our workers re-parent to us (Linux only)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        pr_set_child_subreaper = 36
        return bool(libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _reap_orphans(deadline_s: float) -> tuple[int, float]:
    """Wait for every remaining child (re-parented orphans); return (count, their CPU s)."""
    count, cpu = 0, 0.0
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            pid, _status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return count, cpu
        if pid == 0:
            if time.monotonic() > deadline:
                print(
                    f"  warning: a descendant is still running after {deadline_s:.0f}s; "
                    "its CPU is not counted",
                    file=sys.stderr,
                )
                return count, cpu
            time.sleep(0.05)
            continue
        count += 1
        cpu += usage.ru_utime + usage.ru_stime


def _parse_result(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                result = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(result, dict) and "tool" in result:
                return result
    return None


def run_worker(
    tool: str,
    steps: int,
    keys: int,
    python: str,
    keep: bool,
    timeout_s: float,
    outdir: Path | None = None,
) -> dict[str, Any] | None:
    outdir = outdir or Path(tempfile.mkdtemp(prefix=f"labbook-bench-{tool}-"))
    cmd = [python, str(WORKER), tool, str(steps), str(keys), str(outdir)]
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout_s, check=False, cwd=outdir
        )
    except subprocess.TimeoutExpired:
        print(f"  {tool}: timed out after {timeout_s:.0f}s", file=sys.stderr)
        _reap_orphans(5.0)
        return None
    wall = time.perf_counter() - t0
    orphans, orphan_cpu = _reap_orphans(ORPHAN_WAIT_S)
    cpu = _children_cpu() - cpu0
    result = _parse_result(proc.stdout) if proc.returncode == 0 else None
    if result is None:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        sys.stdout.flush()
        print(f"  {tool}: worker failed (exit {proc.returncode})", file=sys.stderr)
        for line in tail:
            print(f"    {line}", file=sys.stderr)
        sys.stderr.flush()
    else:
        result.update(
            process_cpu_s=cpu,
            process_wall_s=wall,
            orphans_reaped=orphans,
            orphan_cpu_s=orphan_cpu,
            outdir=str(outdir),
        )
    if not keep:
        shutil.rmtree(outdir, ignore_errors=True)
    return result


# --------------------------------------------------------------------------- report


def _median(results: list[dict[str, Any]], field: str) -> float | None:
    values = [r[field] for r in results if r.get(field) is not None]
    return statistics.median(values) if values else None


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den <= 0:
        return None
    return num / den


COLUMNS = (
    # header, field, format
    ("import+init s", "init_s", ".3f"),
    ("log() total s", "log_total_s", ".3f"),
    ("us/call med", "log_median_us", ".1f"),
    ("us/call p99", "log_p99_us", ".1f"),
    ("process CPU s", "process_cpu_s", ".2f"),
    ("service CPU s", "waited_children_cpu_s", ".2f"),
    ("finish s", "finish_s", ".3f"),
    ("finish->query s", "finish_to_queryable_s", ".3f"),
    ("wall s", "process_wall_s", ".2f"),
    ("peak RSS MB", "peak_rss_mb", ".0f"),
    ("service RSS MB", "service_rss_mb", ".0f"),
)


def _paired_ratio(
    by_tool: dict[str, list[dict[str, Any]]], other: str, field: str, base: str = "labbook"
) -> float | None:
    """Median over repetitions of ``other``/``base``, pairing the two runs of the same rep."""
    mine = {r["rep"]: r[field] for r in by_tool.get(base, []) if r.get(field)}
    ratios = [
        r[field] / mine[r["rep"]]
        for r in by_tool.get(other, [])
        if r.get(field) is not None and r["rep"] in mine
    ]
    return statistics.median(ratios) if ratios else None


def report(by_tool: dict[str, list[dict[str, Any]]], reps: int, steps: int, keys: int) -> None:
    print()
    print(f"log overhead, {steps:,} steps x {keys} scalars, one run, finished; median of reps")
    header = f"{'tool':<8} {'ok':>5} " + " ".join(f"{h:>14}" for h, _, _ in COLUMNS)
    print(header)
    print("-" * len(header))
    medians: dict[str, dict[str, float | None]] = {}
    for tool, results in by_tool.items():
        medians[tool] = {field: _median(results, field) for _, field, _ in COLUMNS}
        cells = " ".join(f"{_fmt(medians[tool][f], spec):>14}" for _, f, spec in COLUMNS)
        print(f"{tool:<8} {f'{len(results)}/{reps}':>5} {cells}")
    print(
        "process CPU = user+sys of the worker process and all its descendants (wandb-core "
        "included), interpreter start to exit; service CPU = the part used by children the "
        "worker waited for (wandb-core); peak RSS = the worker's own maximum resident set "
        "(the rows to log, made before the tool is imported, included), service RSS = its "
        "largest waited-for child's."
    )
    orphan_cpu = sum(r.get("orphan_cpu_s", 0.0) for rs in by_tool.values() for r in rs)
    if orphan_cpu:
        print(f"(includes {orphan_cpu:.2f} s CPU of orphaned descendants reaped by this process)")

    base = medians.get("labbook")
    if base is not None and base["init_s"] is not None:
        verdict = "MET" if base["init_s"] <= INIT_TARGET_S else "NOT MET"
        print(
            f"target import labbook + init() <= {INIT_TARGET_S * 1000:.0f} ms median: "
            f"{base['init_s'] * 1000:.0f} ms {verdict}"
        )
    if base is None or base["log_total_s"] is None:
        print("\nno labbook results: ratios and targets need labbook (see --tools).")
        if "trackio" in medians and "wandb" in medians:
            t, w = medians["trackio"], medians["wandb"]
            log_r = _ratio(w["log_total_s"], t["log_total_s"])
            cpu_r = _ratio(w["process_cpu_s"], t["process_cpu_s"])
            print(f"wandb/trackio: log() time {_fmt(log_r, '.2f')}x, CPU {_fmt(cpu_r, '.2f')}x")
        return
    print()
    print(f"{'ratio vs labbook':<18} {'log() time':>12} {'process CPU':>12}")
    for tool in ("trackio", "wandb", "baseline", "stack"):
        if tool not in medians:
            continue
        log_r = _ratio(medians[tool]["log_total_s"], base["log_total_s"])
        cpu_r = _ratio(medians[tool]["process_cpu_s"], base["process_cpu_s"])
        print(
            f"{tool + '/labbook':<18} {_fmt(log_r, '.2f') + 'x':>12} {_fmt(cpu_r, '.2f') + 'x':>12}"
        )
    if "trackio" in medians:
        log_r = _ratio(medians["trackio"]["log_total_s"], base["log_total_s"])
        cpu_r = _ratio(medians["trackio"]["process_cpu_s"], base["process_cpu_s"])
        log_p = _paired_ratio(by_tool, "trackio", "log_total_s")
        cpu_p = _paired_ratio(by_tool, "trackio", "process_cpu_s")
        print()
        print(
            "ratio of medians | median of per-rep ratios (each rep's trackio run beside its "
            "labbook run: drift of a shared machine cancels)"
        )
        log_target, cpu_target = targets(steps)
        for name, got, paired, target in (
            ("log() time", log_r, log_p, log_target),
            ("process CPU", cpu_r, cpu_p, cpu_target),
        ):
            if target is None:
                continue
            verdicts = [
                "MET" if r is not None and r >= target else "NOT MET" for r in (got, paired)
            ]
            print(
                f"target {name}: trackio/labbook >= {target:g}x: {_fmt(got, '.2f')}x "
                f"{verdicts[0]} | {_fmt(paired, '.2f')}x {verdicts[1]}"
            )
        if "stack" in medians:
            best = _ratio(medians["trackio"]["process_cpu_s"], medians["stack"]["process_cpu_s"])
            best_p = _paired_ratio(by_tool, "trackio", "process_cpu_s", base="stack")
            print(
                f"best process-CPU ratio a run on labbook's stack can reach (trackio/stack, "
                f"logging costing nothing): {_fmt(best, '.2f')}x | {_fmt(best_p, '.2f')}x"
            )


# --------------------------------------------------------------------------- entry point


def _byte_compile_labbook(python: str) -> None:
    """Compile labbook's modules to bytecode, as installing its wheel does.

    The competitors come from wheels, whose installation wrote their ``.pyc`` files. labbook is
    usually run from a checkout (an editable install), and with ``PYTHONDONTWRITEBYTECODE`` set
    (as on CI machines) every worker would compile its ~60 modules from source: ~0.1 s of CPU
    per process that a user who installed the package never pays.
    """
    code = (
        "import compileall, os, labbook; "
        "ok = compileall.compile_dir(os.path.dirname(labbook.__file__), quiet=1); "
        "raise SystemExit(0 if ok else 1)"
    )
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise SystemExit(f"could not byte-compile labbook: {done.stderr or done.stdout}")
    print("  labbook: modules byte-compiled, as a wheel install leaves them")


def compare(
    reps: int,
    steps: int,
    keys: int,
    labbook_python: str,
    compare_python: str,
    tools: tuple[str, ...] = DEFAULT_TOOLS,
    keep: bool = False,
    json_out: str | None = None,
    timeout_s: float = 600.0,
    warm: bool = True,
) -> None:
    """Run every tool ``reps`` times, alternating, and print the comparison table.

    ``warm``: each timed run goes into a store that already holds one small run (made by an
    untimed worker first), as for every run after a user's first; schema creation and
    migrations are then not part of the figure. ``warm=False`` measures a first run.
    """
    unknown = [t for t in tools if t not in ALL_TOOLS]
    if unknown:
        raise SystemExit(f"unknown tool(s): {', '.join(unknown)} (choose from {ALL_TOOLS})")
    subreaper = _become_subreaper()
    # baseline runs under the competitors' interpreter (it needs only numpy); stack needs
    # labbook's dependencies
    pythons = {t: labbook_python if t in ("labbook", "stack") else compare_python for t in tools}
    print(
        f"comparing {', '.join(tools)}: {reps} reps x {steps:,} steps x {keys} scalars, "
        f"{'warm store (one earlier run)' if warm else 'cold store (first run)'}"
    )
    for tool in tools:
        print(f"  {tool}: {pythons[tool]}")
    if "labbook" in tools:
        _byte_compile_labbook(pythons["labbook"])
    if not subreaper:
        print("  (not a child subreaper: CPU of orphaned descendants would be missed)")
    by_tool: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
    for rep in range(reps):
        for tool in tools:
            outdir = None
            if warm:
                outdir = Path(tempfile.mkdtemp(prefix=f"labbook-bench-{tool}-"))
                run_worker(tool, 10, keys, pythons[tool], True, timeout_s, outdir)
            result = run_worker(tool, steps, keys, pythons[tool], keep, timeout_s, outdir)
            if result is None:
                continue
            result["rep"] = rep
            by_tool[tool].append(result)
            print(
                f"  rep {rep + 1}/{reps} {tool:<8} log() {result['log_total_s']:.3f} s "
                f"({result['log_median_us']:.1f} us/call), CPU {result['process_cpu_s']:.2f} s, "
                f"wall {result['process_wall_s']:.2f} s",
                flush=True,
            )
    if json_out:
        Path(json_out).write_text(json.dumps(by_tool, indent=2) + "\n")
        print(f"raw results written to {json_out}")
    report(by_tool, reps, steps, keys)
    if any(not by_tool[t] for t in tools):
        raise SystemExit(1)
