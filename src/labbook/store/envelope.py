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
  other blocks', blocks without statistics) its whole block is decoded, in one pass, and cut at
  the nominal edges, exactly as the bucket formula says.

So a 10M-point key at 1000 buckets reads ~700 rows of statistics and decodes nothing, while a
zoomed-in view (a few points per bucket) is cut exactly at the formula's edges, from decoded
points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from labbook.store.history import I64_MAX, SUB, SUB_FIELDS
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
        # Buckets narrower than SNAP steps: no sub-block may move an edge and few fit in one
        # bucket, so every block crossing an edge is decoded (the answer is the same: nothing
        # moves, and decoded points are cut at the same edges) and sub-blocks are not read.
        self.narrow = self.width < SNAP * buckets

    def of(self, steps: np.ndarray) -> np.ndarray:
        """Buckets of ``steps``, clamped to the range (so at most ``B - 1``: (W-1)*B // W < B)."""
        s = np.minimum(np.maximum(steps, self.lo), self.hi)  # np.clip costs more per call
        if self.exact64:
            s -= self.lo
            s *= self.n
            s //= self.width
            return s
        return np.array(
            [((int(x) - self.lo) * self.n) // self.width for x in s.tolist()], dtype=np.int64
        )

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
    known: np.ndarray  # bool

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
            subs=list(cols[11]),
            known=np.array(cols[12], bool),
        )

    def sub_ok(self, idx: np.ndarray) -> np.ndarray:
        """Which of blocks ``idx`` have sub-block statistics of the size their count implies."""
        size = np.array([-1 if (s := self.subs[i]) is None else len(s) for i in idx.tolist()])
        k = -(-self.count[idx] // SUB)
        want = k * (SUB_FIELDS * 8) + np.where(self.stride[idx] == 0, k * 16, 0)
        return self.known[idx] & (size == want)


@dataclass
class BlockPoints:
    """A decoded block for the envelope: values as float64, steps explicit or as a progression."""

    step_lo: int
    stride: int  # > 0: steps are step_lo + stride * i and ``steps`` is None
    steps: np.ndarray | None
    values: np.ndarray
    times: np.ndarray | None  # wall times, when the envelope was asked for them


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
    f64 = np.frombuffer(b"".join([stats.subs[i] or b"" for i in idx.tolist()]), "<f8")
    owner = np.repeat(np.arange(len(idx)), k)
    j = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(k) - k, k)
    pos0 = j * SUB
    pos1 = np.minimum(pos0 + SUB, count[owner])
    st, lo0 = stride[owner], step_lo[owner]
    lo = lo0 + st * pos0
    hi = lo0 + st * (pos1 - 1)
    if not explicit.any():  # records back to back: columns are views
        rec = f64.reshape(-1, SUB_FIELDS)
        fields = [rec[:, f] for f in range(SUB_FIELDS)]
    else:  # explicit steps follow each such block's records
        words = k * SUB_FIELDS + np.where(explicit, 2 * k, 0)
        wstart = np.cumsum(words) - words
        base = wstart[owner] + SUB_FIELDS * j
        fields = [f64[base + f] for f in range(SUB_FIELDS)]
        ex = explicit[owner]
        i64 = f64.view("<i8")
        sbase = (wstart + SUB_FIELDS * k)[owner][ex] + 2 * j[ex]
        lo[ex] = i64[sbase]
        hi[ex] = i64[sbase + 1]
    mn, mx, first, last, tf, tl = fields
    return _Units(
        rank=idx[owner],
        pos0=pos0,
        pos1=pos1,
        lo=lo,
        hi=hi,
        min=mn,
        max=mx,
        first=first,
        last=last,
        t_first=tf,
        t_last=tl,
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
    edge = np.flatnonzero(in_range & ~whole)
    ok = np.zeros(len(edge), bool) if bk.narrow else stats.sub_ok(edge)
    parts = [_sub_units(stats, edge[ok])] if ok.any() else []
    if not ok.all():
        parts.append(_block_units(stats, edge[~ok], True))
    if whole.any():
        parts.append(_block_units(stats, np.flatnonzero(whole), False))
    if not parts:
        parts.append(_sub_units(stats, edge))  # nothing in range: no units
    u = parts[0] if len(parts) == 1 else _Units.concat(parts)
    if (stats.step_lo[edge] >= bk.lo).all() and (stats.step_hi[edge] <= bk.hi).all():
        return u
    meets = (u.hi >= bk.lo) & (u.lo <= bk.hi)  # sub-blocks of a block the range cuts
    return u.take(meets)


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
    slo, shi = np.sort(u.lo, kind="stable"), np.sort(u.hi, kind="stable")  # nearly sorted

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


def _edge_segments(bk: Bucketer, bp: BlockPoints) -> tuple[Any, ...] | None:
    """Per-bucket (bucket, first step, first, last step, last, min, max, count, first index,
    last index, first time, last time) of decoded points, cut at the nominal edges; the times are
    None when ``bp`` has none.

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
            None if bp.times is None else bp.times[i0 : i0 + 1],
            None if bp.times is None else bp.times[i1 - 1 : i1],
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
        None if bp.times is None else bp.times[starts],
        None if bp.times is None else bp.times[lasts],
    )


def _ascending(b: np.ndarray, step: np.ndarray, order: np.ndarray) -> bool:
    """Whether (bucket, step, order) never decreases from one contribution to the next
    (comparisons, not differences: steps may be far apart in int64)."""
    if len(b) < 2:
        return True
    if (b[1:] < b[:-1]).any():
        return False
    same = b[1:] == b[:-1]
    s0, s1 = step[:-1], step[1:]
    if (same & (s1 < s0)).any():
        return False
    return not (same & (s1 == s0) & (order[1:] < order[:-1])).any()


def empty_envelope(step_min: int, step_max: int, buckets: int) -> Envelope:
    width = (step_max - step_min + 1) / buckets if step_max >= step_min else 0.0
    return Envelope(step_min=step_min, step_max=step_max, buckets=buckets, bucket_width=width)


@dataclass
class EnvelopePlan:
    """What the statistics alone settle of an envelope (``plan_envelope``): the contributions of
    whole blocks and sub-blocks, with their buckets and moved edges, and which blocks must be
    decoded (``decode_ids``) before ``finish_envelope`` can combine everything.

    Splitting the two lets a read of many keys decode the blocks of all of them in a few
    statements, then finish each key as the single-key envelope does.
    """

    stats: BlockStats
    bk: Bucketer
    kept: _Units  # the units taken from statistics (not decoded)
    bucket: np.ndarray  # each kept unit's bucket
    edge_b: np.ndarray  # buckets whose first edge moved
    edge_step: np.ndarray  # ... and the step it moved to
    dec_ranks: np.ndarray  # ranks (in ``stats``) of the blocks to decode

    @property
    def decode_ids(self) -> list[int]:
        return [int(self.stats.ids[i]) for i in self.dec_ranks.tolist()]

    @property
    def decode_points(self) -> int:
        """How many points decoding costs."""
        return int(self.stats.count[self.dec_ranks].sum())


def plan_envelope(
    stats: BlockStats, step_min: int, step_max: int, buckets: int
) -> EnvelopePlan | None:
    """The statistics' part of ``compute_envelope``; None when the envelope is empty."""
    if step_max < step_min or len(stats.ids) == 0:
        return None
    bk = Bucketer(step_min, step_max, buckets)
    u = _units(stats, bk)
    if not len(u.lo):
        return None
    ub0, ub1 = bk.of(u.lo), bk.of(u.hi)
    cut = (u.lo < step_min) | (u.hi > step_max)
    straddle = cut | (ub0 != ub1)
    moved, moved_b, edge_b, edge_step = _snap(bk, u, ub0, ub1, straddle & ~cut & ~u.forced)
    decode = straddle | u.forced
    decode[moved] = False
    # A block with anything to decode is decoded whole, in one pass (loading it costs the same as
    # loading a part); edges its other sub-blocks moved go back where the formula puts them.
    flag = np.zeros(len(stats.ids), bool)
    flag[u.rank[decode]] = True
    dec_ranks = np.flatnonzero(flag)
    if len(dec_ranks):
        decode = flag[u.rank]
        stay = ~decode[moved]
        moved, moved_b, edge_b, edge_step = (
            moved[stay],
            moved_b[stay],
            edge_b[stay],
            edge_step[stay],
        )
    bucket = ub0.copy()
    bucket[moved] = moved_b
    if len(dec_ranks):
        u, bucket = u.take(~decode), bucket[~decode]
    return EnvelopePlan(stats, bk, u, bucket, edge_b, edge_step, dec_ranks)


def compute_envelope(
    stats: BlockStats,
    load: PointLoader,
    step_min: int,
    step_max: int,
    buckets: int,
    *,
    times: bool = False,
) -> Envelope:
    """The envelope of ``[step_min, step_max]`` in ``buckets`` buckets (see the module docstring).

    With ``times``, each bucket's first and last point's wall times too: ``load`` must then return
    blocks with their times (decoding them costs about as much again as the values; free where
    nothing is decoded). Without, ``first_time``/``last_time`` are empty.
    """
    plan = plan_envelope(stats, step_min, step_max, buckets)
    if plan is None:
        return empty_envelope(step_min, step_max, buckets)
    points = load(plan.decode_ids) if len(plan.dec_ranks) else {}
    return finish_envelope(plan, points, times=times)


def finish_envelope(
    plan: EnvelopePlan, points: dict[int, BlockPoints], *, times: bool = False
) -> Envelope:
    """The envelope of ``plan``, given the decoded points of its ``decode_ids`` (with their wall
    times when ``times``).

    Contributions (whole blocks, sub-blocks, decoded segments) are combined per bucket: min/max
    with fmin/fmax (NaN-ignoring), first/last by canonical point order (step, then block rank,
    then position in the block).
    """
    stats, bk, k, bucket, dec_ranks = plan.stats, plan.bk, plan.kept, plan.bucket, plan.dec_ranks
    edge_b, edge_step = plan.edge_b, plan.edge_step
    step_min, step_max, buckets = bk.lo, bk.hi, bk.n
    # Each contribution: (bucket, first step, first, last step, last, min, max, count, first
    # order, last order, first time, last time), arrays over its pieces.
    parts: list[tuple[Any, ...]] = []
    if len(k.lo):
        rank_hi = k.rank << _POS_BITS
        parts.append(
            (
                bucket,
                k.lo,
                k.first,
                k.hi,
                k.last,
                k.min,
                k.max,
                k.pos1 - k.pos0,
                rank_hi | k.pos0,
                rank_hi | (k.pos1 - 1),
                k.t_first,
                k.t_last,
            )
        )
    for rank in dec_ranks.tolist():
        seg = _edge_segments(bk, points[int(stats.ids[rank])])
        if seg is None:
            continue
        bs, fs_, fv_, ls_, lv_, mn_, mx_, cnt_, fi_, li_, tf_, tl_ = seg
        hi_bits = rank << _POS_BITS
        parts.append(
            (bs, fs_, fv_, ls_, lv_, mn_, mx_, cnt_, hi_bits | fi_, hi_bits | li_, tf_, tl_)
        )
    if not parts:
        return empty_envelope(step_min, step_max, buckets)
    if len(parts) == 1:
        cols = list(parts[0])
    else:
        n_cols = 12 if times else 10
        cols = [np.concatenate([p[i] for p in parts]) for i in range(n_cols)]
    b, fs, fv, ls, lv, mn, mx, cnt, of, ol = cols[:10]
    b, fs, ls, of, ol, cnt = (a.astype(np.int64, copy=False) for a in (b, fs, ls, of, ol, cnt))
    fv, lv, mn, mx = (a.astype(np.float64, copy=False) for a in (fv, lv, mn, mx))

    if _ascending(b, fs, of) and _ascending(b, ls, ol):
        # Contributions already in canonical order (blocks in step order, nothing decoded): each
        # bucket's first contribution holds its first point and its last one its last point.
        bsorted = b
        gstart = np.flatnonzero(np.concatenate(([True], b[1:] != b[:-1])))
        gend = np.concatenate((gstart[1:], [len(b)])) - 1
        first_pick, last_pick = gstart, gend
    else:
        by_b = np.argsort(b, kind="stable")
        bsorted = b[by_b]
        gstart = np.flatnonzero(np.concatenate(([True], bsorted[1:] != bsorted[:-1])))
        gend = np.concatenate((gstart[1:], [len(b)])) - 1
        first_pick = np.lexsort((of, fs, b))[gstart]
        last_pick = np.lexsort((ol, ls, b))[gend]
        mn, mx, cnt = mn[by_b], mx[by_b], cnt[by_b]
    ub = bsorted[gstart]
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
        min=np.fmin.reduceat(mn, gstart),
        max=np.fmax.reduceat(mx, gstart),
        count=np.add.reduceat(cnt, gstart),
        **(
            {
                "first_time": cols[10].astype(np.float64, copy=False)[first_pick],
                "last_time": cols[11].astype(np.float64, copy=False)[last_pick],
            }
            if times
            else {}
        ),
    )
