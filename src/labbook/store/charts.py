"""Chart reads of many runs at once: the envelopes of runs x keys in one transaction.

A dashboard panel overlays the same metric of many runs (the selected ones, or the first N rows
of the table). Asking ``Store.history_envelope`` once per run costs a transaction and three
lookups per series; here the runs, their keys and the statistics of every candidate block are
read with a few statements for the whole request, and only the blocks that cross a bucket edge
are decoded, per key, exactly as the single-run envelope does (``history.compute_envelope``: a
spike is never sampled away).

Each bucket also gets the wall time of its first and last point (the x of a chart drawn against
wall or relative time). They are read from the times of the blocks holding those points: the
edge blocks decoded anyway, plus the whole blocks that hold a bucket's first or last point.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select

from labbook.errors import ProjectNotFound, ValidationError
from labbook.store import blocks as blk
from labbook.store import history as hist
from labbook.store.models import Envelope
from labbook.store.query import QueryBuilder
from labbook.store.schema import history_blocks, metric_keys, runs

MAX_RUNS = 1000
"""Most runs one envelopes read covers."""
MAX_KEYS = 100
MAX_POINTS = 10_000_000
"""Most buckets (runs x keys x buckets) one read may ask for: the answer is ~8 numbers each."""
DEFAULT_RUNS = 20
SMALL_KEY = hist.BLOCK_CAP
"""Keys of at most this many points have all their blocks read up front, many keys at once."""
PREFETCH_POINTS = 1_000_000
"""About how many points (24 bytes each) the keys of one bulk read hold in all."""


@dataclass
class SeriesEnvelope:
    """The envelope of one run's key, with each bucket's first and last point in time.

    ``first_time``/``last_time`` are unix seconds (NaN where the point had no time);
    ``rt_first``/``rt_last`` the same as seconds since the run started.
    """

    run: str
    key: str
    envelope: Envelope
    first_time: np.ndarray
    last_time: np.ndarray
    rt_first: np.ndarray
    rt_last: np.ndarray


@dataclass
class _Block:
    """A decoded block: wall times, values as float64 (None when only the times were read), and
    steps (explicit, or ``step_lo`` plus multiples of ``stride``)."""

    step_lo: int
    stride: int
    explicit: np.ndarray | None
    values: np.ndarray | None
    times: np.ndarray


_STATS = (
    history_blocks.c.key_id,
    history_blocks.c.id,
    history_blocks.c.step_lo,
    history_blocks.c.step_hi,
    history_blocks.c.count,
    history_blocks.c.first,
    history_blocks.c.last,
    history_blocks.c.min,
    history_blocks.c.max,
)


class _Blocks:
    """Decoded blocks of one key, fetched on demand by id and kept: the envelope decodes the
    edge blocks, and the bucket times then need the times of those and a few more."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.got: dict[int, _Block] = {}

    def get(self, ids: Sequence[int], *, values: bool) -> dict[int, _Block]:
        have = self.got
        todo = sorted({int(i) for i in ids if i not in have or (values and have[i].values is None)})
        hb = history_blocks
        cols = [hb.c.id, hb.c.step_lo, hb.c.stride, hb.c.dtype, hb.c.steps, hb.c.times]
        if values:
            cols.append(hb.c.vals)
        for part in blk.chunks(todo):
            for r in blk.fetch_plain(self.conn, select(*cols).where(hb.c.id.in_(part))):
                stride = int(r.stride)
                have[int(r.id)] = _Block(
                    int(r.step_lo),
                    stride,
                    None if stride else np.frombuffer(r.steps, hist.STEP_DTYPE),
                    hist.decode_values(r.dtype, r.vals).astype(np.float64, copy=False)
                    if values
                    else None,
                    hist.decode_times(r.times),
                )
        return {int(i): have[int(i)] for i in ids}

    def points(self, ids: Sequence[int]) -> dict[int, hist.BlockPoints]:
        """``history.compute_envelope``'s loader."""
        out = {}
        for i, b in self.get(ids, values=True).items():
            assert b.values is not None
            out[i] = hist.BlockPoints(b.step_lo, b.stride, b.explicit, b.values)
        return out


