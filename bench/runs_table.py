"""The dashboard's project-wide reads at 10,000 runs: the runs table, keys, envelopes, importance.

Builds, for each backend (SQLite in a temp dir; PostgreSQL in a schema of its own on
``LABBOOK_TEST_POSTGRES_URL`` when it is set), a project of ``--runs`` runs (10,000 by default)
as the SDK leaves them, ingested through ``Store.ingest``: a config of 12 keys (``lr``,
``batch_size`` and ``optimizer`` vary; one nested dict), 6 metrics over 50 steps (so each is in
the summary and in ``metric_keys``), a ``best_val_acc`` summary key, metadata, tags, and a
finished state. Then times the median of ``--reps`` (after one warm-up) of:

* ``Store.runs_table`` with 12 columns (run fields, config paths, a summary key and metric
  stats) of every run, in the default order, and again filtered and ordered on a metric;
* the same over HTTP (the app in-process through Starlette's TestClient, auth on, a key in every
  request): ``GET .../columns`` as JSON and as msgpack, and the 304 a poll with
  ``If-None-Match`` gets;
* ``GET .../keys``, ``GET .../envelopes`` for 20 runs x 4 metrics and for 1,000 runs x 1 metric,
  and ``GET .../importance`` of the varying config keys for a summary key.

Target (issue 10): the 10,000-run table well under 1 s on both databases.

Examples::

    python bench/runs_table.py
    python bench/runs_table.py --runs 1000 --reps 3
    LABBOOK_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:5432/test \\
        python bench/runs_table.py --backends sqlite,postgresql
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
from fastapi.testclient import TestClient

from labbook import records as rk
from labbook.server import create_app
from labbook.settings import Settings
from labbook.store import RunRef, Store

PG_ENV = "LABBOOK_TEST_POSTGRES_URL"
USER = "bench"
PROJECT = "table"
METRICS = ("loss", "acc", "val_loss", "val_acc", "lr", "epoch")
STEPS = 50
COLUMNS = [
    "name",
    "state",
    "created_at",
    "runtime",
    "config.lr",
    "config.batch_size",
    "config.optimizer",
    "config.model.depth",
    "summary.best_val_acc",
    "metrics.val_loss.min",
    "metrics.val_acc.max",
    "metrics.loss.last",
]


# ------------------------------------------------------------------------------------ building
def build(store: Store, n: int) -> None:
    """``n`` finished runs of the project, ingested as the SDK's journal would send them."""
    rng = np.random.default_rng(5)
    t0 = time.time() - 86_400
    for i in range(n):
        run_id = f"run-{i:05d}"
        lr = float(rng.choice([0.1, 0.01, 0.001, 0.0001]))
        config = {
            "lr": lr,
            "batch_size": int(rng.choice([32, 64, 128])),
            "optimizer": str(rng.choice(["adam", "sgd", "rmsprop"])),
            "epochs": STEPS,
            "filters": 32,
            "kernel": 3,
            "dropout": 0.25,
            "activation": "relu",
            "dataset": "digits",
            "seed": 0,
            "augment": False,
            "model": {"depth": 18, "width": 64},
        }
        start = t0 + i
        recs: list[rk.Record] = [
            {
                "t": rk.RUN,
                "id": run_id,
                "project": PROJECT,
                "entity": USER,
                "name": run_id,
                "tags": ["baseline"] if i % 10 == 0 else [],
                "notes": None,
                "group": None,
                "job_type": None,
                "config": config,
                "started_at": start,
            },
            {"t": rk.META, "m": {"user": "ada", "host": f"gpu{i % 4}", "python": "3.12"}},
        ]
        skill = -np.log10(lr) / 4 + float(rng.normal(0, 0.05))
        for step in range(STEPS):
            p = (step + 1) / STEPS
            d = {
                "loss": float(2.0 * (1 - skill * p) + rng.normal(0, 0.02)),
                "acc": float(skill * p),
                "val_loss": float(2.1 * (1 - skill * p) + rng.normal(0, 0.03)),
                "val_acc": float(skill * p * 0.95),
                "lr": lr,
                "epoch": step,
            }
            recs.append({"t": rk.HISTORY, "step": step, "ts": start + step, "rt": step, "d": d})
        recs.append({"t": rk.SUMMARY, "u": {"best_val_acc": float(skill * 0.95)}})
        recs.append({"t": rk.EXIT, "code": 0, "ts": start + STEPS, "state": "finished"})
        for seq, r in enumerate(recs, 1):
            r["seq"] = seq
        store.ingest(RunRef(USER, PROJECT, run_id), recs)


