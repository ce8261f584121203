"""The chart envelope of a numeric key, from block and sub-block statistics. Pure numpy.

Per bucket: the first and last point (step, value, wall time), the min, the max and the count, so a
spike is never sampled away (M4). What it reads, from cheapest to dearest:

* a block lying wholly inside one bucket contributes its stored statistics;
* a block crossing a bucket edge contributes its sub-blocks' statistics (``history.SUB`` points
  each, ``history_block_stats``), each sub-block lying inside one bucket;
* a sub-block crossing an edge either moves that edge or is decoded. It moves the edge when it
  spans at most ``1/SNAP`` of a bucket's steps and nothing else lies between the nominal edge and
  the sub-block's nearer end: the sub-block joins the bucket holding most of it and the next
  bucket's ``bucket_lo`` becomes the step just past the move, so the answer still says exactly
  which steps each bucket holds and its min and max are those of exactly those points. Otherwise
  (buckets narrower than ``SNAP`` sub-blocks, the range's own ends, blocks whose steps overlap
  other blocks', blocks without statistics) its points are decoded and split at the nominal edge,
  exactly as the bucket formula says.

So a 10M-point key at 1000 buckets reads ~700 rows of statistics and decodes nothing, while a
zoomed-in view (a few points per bucket) is cut exactly at the formula's edges, from decoded
points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labbook.store.history import I64_MAX, SUB, SUB_FIELDS, sub_stats_size
from labbook.store.models import Envelope

SNAP = 4
"""A sub-block may move a bucket edge when it spans at most 1/SNAP of the bucket's width in steps:
an edge then moves by at most an eighth of a bucket, and consecutive edges keep their order."""

_POS_BITS = 31  # a point's canonical rank: (block rank << 31) | position in the block


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
    """Statistics of the candidate blocks of one key, aligned arrays in block-id order.

    ``known`` says which blocks have sub-block statistics (``history.block_stats_row``); a block
    without is decoded wherever it meets the range. ``subs`` holds them where they were read (a
    block inside one bucket needs none), else None; ``t_first`` and ``t_last`` are the wall times
    of the block's first and last point.
    """

    ids: np.ndarray
    step_lo: np.ndarray
    step_hi: np.ndarray
    count: np.ndarray
    first: np.ndarray
    last: np.ndarray
    min: np.ndarray
    max: np.ndarray
    stride: np.ndarray
    t_first: np.ndarray
    t_last: np.ndarray
    subs: list[bytes | None]
    known: np.ndarray

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> BlockStats:
        """Rows of (id, step_lo, step_hi, count, first, last, min, max, stride, t_first, t_last,
        sub, known); None floats (NULL) read as NaN."""
        cols = list(zip(*rows, strict=True)) if rows else [()] * 13
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
            stride=np.array(cols[8], i64),
            t_first=np.array(cols[9], f64),
            t_last=np.array(cols[10], f64),
            subs=[None if s is None else bytes(s) for s in cols[11]],
            known=np.array(cols[12], bool),
        )


@dataclass
class BlockPoints:
    """A decoded block for the envelope: values as float64, steps explicit or as a progression."""

    step_lo: int
    stride: int  # > 0: steps are step_lo + stride * i and ``steps`` is None
    steps: np.ndarray | None
    values: np.ndarray
    times: np.ndarray

    def slice(self, i0: int, i1: int) -> BlockPoints:
        """Points ``i0 .. i1 - 1``."""
        if i0 == 0 and i1 == len(self.values):
            return self
        return BlockPoints(
            step_lo=self.step_lo + self.stride * i0,
            stride=self.stride,
            steps=None if self.steps is None else self.steps[i0:i1],
            values=self.values[i0:i1],
            times=self.times[i0:i1],
        )


PointLoader = Callable[[Sequence[int]], dict[int, BlockPoints]]
"""Given block ids, return the decoded points of each."""


@dataclass
class _Units:
    """Pieces of the key that each lie inside the range: whole blocks, sub-blocks, or blocks to
    decode (``forced``: no sub-block statistics). Positions are the points' indices in their
    block (``pos1`` exclusive); ``rank`` is the block's index in ``BlockStats``."""

    rank: np.ndarray
    pos0: np.ndarray
    pos1: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    first: np.ndarray
    last: np.ndarray
    min: np.ndarray
    max: np.ndarray
    t_first: np.ndarray
    t_last: np.ndarray
    forced: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[_Units]) -> _Units:
        return cls(
            **{f: np.concatenate([getattr(p, f) for p in parts]) for f in cls.__dataclass_fields__}
        )

    def take(self, sel: np.ndarray) -> _Units:
        return _Units(**{f: getattr(self, f)[sel] for f in self.__dataclass_fields__})


