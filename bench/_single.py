"""In-process mode of ``log_overhead.py``: labbook alone, 100,000 steps x N scalars.

Prints, for one run logged to a fresh local store:
- time per ``log()`` on the training thread (median, p99), measured call by call;
- total CPU seconds of the process (all threads) divided by the number of calls, from before
  ``init`` until every point is queryable;
- seconds from the start of ``finish()`` until every point is queryable;
- points per second into SQLite, measured separately with no logging competing for the GIL: the
  same journal replayed by ``labbook sync`` into an empty store (read, decode, store), and the
  decoded records handed to ``Store.ingest`` alone (the Store's share).
"""

from __future__ import annotations

import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

STORE_BATCH = 20_000  # records per Store.ingest call in the Store-only measurement


def _cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def single(steps: int, keys: int, reps: int = 3) -> None:
    import labbook
    from labbook.sdk.journal import read_records
    from labbook.sdk.sync import find_run_dirs, sync_run
    from labbook.store import RunRef, Store

    names = [f"m{i}" for i in range(keys)]
    values = np.random.default_rng(7).standard_normal((steps, keys))
    rows = [dict(zip(names, r, strict=True)) for r in values.tolist()]
    results = []
    for rep in range(reps):
        with tempfile.TemporaryDirectory() as tmp:
            settings = labbook.Settings(
                dir=Path(tmp) / "data",
                run_dir=Path(tmp),
                capture_console=False,
                capture_git=False,
                capture_requirements=False,
                capture_system=False,
            )
            per_call = np.empty(steps, dtype=np.int64)
            clock = time.perf_counter_ns
            cpu0 = _cpu()
            run = labbook.init(project="bench", settings=settings)
            log = run.log
            for i, row in enumerate(rows):
                t0 = clock()
                log(row)
                per_call[i] = clock() - t0
            f0 = time.perf_counter()
            run.finish()
            with labbook.Api(settings) as api:
                ref = RunRef.parse(run.path, "x")
                counts = {k.key: k.count for k in api.store.metric_keys(ref)}
                assert all(counts.get(n) == steps for n in names), counts
            finish_s = time.perf_counter() - f0
            cpu = _cpu() - cpu0

            # Ingest rate: replay the journal into an empty store.
            fresh = settings.replace(dir=Path(tmp) / "replay")
            Store.open(fresh.resolved_db_url()).close()  # schema creation is not ingest
            rd = next(find_run_dirs([run.journal_dir]))
            rd.acked.unlink()
            i0 = time.perf_counter()
            sync_run(rd, fresh)
            ingest_s = time.perf_counter() - i0

            # The Store alone: the same records, already decoded, into another empty store.
            recs = [rec for _, _, rec in read_records(rd.journal)]
            with Store.open(f"sqlite:///{Path(tmp) / 'store-only.db'}") as only:
                s0 = time.perf_counter()
                for i in range(0, len(recs), STORE_BATCH):
                    only.ingest(ref, recs[i : i + STORE_BATCH])
                store_s = time.perf_counter() - s0
            results.append(
                {
                    "median_us": float(np.median(per_call)) / 1e3,
                    "p99_us": float(np.percentile(per_call, 99)) / 1e3,
                    "cpu_us_per_call": cpu / steps * 1e6,
                    "finish_s": finish_s,
                    "points_per_s": steps * keys / ingest_s,
                    "store_points_per_s": steps * keys / store_s,
                }
            )
            print(f"rep {rep + 1}: " + ", ".join(f"{k}={v:,.2f}" for k, v in results[-1].items()))

    print(f"\nlabbook log() overhead: {steps:,} steps x {keys} scalars, median of {reps} runs")
    print(f"{'metric':<44}{'value':>14}")
    rowsout = [
        ("log() on the training thread, median (us)", "median_us"),
        ("log() on the training thread, p99 (us)", "p99_us"),
        ("process CPU per log() call, all threads (us)", "cpu_us_per_call"),
        ("finish() until every point is queryable (s)", "finish_s"),
        ("labbook sync: journal into SQLite (points/s)", "points_per_s"),
        ("Store.ingest alone into SQLite (points/s)", "store_points_per_s"),
    ]
    for label, key in rowsout:
        print(f"{label:<44}{statistics.median(r[key] for r in results):>14,.2f}")
