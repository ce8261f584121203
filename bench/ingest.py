"""Server ingest and chart-query speed: one real ``labbook server`` process, over HTTP.

For each backend (``--backends sqlite,postgres``, both by default) the benchmark makes a fresh
database (SQLite file in a temp dir; PostgreSQL ``labbook_bench_<pid>``, created and dropped on the
server given by ``--pg-url``), creates a site admin and an API key with the admin CLI, starts
``labbook server --auth`` on a free loopback port (auth ON: every request carries the key, as the
SDK's would) and measures:

1. HTTP ingest: one run, 100,000 steps x 10 float keys (1M points), posted as 10 batches of 10,000
   ``h`` records (msgpack bodies built with the SDK's own ``record_bodies`` / ``records.encode``,
   gzip level 1 like ``HttpSink``), one after the other from this process over one keep-alive
   connection. Timed from the first request to the last answer; the bodies are encoded before the
   clock starts and that client cost is reported on its own. Median of ``--reps`` runs, each into
   a fresh run id. The server's own CPU seconds (from ``/proc``) are shown too.
2. Envelope latency: one run with ONE key of 10,000,000 points (random walk with NaN/Inf and
   spikes), posted in batches of 100,000 rows, then an ``exit`` record (which merges the small
   blocks). Then ``GET .../envelope?key=&buckets=1000`` with ``Accept: application/msgpack``
   over one keep-alive httpx client: 50 times each over the full range, random 10% windows and
   random 1% windows (p50 = median, p99, ms), and the same queries as ``Store.history_envelope``
   calls in a fresh process (no HTTP), to separate the HTTP cost from the query. The dashboard's
   ``GET .../envelopes?keys=&runs=`` for that one run (full range, each bucket's wall and
   relative times included) is timed the same way, over HTTP and as ``Store.run_envelopes``,
   beside ``Store.history_envelope(times=True)``. Last, in that
   process, the key's sub-block statistics are deleted (blocks as a labbook before revision 0003
   wrote them) and one full-range call is timed: it decodes every block and stores their
   statistics, once; the next call is timed too.

Targets (from the issues): ingest >= 1M points/s per process into SQLite; full-range envelope of
10M points <= 20 ms median at the Store, on SQLite and PostgreSQL (issue 10).

``--quick`` divides every size by 10 (a smoke run); ``--skip-ingest`` measures the envelope
only. ``--profile`` skips the server and instead
profiles the ingest route in-process (``create_app`` + ``TestClient``, SQLite) with cProfile.

Examples::

    python bench/ingest.py
    python bench/ingest.py --quick --backends sqlite
    python bench/ingest.py --profile
"""

from __future__ import annotations

import argparse
import gzip
import json
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import numpy as np

from labbook import records as rk
from labbook.client import MSGPACK, Client, decode_body, run_path
from labbook.sdk.http.sink import record_bodies
from labbook.store import RunRef, Store

DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
USER = "bench"
PROJECT = "ingest"
GZIP_LEVEL = 1  # what HttpSink.send uses
NO_SPLIT = 1 << 62  # record_bodies limit: one body per batch, whatever its size
_decode = msgspec.msgpack.Decoder()


