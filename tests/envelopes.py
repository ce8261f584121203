"""Brute-force checks of an envelope: plain numpy over all the points, bucket by bucket.

``check_envelope`` takes the bucket edges the answer reports (``bucket_lo``): each must be the
bucket formula's edge or, for a bucket at least ``SNAP`` sub-blocks wide, within ``W / (SNAP * B)``
steps of it. Then every field of every bucket must be exactly what the points between consecutive
edges give. ``nominal`` is the formula's answer, for cases where no edge may move.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from labbook.store import Envelope
from labbook.store.envelope import SNAP

FIELDS = (
    "bucket_lo",
    "first_step",
    "last_step",
    "first",
    "last",
    "min",
    "max",
    "count",
    "first_time",
    "last_time",
)


def _canonical(
    steps: np.ndarray, values: np.ndarray, times: np.ndarray, lo: int, hi: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.argsort(steps, kind="stable")
    steps, values, times = steps[order], values[order].astype(np.float64), times[order]
    m = (steps >= lo) & (steps <= hi)
    return steps[m], values[m], times[m]


def _stats(
    groups: list[tuple[int, np.ndarray, np.ndarray, np.ndarray]],
) -> dict[str, np.ndarray]:
    out: dict[str, list[Any]] = {f: [] for f in FIELDS}
    for blo, s, v, t in groups:
        out["bucket_lo"].append(blo)
        out["first_step"].append(s[0])
        out["last_step"].append(s[-1])
        out["first"].append(v[0])
        out["last"].append(v[-1])
        finite = v[~np.isnan(v)]
        out["min"].append(finite.min() if len(finite) else math.nan)
        out["max"].append(finite.max() if len(finite) else math.nan)
        out["count"].append(len(v))
        out["first_time"].append(t[0])
        out["last_time"].append(t[-1])
    return {
        f: np.array(x, dtype=np.float64 if f in ("first_time", "last_time") else None)
        for f, x in out.items()
    }


def _first_step(lo: int, width: int, buckets: int, b: int) -> int:
    return lo + -(-(b * width) // buckets)


def nominal(
    steps: np.ndarray,
    values: np.ndarray,
    times: np.ndarray,
    lo: int,
    hi: int,
    buckets: int,
) -> dict[str, np.ndarray]:
    """Per-bucket statistics with the formula's edges, Python integers for the arithmetic."""
    steps, values, times = _canonical(steps, values, times, lo, hi)
    width = hi - lo + 1
    b = np.array([min((int(s) - lo) * buckets // width, buckets - 1) for s in steps], dtype=int)
    groups = []
    for k in sorted(set(b.tolist())):
        sel = b == k
        groups.append((_first_step(lo, width, buckets, k), steps[sel], values[sel], times[sel]))
    return _stats(groups)


def assert_fields(env: Envelope, want: dict[str, np.ndarray]) -> None:
    """Every field equal; the wall times only where the envelope was asked for them."""
    timed = len(env.first_time) or not len(env.bucket_lo)
    for f in FIELDS if timed else FIELDS[:-2]:
        got = getattr(env, f)
        assert len(got) == len(want[f]), (f, len(got), len(want[f]))
        if f in ("first", "last", "min", "max", "first_time", "last_time"):
            assert np.array_equal(got, want[f].astype(np.float64), equal_nan=True), f
            if f in ("first", "last"):  # these are points: even a -0.0 must be the very value
                assert np.array_equal(np.signbit(got), np.signbit(want[f].astype(np.float64))), f
        else:
            assert np.array_equal(got, want[f]), f


def check_envelope(
    env: Envelope,
    steps: np.ndarray,
    values: np.ndarray,
    times: np.ndarray,
    lo: int,
    hi: int,
    buckets: int,
) -> int:
    """Assert ``env`` is exact for the edges it reports, and those edges are allowed ones.

    Returns how many edges moved off the formula's.
    """
    assert (env.step_min, env.step_max, env.buckets) == (lo, hi, buckets)
    steps, values, times = _canonical(steps, values, times, lo, hi)
    edges = env.bucket_lo
    assert len(edges) <= buckets
    assert np.all(edges[1:] > edges[:-1]), "bucket_lo must increase"
    width = hi - lo + 1
    limit = width // (SNAP * buckets)
    moved = 0
    for x in edges.tolist():
        assert lo <= x <= hi
        b = min((x - lo) * buckets // width, buckets - 1)
        near = [_first_step(lo, width, buckets, c) for c in (b, b + 1) if c < buckets]
        d = min(abs(x - e) for e in near)
        assert d <= limit, (x, near, limit)
        moved += d > 0
    at = np.searchsorted(edges, steps, "right") - 1
    assert len(steps) == 0 or at.min() >= 0, "points before the first bucket"
    groups = []
    for i, blo in enumerate(edges.tolist()):
        sel = at == i
        assert sel.any(), f"bucket {i} (from step {blo}) is empty"
        groups.append((blo, steps[sel], values[sel], times[sel]))
    assert_fields(env, _stats(groups))
    return moved
