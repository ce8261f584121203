"""Store reads behind the REST API and the read Api: history pages bounded by the page, fields
no run has, run deletion and config edits (SQLite and PostgreSQL)."""

from __future__ import annotations

import math
import tracemalloc
from typing import Any

import numpy as np
import pytest

from labbook.errors import NotFoundError, ValidationError
from labbook.store import KeySeries, RunRef, Store
from labbook.store.blocks import Collected, KeyBatch, write_history


def _pages(
    store: Store, ref: RunRef, keys: list[str] | None, limit: int, **bounds: Any
) -> list[dict[str, KeySeries]]:
    out = []
    lo = bounds.pop("step_min", None)
    while True:
        page, nxt = store.history_page(ref, keys, limit=limit, step_min=lo, **bounds)
        out.append(page)
        if nxt is None:
            return out
        assert lo is None or nxt > lo  # every page makes progress
        lo = nxt


def test_history_pages_partition_the_series(store: Store, ref: RunRef, journal: Any) -> None:
    recs = [journal.run()]
    recs += journal.rows(250, a=float)  # steps 0..249
    recs += [journal.h(300 + 3 * i, {"b": i, "t": "x" if i % 2 else None}) for i in range(40)]
    recs += [journal.h(400, {"a": 1.5})]
    store.ingest(ref, recs)
    full = store.history(ref)
    for limit in (1, 7, 64, 1000):
        pages = _pages(store, ref, None, limit)
        assert all(len({s for p in pg.values() for s in p.steps.tolist()}) <= limit for pg in pages)
        for key, series in full.items():
            steps = np.concatenate([p[key].steps for p in pages if key in p])
            values = np.concatenate([p[key].values for p in pages if key in p])
            assert steps.tolist() == series.steps.tolist(), (limit, key)
            assert values.tolist() == series.values.tolist()
        if limit == 64:  # pages are full but the last: the bound is not over-cautious
            sizes = [len({s for p in pg.values() for s in p.steps.tolist()}) for pg in pages]
            assert sizes[:-1] == [64] * (len(sizes) - 1)
    window = _pages(store, ref, ["a", "b"], 10, step_min=245, step_max=320)
    got = sorted(s for pg in window for p in pg.values() for s in p.steps.tolist())
    assert got == [*range(245, 250), *range(300, 321, 3)]


def test_a_history_page_reads_only_what_it_returns(store: Store, ref: RunRef, journal: Any) -> None:
    """Each page used to decode every block from its first step to the end of the run, which
    made paging a long series quadratic. A page of 1,000 steps now allocates about that much."""
    n = 2_000_000
    store.ingest(ref, [journal.run()])
    values = np.random.default_rng(1).standard_normal(n)
    with store._write() as conn:
        pk = store._run_pk(conn, ref)
        for lo in range(0, n, 500_000):
            v = values[lo : lo + 500_000]
            steps = np.arange(lo, lo + len(v), dtype=np.int64)
            batch = KeyBatch(np.arange(len(v)), v, "float", [], [], None, float(v[-1]))
            write_history(conn, pk, Collected(steps, 1e9 + steps, {"x": batch}))
    tracemalloc.start()
    try:
        page, nxt = store.history_page(ref, ["x"], limit=1000, step_min=123_456)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert page["x"].steps.tolist() == list(range(123_456, 124_456))
    assert page["x"].values.tolist() == values[123_456:124_456].tolist()
    assert nxt == 124_456
    assert peak < 4_000_000, peak  # the rest of the run is 45 MB


def test_fields_no_run_has(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(
        ref,
        [
            journal.run(config={"lr": 0.1, "optim": {"name": "adam"}}),
            journal.h(0, {"loss": 1.0, "val/acc": 0.5}),
            journal.summary({"best": 2}),
        ],
    )
    assert (
        store.absent_fields("alice", "digits", filters={"config.lr": 1}, order="-summary.best")
        == []
    )
    assert store.absent_fields("alice", "digits", filters={"config.optim.name": "adam"}) == []
    assert store.absent_fields("alice", "digits", order=["state", "-created_at", "tags"]) == []
    notes = store.absent_fields(
        "alice",
        "digits",
        filters={"$or": [{"config.lrr": 1}, {"config.lr": {"$gt": 0}}]},
        order=["-summary.val/ac", "metrics.los.min"],
    )
    assert notes == [
        "no run in alice/digits has config.lrr; did you mean config.lr? "
        "(other config keys: config.optim.name)",
        "no run in alice/digits has summary.val/ac; did you mean summary.val/acc? "
        "(other summary keys: summary.best, summary.loss)",
        "no run in alice/digits has metrics.los.min; did you mean metrics.loss.min? "
        "(other metric keys: metrics.val/acc.min)",
    ]


def test_delete_run_and_edit_its_config(store: Store, ref: RunRef, journal: Any) -> None:
    other = RunRef("alice", "digits", "run2")
    store.ingest(ref, [journal.run(config={"lr": 0.1}), *journal.rows(50, x=float)])
    store.ingest(
        other, [{**journal.run(id="run2"), "seq": 1}, {**journal.h(0, {"x": 2.0}), "seq": 2}]
    )
    store.upsert_file(ref, "model.bin", "a" * 64, 10)
    info = store.update_run(ref, config={"lr": 0.2, "deep": {"x": math.nan}}, group="g")
    assert info.config["lr"] == 0.2 and math.isnan(info.config["deep"]["x"])
    assert info.group == "g"
    with pytest.raises(ValidationError, match="cannot be stored as JSON"):
        store.update_run(ref, config={"f": object()})
    store.delete_run(ref)
    with pytest.raises(NotFoundError):
        store.get_run(ref)
    assert [r.ref.id for r in store.list_runs("alice", "digits")] == ["run2"]
    assert store.history(other)["x"].values.tolist() == [2.0]
    with pytest.raises(NotFoundError):
        store.delete_run(ref)