def _block_units(stats: BlockStats, idx: np.ndarray, forced: bool) -> _Units:
    return _Units(
        rank=idx,
        pos0=np.zeros(len(idx), np.int64),
        pos1=stats.count[idx],
        lo=stats.step_lo[idx],
        hi=stats.step_hi[idx],
        first=stats.first[idx],
        last=stats.last[idx],
        min=stats.min[idx],
        max=stats.max[idx],
        t_first=stats.t_first[idx],
        t_last=stats.t_last[idx],
        forced=np.full(len(idx), forced),
    )


def _sub_units(stats: BlockStats, idx: np.ndarray) -> _Units:
    """The sub-blocks of blocks ``idx``, parsed from their ``subs`` in one vectorised pass."""
    count, stride, step_lo = stats.count[idx], stats.stride[idx], stats.step_lo[idx]
    k = -(-count // SUB)
    explicit = stride == 0
    words = k * SUB_FIELDS + np.where(explicit, 2 * k, 0)
    wstart = np.cumsum(words) - words
    f64 = np.frombuffer(b"".join([stats.subs[i] or b"" for i in idx.tolist()]), "<f8")
    i64 = f64.view("<i8")
    owner = np.repeat(np.arange(len(idx)), k)
    j = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
    base = wstart[owner] + SUB_FIELDS * j
    pos0 = j * SUB
    pos1 = np.minimum(pos0 + SUB, count[owner])
    st, lo0 = stride[owner], step_lo[owner]
    lo = lo0 + st * pos0
    hi = lo0 + st * (pos1 - 1)
    ex = explicit[owner]
    if ex.any():
        sbase = (wstart + SUB_FIELDS * k)[owner][ex] + 2 * j[ex]
        lo[ex] = i64[sbase]
        hi[ex] = i64[sbase + 1]
    return _Units(
        rank=idx[owner],
        pos0=pos0,
        pos1=pos1,
        lo=lo,
        hi=hi,
        min=f64[base],
        max=f64[base + 1],
        first=f64[base + 2],
        last=f64[base + 3],
        t_first=f64[base + 4],
        t_last=f64[base + 5],
        forced=np.zeros(len(owner), bool),
    )


def _units(stats: BlockStats, bk: Bucketer) -> _Units:
    in_range = (stats.step_hi >= bk.lo) & (stats.step_lo <= bk.hi)
    whole = (
        in_range
        & stats.known
        & (stats.step_lo >= bk.lo)
        & (stats.step_hi <= bk.hi)
        & (bk.of(stats.step_lo) == bk.of(stats.step_hi))
    )
    edge = np.flatnonzero(in_range & ~whole).tolist()
    usable = [
        i
        for i in edge
        if stats.known[i]
        and (s := stats.subs[i]) is not None
        and len(s) == sub_stats_size(int(stats.count[i]), int(stats.stride[i]))
    ]
    bare = sorted(set(edge) - set(usable))
    parts = [_block_units(stats, np.flatnonzero(whole), False)]
    if usable:
        parts.append(_sub_units(stats, np.array(usable, np.int64)))
    if bare:
        parts.append(_block_units(stats, np.array(bare, np.int64), True))
    u = _Units.concat(parts)
    meets = (u.hi >= bk.lo) & (u.lo <= bk.hi)
    return u if meets.all() else u.take(meets)


def _snap(
    bk: Bucketer, u: _Units, ub0: np.ndarray, ub1: np.ndarray, candidate: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Which straddling units move their edge: (unit indices, their bucket, the buckets whose
    first step moved, that step). See the module docstring for the rule."""
    none = np.empty(0, np.int64)
    limit = bk.width // (SNAP * bk.n)  # most steps a unit may span (Python int: exact)
    c = np.flatnonzero(candidate & (ub1 == ub0 + 1) & (u.hi < I64_MAX))
    if limit < 1 or not len(c):
        return none, none, none, none
    # hi - lo in uint64 is exact for hi >= lo, whatever the int64 values
    span = u.hi[c].astype(np.uint64) - u.lo[c].astype(np.uint64)
    c = c[span < np.uint64(limit)]
    if not len(c):
        return none, none, none, none
    e = bk.first_step(ub1[c])  # the nominal edge each one crosses
    lo, hi = u.lo[c], u.hi[c]
    # Units meeting [x, y) = #(lo < y) - #(hi < x); the unit itself meets its own interval.
    slo, shi = np.sort(u.lo), np.sort(u.hi)

    def alone(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return (np.searchsorted(slo, y, "left") - np.searchsorted(shi, x, "left")) == 1

    ok_down = alone(lo, e)  # the unit joins the later bucket, whose first step becomes lo
    ok_up = alone(e, hi + 1)  # the unit joins the earlier bucket; the later starts at hi + 1
    prefer_down = (e - lo) <= (hi + 1 - e)
    down = ok_down & (prefer_down | ~ok_up)
    up = ok_up & ~down
    moved = down | up
    idx = c[moved]
    bucket = np.where(down, ub1[c], ub0[c])[moved]
    edge = np.where(down, lo, hi + 1)[moved]
    return idx, bucket, ub1[c][moved], edge


def _edge_segments(bk: Bucketer, bp: BlockPoints) -> tuple[np.ndarray, ...] | None:
    """Per-bucket (bucket, first step, first, last step, last, min, max, count, first index,
    last index, first time, last time) of decoded points, cut at the nominal edges.

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
            np.array([i0], np.int64),
            np.array([i1 - 1], np.int64),
            bp.times[i0 : i0 + 1],
            bp.times[i1 - 1 : i1],
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
        starts,
        lasts,
        bp.times[starts],
        bp.times[lasts],
    )


def empty_envelope(step_min: int, step_max: int, buckets: int) -> Envelope:
    width = (step_max - step_min + 1) / buckets if step_max >= step_min else 0.0
    return Envelope(step_min=step_min, step_max=step_max, buckets=buckets, bucket_width=width)


def compute_envelope(
    stats: BlockStats, load: PointLoader, step_min: int, step_max: int, buckets: int
) -> Envelope:
    """The envelope of ``[step_min, step_max]`` in ``buckets`` buckets (see the module docstring).

    Contributions (whole blocks, sub-blocks, decoded segments) are combined per bucket: min/max
    with fmin/fmax (NaN-ignoring), first/last by canonical point order (step, then block rank,
    then position in the block).
    """
    if step_max < step_min or len(stats.ids) == 0:
        return empty_envelope(step_min, step_max, buckets)
    bk = Bucketer(step_min, step_max, buckets)
    u = _units(stats, bk)
    if not len(u.lo):
        return empty_envelope(step_min, step_max, buckets)
    ub0, ub1 = bk.of(u.lo), bk.of(u.hi)
    cut = (u.lo < step_min) | (u.hi > step_max)
    straddle = cut | (ub0 != ub1)
    moved, moved_b, edge_b, edge_step = _snap(bk, u, ub0, ub1, straddle & ~cut & ~u.forced)
    bucket = ub0.copy()
    bucket[moved] = moved_b
    decode = straddle | u.forced
    decode[moved] = False

    kept = np.flatnonzero(~decode)
    rank_hi = u.rank[kept] << _POS_BITS
    cb: list[np.ndarray] = [bucket[kept]]
    cfs: list[np.ndarray] = [u.lo[kept]]
    cfv: list[np.ndarray] = [u.first[kept]]
    cls_: list[np.ndarray] = [u.hi[kept]]
    clv: list[np.ndarray] = [u.last[kept]]
    cmn: list[np.ndarray] = [u.min[kept]]
    cmx: list[np.ndarray] = [u.max[kept]]
    ccnt: list[np.ndarray] = [u.pos1[kept] - u.pos0[kept]]
    cof: list[np.ndarray] = [rank_hi | u.pos0[kept]]
    col: list[np.ndarray] = [rank_hi | (u.pos1[kept] - 1)]
    ctf: list[np.ndarray] = [u.t_first[kept]]
    ctl: list[np.ndarray] = [u.t_last[kept]]

    dec = np.flatnonzero(decode)
    if len(dec):
        # Adjacent pieces of one block are decoded as one slice: one pass per run of them.
        dec = dec[np.lexsort((u.pos0[dec], u.rank[dec]))]
        r, p0, p1 = u.rank[dec], u.pos0[dec], u.pos1[dec]
        brk = np.ones(len(dec), bool)
        brk[1:] = (r[1:] != r[:-1]) | (p0[1:] != p1[:-1])
        run_a = np.flatnonzero(brk)
        run_z = np.concatenate((run_a[1:], [len(dec)])) - 1
        points = load([int(stats.ids[i]) for i in np.unique(r).tolist()])
        for a, z in zip(run_a.tolist(), run_z.tolist(), strict=True):
            rank = int(r[a])
            i0 = int(p0[a])
            bp = points[int(stats.ids[rank])].slice(i0, int(p1[z]))
            seg = _edge_segments(bk, bp)
            if seg is None:
                continue
            bs, fs_, fv_, ls_, lv_, mn_, mx_, cnt_, fi_, li_, tf_, tl_ = seg
            cb.append(bs)
            cfs.append(fs_)
            cfv.append(fv_)
            cls_.append(ls_)
            clv.append(lv_)
            cmn.append(mn_)
            cmx.append(mx_)
            ccnt.append(cnt_)
            cof.append((rank << _POS_BITS) | (fi_ + i0))
            col.append((rank << _POS_BITS) | (li_ + i0))
            ctf.append(tf_)
            ctl.append(tl_)

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
    of = np.concatenate(cof)
    ol = np.concatenate(col)
    tf = np.concatenate(ctf).astype(np.float64, copy=False)
    tl = np.concatenate(ctl).astype(np.float64, copy=False)

    by_b = np.argsort(b, kind="stable")
    bsorted = b[by_b]
    gstart = np.flatnonzero(np.concatenate(([True], bsorted[1:] != bsorted[:-1])))
    gend = np.concatenate((gstart[1:], [len(b)])) - 1
    ub = bsorted[gstart]
    first_pick = np.lexsort((of, fs, b))[gstart]
    last_pick = np.lexsort((ol, ls, b))[gend]
    bucket_lo = bk.first_step(ub).astype(np.int64)
    if len(edge_b):  # buckets whose first edge moved start where it moved to
        at = np.searchsorted(ub, edge_b)
        hit = at < len(ub)
        hit[hit] = ub[at[hit]] == edge_b[hit]
        bucket_lo[at[hit]] = edge_step[hit]
    return Envelope(
        step_min=step_min,
        step_max=step_max,
        buckets=buckets,
        bucket_width=bk.width / buckets,
        bucket_lo=bucket_lo,
        first_step=fs[first_pick].astype(np.int64),
        last_step=ls[last_pick].astype(np.int64),
        first=fv[first_pick],
        last=lv[last_pick],
        min=np.fmin.reduceat(mn[by_b], gstart),
        max=np.fmax.reduceat(mx[by_b], gstart),
        count=np.add.reduceat(cnt[by_b], gstart),
        first_time=tf[first_pick],
        last_time=tl[last_pick],
    )
