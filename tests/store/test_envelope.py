"""The envelope against a brute-force numpy computation, for many block layouts and ranges.

``envelopes.check_envelope`` recomputes every bucket from all the points, between the edges the
answer reports, and holds those edges to the formula's (or within the allowed move of them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command

from databases import Database
from envelopes import FIELDS, assert_fields, check_envelope, nominal
from labbook.errors import NotFoundError, UsageError, ValidationError
from labbook.store import RunRef, Store
from labbook.store import envelope as envl
from labbook.store import history as hist
from labbook.store.engine import migrations_config
from labbook.store.schema import history_block_stats


class FakeBlocks:
    """Blocks built by the history module, held in memory, with a loader that records what it
    decodes. ``bare`` blocks have no sub-block statistics (as if written before they existed)."""

    def __init__(
        self,
        parts: Sequence[tuple[np.ndarray, np.ndarray]],
        cap: int | None = None,
        bare: Sequence[int] = (),
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.blocks: list[hist.Block] = []
        t0 = 1.7e9
        for steps, values in parts:
            dtype = {"f": "float", "i": "int", "b": "bool"}[values.dtype.kind]
            times = t0 + np.cumsum(rng.random(len(steps)))
            t0 = float(times[-1]) if len(times) else t0
            self.blocks.extend(
                hist.make_blocks(steps, values, times, dtype, cap=cap or len(steps) or 1)
            )
        self.bare = set(bare)
        self.loaded: list[int] = []

    def stats(self) -> envl.BlockStats:
        rows = []
        for i, b in enumerate(self.blocks):
            s = b.stats_row()
            bare = i in self.bare
            rows.append(
                (
                    i,
                    b.step_lo,
                    b.step_hi,
                    b.count,
                    b.first,
                    b.last,
                    b.min,
                    b.max,
                    b.stride,
                    None if bare else s["t_first"],
                    None if bare else s["t_last"],
                    None if bare else s["sub"],
                    not bare,
                )
            )
        return envl.BlockStats.from_rows(rows)

    def load(self, ids: Sequence[int]) -> dict[int, envl.BlockPoints]:
        self.loaded.extend(ids)
        out = {}
        for i in ids:
            row = self.blocks[i].row()
            b = self.blocks[i]
            out[i] = envl.BlockPoints(
                b.step_lo,
                b.stride,
                None if b.stride else np.frombuffer(row["steps"], np.int64),
                hist.decode_values(b.dtype, row["vals"]).astype(np.float64),
                hist.decode_times(row["times"]),
            )
        return out

    def points(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.concatenate([b.steps for b in self.blocks]),
            np.concatenate([b.values.astype(np.float64) for b in self.blocks]),
            np.concatenate([b.times for b in self.blocks]),
        )

    def envelope(self, lo: int, hi: int, buckets: int, times: bool = True) -> Any:
        load = self.load if times else self.load_untimed
        return envl.compute_envelope(self.stats(), load, lo, hi, buckets, times=times)

    def load_untimed(self, ids: Sequence[int]) -> dict[int, envl.BlockPoints]:
        out = self.load(ids)
        for bp in out.values():
            bp.times = None
        return out


def special_values(rng: np.random.Generator, n: int) -> np.ndarray:
    values = rng.standard_normal(n)
    special = rng.random(n) < 0.2
    values[special] = rng.choice([math.nan, math.inf, -math.inf, -0.0], special.sum())
    return values


def random_layout(
    rng: np.random.Generator, max_points: int = 400
) -> list[tuple[np.ndarray, np.ndarray]]:
    parts = []
    step = int(rng.integers(-50, 50))
    for _ in range(int(rng.integers(1, 12))):
        n = int(rng.integers(1, max_points))
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
            values = special_values(rng, n)
            if vkind == 2 and n > 3:
                values[: n // 2] = math.nan  # an all-NaN stretch
        parts.append((steps, values))
    return parts


@pytest.mark.parametrize("seed", range(400))
def test_envelope_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    big = seed % 2 == 0  # blocks of several sub-blocks, whose edges may move
    parts = random_layout(rng, 5000 if big else 400)
    fb = FakeBlocks(parts, cap=int(rng.choice([300, 1000, 16384])) if big else None, seed=seed)
    if seed % 5 == 0:  # some blocks written before sub-block statistics existed
        fb.bare = {i for i in range(len(fb.blocks)) if rng.random() < 0.5}
    steps, values, times = fb.points()
    lo, hi = int(steps.min()), int(steps.max())
    if seed % 3 == 1:  # a sub-range, possibly cutting blocks, possibly beyond the data
        a, b = sorted(rng.integers(lo - 20, hi + 20, 2).tolist())
        lo, hi = int(a), int(b)
    buckets = int(rng.choice([1, 2, 3, 7, 10, 64, 1000, 5000]))
    env = fb.envelope(lo, hi, buckets)
    assert env.bucket_width == pytest.approx((hi - lo + 1) / buckets)
    check_envelope(env, steps, values, times, lo, hi, buckets)
    assert len(env.first_time) == len(env.last_time) == len(env)
    untimed = fb.envelope(lo, hi, buckets, times=False)  # the same, without wall times
    assert len(untimed.first_time) == len(untimed.last_time) == 0
    assert_fields(untimed, {f: getattr(env, f) for f in FIELDS})


def test_narrow_buckets_follow_the_formula_exactly() -> None:
    """Where a bucket is narrower than SNAP sub-blocks no edge moves: the formula's answer."""
    rng = np.random.default_rng(7)
    for _ in range(30):
        fb = FakeBlocks(random_layout(rng, 3000), cap=2000, seed=int(rng.integers(1 << 30)))
        steps, values, times = fb.points()
        lo, hi = int(steps.min()), int(steps.max())
        buckets = max(1, (hi - lo + 1) // int(rng.integers(1, 4 * hist.SUB)))
        if (hi - lo + 1) // (envl.SNAP * buckets) >= 1:
            continue  # wide enough to move
        env = fb.envelope(lo, hi, buckets)
        assert_fields(env, nominal(steps, values, times, lo, hi, buckets))


def series(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random walk with spikes, NaN, +-Inf and an all-NaN stretch."""
    v = np.cumsum(rng.standard_normal(n))
    v[rng.choice(n, n // 500, replace=False)] *= 1000.0
    v[rng.choice(n, n // 300, replace=False)] = math.nan
    v[rng.choice(n, 5, replace=False)] = math.inf
    v[rng.choice(n, 5, replace=False)] = -math.inf
    v[1000:1600] = math.nan
    return v


@pytest.mark.parametrize("stride", [1, 3, 0])
def test_wide_buckets_read_statistics_only(stride: int) -> None:
    """Full blocks, wide buckets: nothing decoded, edges moved, every bucket still exact; a spike
    is in its bucket's max whatever the edges."""
    rng = np.random.default_rng(stride)
    n = 6 * hist.BLOCK_CAP + 123
    steps = np.arange(n, dtype=np.int64) * max(stride, 1)
    if stride == 0:  # explicit steps, with gaps
        steps = np.cumsum(rng.integers(1, 4, n)).astype(np.int64)
    values = series(rng, n)
    fb = FakeBlocks([(steps, values)], cap=hist.BLOCK_CAP, seed=stride)
    lo, hi = int(steps.min()), int(steps.max())
    for buckets in (1, 10, 40, 60):
        fb.loaded.clear()
        env = fb.envelope(lo, hi, buckets)
        moved = check_envelope(env, steps, values, fb.points()[2], lo, hi, buckets)
        assert fb.loaded == [], buckets
        if buckets >= 40:
            assert moved > 0
    spike = int(np.nanargmax(np.where(np.isinf(values), np.nan, np.abs(values))))
    env = fb.envelope(lo, hi, 100)
    i = int(np.searchsorted(env.bucket_lo, steps[spike], "right")) - 1
    assert abs(values[spike]) in (env.max[i], -env.min[i])


def test_what_is_decoded() -> None:
    parts = [
        (
            np.arange(i * 100, i * 100 + 100, dtype=np.int64),
            np.random.default_rng(i).standard_normal(100),
        )
        for i in range(10)
    ]
    fb = FakeBlocks(parts)
    env = fb.envelope(0, 999, 10)  # bucket edges = block edges
    assert fb.loaded == [] and env.count.tolist() == [100] * 10
    env = fb.envelope(0, 999, 1)
    assert fb.loaded == [] and env.count.tolist() == [1000]
    fb.envelope(50, 999, 1)  # the range cuts block 0 only
    assert fb.loaded == [0]
    fb.loaded.clear()
    fb.envelope(0, 999, 20)  # every block (one sub-block each) straddles a narrow bucket's edge
    assert sorted(fb.loaded) == list(range(10))
    fb.loaded.clear()
    fb.bare = {3}  # no statistics: decoded wherever it meets the range
    fb.envelope(0, 999, 10)
    assert fb.loaded == [3]
    fb.loaded.clear()
    fb.envelope(400, 999, 6)  # block 3 is out of range
    assert fb.loaded == []
    steps, values, times = fb.points()
    check_envelope(fb.envelope(0, 999, 4), steps, values, times, 0, 999, 4)


def test_overlapping_blocks_never_move_an_edge_into_each_other() -> None:
    """A block whose steps interleave another's: edges it would cross stay where the formula
    puts them and the points are decoded, so each bucket still holds exactly its step range."""
    rng = np.random.default_rng(11)
    a = np.arange(0, 40_000, 2, dtype=np.int64)
    b = np.arange(1, 40_000, 2, dtype=np.int64)  # written later, between a's steps
    fb = FakeBlocks([(a, series(rng, len(a))), (b, series(rng, len(b)))], cap=hist.BLOCK_CAP)
    steps, values, times = fb.points()
    for buckets in (3, 10, 39):
        env = fb.envelope(0, 39_999, buckets)
        assert check_envelope(env, steps, values, times, 0, 39_999, buckets) == 0
    assert fb.loaded


def test_huge_step_range_does_not_overflow() -> None:
    steps = np.array([-(2**62), -5, 0, 7, 2**62, 2**63 - 1], dtype=np.int64)
    values = np.array([1.0, 2.0, 3.0, math.nan, 5.0, 6.0])
    fb = FakeBlocks([(steps[:3], values[:3]), (steps[3:], values[3:])])
    lo, hi = int(steps.min()), int(steps.max())
    times = fb.points()[2]
    for buckets in (1, 3, 1000, 99_999):
        env = fb.envelope(lo, hi, buckets)
        assert_fields(env, nominal(steps, values, times, lo, hi, buckets))
    # Sub-blocks spanning most of the int64 range, in a range of two buckets.
    n = 3 * hist.SUB
    wide = np.linspace(-(2**62), 2**62, n).astype(np.int64)
    fb = FakeBlocks([(wide, np.arange(n, dtype=np.float64))])
    lo, hi = int(wide.min()), int(wide.max())
    for buckets in (2, 5):
        check_envelope(
            fb.envelope(lo, hi, buckets), wide, fb.points()[1], fb.points()[2], lo, hi, buckets
        )


# ------------------------------------------------------------------------------- through a Store


def _log_random(store: Store, ref: RunRef, j: Any, rng: np.random.Generator, seed: int) -> None:
    """Batches of 1 to 20,000 rows of a float key with NaN, +-Inf and spikes, and an int key."""
    step = 0
    for _ in range(int(rng.integers(3, 12))):
        n = int(rng.choice([1, 5, 300, 2500, 20_000]))
        recs = []
        for _ in range(n):
            step += int(rng.integers(1, 4)) if seed % 2 else 1
            v = float(rng.standard_normal())
            r = rng.random()
            v = math.nan if r < 0.05 else math.inf if r < 0.07 else -math.inf if r < 0.09 else v
            v = v * 1e6 if r > 0.999 else v  # spikes
            recs.append(j.h(step, {"x": v, "i": int(rng.integers(-9, 9))}))
        store.ingest(ref, recs)


def _check_store(store: Store, ref: RunRef, rng: np.random.Generator) -> int:
    h = store.history(ref)
    moved = 0
    for key in ("x", "i"):
        steps, values, times = h[key].steps, h[key].values, h[key].times
        lo, hi = int(steps.min()), int(steps.max())
        for buckets in (1, 13, 400, 100_000):
            env = store.history_envelope(ref, key, buckets, times=True)
            moved += check_envelope(env, steps, values, times, lo, hi, buckets)
            assert len(env.first_time) == len(env)
            check_envelope(
                store.history_envelope(ref, key, buckets), steps, values, times, lo, hi, buckets
            )
        a, b = sorted(rng.integers(lo - 5, hi + 5, 2).tolist())
        env = store.history_envelope(ref, key, 50, step_min=a, step_max=b, times=True)
        moved += check_envelope(env, steps, values, times, a, b, 50)
        env = store.history_envelope(ref, key, 50, step_min=lo + 3, times=True)
        moved += check_envelope(env, steps, values, times, lo + 3, hi, 50)
    return moved


@pytest.mark.parametrize("seed", range(4))
def test_store_envelope_matches_brute_force(store: Store, new_journal: Any, seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    ref = RunRef("alice", "digits", f"env{seed}")
    j = new_journal()
    _log_random(store, ref, j, rng, seed)
    if seed >= 2:
        store.ingest(ref, [j.exit()])  # merges small blocks
    _check_store(store, ref, rng)


def _stats_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(history_block_stats)).scalar()
        )


def test_blocks_from_before_the_statistics(
    store_db: Database, new_journal: Any, blocks: Any
) -> None:
    """Blocks written before revision 0003 (no statistics rows: the table is dropped and made
    again by the migrations) answer exactly, and the first envelope stores their statistics."""
    store = store_db.open()
    try:
        rng = np.random.default_rng(5)
        ref = RunRef("alice", "digits", "old")
        _log_random(store, ref, new_journal(), rng, 1)
        written = _stats_rows(store)
        assert written > 0
        h = store.history(ref)
        steps, values, times = h["x"].steps, h["x"].values, h["x"].times
        lo, hi = int(steps.min()), int(steps.max())
        fresh = store.history_envelope(ref, "x", 40, times=True)
        with store.engine.begin() as conn:
            command.downgrade(migrations_config(conn), "0002")
            assert not sa.inspect(conn).has_table("history_block_stats")
            command.upgrade(migrations_config(conn), "head")
        assert _stats_rows(store) == 0
        old = store.history_envelope(ref, "x", 40, times=True)  # decodes its blocks, stores stats
        check_envelope(old, steps, values, times, lo, hi, 40)
        assert_fields(old, {f: getattr(fresh, f) for f in FIELDS})
        assert _stats_rows(store) == blocks(store, ref)["x"]  # those of "x", stored
        again = store.history_envelope(ref, "x", 40, times=True)
        assert_fields(again, {f: getattr(fresh, f) for f in FIELDS})
        _check_store(store, ref, rng)
        assert _stats_rows(store) == written
    finally:
        store.close()


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
    assert empty.first_time.dtype == np.float64
    assert len(store.history_envelope(ref, "x", 10, step_min=9, step_max=3)) == 0
    env = store.history_envelope(ref, "nanonly", 2)
    assert env.count.tolist() == [5, 5] and np.isnan(env.min).all() and np.isnan(env.max).all()
    env = store.history_envelope(ref, "x", 1000)  # more buckets than steps: one point each
    assert env.bucket_lo.tolist() == list(range(10)) and env.count.tolist() == [1] * 10
    assert len(env.first_time) == 0  # not asked for
    env = store.history_envelope(ref, "x", 1000, times=True)
    assert env.first_time.tolist() == env.last_time.tolist() == [journal.t0 + i for i in range(10)]


def _stored_stats(store: Store) -> dict[int, tuple[Any, ...]]:
    from labbook.store.schema import history_blocks

    hb, hs = history_blocks, history_block_stats
    q = sa.select(
        hb.c.id,
        hb.c.step_lo,
        hb.c.stride,
        hb.c.count,
        hb.c.dtype,
        hb.c.steps,
        hb.c.vals,
        hb.c.times,
        hs.c.t_first,
        hs.c.t_last,
        hs.c.sub,
    ).select_from(hb.outerjoin(hs, hs.c.block_id == hb.c.id))
    with store.engine.connect() as conn:
        return {int(r[0]): tuple(r[1:]) for r in conn.execute(q)}


def test_every_block_write_stores_its_statistics(store: Store, journal: Any) -> None:
    """New blocks, a tail grown in place (and split), blocks merged at exit: each block's row of
    statistics is what its points give, and a deleted block's row goes with it."""
    ref = RunRef("alice", "digits", "stats")
    store.ingest(ref, [journal.run(id="stats")])
    step = 0
    for n in (1, 3, 700, 20_000, 5, 2, 40_000, 1):
        store.ingest(ref, journal.rows(n, start=step, x=lambda i: math.sin(i), k=lambda i: i % 7))
        step += n
    for when in ("live", "merged"):
        rows = _stored_stats(store)
        for _bid, (lo, stride, n, dtype, steps, vals, times, t0, t1, sub) in rows.items():
            assert sub is not None, when
            want = hist.block_stats_row(
                hist.decode_steps(lo, stride, n, steps),
                hist.decode_values(dtype, vals),
                hist.decode_times(times),
                stride,
            )
            assert (t0, t1, sub) == (want["t_first"], want["t_last"], want["sub"]), when
        if when == "live":
            before = set(rows)
            store.ingest(ref, [journal.exit()])
    after = set(_stored_stats(store))
    assert after < before  # merged away, with their statistics (the join found no orphans)
    assert _stats_rows(store) == len(after)


def test_backfill_keeps_what_changed_or_exists(store: Store, journal: Any) -> None:
    """Statistics computed by a read are stored only for blocks still as read, and never over a
    row a writer stored."""
    from labbook.store import envelope_db

    ref = RunRef("alice", "digits", "bf")
    store.ingest(ref, [journal.run(id="bf"), *journal.rows(300, x=float)])
    rows = _stored_stats(store)
    (bid,) = rows
    lo, stride, n, *_, t0, t1, sub = rows[bid]
    fake = {"t_first": -1.0, "t_last": -2.0, "sub": b"x" * len(sub)}
    row = {"block_id": bid, "count": n, "step_lo": lo, "step_hi": lo + n - 1, "stride": stride}
    with store.engine.begin() as conn:  # a row exists: kept
        envelope_db.backfill_stats(conn, [fake | row])
    assert _stored_stats(store)[bid][-3:] == (t0, t1, sub)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(history_block_stats))
        envelope_db.backfill_stats(conn, [fake | row | {"count": n - 1}])  # the block changed since
    assert _stored_stats(store)[bid][-1] is None
    with store.engine.begin() as conn:
        envelope_db.backfill_stats(conn, [fake | row])
    assert _stored_stats(store)[bid][-3:] == (-1.0, -2.0, fake["sub"])
    store.ingest(ref, journal.rows(5, start=300, x=float))  # the tail grows in place: a writer
    (t0, t1, sub) = _stored_stats(store)[bid][-3:]  # replaces the row
    assert sub != fake["sub"] and len(sub) == 2 * hist.SUB_FIELDS * 8


def test_store_wide_buckets_move_edges_and_stay_exact(store: Store, journal: Any) -> None:
    """Through the database: full blocks, wide buckets, a range cutting blocks at both ends."""
    ref = RunRef("alice", "digits", "wide")
    rng = np.random.default_rng(8)
    n = 5 * hist.BLOCK_CAP
    v = series(rng, n)
    store.ingest(ref, [journal.run(id="wide")])
    store.ingest(ref, [journal.h(3 * i + 1, {"x": float(v[i])}) for i in range(n)])
    h = store.history(ref)["x"]
    end = 3 * (n - 1) + 1
    for lo, hi, buckets in ((1, end, 37), (1001, end - 3001, 29), (1, end, 1)):
        env = store.history_envelope(ref, "x", buckets, step_min=lo, step_max=hi, times=True)
        moved = check_envelope(env, h.steps, h.values, h.times, lo, hi, buckets)
        assert moved > 0 or buckets == 1