def _positions(b: _Block, steps: np.ndarray, last: bool) -> np.ndarray:
    """Where each of ``steps`` is in block ``b`` (its first or last point there); -1 where the
    block holds no point at that step."""
    n = len(b.times)
    if b.explicit is None:
        off = steps - b.step_lo
        pos = off // b.stride
        ok = (off >= 0) & (off % b.stride == 0) & (pos < n)
        return np.where(ok, pos, -1)
    at = np.searchsorted(b.explicit, steps, "right" if last else "left") - (1 if last else 0)
    inside = (at >= 0) & (at < n)
    ok = inside & (b.explicit[np.clip(at, 0, n - 1)] == steps)
    return np.where(ok, at, -1)


def bucket_times(
    env: Envelope, stats: hist.BlockStats, blocks: _Blocks
) -> tuple[np.ndarray, np.ndarray]:
    """The wall times of each bucket's first and last point: the points at the envelope's
    ``first_step``/``last_step`` that come first/last in the canonical order (by step, block id,
    position), as the envelope picked them.

    Blocks are visited in id order (reversed for the last points); a bucket takes its time from
    the first block that holds a point at its step. Only blocks whose step range covers such a
    step are read, and only their times (and explicit steps) unless the envelope decoded them.
    """
    n = len(env)
    first_time = np.full(n, np.nan)
    last_time = np.full(n, np.nan)
    if n == 0:
        return first_time, last_time
    for steps, out, last in ((env.first_step, first_time, False), (env.last_step, last_time, True)):
        order = np.argsort(steps, kind="stable")
        sorted_steps = steps[order]
        lo_at = np.searchsorted(sorted_steps, stats.step_lo, "left")
        hi_at = np.searchsorted(sorted_steps, stats.step_hi, "right")
        covering = np.flatnonzero(hi_at > lo_at)
        got = blocks.get(stats.ids[covering].tolist(), values=False)
        todo = np.ones(n, bool)
        for i in covering[::-1] if last else covering:
            b = got[int(stats.ids[i])]
            span = order[lo_at[i] : hi_at[i]]
            span = span[todo[span]]
            if not len(span):
                continue
            pos = _positions(b, steps[span], last)
            hit = pos >= 0
            out[span[hit]] = b.times[pos[hit]]
            todo[span[hit]] = False
    return first_time, last_time


def key_envelopes(
    conn: Connection,
    spans: Sequence[tuple[int, int, int]],
    buckets: int,
    *,
    step_min: int | None = None,
    step_max: int | None = None,
) -> dict[int, tuple[Envelope, np.ndarray, np.ndarray]]:
    """The envelope and bucket times of each ``(key id, first step, last step)`` in ``spans``.

    Block statistics of all the keys come with one statement per 500 keys (only blocks that
    reach into ``[step_min, step_max]`` when given); each key's envelope is then computed as the
    single-run envelope computes it.
    """
    by_key: dict[int, list[Any]] = {k: [] for k, _, _ in spans}
    hb = history_blocks
    for part in blk.chunks(list(by_key)):
        q = select(*_STATS).where(hb.c.key_id.in_(part))
        if step_min is not None:
            q = q.where(hb.c.step_hi >= step_min)
        if step_max is not None:
            q = q.where(hb.c.step_lo <= step_max)
        for r in conn.execute(q):
            by_key[int(r.key_id)].append(tuple(r)[1:])
    blocks = _Blocks(conn)
    out: dict[int, tuple[Envelope, np.ndarray, np.ndarray]] = {}
    for group in _groups(spans, by_key):
        # Keys of up to one block's worth of points (most runs' metrics) are decoded whole
        # anyway (their block spans many buckets): read a group of them in a few statements,
        # not one each. Longer keys load only the blocks their envelope needs, key by key.
        small = [r[0] for _, rows in group if sum(r[3] for r in rows) <= SMALL_KEY for r in rows]
        blocks.get(small, values=True)
        for (key_id, lo, hi), rows in group:
            stats = hist.BlockStats.from_rows(rows)
            env = hist.compute_envelope(stats, blocks.points, lo, hi, buckets)
            first_time, last_time = bucket_times(env, stats, blocks)
            out[key_id] = (env, first_time, last_time)
            for r in rows:  # a key's blocks are never another key's
                blocks.got.pop(int(r[0]), None)
    return out