# ---------------------------------------------------------------------------- small helpers
def _pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (Linux ``/proc``; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def _cli(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"labbook {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout


@contextmanager
def _database(backend: str, tmp: Path, pg_url: str) -> Iterator[str]:
    """A fresh, empty database URL for ``backend``; a PostgreSQL one is dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(pg_url)
    name = f"labbook_bench_{os.getpid()}"
    dsn = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Server:
    """``labbook server`` as a subprocess (terminated and waited for on exit)."""

    def __init__(self, db: str, tmp: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp / "server.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        cmd = [
            sys.executable,
            "-m",
            "labbook.cli.main",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db",
            db,
            "--blobs",
            (tmp / "blobs").as_uri(),
            "--auth",
        ]
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._log, stderr=subprocess.STDOUT)

    def wait_ready(self, key: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited ({self.proc.returncode}): {self.tail()}")
            try:
                r = httpx.get(
                    f"{self.base}/api/v1/viewer",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=2.0,
                )
                if r.status_code == 200:
                    return
                raise RuntimeError(f"/viewer answered {r.status_code}: {r.text}")
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"server did not start within {timeout}s: {self.tail()}")

    def cpu(self) -> float:
        return _proc_cpu(self.proc.pid)

    def tail(self) -> str:
        self._log.flush()
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


# ---------------------------------------------------------------------------- workloads
def _h_records(
    first_seq: int, step0: int, cols: dict[str, list[float]], t0: float
) -> list[rk.Record]:
    """``h`` records as the SDK's ``Run._commit`` builds them, seq as its writer frames them."""
    names = list(cols)
    n = len(cols[names[0]])
    recs = []
    for i, vals in enumerate(zip(*cols.values(), strict=True)):
        ts = t0 + (step0 + i) * 1e-4
        recs.append(
            {
                "t": rk.HISTORY,
                "step": step0 + i,
                "ts": ts,
                "rt": ts - t0,
                "d": dict(zip(names, vals, strict=True)),
                "seq": first_seq + i,
            }
        )
    assert len(recs) == n
    return recs


def _encode(batch: list[rk.Record]) -> bytes:
    """One gzip'd msgpack ``{"records": [...]}`` body, exactly as HttpSink makes it."""
    (body,) = record_bodies(batch, NO_SPLIT)
    return gzip.compress(body, compresslevel=GZIP_LEVEL)


def _header(run_id: str, seq: int = 1) -> rk.Record:
    return {
        "t": rk.RUN,
        "seq": seq,
        "id": run_id,
        "project": PROJECT,
        "entity": USER,
        "name": run_id,
        "tags": [],
        "notes": None,
        "group": None,
        "job_type": None,
        "config": {},
        "started_at": time.time(),
    }


class Bench:
    def __init__(self, base: str, key: str) -> None:
        # retry=False on every call: a failure must fail the benchmark, not hide in a retry.
        self.client = Client(base, key, timeout=600.0, retry_seconds=0.0)

    def open_run(self, run_id: str) -> str:
        path = run_path(RunRef(USER, PROJECT, run_id))
        self.client.request("PUT", path, json_body={}, retry=False)
        self.post(path, _encode([_header(run_id)]))  # seq 1, untimed
        return path

    def post(self, path: str, body: bytes) -> int:
        resp = self.client.request(
            "POST",
            path + "/records",
            content=body,
            headers={"Content-Type": MSGPACK, "Content-Encoding": "gzip"},
            retry=False,
        )
        return int(decode_body(resp)["last_seq"])

    def counts(self, path: str) -> dict[str, int]:
        return {m["key"]: int(m["count"]) for m in self.client.get(path + "/metrics")}

    def close(self) -> None:
        self.client.close()


def ingest_rep(
    bench: Bench, server: Server, run_id: str, steps: int, keys: int, batch: int
) -> dict:
    rng = np.random.default_rng(zlib.crc32(run_id.encode()))
    data = rng.standard_normal((steps, keys))
    names = [f"metric_{i}" for i in range(keys)]
    path = bench.open_run(run_id)
    t0 = time.time()

    # Client side, before the clock: build the records, then msgpack + gzip them.
    b0 = time.perf_counter()
    batches = []
    for start in range(0, steps, batch):
        chunk = data[start : start + batch]
        cols = {n: chunk[:, j].tolist() for j, n in enumerate(names)}
        batches.append(_h_records(2 + start, start, cols, t0))
    build_s = time.perf_counter() - b0
    e0 = time.perf_counter()
    bodies = [_encode(b) for b in batches]
    encode_s = time.perf_counter() - e0
    del batches

    cpu0 = server.cpu()
    lat = []
    w0 = time.perf_counter()
    last = 0
    for body in bodies:
        r0 = time.perf_counter()
        last = bench.post(path, body)
        lat.append(time.perf_counter() - r0)
    wall = time.perf_counter() - w0
    server_cpu = server.cpu() - cpu0
    assert last == steps + 1, (last, steps + 1)
    got = bench.counts(path)
    assert all(got.get(n) == steps for n in names), got
    points = steps * keys
    return {
        "points_per_s": points / wall,
        "wall_s": wall,
        "request_ms_p50": _pct(lat, 50) * 1e3,
        "request_ms_max": max(lat) * 1e3,
        "server_cpu_s": server_cpu,
        "server_cpu_share": server_cpu / wall,
        "build_s": build_s,
        "encode_s": encode_s,
        "encode_points_per_s": points / encode_s,
        "body_mb": sum(map(len, bodies)) / len(bodies) / 1e6,
    }


def series(n: int, seed: int = 11) -> np.ndarray:
    """A random walk with spikes, NaN and ±Inf sprinkled in."""
    rng = np.random.default_rng(seed)
    v = np.cumsum(rng.standard_normal(n) * 0.01)
    idx = rng.choice(n, size=max(1, n // 10_000), replace=False)
    v[idx] *= 100.0  # spikes
    v[rng.choice(n, size=max(1, n // 100_000), replace=False)] = np.nan
    v[rng.choice(n, size=max(1, n // 1_000_000), replace=False)] = np.inf
    v[rng.choice(n, size=max(1, n // 1_000_000), replace=False)] = -np.inf
    return v


Ranges = list[tuple[int | None, int | None]]


def store_envelope_times(
    db: str, run_id: str, key: str, *range_lists: Ranges
) -> tuple[list[float], ...]:
    """Seconds per ``Store.history_envelope`` call for each list of ranges (after 3 warm-ups)."""
    ref = RunRef(USER, PROJECT, run_id)
    store = Store.open(db)
    try:
        out = []
        for ranges in range_lists:
            times = []
            for lo, hi in [ranges[0]] * 3 + ranges:
                q0 = time.perf_counter()
                env = store.history_envelope(ref, key, 1000, step_min=lo, step_max=hi)
                times.append(time.perf_counter() - q0)
                assert 0 < len(env.bucket_lo) <= 1000
            out.append(times[3:])
        return tuple(out)
    finally:
        store.close()


def store_many_times(db: str, run_id: str, key: str, n: int) -> tuple[list[float], list[float]]:
    """Seconds per full-range ``Store.run_envelopes`` call for the one run and key (wall times
    and relative times included), and per ``Store.history_envelope(times=True)`` (after 3
    warm-ups each)."""
    ref = RunRef(USER, PROJECT, run_id)
    store = Store.open(db)
    try:
        many, one = [], []
        for _ in range(n + 3):
            q0 = time.perf_counter()
            series, _ = store.run_envelopes(USER, PROJECT, [key], run_ids=[run_id], buckets=1000)
            many.append(time.perf_counter() - q0)
            assert len(series[0].first_time) == len(series[0].envelope) > 0
            q0 = time.perf_counter()
            store.history_envelope(ref, key, 1000, times=True)
            one.append(time.perf_counter() - q0)
        return many[3:], one[3:]
    finally:
        store.close()


def store_backfill_times(db: str, run_id: str, key: str) -> tuple[float, float]:
    """Seconds of a full-range call over blocks without statistics (they are deleted first), and
    of the call after it (statistics stored by the first)."""
    import sqlalchemy as sa

    from labbook.store.schema import history_block_stats, history_blocks, metric_keys

    ref = RunRef(USER, PROJECT, run_id)
    store = Store.open(db)
    try:
        hb, mk = history_blocks, metric_keys
        ids = sa.select(hb.c.id).join(mk, mk.c.id == hb.c.key_id).where(mk.c.key == key)
        with store.engine.begin() as conn:
            conn.execute(
                sa.delete(history_block_stats).where(history_block_stats.c.block_id.in_(ids))
            )
        out = []
        for _ in range(2):
            q0 = time.perf_counter()
            store.history_envelope(ref, key, 1000)
            out.append(time.perf_counter() - q0)
        return out[0], out[1]
    finally:
        store.close()


def envelope_bench(
    bench: Bench, server: Server, db: str, points: int, batch: int, queries: int
) -> dict:
    run_id = "envelope"
    key = "loss"
    path = bench.open_run(run_id)
    values = series(points)
    t0 = time.time()
    client_s = 0.0
    cpu0 = server.cpu()
    w0 = time.perf_counter()
    for start in range(0, points, batch):
        c0 = time.perf_counter()
        chunk = values[start : start + batch].tolist()
        body = _encode(_h_records(2 + start, start, {key: chunk}, t0))
        client_s += time.perf_counter() - c0
        bench.post(path, body)
    ingest_wall = time.perf_counter() - w0
    ingest_cpu = server.cpu() - cpu0
    x0 = time.perf_counter()
    last = bench.post(
        path,
        _encode(
            [{"t": rk.EXIT, "seq": points + 2, "code": 0, "ts": time.time(), "state": "finished"}]
        ),
    )
    exit_s = time.perf_counter() - x0
    assert last == points + 2, last
    assert bench.counts(path).get(key) == points

    rng = np.random.default_rng(5)

    def random_windows(width: int) -> Ranges:
        return [(int(lo), int(lo) + width - 1) for lo in rng.integers(0, points - width, queries)]

    windows = random_windows(max(1, points // 100))
    tenths = random_windows(max(1, points // 10))
    url = f"{server.base}/api/v1{path}/envelope"
    headers = {"Accept": MSGPACK, "Authorization": f"Bearer {bench.client.api_key}"}

    def http_times(ranges: Ranges) -> tuple[list[float], int]:
        out = []
        size = 0
        with httpx.Client(headers=headers, timeout=60.0) as http:
            for lo, hi in [ranges[0]] * 3 + ranges:  # 3 warm-up calls first
                params: dict[str, Any] = {"key": key, "buckets": 1000}
                if lo is not None:
                    params.update(step_min=lo, step_max=hi)
                q0 = time.perf_counter()
                r = http.get(url, params=params)
                r.raise_for_status()
                out.append(time.perf_counter() - q0)
                size = len(r.content)
                env = _decode.decode(r.content)
                assert 0 < len(env["bucket_lo"]) <= 1000, len(env["bucket_lo"])
        return out[3:], size

    def http_many_times() -> tuple[list[float], int]:
        """``GET .../envelopes`` for this one run and key, full range, with its bucket times."""
        many_url = f"{server.base}/api/v1/projects/{USER}/{PROJECT}/envelopes"
        params = {"keys": key, "runs": run_id, "buckets": 1000}
        out = []
        with httpx.Client(headers=headers, timeout=60.0) as http:
            for _ in range(queries + 3):
                q0 = time.perf_counter()
                r = http.get(many_url, params=params)
                r.raise_for_status()
                out.append(time.perf_counter() - q0)
                (x,) = _decode.decode(r.content)["series"]
                assert 0 < len(x["first_time"]) == len(x["bucket_lo"]) <= 1000
        return out[3:], len(r.content)

    full: Ranges = [(None, None)] * queries
    http_full, full_bytes = http_times(full)
    http_many, many_bytes = http_many_times()
    http_zoom, _ = http_times(windows)
    http_tenth, _ = http_times(tenths)

    # The store call alone, in a fresh process like the server's (this one has just built 10M
    # records, and its heap makes the call's garbage collections slower than the server's).
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        store_full, store_zoom, store_tenth = pool.apply(
            store_envelope_times, (db, run_id, key, full, windows, tenths)
        )
        store_many, store_one_timed = pool.apply(store_many_times, (db, run_id, key, queries))
        backfill_s, after_backfill_s = pool.apply(store_backfill_times, (db, run_id, key))
    ms = 1e3
    return {
        "env_points": points,
        "env_ingest_points_per_s": points / ingest_wall,
        "env_ingest_s": ingest_wall,
        "env_ingest_client_s": client_s,
        "env_ingest_server_cpu_s": ingest_cpu,
        "env_exit_s": exit_s,
        "env_full_http_p50": _pct(http_full, 50) * ms,
        "env_full_http_p99": _pct(http_full, 99) * ms,
        "env_zoom_http_p50": _pct(http_zoom, 50) * ms,
        "env_zoom_http_p99": _pct(http_zoom, 99) * ms,
        "env_full_store_p50": _pct(store_full, 50) * ms,
        "env_full_store_p99": _pct(store_full, 99) * ms,
        "env_zoom_store_p50": _pct(store_zoom, 50) * ms,
        "env_zoom_store_p99": _pct(store_zoom, 99) * ms,
        "env_tenth_http_p50": _pct(http_tenth, 50) * ms,
        "env_tenth_store_p50": _pct(store_tenth, 50) * ms,
        "env_tenth_store_p99": _pct(store_tenth, 99) * ms,
        "env_many_http_p50": _pct(http_many, 50) * ms,
        "env_many_http_p99": _pct(http_many, 99) * ms,
        "env_many_store_p50": _pct(store_many, 50) * ms,
        "env_many_store_p99": _pct(store_many, 99) * ms,
        "env_timed_store_p50": _pct(store_one_timed, 50) * ms,
        "env_many_bytes": many_bytes,
        "env_backfill_ms": backfill_s * ms,
        "env_after_backfill_ms": after_backfill_s * ms,
        "env_full_bytes": full_bytes,
    }


# ---------------------------------------------------------------------------- driver
def run_backend(backend: str, args: argparse.Namespace, sizes: dict[str, int]) -> dict:
    with ExitStack() as stack:
        tmp = Path(tempfile.mkdtemp(prefix=f"labbook-bench-{backend}-"))
        stack.callback(shutil.rmtree, tmp, ignore_errors=True)
        db = stack.enter_context(_database(backend, tmp, args.pg_url))
        env = {k: v for k, v in os.environ.items() if not k.startswith("LABBOOK_")}
        env["LABBOOK_DIR"] = str(tmp / "data")
        _cli("users", "create", USER, "--admin", "--db", db, env=env)
        key = _cli("keys", "create", USER, "--name", "bench", "--db", db, env=env).split()[0]
        server = Server(db, tmp, env)
        stack.callback(server.stop)
        server.wait_ready(key)
        bench = Bench(server.base, key)
        stack.callback(bench.close)
        print(f"[{backend}] server pid {server.proc.pid} on {server.base} (auth on)", flush=True)

        load0 = os.getloadavg()[0]
        reps = []
        out: dict[str, Any] = {}
        for rep in range(0 if args.skip_ingest else args.reps):
            r = ingest_rep(
                bench, server, f"ingest-{rep}", sizes["steps"], sizes["keys"], sizes["batch"]
            )
            reps.append(r)
            print(
                f"[{backend}] ingest rep {rep + 1}: {r['points_per_s']:,.0f} points/s "
                f"({r['wall_s']:.2f}s, server CPU {r['server_cpu_s']:.2f}s)",
                flush=True,
            )
        if reps:
            out = {k: statistics.median(r[k] for r in reps) for k in reps[0]}
            out["reps"] = reps
        if not args.skip_envelope:
            out.update(
                envelope_bench(
                    bench, server, db, sizes["env_points"], sizes["env_batch"], args.queries
                )
            )
        # The host's 1-minute load around the measurement: other work on the machine skews it.
        out["loadavg_1m"] = (load0, os.getloadavg()[0])
        return out


def print_table(backend: str, res: dict, sizes: dict[str, int], reps: int) -> None:
    print(
        f"\nlabbook server ingest/query, backend {backend}: one `labbook server` process "
        f"(auth on), client in another process"
    )
    lo, hi = res["loadavg_1m"]
    print(f"host: {os.cpu_count()} CPUs, 1-min load average {lo:.2f} before, {hi:.2f} after")
    print(f"{'metric':<66}{'value':>14}")

    def row(label: str, value: float, fmt: str = ",.2f") -> None:
        print(f"{label:<66}{value:>14{fmt}}")

    if "points_per_s" in res:
        print_ingest(res, sizes, reps, row)
    if "env_points" not in res:
        return
    print(
        f"-- envelope: 1 key x {res['env_points']:,} points, batches of {sizes['env_batch']:,}, "
        f"buckets=1000, msgpack"
    )
    row(
        "ingest incl. client build/encode, streamed (points/s)",
        res["env_ingest_points_per_s"],
        ",.0f",
    )
    row("  of which client build + encode (s)", res["env_ingest_client_s"])
    row("  server process CPU (s)", res["env_ingest_server_cpu_s"])
    row("exit record (merges small blocks) (s)", res["env_exit_s"])
    for label, name in (("full range", "full"), ("random 1% window", "zoom")):
        row(f"{label}, HTTP p50 (ms)", res[f"env_{name}_http_p50"])
        row(f"{label}, HTTP p99 (ms)", res[f"env_{name}_http_p99"])
        row(
            f"{label}, Store.history_envelope, fresh process, p50 (ms)",
            res[f"env_{name}_store_p50"],
        )
        row(
            f"{label}, Store.history_envelope, fresh process, p99 (ms)",
            res[f"env_{name}_store_p99"],
        )
    row("random 10% window, HTTP p50 (ms)", res["env_tenth_http_p50"])
    row("random 10% window, Store.history_envelope, p50 (ms)", res["env_tenth_store_p50"])
    row("random 10% window, Store.history_envelope, p99 (ms)", res["env_tenth_store_p99"])
    row("full range, GET .../envelopes (with times), HTTP p50 (ms)", res["env_many_http_p50"])
    row("full range, GET .../envelopes (with times), HTTP p99 (ms)", res["env_many_http_p99"])
    row("full range, Store.run_envelopes, p50 (ms)", res["env_many_store_p50"])
    row("full range, Store.run_envelopes, p99 (ms)", res["env_many_store_p99"])
    row("full range, Store.history_envelope(times=True), p50 (ms)", res["env_timed_store_p50"])
    row("full range, GET .../envelopes response (KB)", res["env_many_bytes"] / 1e3)
    row("full range, blocks without statistics, first call (ms)", res["env_backfill_ms"])
    row("full range, the call after it (ms)", res["env_after_backfill_ms"])
    row("full-range response (KB)", res["env_full_bytes"] / 1e3)
    if res["env_points"] >= 10_000_000:
        met = "MET" if res["env_full_store_p50"] <= 20.0 else "NOT MET"
        print(f"target full-range envelope <= 20 ms median at the Store: {met}")


def print_ingest(res: dict, sizes: dict[str, int], reps: int, row: Any) -> None:
    pts = sizes["steps"] * sizes["keys"]
    head = (
        f"{sizes['steps']:,} steps x {sizes['keys']} floats ({pts:,} points), "
        f"batches of {sizes['batch']:,}, median of {reps}"
    )
    print(f"-- HTTP ingest: {head}")
    row("HTTP ingest, first request to last answer (points/s)", res["points_per_s"], ",.0f")
    row("  wall time (s)", res["wall_s"])
    row("  per request, median (ms)", res["request_ms_p50"])
    row("  server process CPU / wall", res["server_cpu_share"])
    row("  gzip'd body per batch (MB)", res["body_mb"])
    row("client: build h records, untimed above (s)", res["build_s"])
    row("client: msgpack + gzip, untimed above (s)", res["encode_s"])
    row("client: msgpack + gzip rate (points/s)", res["encode_points_per_s"], ",.0f")


def profile(sizes: dict[str, int], top: int) -> None:
    """Where the ingest route's time goes, in-process (no HTTP), SQLite, one thread.

    Runs the same steps as ``POST .../records`` for the 1M-point workload, batch by batch: gunzip,
    msgpack decode, ``check_records``, ``Store.ingest``; prints the seconds of each phase, then a
    cProfile of the whole sequence (a ``TestClient`` would run the app on another thread, out of
    cProfile's sight). The end-to-end rate through ``create_app`` + ``TestClient`` is printed too.
    """
    import cProfile
    import pstats

    from fastapi.testclient import TestClient

    from labbook.server.app import create_app
    from labbook.server.routes.records import check_records
    from labbook.server.wire import decode_body as wire_decode
    from labbook.settings import Settings

    data = np.random.default_rng(1).standard_normal((sizes["steps"], sizes["keys"]))
    names = [f"metric_{i}" for i in range(sizes["keys"])]
    bodies = []
    for s in range(0, sizes["steps"], sizes["batch"]):
        chunk = data[s : s + sizes["batch"]]
        cols = {n: chunk[:, j].tolist() for j, n in enumerate(names)}
        bodies.append(_encode(_h_records(2 + s, s, cols, time.time())))
    pts = sizes["steps"] * sizes["keys"]
    hdr = {"Content-Type": MSGPACK, "Content-Encoding": "gzip"}

    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        # 1. End to end through the ASGI app (no sockets), for reference.
        settings = Settings(
            dir=tmp / "data",
            db_url=f"sqlite:///{tmp / 'app.db'}",
            blobs_uri=(tmp / "blobs").as_uri(),
            auth=False,
            entity=USER,
        )
        with TestClient(create_app(settings)) as tc:
            path = "/api/v1" + run_path(RunRef(USER, PROJECT, "prof"))
            tc.put(path, json={}).raise_for_status()
            tc.post(path + "/records", content=_encode([_header("prof")]), headers=hdr)
            w0 = time.perf_counter()
            for body in bodies:
                tc.post(path + "/records", content=body, headers=hdr).raise_for_status()
            app_s = time.perf_counter() - w0
        print(f"create_app + TestClient: {pts:,} points in {app_s:.3f}s = {pts / app_s:,.0f}/s")

        # 2. The route's phases, one thread: timed (no profiler), then again under cProfile.
        store = Store.open(f"sqlite:///{tmp / 'phases.db'}")
        try:
            phase = dict.fromkeys(
                ("gunzip", "msgpack decode", "check_records", "Store.ingest"), 0.0
            )
            prof = cProfile.Profile()
            for run_id, profiled in (("phases", False), ("profiled", True)):
                ref = RunRef(USER, PROJECT, run_id)  # ingest creates project and run
                store.ingest(ref, [_header(run_id)])
                for body in bodies:
                    if profiled:
                        prof.enable()
                    c = time.perf_counter
                    t0 = c()
                    raw = zlib.decompressobj(wbits=31).decompress(body)
                    t1 = c()
                    payload = wire_decode(raw, MSGPACK)
                    t2 = c()
                    recs = check_records(payload)
                    t3 = c()
                    store.ingest(ref, recs)
                    t4 = c()
                    if profiled:
                        prof.disable()
                    else:
                        ts = (t1 - t0, t2 - t1, t3 - t2, t4 - t3)
                        for k, v in zip(phase, ts, strict=True):
                            phase[k] += v
        finally:
            store.close()
    total = sum(phase.values())
    print(
        f"route phases, in-process, no profiler: {pts:,} points in {total:.3f}s "
        f"= {pts / total:,.0f}/s"
    )
    for k, v in phase.items():
        print(f"  {k:<16}{v:>8.3f}s {100 * v / total:>5.1f}%")
    stats = pstats.Stats(prof).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _cleanup_on_signals() -> None:
    """Ctrl-C and SIGTERM unwind through the ``finally`` blocks (server, database, temp dir).

    SIGINT is set explicitly: a shell starts a background job with it ignored.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgres", help="comma-separated")
    parser.add_argument("--reps", type=int, default=3, help="ingest repetitions (fresh run each)")
    parser.add_argument("--quick", action="store_true", help="1/10 sizes (smoke run)")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL server (any database)")
    parser.add_argument("--queries", type=int, default=50, help="envelope queries per kind")
    parser.add_argument("--skip-envelope", action="store_true", help="ingest only")
    parser.add_argument("--skip-ingest", action="store_true", help="envelope only")
    parser.add_argument("--profile", action="store_true", help="cProfile the route in-process")
    parser.add_argument("--top", type=int, default=30, help="rows of --profile output")
    parser.add_argument(
        "--profile-keys", type=int, default=10, help="keys per row for --profile (1: the 10M case)"
    )
    parser.add_argument("--json", dest="json_out", help="also write raw results to this file")
    args = parser.parse_args(argv)

    div = 10 if args.quick else 1
    sizes = {
        "steps": 100_000 // div,
        "keys": 10,
        "batch": 10_000 // div,
        "env_points": 10_000_000 // div,
        "env_batch": 100_000 // div,
    }
    if args.profile:
        if args.profile_keys != sizes["keys"]:  # same number of points, fewer keys per row
            sizes["steps"] = sizes["steps"] * sizes["keys"] // args.profile_keys
            sizes["batch"] = sizes["batch"] * sizes["keys"] // args.profile_keys
            sizes["keys"] = args.profile_keys
        profile(sizes, args.top)
        return 0
    _cleanup_on_signals()
    results = {}
    for backend in (b.strip() for b in args.backends.split(",") if b.strip()):
        if backend not in ("sqlite", "postgres"):
            parser.error(f"unknown backend {backend!r}")
        results[backend] = run_backend(backend, args, sizes)
        print_table(backend, results[backend], sizes, args.reps)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"sizes": sizes, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
