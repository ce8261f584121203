"""Columnar history blocks and the min/max envelope computed from them. Pure numpy, no database.

A block holds consecutive points of one run+key: steps (int64), values (float64, or int64/bool when
every value of the block has that type) and wall times (float64), each packed with ``tobytes``,
plus statistics (step range, count, min, max, sum, first, last) kept in columns beside the bytes.
Steps that form an arithmetic progression (the usual ``0, 1, 2, ...``) are not stored at all: the
block records ``stride`` and the steps are regenerated on read, which also lets the envelope skip
reading them.

Point order is canonical everywhere: by step, then by block id (write order), then by position in
the block. Blocks are sorted by step when written and merging only ever combines blocks adjacent in
id order, so this order survives merges; history reads and the envelope's first/last agree with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labbook.store.models import Envelope

BLOCK_CAP = 16384
"""Most points in one block: large enough that a long run is a few hundred rows per key, small
enough that decoding one edge block for an envelope stays cheap."""
TAIL_GROW_BELOW = 1024
"""A key's newest block smaller than this is rewritten together with the next batch's points
instead of gaining a tiny sibling, so a live run sending one row at a time keeps few blocks."""

DTYPES: dict[str, np.dtype[Any]] = {
    "float": np.dtype("<f8"),
    "int": np.dtype("<i8"),
    "bool": np.dtype("?"),
}
STEP_DTYPE = np.dtype("<i8")
TIME_DTYPE = np.dtype("<f8")
I64_MIN = -(2**63)
I64_MAX = 2**63 - 1


def combine_dtype(a: str | None, b: str | None) -> str | None:
    """A key keeps its type while every block agrees; any disagreement makes it float."""
    if a is None:
        return b
    if b is None or a == b:
        return a
    return "float"


@dataclass
class Block:
    step_lo: int
    step_hi: int
    stride: int
    count: int
    dtype: str
    min: float
    max: float
    sum: float
    first: float
    last: float
    steps: np.ndarray
    values: np.ndarray
    times: np.ndarray

    def row(self) -> dict[str, Any]:
        """Column values for ``history_blocks`` (without ``id``/``key_id``)."""
        return {
            "step_lo": self.step_lo,
            "step_hi": self.step_hi,
            "stride": self.stride,
            "count": self.count,
            "dtype": self.dtype,
            "min": self.min,
            "max": self.max,
            "sum": self.sum,
            "first": self.first,
            "last": self.last,
            "steps": b"" if self.stride else self.steps.astype(STEP_DTYPE, copy=False).tobytes(),
            "vals": self.values.astype(DTYPES[self.dtype], copy=False).tobytes(),
            "times": self.times.astype(TIME_DTYPE, copy=False).tobytes(),
        }


def _stride(steps: np.ndarray) -> int:
    n = len(steps)
    if n == 1:
        return 1
    d = int(steps[1]) - int(steps[0])
    if d <= 0 or int(steps[-1]) - int(steps[0]) != d * (n - 1):
        return 0
    if n > 2 and not bool(np.all(np.diff(steps) == d)):
        return 0
    return d


def value_stats(values: np.ndarray) -> tuple[float, float, float, float, float]:
    """(min, max, sum, first, last) as floats; min/max ignore NaN (NaN when all are NaN), the sum
    does not (it is NaN when any value is), ±Inf are ordinary values."""
    if values.dtype == np.float64:
        vmin = float(np.fmin.reduce(values))
        vmax = float(np.fmax.reduce(values))
        with np.errstate(all="ignore"):  # inf - inf and overflow are legitimate results here
            vsum = float(np.add.reduce(values))
    else:
        vmin = float(values.min())
        vmax = float(values.max())
        vsum = float(values.sum(dtype=np.float64))
    return vmin, vmax, vsum, float(values[0]), float(values[-1])


def make_block(steps: np.ndarray, values: np.ndarray, times: np.ndarray, dtype: str) -> Block:
    """One block from step-sorted arrays."""
    vmin, vmax, vsum, first, last = value_stats(values)
    return Block(
        step_lo=int(steps[0]),
        step_hi=int(steps[-1]),
        stride=_stride(steps),
        count=len(steps),
        dtype=dtype,
        min=vmin,
        max=vmax,
        sum=vsum,
        first=first,
        last=last,
        steps=steps,
        values=values,
        times=times,
    )


def sort_by_step(
    steps: np.ndarray, values: np.ndarray, times: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stable sort by step (a no-op for the usual already-ordered input)."""
    if len(steps) > 1 and not bool(np.all(steps[1:] >= steps[:-1])):
        order = np.argsort(steps, kind="stable")
        return steps[order], values[order], times[order]
    return steps, values, times


