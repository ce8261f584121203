"""Chart reads of many runs at once: the envelopes of runs x keys in one transaction.

A dashboard panel overlays the same metric of many runs (the selected ones, or the first N rows
of the table). Asking ``Store.history_envelope`` once per run costs a transaction and a few
statements per series; here the runs, their keys and the block and sub-block statistics of
every key are read with a few statements for the whole request (``envelope_db.keys_block_stats``,
a few hundred keys per statement), the blocks any of them must decode are read together, and each
series is computed by the single-run envelope's own code (``envelope.plan_envelope`` and
``finish_envelope``: same buckets, same edges, a spike never sampled away).

Each bucket also gets the wall time of its first and last point (the x of a chart drawn against
wall or relative time): the envelope's ``times``, from the sub-block statistics, so only the blocks
the envelope decodes anyway have their times decoded.
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
from labbook.store import envelope as envl
from labbook.store import envelope_db as edb
from labbook.store import history as hist
from labbook.store.models import Envelope
from labbook.store.query import QueryBuilder
from labbook.store.schema import metric_keys, runs

MAX_RUNS = 1000
"""Most runs one envelopes read covers."""
MAX_KEYS = 100
MAX_POINTS = 10_000_000
"""Most buckets (runs x keys x buckets) one read may ask for: the answer is ~8 numbers each."""
DEFAULT_RUNS = 20
STATS_POINTS = 50_000_000
"""About how many points the keys of one statistics statement hold in all (their sub-block
statistics are ~0.2 bytes a point)."""
PREFETCH_POINTS = 1_000_000
"""About how many points (values and times, 16 bytes each) the blocks decoded at once hold."""


@dataclass
class SeriesEnvelope:
    """The envelope of one run's key, with each bucket's first and last point in time.

    The envelope's ``first_time``/``last_time`` are unix seconds (NaN where the point had no
    time); ``rt_first``/``rt_last`` the same as seconds since the run started.
    """

    run: str
    key: str
    envelope: Envelope
    rt_first: np.ndarray
    rt_last: np.ndarray

    @property
    def first_time(self) -> np.ndarray:
        return self.envelope.first_time

    @property
    def last_time(self) -> np.ndarray:
        return self.envelope.last_time


Span = tuple[int, int, int, int]
"""(key id, first step, last step, numeric points the key holds)."""


def key_envelopes(
    conn: Connection, spans: Sequence[Span], buckets: int
) -> tuple[dict[int, Envelope], list[dict[str, Any]]]:
    """The envelope, with wall times, of each key of ``spans`` over its range, and the statistics
    computed for blocks that had none (for ``envelope_db.backfill_stats``).

    Statistics come with one statement per ``MANY_KEYS`` keys (or ``STATS_POINTS`` points); each
    key is planned from them, the blocks a group of keys must decode are read together, and each
    key is finished as the single-run envelope is.
    """
    out: dict[int, Envelope] = {}
    computed: list[dict[str, Any]] = []
    cache = edb.PointCache(conn, times=True)
    for part in _parts([s for s in spans if s[2] >= s[1]]):
        ranges = [(k, lo, hi) for k, lo, hi, _ in part]
        stats, more = edb.keys_block_stats(conn, ranges, buckets)
        computed += more
        plans = [(k, envl.plan_envelope(stats.pop(k), lo, hi, buckets)) for k, lo, hi in ranges]
        for group in _decode_groups(plans):
            ids = [i for _, p in group if p is not None for i in p.decode_ids]
            cache.load(ids)
            for k, p in group:
                if p is not None:
                    out[k] = envl.finish_envelope(p, cache.load(p.decode_ids), times=True)
            cache.drop(ids)
    for k, lo, hi, _ in spans:
        if k not in out:
            out[k] = envl.empty_envelope(lo, hi, buckets)
    return out, computed


def _parts(spans: Sequence[Span]) -> Iterator[Sequence[Span]]:
    """``spans`` in runs of at most ``MANY_KEYS`` keys and about ``STATS_POINTS`` points."""
    part: list[Span] = []
    points = 0
    for s in spans:
        part.append(s)
        points += s[3]
        if len(part) == edb.MANY_KEYS or points >= STATS_POINTS:
            yield part
            part, points = [], 0
    if part:
        yield part


def _decode_groups(
    plans: Sequence[tuple[int, envl.EnvelopePlan | None]],
) -> Iterator[Sequence[tuple[int, envl.EnvelopePlan | None]]]:
    """The plans in runs whose blocks to decode hold about ``PREFETCH_POINTS`` points in all:
    what one bulk read of blocks holds in memory at a time."""
    group: list[tuple[int, envl.EnvelopePlan | None]] = []
    points = 0
    for kp in plans:
        group.append(kp)
        points += 0 if kp[1] is None else kp[1].decode_points
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
    _backfill_stats: Callable[[list[dict[str, Any]]], None]

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
            envs, computed = key_envelopes(conn, [s[:1] + s[3:] for s in spans], buckets)
        if computed:
            self._backfill_stats(computed)
        start = {pk: t0 for pk, _, t0 in chosen}
        run_of = {pk: rid for pk, rid, _ in chosen}
        out = []
        for key_id, pk, key, *_ in spans:
            env = envs[key_id]
            t0 = start[pk]
            out.append(
                SeriesEnvelope(run_of[pk], key, env, env.first_time - t0, env.last_time - t0)
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
    ) -> list[tuple[int, int, str, int, int, int]]:
        """(key id, run pk, key, first step, last step, numeric points) of each chosen run's
        numeric keys, in run order then key order."""
        mk = metric_keys
        found: dict[tuple[int, str], tuple[int, int, int, int]] = {}
        pks = [pk for pk, _, _ in chosen]
        for part in blk.chunks(pks):
            q = select(
                mk.c.id, mk.c.run_pk, mk.c.key, mk.c.first_step, mk.c.max_step, mk.c.scalar_count
            ).where(mk.c.run_pk.in_(part), mk.c.key.in_(keys), mk.c.scalar_dtype.is_not(None))
            for r in conn.execute(q):
                if r.first_step is None or r.max_step is None:
                    continue
                found[(int(r.run_pk), str(r.key))] = (
                    int(r.id),
                    int(r.first_step) if step_min is None else step_min,
                    int(r.max_step) if step_max is None else step_max,
                    int(r.scalar_count),
                )
        return [
            (found[(pk, k)][0], pk, k, *found[(pk, k)][1:])
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
