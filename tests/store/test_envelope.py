"""The envelope against a brute-force numpy computation, for many block layouts and ranges."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from labbook.errors import NotFoundError, UsageError, ValidationError
from labbook.store import Envelope, RunRef, Store
from labbook.store import history as hist

FIELDS = ("bucket_lo", "first_step", "last_step", "first", "last", "min", "max", "count")


def brute_force(
    steps: np.ndarray, values: np.ndarray, lo: int, hi: int, buckets: int
) -> dict[str, np.ndarray]:
    """Points in canonical order (step-sorted, ties in write order) → per-bucket statistics,
    with Python integers for the bucket arithmetic and a plain loop over buckets."""
    order = np.argsort(steps, kind="stable")
    steps, values = steps[order], values[order].astype(np.float64)
    m = (steps >= lo) & (steps <= hi)
    steps, values = steps[m], values[m]
    width = hi - lo + 1
    b = np.array([min((int(s) - lo) * buckets // width, buckets - 1) for s in steps], dtype=int)
    out: dict[str, list[Any]] = {f: [] for f in FIELDS}
    for k in sorted(set(b.tolist())):
        sel = b == k
        s, v = steps[sel], values[sel]
        out["bucket_lo"].append(
            lo + math.ceil(k * width / buckets)
            if width * k < 2**52
            else lo + -(-(k * width) // buckets)
        )
        out["first_step"].append(s[0])
        out["last_step"].append(s[-1])
        out["first"].append(v[0])
        out["last"].append(v[-1])
        finite = v[~np.isnan(v)]
        out["min"].append(finite.min() if len(finite) else math.nan)
        out["max"].append(finite.max() if len(finite) else math.nan)
        out["count"].append(len(v))
    return {f: np.array(x) for f, x in out.items()}


def assert_envelope(env: Envelope, want: dict[str, np.ndarray]) -> None:
    for f in FIELDS:
        got = getattr(env, f)
        assert len(got) == len(want[f]), f
        if f in ("first", "last", "min", "max"):
            assert np.array_equal(got, want[f].astype(np.float64), equal_nan=True), f
            if f in ("first", "last"):  # these are points: even a -0.0 must be the very value
                assert np.array_equal(np.signbit(got), np.signbit(want[f].astype(np.float64))), f
        else:
            assert np.array_equal(got, want[f]), f


class FakeBlocks:
    """Blocks built by the history module, held in memory, with a loader that records what it
    decodes (to check that wholly-contained blocks are never decoded)."""

    def __init__(self, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> None:
        self.blocks: list[hist.Block] = []
        for steps, values in parts:
            dtype = {"f": "float", "i": "int", "b": "bool"}[values.dtype.kind]
            self.blocks.extend(
                hist.make_blocks(steps, values, np.zeros(len(steps)), dtype, cap=len(steps) or 1)
            )
        self.loaded: list[int] = []

    def stats(self) -> hist.BlockStats:
        return hist.BlockStats.from_rows(
            [
                (i, b.step_lo, b.step_hi, b.count, b.first, b.last, b.min, b.max)
                for i, b in enumerate(self.blocks)
            ]
        )

    def load(self, ids: Sequence[int]) -> dict[int, hist.BlockPoints]:
        self.loaded.extend(ids)
        out = {}
        for i in ids:
            row = self.blocks[i].row()
            b = self.blocks[i]
            out[i] = hist.BlockPoints(
                b.step_lo,
                b.stride,
                None if b.stride else np.frombuffer(row["steps"], np.int64),
                hist.decode_values(b.dtype, row["vals"]).astype(np.float64),
            )
        return out

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        return (
            np.concatenate([b.steps for b in self.blocks]),
            np.concatenate([b.values.astype(np.float64) for b in self.blocks]),
        )


def random_layout(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    parts = []
    step = int(rng.integers(-50, 50))
    for _ in range(int(rng.integers(1, 12))):
        n = int(rng.integers(1, 400))
        kind = rng.integers(0, 4)
        if kind == 0:  # contiguous
            steps = step + np.arange(n)
        elif kind == 1:  # strided
            steps = step + int(rng.integers(2, 9)) * np.arange(n)
        elif kind == 2:  # gaps and duplicates
            steps = step + np.cumsum(rng.integers(0, 5, n))
        else:  # overlapping an earlier range, unsorted (blocks sort themselves)
            steps = rng.integers(step - 300, step + 50, n)
        steps = steps.astype(np.int64)
        step = int(steps.max()) + int(rng.integers(1, 30))
        vkind = rng.integers(0, 5)
        if vkind == 0:
            values = rng.integers(-5, 5, n).astype(np.int64)
        elif vkind == 1:
            values = rng.integers(0, 2, n).astype(bool)
        else:
            values = rng.standard_normal(n)
            special = rng.random(n) < 0.2
            values[special] = rng.choice([math.nan, math.inf, -math.inf, -0.0], special.sum())
            if vkind == 2 and n > 3:
                values[: n // 2] = math.nan  # an all-NaN stretch
        parts.append((steps, values))
    return parts


@pytest.mark.parametrize("seed", range(400))
def test_envelope_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    fb = FakeBlocks(random_layout(rng))
    steps, values = fb.points()
    lo, hi = int(steps.min()), int(steps.max())
    if seed % 3 == 1:  # a sub-range, possibly cutting blocks, possibly beyond the data
        a, b = sorted(rng.integers(lo - 20, hi + 20, 2).tolist())
        lo, hi = int(a), int(b)
    buckets = int(rng.choice([1, 2, 3, 7, 10, 64, 1000, 5000]))
    env = hist.compute_envelope(fb.stats(), fb.load, lo, hi, buckets)
    assert (env.step_min, env.step_max, env.buckets) == (lo, hi, buckets)
    assert env.bucket_width == pytest.approx((hi - lo + 1) / buckets)
    assert_envelope(env, brute_force(steps, values, lo, hi, buckets))


def test_huge_step_range_does_not_overflow() -> None:
    steps = np.array([-(2**62), -5, 0, 7, 2**62, 2**63 - 1], dtype=np.int64)
    values = np.array([1.0, 2.0, 3.0, math.nan, 5.0, 6.0])
    fb = FakeBlocks([(steps[:3], values[:3]), (steps[3:], values[3:])])
    lo, hi = int(steps.min()), int(steps.max())
    for buckets in (1, 3, 1000, 99_999):
        env = hist.compute_envelope(fb.stats(), fb.load, lo, hi, buckets)
        assert_envelope(env, brute_force(steps, values, lo, hi, buckets))


def test_blocks_inside_one_bucket_are_not_decoded() -> None:
    parts = [
        (
            np.arange(i * 100, i * 100 + 100, dtype=np.int64),
            np.random.default_rng(i).standard_normal(100),
        )
        for i in range(10)
    ]
    fb = FakeBlocks(parts)
    env = hist.compute_envelope(fb.stats(), fb.load, 0, 999, 10)  # bucket edges = block edges
    assert fb.loaded == [] and env.count.tolist() == [100] * 10
    env = hist.compute_envelope(fb.stats(), fb.load, 0, 999, 1)
    assert fb.loaded == [] and env.count.tolist() == [1000]
    hist.compute_envelope(fb.stats(), fb.load, 50, 999, 1)  # the range cuts block 0 only
    assert fb.loaded == [0]
    fb.loaded.clear()
    hist.compute_envelope(fb.stats(), fb.load, 0, 999, 20)  # every block straddles an edge
    assert sorted(fb.loaded) == list(range(10))
    steps, values = fb.points()
    assert_envelope(
        hist.compute_envelope(fb.stats(), fb.load, 0, 999, 5), brute_force(steps, values, 0, 999, 5)
    )


# ------------------------------------------------------------------------------- through a Store


@pytest.mark.parametrize("seed", range(4))
def test_store_envelope_matches_brute_force(store: Store, new_journal: Any, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    ref = RunRef("alice", "digits", f"env{seed}")
    j = new_journal()
    step = 0
    n_batches = int(rng.integers(3, 12))
    for _ in range(n_batches):
        n = int(rng.choice([1, 5, 300, 2500]))
        recs = []
        for _ in range(n):
            step += int(rng.integers(1, 4)) if seed % 2 else 1
            v = float(rng.standard_normal())
            r = rng.random()
            v = math.nan if r < 0.05 else math.inf if r < 0.07 else -math.inf if r < 0.09 else v
            recs.append(j.h(step, {"x": v, "i": int(rng.integers(-9, 9))}))
        store.ingest(ref, recs)
    if seed >= 2:
        store.ingest(ref, [j.exit()])
    h = store.history(ref)
    for key in ("x", "i"):
        steps, values = h[key].steps, h[key].values
        lo, hi = int(steps.min()), int(steps.max())
        for buckets in (1, 13, 400, 100_000):
            env = store.history_envelope(ref, key, buckets)
            assert_envelope(env, brute_force(steps, values, lo, hi, buckets))
        a, b = sorted(rng.integers(lo - 5, hi + 5, 2).tolist())
        env = store.history_envelope(ref, key, 50, step_min=a, step_max=b)
        assert (env.step_min, env.step_max) == (a, b)
        assert_envelope(env, brute_force(steps, values, a, b, 50))
        env = store.history_envelope(ref, key, 50, step_min=lo + 3)
        assert (env.step_min, env.step_max) == (lo + 3, hi)
        assert_envelope(env, brute_force(steps, values, lo + 3, hi, 50))


def test_envelope_errors_and_edge_cases(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(
        ref, [journal.h(i, {"x": float(i), "t": "a", "nanonly": math.nan}) for i in range(10)]
    )
    with pytest.raises(UsageError, match="'t'"):
        store.history_envelope(ref, "t")
    with pytest.raises(NotFoundError, match="nope"):
        store.history_envelope(ref, "nope")
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValidationError):
            store.history_envelope(ref, "x", bad)  # type: ignore[arg-type]
    empty = store.history_envelope(ref, "x", 10, step_min=50, step_max=60)
    assert len(empty) == 0 and empty.first.dtype == np.float64
    assert len(store.history_envelope(ref, "x", 10, step_min=9, step_max=3)) == 0
    env = store.history_envelope(ref, "nanonly", 2)
    assert env.count.tolist() == [5, 5] and np.isnan(env.min).all() and np.isnan(env.max).all()
    env = store.history_envelope(ref, "x", 1000)  # more buckets than steps: one point each
    assert env.bucket_lo.tolist() == list(range(10)) and env.count.tolist() == [1] * 10