def _groups(
    spans: Sequence[tuple[int, int, int]], by_key: dict[int, list[Any]]
) -> Iterator[list[tuple[tuple[int, int, int], list[Any]]]]:
    """The spans with their candidate block rows (in id order), in groups of about
    ``PREFETCH_POINTS`` points: what one bulk read holds in memory at a time."""
    group: list[tuple[tuple[int, int, int], list[Any]]] = []
    points = 0
    for span in spans:
        _, lo, hi = span
        rows = sorted(r for r in by_key[span[0]] if r[2] >= lo and r[1] <= hi)
        group.append((span, rows))
        points += sum(r[3] for r in rows)
        if points >= PREFETCH_POINTS:
            yield group
            group, points = [], 0
    if group:
        yield group


class ChartMixin:
    """Chart reads of :class:`labbook.store.Store` (it provides the connections)."""

    dialect: str
    _read: Callable[[], AbstractContextManager[Connection]]
    _project_id: Callable[[Connection, str, str], int | None]
    _cutoff: Callable[[dt.datetime], dt.datetime]

    def run_envelopes(
        self,
        entity: str,
        project: str,
        keys: Sequence[str],
        *,
        run_ids: Sequence[str] | None = None,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int = DEFAULT_RUNS,
        buckets: int = 1000,
        step_min: int | None = None,
        step_max: int | None = None,
    ) -> tuple[list[SeriesEnvelope], int]:
        """Envelopes of ``keys`` for many runs of a project: (series, runs chosen in all).

        The runs are ``run_ids`` (in that order; ids the project lacks are skipped), or else the
        first ``limit`` runs of the table that ``filters``/``order`` make. Each series covers
        ``[step_min, step_max]``, by default its own key's first to last step. Pairs whose run
        never logged the key, or logged no number under it, are left out.
        """
        keys = list(dict.fromkeys(keys))
        if not keys:
            raise ValidationError("keys: name at least one metric key")
        if len(keys) > MAX_KEYS:
            raise ValidationError(f"keys: at most {MAX_KEYS} keys, got {len(keys)}")
        n_runs = len(run_ids) if run_ids is not None else limit
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RUNS:
            raise ValidationError(f"limit must be 1..{MAX_RUNS}, got {limit!r}")
        if run_ids is not None and not 1 <= len(run_ids) <= MAX_RUNS:
            raise ValidationError(f"runs: 1..{MAX_RUNS} run ids, got {len(run_ids)}")
        if isinstance(buckets, bool) or not isinstance(buckets, int) or buckets < 1:
            raise ValidationError(f"buckets must be an integer >= 1, got {buckets!r}")
        if n_runs * len(keys) * buckets > MAX_POINTS:
            raise ValidationError(
                f"buckets: runs x keys x buckets is at most {MAX_POINTS:,} "
                f"({n_runs} x {len(keys)} x {buckets}); ask for fewer buckets or runs"
            )
        for name, v in (("step_min", step_min), ("step_max", step_max)):
            if v is not None:
                try:
                    hist.check_step(v, name)
                except (TypeError, OverflowError) as e:
                    raise ValidationError(str(e)) from None
        now = dt.datetime.now(dt.UTC)
        with self._read() as conn:
            pid = self._project_id(conn, entity, project)
            if pid is None:
                raise ProjectNotFound(f"project {entity}/{project} not found")
            chosen, total = self._chosen_runs(conn, pid, now, run_ids, filters, order, limit)
            spans = self._spans(conn, chosen, keys, step_min, step_max)
            envs = key_envelopes(
                conn,
                [(k, lo, hi) for k, _, _, lo, hi in spans],
                buckets,
                step_min=step_min,
                step_max=step_max,
            )
        start = {pk: t0 for pk, _, t0 in chosen}
        run_of = {pk: rid for pk, rid, _ in chosen}
        out = []
        for key_id, pk, key, _, _ in spans:
            env, t_first, t_last = envs[key_id]
            t0 = start[pk]
            out.append(
                SeriesEnvelope(run_of[pk], key, env, t_first, t_last, t_first - t0, t_last - t0)
            )
        return out, total

    def _chosen_runs(
        self,
        conn: Connection,
        pid: int,
        now: dt.datetime,
        run_ids: Sequence[str] | None,
        filters: dict[str, Any] | None,
        order: str | Sequence[str] | None,
        limit: int,
    ) -> tuple[list[tuple[int, str, float]], int]:
        """(pk, run id, start in unix seconds) of the runs to chart, and how many there are."""
        start = func.coalesce(runs.c.started_at, runs.c.created_at)
        cols = (runs.c.pk, runs.c.run_id, start)
        if run_ids is not None:
            found: dict[str, tuple[int, str, float]] = {}
            for part in blk.chunks(list(dict.fromkeys(run_ids))):
                q = select(*cols).where(runs.c.project_id == pid, runs.c.run_id.in_(part))
                for pk, rid, t0 in conn.execute(q):
                    found[str(rid)] = (int(pk), str(rid), _unix(t0))
            chosen = [found[r] for r in dict.fromkeys(run_ids) if r in found]
            return chosen, len(chosen)
        qb = QueryBuilder(self.dialect, self._cutoff(now))
        cond = (runs.c.project_id == pid, qb.where(filters))
        rows = conn.execute(select(*cols).where(*cond).order_by(*qb.order(order)).limit(limit))
        chosen = [(int(pk), str(rid), _unix(t0)) for pk, rid, t0 in rows]
        total = len(chosen)
        if total == limit:
            total = int(
                conn.execute(select(func.count()).select_from(runs).where(*cond)).scalar_one()
            )
        return chosen, total

    @staticmethod
    def _spans(
        conn: Connection,
        chosen: list[tuple[int, str, float]],
        keys: list[str],
        step_min: int | None,
        step_max: int | None,
    ) -> list[tuple[int, int, str, int, int]]:
        """(key id, run pk, key, first step, last step) of each chosen run's numeric keys, in
        run order then key order."""
        mk = metric_keys
        found: dict[tuple[int, str], tuple[int, int, int]] = {}
        pks = [pk for pk, _, _ in chosen]
        for part in blk.chunks(pks):
            q = select(mk.c.id, mk.c.run_pk, mk.c.key, mk.c.first_step, mk.c.max_step).where(
                mk.c.run_pk.in_(part), mk.c.key.in_(keys), mk.c.scalar_dtype.is_not(None)
            )
            for r in conn.execute(q):
                if r.first_step is None or r.max_step is None:
                    continue
                found[(int(r.run_pk), str(r.key))] = (
                    int(r.id),
                    int(r.first_step) if step_min is None else step_min,
                    int(r.max_step) if step_max is None else step_max,
                )
        return [
            (found[(pk, k)][0], pk, k, found[(pk, k)][1], found[(pk, k)][2])
            for pk in pks
            for k in keys
            if (pk, k) in found
        ]


def _unix(v: Any) -> float:
    if isinstance(v, str):  # SQLite: coalesce() loses the column's type
        v = dt.datetime.fromisoformat(v)
    if v.tzinfo is None:
        v = v.replace(tzinfo=dt.UTC)
    return float(v.timestamp())