@contextmanager
def backend(name: str, tmp: Path) -> Iterator[dict[str, str]]:
    """Settings fields of a fresh database of ``name``; dropped afterwards."""
    if name == "sqlite":
        yield {"db_url": f"sqlite:///{tmp / 'bench.db'}"}
        return
    url = os.environ[PG_ENV]
    schema = "lbbench_" + uuid.uuid4().hex[:10]
    try:
        yield {"db_url": url, "db_schema": schema}
    finally:
        import sqlalchemy as sa

        engine = sa.create_engine(url, poolclass=sa.NullPool)
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


# ----------------------------------------------------------------------------------- measuring
def median_ms(fn: Callable[[], Any], reps: int) -> float:
    fn()  # warm-up: connections, caches, imports
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def measure(db: dict[str, str], tmp: Path, nruns: int, reps: int) -> dict[str, float]:
    settings = Settings(dir=tmp / "data", auth=True, entity=USER, **db)
    app = create_app(settings)
    store: Store = app.state.store
    t = time.perf_counter()
    build(store, nruns)
    print(f"  built {nruns:,} runs in {time.perf_counter() - t:.1f}s", flush=True)
    if store.dialect == "postgresql":  # planner statistics, as autovacuum keeps them after a load
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
    store.create_user(USER, admin=True)
    auth = {"Authorization": f"Bearer {store.create_key(USER).key}"}
    base = f"/api/v1/projects/{USER}/{PROJECT}"
    select = ",".join(COLUMNS)
    flt = {"config.optimizer": "adam", "metrics.val_acc.max": {"$gt": 0.2}}
    out: dict[str, float] = {}
    with TestClient(app) as client:

        def get(url: str, status: int = 200, **headers: str) -> Any:
            r = client.get(base + url, headers=auth | headers)
            assert r.status_code == status, (url, r.status_code, r.text[:300])
            return r

        table = store.runs_table(USER, PROJECT, COLUMNS)
        assert table.total == nruns and len(table.ids) == min(nruns, 10_000)
        assert all(len(v) == len(table.ids) for v in table.columns.values())
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("Store.runs_table, 12 columns", lambda: store.runs_table(USER, PROJECT, COLUMNS)),
            (
                "Store.runs_table, filter + order on a metric",
                lambda: store.runs_table(
                    USER, PROJECT, COLUMNS, filters=flt, order="-metrics.val_acc.max"
                ),
            ),
            ("GET columns, JSON", lambda: get(f"/columns?select={select}")),
            (
                "GET columns, msgpack",
                lambda: get(f"/columns?select={select}", accept="application/msgpack"),
            ),
        ]
        tag = get(f"/columns?select={select}").headers["etag"]
        cases += [
            (
                "GET columns, If-None-Match → 304",
                lambda: get(f"/columns?select={select}", 304, **{"if-none-match": tag}),
            ),
            ("GET keys", lambda: get("/keys")),
            (
                "GET envelopes, 20 runs x 4 metrics",
                lambda: get("/envelopes?keys=loss,acc,val_loss,val_acc&limit=20"),
            ),
            (
                "GET envelopes, 1,000 runs x 1 metric",
                lambda: get("/envelopes?keys=val_loss&limit=1000&buckets=200"),
            ),
            (
                "GET importance (3 varying keys)",
                lambda: get(f"/importance?metric={quote('summary.best_val_acc')}"),
            ),
        ]
        body = get(f"/columns?select={select}").content
        print(f"  columns JSON body: {len(body) / 1e6:.2f} MB", flush=True)
        for label, fn in cases:
            out[label] = median_ms(fn, reps)
            print(f"  {label}: {out[label]:.1f} ms", flush=True)
    store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--reps", type=int, default=5)
    default = "sqlite,postgresql" if os.environ.get(PG_ENV) else "sqlite"
    parser.add_argument("--backends", default=default, help=f"comma-separated (default {default})")
    parser.add_argument("--json", dest="json_out", help="also write the medians to this file")
    args = parser.parse_args(argv)
    names = [b for b in args.backends.split(",") if b]
    if "postgresql" in names and not os.environ.get(PG_ENV):
        parser.error(f"postgresql needs {PG_ENV}")
    results: dict[str, dict[str, float]] = {}
    for name in names:
        tmp = Path(tempfile.mkdtemp(prefix="labbook-table-bench-"))
        try:
            print(f"{name}:", flush=True)
            with backend(name, tmp) as db:
                results[name] = measure(db, tmp, args.runs, args.reps)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    labels = list(next(iter(results.values())))
    width = max(map(len, labels))
    print(f"\nmedians of {args.reps}, ms ({args.runs:,} runs; load {os.getloadavg()[0]:.2f})")
    print(f"{'':{width}}  " + "  ".join(f"{n:>10}" for n in names))
    for label in labels:
        print(f"{label:{width}}  " + "  ".join(f"{results[n][label]:10.1f}" for n in names))
    if args.json_out:
        Path(args.json_out).write_text(
            json.dumps({"runs": args.runs, "results": results}, indent=2)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
