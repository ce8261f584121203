"""Store throughput check (not collected by pytest): ``python tests/store/bench_store.py [URL]``.

Ingests one run of 100,000 history rows x 10 float keys in batches of 10,000 rows, then times the
envelope of one 1M-point key in 1,000 buckets. The records are built before the clock starts: the
decode-to-columns step inside ``Store.ingest`` is what is measured, not record construction.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from labbook.store import RunRef, Store

ROWS = 100_000
KEYS = 10
BATCH = 10_000


def records(rows: int, keys: int, seq0: int = 1) -> list[dict]:
    rng = np.random.default_rng(0)
    vals = rng.standard_normal((rows, keys)).tolist()
    names = [f"metric_{k}" for k in range(keys)]
    t0 = time.time()
    return [
        {
            "t": "h",
            "seq": seq0 + i,
            "step": i,
            "ts": t0 + i * 0.001,
            "rt": i * 0.001,
            "d": dict(zip(names, vals[i], strict=True)),
        }
        for i in range(rows)
    ]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = sys.argv[1] if len(sys.argv) > 1 else f"sqlite:///{Path(tmp) / 'bench.db'}"
        store = Store.open(url)
        ref = RunRef("bench", "ingest", f"run{int(time.time())}")
        recs = [{"t": "run", "seq": 1, "name": "bench", "config": {}, "started_at": time.time()}]
        recs += records(ROWS, KEYS, seq0=2)
        batches = [recs[i : i + BATCH] for i in range(0, len(recs), BATCH)]
        best = math.inf
        t = time.perf_counter()
        for b in batches:
            store.ingest(ref, b)
        took = time.perf_counter() - t
        best = min(best, took)
        points = ROWS * KEYS
        print(f"ingest: {points:,} points in {took:.3f}s = {points / took / 1e6:.2f}M points/s")
        # A second run, to see it is not a first-time effect.
        ref2 = RunRef("bench", "ingest", ref.id + "b")
        t = time.perf_counter()
        for b in batches:
            store.ingest(ref2, b)
        took = time.perf_counter() - t
        print(f"ingest (2nd run): {points / took / 1e6:.2f}M points/s")

        key = "metric_0"
        for buckets in (1000, 100, 10_000):
            times = []
            for _ in range(20):
                t = time.perf_counter()
                env = store.history_envelope(ref, key, buckets)
                times.append(time.perf_counter() - t)
            print(
                f"envelope {buckets} buckets over {ROWS:,} points: median "
                f"{1e3 * float(np.median(times)):.2f} ms ({len(env)} buckets)"
            )
        store.ingest(
            ref,
            [
                {
                    "t": "exit",
                    "seq": len(recs) + 1,
                    "code": 0,
                    "ts": time.time(),
                    "state": "finished",
                }
            ],
        )
        times = []
        for _ in range(20):
            t = time.perf_counter()
            env = store.history_envelope(ref, key, 1000)
            times.append(time.perf_counter() - t)
        print(f"envelope after exit merge: median {1e3 * float(np.median(times)):.2f} ms")
        t = time.perf_counter()
        h = store.history(ref, [key])
        print(f"history of one key: {1e3 * (time.perf_counter() - t):.1f} ms, {len(h[key])} points")

        # One key of 1M points (live: 10k-point blocks; then merged at exit).
        big = RunRef("bench", "ingest", ref.id + "big")
        one = records(1_000_000, 1)
        t = time.perf_counter()
        for i in range(0, len(one), BATCH):
            store.ingest(big, one[i : i + BATCH])
        took = time.perf_counter() - t
        print(f"ingest 1 key x 1M rows: {1e6 / took / 1e6:.2f}M points/s")
        for label in ("live", "after exit"):
            for buckets in (1000, 100):
                times = []
                for _ in range(20):
                    t = time.perf_counter()
                    env = store.history_envelope(big, "metric_0", buckets)
                    times.append(time.perf_counter() - t)
                print(
                    f"envelope {buckets} buckets over 1M points ({label}): median "
                    f"{1e3 * float(np.median(times)):.2f} ms"
                )
            store.ingest(
                big,
                [
                    {
                        "t": "exit",
                        "seq": len(one) + 1,
                        "code": 0,
                        "ts": time.time(),
                        "state": "finished",
                    }
                ],
            )
        t = time.perf_counter()
        h = store.history(big, ["metric_0"])
        print(f"history of a 1M-point key: {1e3 * (time.perf_counter() - t):.1f} ms")
        store.close()


if __name__ == "__main__":
    main()
