"""Envelopes of many runs at once (``Store.run_envelopes``): each series is the single-run
envelope (same edges, same buckets) with its wall and relative times, and exact between the edges
it reports against a brute-force read of the full history (``envelopes.check_envelope``), however
the keys are split into statements and the blocks into decode groups."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from envelopes import FIELDS, assert_fields, check_envelope
from labbook.errors import ProjectNotFound, ValidationError
from labbook.store import RunRef, Store, charts
from labbook.store import envelope_db as edb
from labbook.store import history as hist
from labbook.store.schema import history_block_stats


def _check_series(
    store: Store,
    refs: list[RunRef],
    keys: list[str],
    buckets: int,
    window: tuple[int | None, int | None] = (None, None),
) -> int:
    """One request for ``refs`` x ``keys``: each series equals the single-run envelope with times,
    is exact between its edges, and has the relative times of its run. Returns the edges moved."""
    smin, smax = window
    series, total = store.run_envelopes(
        "alice",
        "digits",
        keys,
        run_ids=[r.id for r in refs],
        buckets=buckets,
        step_min=smin,
        step_max=smax,
    )
    assert total == len(refs)
    moved = 0
    hists = {r.id: store.history(r, keys) for r in refs}
    want = [(r, k) for r in refs for k in keys if k in hists[r.id]]
    assert [(x.run, x.key) for x in series] == [(r.id, k) for r, k in want]
    for (ref, key), x in zip(want, series, strict=True):
        one = store.history_envelope(ref, key, buckets, step_min=smin, step_max=smax, times=True)
        assert_fields(x.envelope, {f: getattr(one, f) for f in FIELDS})
        h = hists[ref.id][key]
        lo = int(h.steps.min()) if smin is None else smin
        hi = int(h.steps.max()) if smax is None else smax
        moved += check_envelope(x.envelope, h.steps, h.values, h.times, lo, hi, buckets)
        start = store.get_run(ref).started_at
        assert start is not None
        assert np.allclose(x.rt_first, x.first_time - start.timestamp())
        assert np.allclose(x.rt_last, x.last_time - start.timestamp())
    return moved


@pytest.mark.parametrize("seed", range(6))
def test_series_and_times_match_brute_force(
    store: Store, new_journal: Callable[..., Any], seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    if seed % 2:  # one key per statement, and a decode group per key
        monkeypatch.setattr(edb, "MANY_KEYS", 1)
        monkeypatch.setattr(charts, "PREFETCH_POINTS", 1)
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
                recs.append(j.h(s, {"x": v, "y": 2 * v}, ts=j.t0 + float(rng.random()) * 1e4))
            store.ingest(ref, recs)
        if seed >= 3:
            store.ingest(ref, [j.exit()])
        runs.append(ref)
    for buckets, window in ((1, None), (17, None), (500, None), (100_000, None), (40, (50, 900))):
        _check_series(store, runs, ["x", "y"], buckets, window or (None, None))


def test_wide_buckets_move_edges_in_every_series(
    store: Store, new_journal: Callable[..., Any]
) -> None:
    """Keys of several full blocks at buckets many sub-blocks wide: edges snap to sub-block
    boundaries (no block is decoded for them), each series still exact between its edges."""
    rng = np.random.default_rng(3)
    refs = []
    for r, (n, stride) in enumerate(((3 * hist.BLOCK_CAP, 1), (2 * hist.BLOCK_CAP + 77, 3))):
        ref = RunRef("alice", "digits", f"wide{r}")
        j = new_journal()
        store.ingest(ref, [j.run(id=ref.id, started_at=j.t0 - 10 * r)])
        v = np.cumsum(rng.standard_normal(n))
        v[rng.choice(n, 20, replace=False)] = 1e6  # spikes
        recs = [j.h(stride * i + 5, {"x": float(v[i]), "y": i}) for i in range(n)]
        store.ingest(ref, recs)
        refs.append(ref)
    decoded: list[int] = []
    read = edb._envelope_points

    def counting(conn: Any, ids: Any, times: bool) -> Any:
        decoded.extend(ids)
        return read(conn, ids, times)

    with pytest.MonkeyPatch.context() as mp:  # stride 1, buckets of 1,328 steps: all snap
        mp.setattr(edb, "_envelope_points", counting)
        assert _check_series(store, refs[:1], ["x", "y"], 37) > 0
    assert decoded == []  # every crossing block's sub-block statistics came with the statement
    end = 3 * hist.BLOCK_CAP + 4
    moved = 0
    for buckets, window in ((37, (None, None)), (11, (1000, end - 3000)), (1, (None, None))):
        moved += _check_series(store, refs, ["x", "y"], buckets, window)
    assert moved > 0


def test_huge_step_ranges_share_a_statement(store: Store, new_journal: Callable[..., Any]) -> None:
    """A key whose step range would overflow the bucket arithmetic in SQL, read in the same
    statement as ordinary keys."""
    j = new_journal()
    ref = RunRef("alice", "digits", "huge")
    store.ingest(ref, [j.run(id="huge")])
    steps = [-(2**62), -5, 0, 7, 2**62, 2**63 - 1]
    store.ingest(ref, [j.h(s, {"big": float(i)}) for i, s in enumerate(steps)])
    store.ingest(ref, [j.h(s, {"small": float(s)}) for s in range(-5, 8)])
    for buckets in (1, 3, 1000, 99_999):
        _check_series(store, [ref], ["big", "small"], buckets)
    _check_series(store, [ref], ["big", "small"], 7, (-10, 2**62))


def _stats_rows(store: Store) -> int:
    with store.engine.connect() as conn:
        q = sa.select(sa.func.count()).select_from(history_block_stats)
        return int(conn.execute(q).scalar_one())


def test_blocks_without_statistics(store: Store, new_journal: Callable[..., Any]) -> None:
    """Blocks with no statistics row (written before revision 0003) answer the same, and the read
    stores their statistics."""
    refs = []
    for r in range(3):
        ref = RunRef("alice", "digits", f"old{r}")
        j = new_journal()
        store.ingest(ref, [j.run(id=ref.id)])
        for part in range(3):
            n = 2000 * (r + 1)
            store.ingest(ref, j.rows(n, start=part * n, x=math.sin, y=lambda i: i % 7))
        refs.append(ref)
    ids = [r.id for r in refs]
    fresh, _ = store.run_envelopes("alice", "digits", ["x", "y"], run_ids=ids, buckets=13)
    written = _stats_rows(store)
    with store.engine.begin() as conn:
        conn.execute(sa.delete(history_block_stats))
    old, _ = store.run_envelopes("alice", "digits", ["x", "y"], run_ids=ids, buckets=13)
    for a, b in zip(fresh, old, strict=True):
        assert_fields(b.envelope, {f: getattr(a.envelope, f) for f in FIELDS})
    assert _stats_rows(store) == written
    _check_series(store, refs, ["x", "y"], 13)


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
