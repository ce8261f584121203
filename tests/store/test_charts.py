"""Envelopes of many runs at once (``Store.run_envelopes``): the single-run envelope per series,
and each bucket's first/last point times against a brute-force read of the full history."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from labbook.errors import ProjectNotFound, ValidationError
from labbook.store import RunRef, Store

FIELDS = ("bucket_lo", "first_step", "last_step", "first", "last", "min", "max", "count")


def _times_brute_force(
    steps: np.ndarray, times: np.ndarray, first_step: np.ndarray, last_step: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """History is in canonical order (step, then write order): the first/last point at a step."""
    first = [times[np.flatnonzero(steps == s)[0]] for s in first_step.tolist()]
    last = [times[np.flatnonzero(steps == s)[-1]] for s in last_step.tolist()]
    return np.array(first, np.float64), np.array(last, np.float64)


@pytest.mark.parametrize("seed", range(6))
def test_series_and_times_match_brute_force(
    store: Store, new_journal: Callable[..., Any], seed: int
) -> None:
    rng = np.random.default_rng(7 + seed)
    runs = []
    for r in range(3):
        ref = RunRef("alice", "digits", f"s{seed}r{r}")
        j = new_journal()
        store.ingest(ref, [j.run(id=ref.id, started_at=j.t0 + r)])
        step = 0
        for _ in range(int(rng.integers(2, 7))):
            n = int(rng.choice([1, 40, 1100, 2500]))  # past 1024: a block of its own
            recs = []
            for _ in range(n):
                if seed % 3 == 1 and rng.random() < 0.2 and step > 5:
                    s = step - int(rng.integers(0, 5))  # a step logged again: ties across blocks
                else:
                    step += int(rng.integers(1, 4)) if seed % 2 else 1
                    s = step
                v = float(rng.standard_normal())
                v = math.nan if rng.random() < 0.03 else v
                recs.append(j.h(s, {"x": v}, ts=j.t0 + float(rng.random()) * 1e4))
            store.ingest(ref, recs)
        if seed >= 3:
            store.ingest(ref, [j.exit()])
        runs.append(ref)
    ids = [ref.id for ref in runs]
    for buckets, window in ((1, None), (17, None), (500, None), (100_000, None), (40, (50, 900))):
        smin, smax = window or (None, None)
        series, total = store.run_envelopes(
            "alice", "digits", ["x"], run_ids=ids, buckets=buckets, step_min=smin, step_max=smax
        )
        assert total == 3 and [x.run for x in series] == ids
        for ref, x in zip(runs, series, strict=True):
            one = store.history_envelope(ref, "x", buckets, step_min=smin, step_max=smax)
            for f in FIELDS:
                assert np.array_equal(getattr(x.envelope, f), getattr(one, f), equal_nan=True), f
            h = store.history(ref, ["x"])["x"]
            ft, lt = _times_brute_force(h.steps, h.times, one.first_step, one.last_step)
            assert np.array_equal(x.first_time, ft) and np.array_equal(x.last_time, lt)
            start = store.get_run(ref).started_at
            assert start is not None
            assert np.allclose(x.rt_first, ft - start.timestamp())
            assert np.allclose(x.rt_last, lt - start.timestamp())


def test_choice_of_runs_and_keys(store: Store, new_journal: Callable[..., Any]) -> None:
    for i in range(5):
        ref = RunRef("alice", "digits", f"r{i}")
        j = new_journal()
        recs = [j.run(id=ref.id, config={"lr": float(i)}, started_at=j.t0 + i)]
        recs += [j.h(k, {"a": float(k * i), "t": "x", "b": k}) for k in range(10 + i)]
        store.ingest(ref, recs)
    series, total = store.run_envelopes("alice", "digits", ["b", "a", "t", "zz"], buckets=3)
    assert total == 5  # newest first, the default 20
    assert [(x.run, x.key) for x in series][:4] == [
        ("r4", "b"),
        ("r4", "a"),
        ("r3", "b"),
        ("r3", "a"),
    ]
    series, total = store.run_envelopes(
        "alice", "digits", ["a"], filters={"config.lr": {"$gte": 1}}, order="config.lr", limit=2
    )
    assert [x.run for x in series] == ["r1", "r2"] and total == 4
    assert [int(x.envelope.count.sum()) for x in series] == [11, 12]
    series, total = store.run_envelopes("alice", "digits", ["a"], run_ids=["r2", "nope", "r2"])
    assert [x.run for x in series] == ["r2"] and total == 1
    with pytest.raises(ProjectNotFound):
        store.run_envelopes("alice", "nope", ["a"])
    for kwargs in (
        {"keys": []},
        {"keys": [f"k{i}" for i in range(101)]},
        {"limit": 0},
        {"limit": 1001},
        {"buckets": 0},
        {"limit": 1000, "buckets": 10_001},
        {"run_ids": []},
        {"step_min": 2**64},
    ):
        args: dict[str, Any] = {"keys": ["a"]} | kwargs
        with pytest.raises(ValidationError):
            store.run_envelopes("alice", "digits", **args)
