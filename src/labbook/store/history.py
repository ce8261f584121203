"""Columnar history blocks: the block format and its statistics. Pure numpy, no database.

A block holds consecutive points of one run+key: steps (int64), values (float64, or int64/bool when
every value of the block has that type) and wall times (float64), each packed with ``tobytes``,
plus statistics (step range, count, min, max, sum, first, last) kept in columns beside the bytes.
Steps that form an arithmetic progression (the usual ``0, 1, 2, ...``) are not stored at all: the
block records ``stride`` and the steps are regenerated on read, which also lets the envelope skip
reading them.

Each block also carries sub-block statistics (``history_block_stats``): per ``SUB`` points, the
min, max, first and last value and the wall times of the first and last point (plus the first and
last step when the steps are explicit), and the wall times of the block's own first and last point.
They let the envelope (``envelope.py``) answer a wide bucket without decoding the blocks that cross
its edges.

Point order is canonical everywhere: by step, then by block id (write order), then by position in
the block. Blocks are sorted by step when written and merging only ever combines blocks adjacent in
id order, so this order survives merges; history reads and the envelope's first/last agree with it.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

BLOCK_CAP = 16384
"""Most points in one block: large enough that a long run is a few hundred rows per key, small
enough that decoding one edge block for an envelope stays cheap."""
SUB = 256
"""Points per sub-block of the statistics kept beside each block: 64 to a full block. Small enough
that a wide bucket's edge moves by at most half of one (see ``envelope.py``), large enough that the
statistics of a 10M-point key (~40,000 sub-blocks, 48 bytes each) read in a few milliseconds."""
SUB_FIELDS = 6
"""Float64 fields of one sub-block record: min, max, first, last, first time, last time. Blocks
with explicit steps (stride 0) add, after all records, each sub-block's first and last step."""
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

    def stats_row(self) -> dict[str, Any]:
        """Column values for ``history_block_stats`` (without ``block_id``)."""
        return block_stats_row(self.steps, self.values, self.times, self.stride)


def block_stats_row(
    steps: np.ndarray, values: np.ndarray, times: np.ndarray, stride: int
) -> dict[str, Any]:
    """The sub-block statistics of one block's points (see ``SUB`` and ``SUB_FIELDS``)."""
    n = len(values)
    starts = np.arange(0, n, SUB)
    ends = np.minimum(starts + SUB, n) - 1
    v = values.astype(np.float64, copy=False)
    t = times.astype(np.float64, copy=False)
    rec = np.empty((len(starts), SUB_FIELDS), np.dtype("<f8"))
    rec[:, 0] = np.fmin.reduceat(v, starts)
    rec[:, 1] = np.fmax.reduceat(v, starts)
    rec[:, 2] = v[starts]
    rec[:, 3] = v[ends]
    rec[:, 4] = t[starts]
    rec[:, 5] = t[ends]
    sub = rec.tobytes()
    if not stride:
        sub += np.stack((steps[starts], steps[ends]), axis=1).astype(STEP_DTYPE).tobytes()
    return {"t_first": float(t[0]), "t_last": float(t[-1]), "sub": sub}


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
