"""History storage: bit-exact round trips, value types, blocks, merging and metric-key stats."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from envelopes import FIELDS, check_envelope
from labbook.store import RunRef, Store
from labbook.store import history as hist
from labbook.store.schema import history_blocks

SPECIALS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308]


def weird_floats(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)
    idx = rng.choice(n, size=n // 5, replace=False)
    v[idx] = rng.choice(SPECIALS, size=len(idx))
    # NaNs with payloads and the sign bit set: the bits must survive, not just "a NaN".
    payload = np.array(
        [0x7FF8000000000001, 0xFFF8000000000000, 0x7FF0000000000F00], dtype=np.uint64
    ).view(np.float64)
    v[:3] = payload
    return v


def ingest_rows(
    store: Store,
    ref: RunRef,
    journal: Any,
    steps: list[int],
    cols: dict[str, list[Any]],
    batch: int,
) -> None:
    recs = [
        journal.h(s, {k: v[i] for k, v in cols.items()}, ts=1e9 + s / 7)
        for i, s in enumerate(steps)
    ]
    for i in range(0, len(recs), batch):
        store.ingest(ref, recs[i : i + batch])


@pytest.mark.parametrize("batch", [1, 997, 20_000])
def test_float_round_trip_is_bit_exact(store: Store, ref: RunRef, journal: Any, batch: int) -> None:
    rng = np.random.default_rng(batch)
    n = 20_000 if batch > 1 else 300
    values = weird_floats(rng, n)
    steps = np.cumsum(rng.integers(1, 4, n)).tolist()  # gaps: explicit steps
    ingest_rows(
        store, ref, journal, steps, {"x": values.tolist(), "y": values[::-1].tolist()}, batch
    )
    got = store.history(ref)
    for key, want in (("x", values), ("y", values[::-1])):
        s = got[key]
        assert s.values.dtype == np.float64 and s.steps.dtype == np.int64
        assert np.array_equal(s.values, want, equal_nan=True)
        assert np.array_equal(s.values.view(np.uint64), want.view(np.uint64))
        assert s.steps.tolist() == steps
        assert np.array_equal(s.times, 1e9 + np.array(steps) / 7)


def test_types_are_kept(store: Store, ref: RunRef, journal: Any) -> None:
    big = 2**62 + 1  # not representable as float64: must not go through a double
    store.ingest(
        ref,
        [
            journal.h(
                i,
                {
                    "i": big - i,
                    "b": i % 3 == 0,
                    "f": float(i),
                    "mix": i if i % 2 else i + 0.5,
                    "s": f"s{i}",
                    "n": None if i % 2 else "x",
                    "o": {"_type": "image", "k": i},
                    "sparse": None if i < 3 else 1.5,
                },
            )
            for i in range(6)
        ],
    )
    h = store.history(ref)
    assert h["i"].values.dtype == np.int64 and h["i"].values.tolist() == [big - i for i in range(6)]
    assert h["b"].values.dtype == np.bool_
    assert h["b"].values.tolist() == [True, False, False, True, False, False]
    assert h["f"].values.dtype == np.float64
    assert h["mix"].values.dtype == np.float64
    assert h["mix"].values.tolist() == [0.5, 1.0, 2.5, 3.0, 4.5, 5.0]
    assert h["s"].values.dtype == object and h["s"].values.tolist() == [f"s{i}" for i in range(6)]
    assert h["n"].values.tolist() == ["x", None, "x", None, "x", None]
    assert h["o"].values.tolist() == [{"_type": "image", "k": i} for i in range(6)]
    assert h["sparse"].values.dtype == object
    assert h["sparse"].values.tolist() == [None, None, None, 1.5, 1.5, 1.5]
    assert h["sparse"].steps.tolist() == list(range(6))
    keys = {k.key: k for k in store.metric_keys(ref)}
    assert {k: v.dtype for k, v in keys.items()} == {
        "i": "int",
        "b": "bool",
        "f": "float",
        "mix": "float",
        "s": "text",
        "n": "text",
        "o": "object",
        "sparse": "float",
    }
    assert keys["i"].last == big - 5 and type(keys["i"].last) is int  # exact, not via a double
    assert keys["b"].min is False and keys["b"].max is True
    assert keys["s"].last == "s5" and keys["s"].min is None and keys["s"].count == 6
    assert keys["o"].last == {"_type": "image", "k": 5}
    assert keys["sparse"].count == 6 and keys["sparse"].min == 1.5


def test_rows_without_values(store: Store, ref: RunRef, journal: Any) -> None:
    assert store.ingest(ref, [journal.h(0, {}), journal.h(1, {})]) == 2
    assert store.history(ref) == {} and store.metric_keys(ref) == []
    store.ingest(ref, [journal.h(2, {}), journal.summary({"a": 1}), journal.h(3, {"x": 1.0})])
    assert store.get_run(ref).summary == {"a": 1, "x": 1.0}
    assert store.history(ref)["x"].steps.tolist() == [3]


def test_key_type_across_batches(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(ref, [journal.h(i, {"k": i, "b": True, "t": 1}) for i in range(3)])
    assert store.history(ref)["k"].values.dtype == np.int64
    store.ingest(ref, [journal.h(3, {"k": 3.5, "b": False, "t": "text"})])
    h = store.history(ref)
    assert h["k"].values.dtype == np.float64 and h["k"].values.tolist() == [0, 1, 2, 3.5]
    assert h["b"].values.dtype == np.bool_ and h["b"].values.tolist() == [True] * 3 + [False]
    assert h["t"].values.dtype == object and h["t"].values.tolist() == [1, 1, 1, "text"]


def test_step_range_and_key_selection(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(ref, journal.rows(100, a=float, s=lambda i: str(i)))
    h = store.history(ref, ["a", "s", "missing"], step_min=10, step_max=19)
    assert set(h) == {"a", "s"}
    assert h["a"].steps.tolist() == list(range(10, 20))
    assert h["s"].values.tolist() == [str(i) for i in range(10, 20)]
    assert store.history(ref, ["a"], step_min=95)["a"].steps.tolist() == list(range(95, 100))
    assert store.history(ref, ["a"], step_max=2)["a"].values.tolist() == [0.0, 1.0, 2.0]
    assert len(store.history(ref, ["a"], step_min=200)["a"]) == 0
    assert set(store.history(ref, [])) == set()


def test_out_of_order_steps_read_back_sorted(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(ref, [journal.h(s, {"x": float(s)}) for s in (5, 3, 4, 9)])
    store.ingest(ref, [journal.h(s, {"x": -float(s)}) for s in (1, 4, 7)])
    s = store.history(ref)["x"]
    # Step order; equal steps keep write order.
    assert s.steps.tolist() == [1, 3, 4, 4, 5, 7, 9]
    assert s.values.tolist() == [-1.0, 3.0, 4.0, -4.0, 5.0, -7.0, 9.0]


def test_metric_key_stats(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(
        ref,
        [
            journal.h(0, {"x": math.nan, "allnan": math.nan}),
            journal.h(1, {"x": 5.0, "allnan": math.nan}),
            journal.h(2, {"x": -math.inf}),
        ],
    )
    store.ingest(ref, [journal.h(7, {"x": 2.0, "allnan": math.nan})])
    keys = {k.key: k for k in store.metric_keys(ref)}
    x = keys["x"]
    assert (x.dtype, x.last, x.min, x.max, x.count, x.last_step) == (
        "float",
        2.0,
        -math.inf,
        5.0,
        4,
        7,
    )
    a = keys["allnan"]
    assert math.isnan(a.min) and math.isnan(a.max) and math.isnan(a.last) and a.count == 3


def _blocks(store: Store, key: str) -> list[tuple[int, int, int, int]]:
    from labbook.store.schema import metric_keys

    q = (
        sa.select(
            history_blocks.c.count,
            history_blocks.c.stride,
            history_blocks.c.step_lo,
            sa.func.length(history_blocks.c.steps),
        )
        .join(metric_keys, metric_keys.c.id == history_blocks.c.key_id)
        .where(metric_keys.c.key == key)
        .order_by(history_blocks.c.id)
    )
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(q)]  # type: ignore[misc]


def test_blocks_are_columnar_and_capped(store: Store, ref: RunRef, journal: Any) -> None:
    n = hist.BLOCK_CAP * 2 + 10
    store.ingest(ref, journal.rows(n, x=float))
    bl = _blocks(store, "x")
    assert len(bl) == 3 and sum(b[0] for b in bl) == n and max(b[0] for b in bl) <= hist.BLOCK_CAP
    assert all(b[1] == 1 and b[3] == 0 for b in bl)  # 0,1,2,...: steps not stored
    store.ingest(
        ref,
        [journal.h(n + 5 + 3 * i, {"y": 1.0}) for i in range(4)] + [journal.h(n + 100, {"y": 2.0})],
    )
    (yb,) = _blocks(store, "y")
    assert yb[1] == 0 and yb[3] == 5 * 8  # irregular steps are stored explicitly


def test_small_batches_grow_the_tail_block(store: Store, ref: RunRef, journal: Any) -> None:
    for i in range(40):
        store.ingest(ref, [journal.h(i, {"x": float(i)})])
    assert len(_blocks(store, "x")) == 1
    big = hist.TAIL_GROW_BELOW + 10
    store.ingest(ref, journal.rows(big, start=40, x=float))
    store.ingest(ref, journal.rows(5, start=40 + big, x=float))
    assert [b[0] for b in _blocks(store, "x")] == [40 + big, 5]
    assert store.history(ref)["x"].values.tolist() == [float(i) for i in range(45 + big)]


def test_exit_merges_small_blocks(store: Store, ref: RunRef, journal: Any, blocks: Any) -> None:
    rng = np.random.default_rng(3)
    step = 0
    per = hist.TAIL_GROW_BELOW + 200  # above the tail-growth threshold: one block per batch
    for _ in range(30):
        recs = []
        for _ in range(per):
            step += int(rng.integers(1, 3))
            recs.append(journal.h(step, {"x": float(rng.standard_normal()), "i": step, "t": "txt"}))
        store.ingest(ref, recs)
    before = store.history(ref)
    # Narrow buckets: edges where the formula puts them, whatever the blocks. (Wide buckets' edges
    # may sit at sub-block boundaries, which a merge moves: exact either way, checked below.)
    env_before = store.history_envelope(ref, "x", 1000)
    wide_before = store.history_envelope(ref, "x", 37, times=True)
    assert blocks(store, ref) == {"x": 30, "i": 30}
    store.ingest(ref, [journal.exit()])
    after = blocks(store, ref)
    total = 30 * per
    assert after == {"x": -(-total // hist.BLOCK_CAP), "i": -(-total // hist.BLOCK_CAP)}
    got = store.history(ref)
    for k in before:
        assert np.array_equal(got[k].steps, before[k].steps)
        assert np.array_equal(got[k].times, before[k].times)
        assert got[k].values.dtype == before[k].values.dtype
        assert got[k].values.tolist() == before[k].values.tolist()
    env_after = store.history_envelope(ref, "x", 1000)
    for f in FIELDS:
        assert np.array_equal(getattr(env_before, f), getattr(env_after, f), equal_nan=True), f
    x = got["x"]
    lo, hi = int(x.steps[0]), int(x.steps[-1])
    check_envelope(wide_before, x.steps, x.values, x.times, lo, hi, 37)
    wide_after = store.history_envelope(ref, "x", 37, times=True)
    check_envelope(wide_after, x.steps, x.values, x.times, lo, hi, 37)
    # More points after a merge (a resumed run) still land after the merged tail.
    store.ingest(ref, [journal.h(step + 1, {"x": 42.0})])
    assert store.history(ref)["x"].values[-1] == 42.0
    assert store.metric_keys(ref)[2].count == total + 1


def test_merge_keeps_canonical_order_with_overlaps(store: Store, ref: RunRef, journal: Any) -> None:
    # Overlapping step ranges across batches: merged blocks must read back identically.
    store.ingest(ref, [journal.h(s, {"x": float(s)}) for s in range(0, 3000, 2)])
    store.ingest(ref, [journal.h(s, {"x": -float(s)}) for s in range(0, 3000, 3)])
    store.ingest(ref, [journal.h(s, {"x": 0.5}) for s in (10, 10, 10)])
    before = store.history(ref)["x"]
    assert store.merge_blocks(ref) >= 1
    after = store.history(ref)["x"]
    assert after.steps.tolist() == before.steps.tolist()
    assert after.values.tolist() == before.values.tolist()