def make_blocks(
    steps: np.ndarray,
    values: np.ndarray,
    times: np.ndarray,
    dtype: str,
    cap: int = BLOCK_CAP,
) -> list[Block]:
    """Split points (in write order) into step-sorted blocks of at most ``cap`` points."""
    steps, values, times = sort_by_step(steps, values, times)
    n = len(steps)
    if n == 0:
        return []
    nblocks = -(-n // cap)
    # Even sizes: 16385 points become two blocks of ~8192, not 16384 + 1.
    bounds = [round(i * n / nblocks) for i in range(nblocks + 1)]
    return [
        make_block(steps[a:b], values[a:b], times[a:b], dtype)
        for a, b in itertools.pairwise(bounds)
    ]


def decode_steps(step_lo: int, stride: int, count: int, raw: bytes) -> np.ndarray:
    if stride:
        return step_lo + stride * np.arange(count, dtype=np.int64)
    return np.frombuffer(raw, dtype=STEP_DTYPE)


def decode_values(dtype: str, raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=DTYPES[dtype])


def decode_times(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, dtype=TIME_DTYPE)


def merge_groups(counts: Sequence[int], cap: int = BLOCK_CAP) -> list[list[int]]:
    """Greedy grouping of consecutive blocks (indices into ``counts``) whose total fits ``cap``.

    Only groups of two or more blocks are returned: those are the ones worth rewriting.
    """
    groups: list[list[int]] = []
    cur: list[int] = []
    total = 0
    for i, c in enumerate(counts):
        if cur and total + c <= cap:
            cur.append(i)
            total += c
            continue
        if len(cur) > 1:
            groups.append(cur)
        cur, total = [i], c
    if len(cur) > 1:
        groups.append(cur)
    return groups


def concat_points(
    parts: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Concatenate (steps, values, times) parts given in block-id order, in canonical order."""
    plist = list(parts)
    if not plist:
        return np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64)
    steps = np.concatenate([p[0] for p in plist]).astype(np.int64, copy=False)
    values = np.concatenate([p[1] for p in plist])
    times = np.concatenate([p[2] for p in plist]).astype(np.float64, copy=False)
    return sort_by_step(steps, values, times)


def union_steps(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """The sorted distinct steps of several step-sorted arrays (a history page's or frame's rows).

    Keys logged together (the usual case) have equal step arrays, and then the first one is the
    answer as it is: no copy, no sort. Otherwise a stable sort of the concatenation (a merge of
    sorted runs) and one comparison pass drop the duplicates; ``np.unique`` hashes instead, which
    took 15 s for 10M steps.
    """
    if not arrays:
        return np.empty(0, np.int64)
    first = arrays[0]
    if _strictly_increasing(first) and all(
        a is first or (len(a) == len(first) and np.array_equal(a, first)) for a in arrays[1:]
    ):
        return first
    merged = np.sort(np.concatenate(arrays), kind="stable")
    if len(merged) < 2:
        return merged
    keep = np.empty(len(merged), dtype=bool)
    keep[0] = True
    np.not_equal(merged[1:], merged[:-1], out=keep[1:])
    return merged[keep]


def _strictly_increasing(a: np.ndarray) -> bool:
    return len(a) < 2 or bool(np.all(a[1:] > a[:-1]))


# --------------------------------------------------------------------------------------- envelope


class Bucketer:
    """Maps steps to buckets of ``[step_min, step_max]``: ``floor((s - lo) * B / W)``, clamped.

    int64 arithmetic is exact while ``W * B`` stays below 2**62 (any realistic step range); beyond
    that the same formula runs on Python integers so the result never silently overflows.
    """

    def __init__(self, step_min: int, step_max: int, buckets: int) -> None:
        self.lo = step_min
        self.hi = step_max
        self.n = buckets
        self.width = step_max - step_min + 1
        self.exact64 = self.width * buckets < 2**62

    def of(self, steps: np.ndarray) -> np.ndarray:
        s = np.clip(steps, self.lo, self.hi)
        if self.exact64:
            b = ((s - self.lo) * self.n) // self.width
        else:
            b = np.array(
                [((int(x) - self.lo) * self.n) // self.width for x in s.tolist()], dtype=np.int64
            )
        return np.minimum(b, self.n - 1)

    def first_step(self, b: np.ndarray) -> np.ndarray:
        """The first step bucket ``b`` covers: ``lo + ceil(b * W / B)``."""
        if self.exact64:
            return self.lo + (b * self.width + self.n - 1) // self.n
        return np.array(
            [self.lo + (int(x) * self.width + self.n - 1) // self.n for x in b.tolist()],
            dtype=np.int64,
        )


@dataclass
class BlockStats:
    """Statistics of the candidate blocks of one key, aligned arrays in block-id order."""

    ids: np.ndarray
    step_lo: np.ndarray
    step_hi: np.ndarray
    count: np.ndarray
    first: np.ndarray
    last: np.ndarray
    min: np.ndarray
    max: np.ndarray

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> BlockStats:
        """Rows of (id, step_lo, step_hi, count, first, last, min, max)."""
        cols = list(zip(*rows, strict=True)) if rows else [()] * 8
        i64 = np.int64
        f64 = np.float64
        return cls(
            ids=np.array(cols[0], i64),
            step_lo=np.array(cols[1], i64),
            step_hi=np.array(cols[2], i64),
            count=np.array(cols[3], i64),
            first=np.array(cols[4], f64),
            last=np.array(cols[5], f64),
            min=np.array(cols[6], f64),
            max=np.array(cols[7], f64),
        )


@dataclass
class BlockPoints:
    """A decoded block for the envelope: values as float64, steps explicit or as a progression."""

    step_lo: int
    stride: int  # > 0: steps are step_lo + stride * i and ``steps`` is None
    steps: np.ndarray | None
    values: np.ndarray


PointLoader = Callable[[Sequence[int]], dict[int, BlockPoints]]
"""Given block ids, return the decoded points of each."""


def _edge_segments(bk: Bucketer, bp: BlockPoints) -> tuple[np.ndarray, ...] | None:
    """Per-bucket (bucket, first step, first, last step, last, min, max, count) of one block.

    Costs O(buckets spanned * log n) to find the bucket boundaries (arithmetic for strided steps,
    binary search otherwise) plus one fmin/fmax pass over the values; steps are never rescanned.
    Scalar bookkeeping is plain Python ints: exact for any int64 step, and cheaper than numpy
    for single numbers.
    """
    vals = bp.values
    n = len(vals)
    lo, hi, nb, width = bk.lo, bk.hi, bk.n, bk.width
    k, first = bp.stride, bp.step_lo
    steps = bp.steps
    if k:
        i0 = max(0, -(-(lo - first) // k))
        i1 = min(n, (hi - first) // k + 1)
        if i1 <= i0:
            return None
        s0, s1 = first + k * i0, first + k * (i1 - 1)
    else:
        assert steps is not None
        i0 = int(steps.searchsorted(lo, "left"))
        i1 = int(steps.searchsorted(hi, "right"))
        if i1 <= i0:
            return None
        s0, s1 = int(steps[i0]), int(steps[i1 - 1])
    b0 = ((s0 - lo) * nb) // width
    b1 = min(((s1 - lo) * nb) // width, nb - 1)
    if b1 == b0:
        v = vals[i0:i1]
        return (
            np.array([b0], np.int64),
            np.array([s0], np.int64),
            vals[i0 : i0 + 1],
            np.array([s1], np.int64),
            vals[i1 - 1 : i1],
            np.array([np.fmin.reduce(v)]),
            np.array([np.fmax.reduce(v)]),
            np.array([i1 - i0], np.int64),
        )
    # Bucket edges inside (s0, s1]; their positions are within (i0, i1) by construction.
    edges = bk.first_step(np.arange(b0 + 1, b1 + 1, dtype=np.int64))
    if k:
        pos = -((first - edges) // k)
    else:
        assert steps is not None
        pos = steps.searchsorted(edges, "left")
    starts = np.empty(len(pos) + 1, np.int64)
    starts[0] = i0
    starts[1:] = pos
    ends = np.empty_like(starts)
    ends[:-1] = pos
    ends[-1] = i1
    bs = np.arange(b0, b1 + 1, dtype=np.int64)
    keep = ends > starts  # buckets narrower than the step spacing can be empty
    if not keep.all():
        starts, ends, bs = starts[keep], ends[keep], bs[keep]
    window = vals[:i1]
    lasts = ends - 1
    if k:
        fsteps, lsteps = first + k * starts, first + k * lasts
    else:
        assert steps is not None
        fsteps, lsteps = steps[starts], steps[lasts]
    return (
        bs,
        fsteps,
        vals[starts],
        lsteps,
        vals[lasts],
        np.fmin.reduceat(window, starts),
        np.fmax.reduceat(window, starts),
        ends - starts,
    )


def empty_envelope(step_min: int, step_max: int, buckets: int) -> Envelope:
    width = (step_max - step_min + 1) / buckets if step_max >= step_min else 0.0
    return Envelope(step_min=step_min, step_max=step_max, buckets=buckets, bucket_width=width)


def compute_envelope(
    stats: BlockStats, load: PointLoader, step_min: int, step_max: int, buckets: int
) -> Envelope:
    """The envelope of ``[step_min, step_max]`` in ``buckets`` buckets.

    A block lying wholly inside one bucket (and the range) contributes its stored statistics; only
    the other blocks are decoded, each bucket's slice found by binary search and reduced with
    ``reduceat``. Contributions are then combined per bucket: min/max with fmin/fmax (NaN-ignoring),
    first/last by canonical point order (step, then block rank).
    """
    if step_max < step_min or len(stats.ids) == 0:
        return empty_envelope(step_min, step_max, buckets)
    bk = Bucketer(step_min, step_max, buckets)
    rank = np.arange(len(stats.ids), dtype=np.int64)
    in_range = (stats.step_hi >= step_min) & (stats.step_lo <= step_max)
    b_lo = bk.of(stats.step_lo)
    b_hi = bk.of(stats.step_hi)
    whole = in_range & (stats.step_lo >= step_min) & (stats.step_hi <= step_max) & (b_lo == b_hi)
    edge = in_range & ~whole

    cb: list[np.ndarray] = [b_lo[whole]]
    cfs: list[np.ndarray] = [stats.step_lo[whole]]
    cfv: list[np.ndarray] = [stats.first[whole]]
    cls_: list[np.ndarray] = [stats.step_hi[whole]]
    clv: list[np.ndarray] = [stats.last[whole]]
    cmn: list[np.ndarray] = [stats.min[whole]]
    cmx: list[np.ndarray] = [stats.max[whole]]
    ccnt: list[np.ndarray] = [stats.count[whole]]
    crank: list[np.ndarray] = [rank[whole]]

    edge_idx = np.flatnonzero(edge)
    if len(edge_idx):
        points = load([int(i) for i in stats.ids[edge_idx]])
        for i in edge_idx.tolist():
            seg = _edge_segments(bk, points[int(stats.ids[i])])
            if seg is None:
                continue
            bs, fs_, fv_, ls_, lv_, mn_, mx_, cnt_ = seg
            cb.append(bs)
            cfs.append(fs_)
            cfv.append(fv_)
            cls_.append(ls_)
            clv.append(lv_)
            cmn.append(mn_)
            cmx.append(mx_)
            ccnt.append(cnt_)
            crank.append(np.full(len(bs), i, np.int64))

    b = np.concatenate(cb)
    if len(b) == 0:
        return empty_envelope(step_min, step_max, buckets)
    fs = np.concatenate(cfs)
    fv = np.concatenate(cfv).astype(np.float64, copy=False)
    ls = np.concatenate(cls_)
    lv = np.concatenate(clv).astype(np.float64, copy=False)
    mn = np.concatenate(cmn).astype(np.float64, copy=False)
    mx = np.concatenate(cmx).astype(np.float64, copy=False)
    cnt = np.concatenate(ccnt).astype(np.int64, copy=False)
    rk = np.concatenate(crank)

    by_b = np.argsort(b, kind="stable")
    bsorted = b[by_b]
    gstart = np.flatnonzero(np.concatenate(([True], bsorted[1:] != bsorted[:-1])))
    gend = np.concatenate((gstart[1:], [len(b)])) - 1
    ub = bsorted[gstart]
    first_pick = np.lexsort((rk, fs, b))[gstart]
    last_pick = np.lexsort((rk, ls, b))[gend]
    return Envelope(
        step_min=step_min,
        step_max=step_max,
        buckets=buckets,
        bucket_width=bk.width / buckets,
        bucket_lo=bk.first_step(ub).astype(np.int64),
        first_step=fs[first_pick].astype(np.int64),
        last_step=ls[last_pick].astype(np.int64),
        first=fv[first_pick],
        last=lv[last_pick],
        min=np.fmin.reduceat(mn[by_b], gstart),
        max=np.fmax.reduceat(mx[by_b], gstart),
        count=np.add.reduceat(cnt[by_b], gstart),
    )


def check_step(value: Any, what: str) -> int:
    """Steps are int64 on disk; reject what cannot be one."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise TypeError(f"{what} must be an integer, got {value!r}")
    v = int(value)
    if not I64_MIN <= v <= I64_MAX:
        raise OverflowError(f"{what} {v} does not fit in 64 bits")
    return v
