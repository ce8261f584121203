"""The envelope's database side: reading one key's blocks with their statistics, and storing the
statistics an envelope had to compute for blocks written before they existed. The math is in
``envelope.py``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    Dialect,
    any_,
    bindparam,
    case,
    column,
    func,
    literal_column,
    null,
    select,
    true,
    values,
)

from labbook.store import envelope as env
from labbook.store import history as hist
from labbook.store.blocks import chunks, fetch_plain, store_stats
from labbook.store.schema import history_block_stats, history_blocks

_POINT_COLUMNS = (
    history_blocks.c.id,
    history_blocks.c.step_lo,
    history_blocks.c.stride,
    history_blocks.c.count.label("n"),
    history_blocks.c.dtype,
    history_blocks.c.steps,
    history_blocks.c.vals,
)


def _envelope_points(
    conn: Connection, ids: Sequence[int], times: bool
) -> dict[int, tuple[Any, env.BlockPoints]]:
    """Each block's row (``_POINT_COLUMNS``) and its points, values as float64; wall times only
    when asked (on PostgreSQL they are stored compressed, and cost more to read than values)."""
    out: dict[int, tuple[Any, env.BlockPoints]] = {}
    hb = history_blocks
    cols = (*_POINT_COLUMNS, hb.c.times) if times else _POINT_COLUMNS
    for part in chunks(list(ids)):
        for r in fetch_plain(conn, select(*cols).where(hb.c.id.in_(part))):
            stride = int(r.stride)
            out[int(r.id)] = (
                r,
                env.BlockPoints(
                    step_lo=int(r.step_lo),
                    stride=stride,
                    steps=None if stride else np.frombuffer(r.steps, hist.STEP_DTYPE),
                    values=hist.decode_values(r.dtype, r.vals).astype(np.float64, copy=False),
                    times=hist.decode_times(r.times) if times else None,
                ),
            )
    return out


SUBS_ALL, SUBS_CUT, SUBS_NONE = 0, 1, 2
"""Which blocks' sub-block statistics a read sends: every block's (the bucket arithmetic could
overflow int64), those crossing a bucket edge or the range, or none (narrow buckets: the
envelope decodes every block crossing an edge)."""


def _subs(bk: env.Bucketer) -> int:
    return SUBS_NONE if bk.narrow else SUBS_CUT if bk.exact64 else SUBS_ALL


@functools.lru_cache(maxsize=8)
def _stats_columns(sub: Any) -> tuple[Any, ...]:
    """What an envelope reads of a block (``sub``: its sub-block statistics, or NULL where the
    envelope will not use them): the same for one key and for many."""
    hb, hs = history_blocks, history_block_stats
    return (
        hb.c.id, hb.c.step_lo, hb.c.step_hi, hb.c.count, hb.c.first, hb.c.last, hb.c.min,
        hb.c.max, hb.c.stride, hs.c.t_first, hs.c.t_last, sub.label("sub"),
        hs.c.block_id.label("has_stats"),
    )  # fmt: skip


def _envelope_sql(dialect: Dialect, subs: int) -> tuple[str, tuple[str, ...] | None]:
    """``envelope_blocks``'s query, compiled once per dialect (building and compiling it took
    longer than running it): the SQL and, for a positional paramstyle, the parameters' order."""
    hb, hs = history_blocks, history_block_stats
    key, lo, hi, nb, w = (bindparam(n, type_=BigInteger) for n in ("key", "lo", "hi", "nb", "w"))
    sub: Any = hs.c.sub if subs == SUBS_ALL else null()
    if subs == SUBS_CUT:

        def bucket_of(step: Any) -> Any:
            return ((step - lo) * nb) // w

        sub = case(
            (hb.c.step_lo < lo, hs.c.sub),
            (hb.c.step_hi > hi, hs.c.sub),
            (bucket_of(hb.c.step_lo) != bucket_of(hb.c.step_hi), hs.c.sub),
            else_=None,
        )
    q = (
        select(*_stats_columns(sub))
        .select_from(hb.outerjoin(hs, hs.c.block_id == hb.c.id))
        .where(hb.c.key_id == key, hb.c.step_hi >= lo, hb.c.step_lo <= hi)
        .order_by(hb.c.id)
    )
    compiled = q.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ()) if compiled.positional else None


def _raw_rows(
    conn: Connection, sql: str, names: tuple[str, ...] | None, params: dict[str, Any]
) -> list[Any]:
    """Rows as the driver returns them (NULL as None, bytea as bytes), in the transaction."""
    raw = conn.connection.driver_connection
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        assert raw is not None
        with raw.cursor(binary=True) as cur:
            cur.execute(sql, params)
            return cur.fetchall()
    if conn.dialect.name == "sqlite" and names is not None:
        assert raw is not None
        return raw.execute(sql, [params[n] for n in names]).fetchall()
    args = tuple(params[n] for n in names) if names is not None else params
    return list(conn.exec_driver_sql(sql, args))


class PointCache:
    """Decoded blocks of one read, by id, with wall times when ``times``: what an envelope's
    ``decode_ids`` need, read in chunks, and dropped once their keys are done."""

    def __init__(self, conn: Connection, times: bool) -> None:
        self.conn = conn
        self.times = times
        self.got: dict[int, env.BlockPoints] = {}

    def load(self, ids: Sequence[int]) -> dict[int, env.BlockPoints]:
        missing = [i for i in ids if i not in self.got]
        if missing:
            for i, (_, bp) in _envelope_points(self.conn, missing, self.times).items():
                self.got[i] = bp
        return {i: self.got[i] for i in ids}

    def drop(self, ids: Sequence[int]) -> None:
        for i in ids:
            self.got.pop(i, None)


_BARE_CHUNK = 64
"""Blocks without statistics decoded at a time (up to ~1M points) when a read of many keys meets
them; a single key's are kept for its envelope instead."""


def _complete(
    conn: Connection, rows: list[list[Any]], keep: PointCache | None
) -> tuple[env.BlockStats, list[dict[str, Any]]]:
    """``rows`` (``_envelope_sql``'s columns) as ``BlockStats``, after computing the statistics of
    blocks that have none (written before revision 0003): decoded here, so the envelope sees
    every block alike; their points stay in ``keep`` when given. Also returns those statistics,
    for ``backfill_stats``."""
    bare = [r for r in rows if r[12] is None]
    computed: list[dict[str, Any]] = []
    for part in chunks(bare, _BARE_CHUNK):
        decoded = _envelope_points(conn, [int(r[0]) for r in part], True)
        for row in part:
            r, bp = decoded[int(row[0])]
            assert bp.times is not None
            steps = hist.decode_steps(int(r.step_lo), int(r.stride), int(r.n), r.steps)
            srow = hist.block_stats_row(steps, bp.values, bp.times, int(r.stride))
            row[9:12] = srow["t_first"], srow["t_last"], srow["sub"]
            if keep is not None:
                keep.got[int(r.id)] = bp
            computed.append(
                srow
                | {
                    "block_id": int(r.id),
                    "count": int(r.n),
                    "step_lo": int(r.step_lo),
                    "step_hi": int(row[2]),
                    "stride": int(r.stride),
                }
            )
    return env.BlockStats.from_rows([(*r[:12], True) for r in rows]), computed


@dataclass
class EnvelopeBlocks:
    """What ``envelope.compute_envelope`` needs of one key's blocks, read in one transaction.

    ``computed`` holds the statistics this read had to compute (blocks written before revision
    0003), for ``backfill_stats`` to store once the read is over.
    """

    stats: env.BlockStats
    load: env.PointLoader
    computed: list[dict[str, Any]]


def envelope_blocks(
    conn: Connection, key_id: int, step_min: int, step_max: int, buckets: int, *, times: bool
) -> EnvelopeBlocks:
    """The blocks of ``key_id`` meeting ``[step_min, step_max]``, with their statistics.

    One query: block statistics joined with the sub-block statistics, whose bytes are only sent for
    the blocks that cross a bucket edge or the range (the same bucket formula, in SQL; the third
    condition only runs when the first two are false, so it cannot overflow). ``load`` decodes
    wall times too with ``times``.
    """
    bk = env.Bucketer(step_min, step_max, buckets)
    sql, names = _envelope_sql(conn.dialect, _subs(bk))
    params = {"key": key_id, "lo": step_min, "hi": step_max, "nb": buckets, "w": bk.width}
    rows = [list(r) for r in _raw_rows(conn, sql, names, params)]
    cache = PointCache(conn, times)
    stats, computed = _complete(conn, rows, cache)
    return EnvelopeBlocks(stats, cache.load, computed)


MANY_KEYS = 512
"""Most keys one statement of ``keys_block_stats`` reads (a power of two: see ``_many_sql``)."""
_SPAN = ("k", "lo", "hi", "w", "x")


@functools.lru_cache(maxsize=32)
def _many_sql(dialect: Dialect, n: int) -> tuple[str, tuple[str, ...] | None]:
    """``keys_block_stats``'s query for ``n`` keys: ``_envelope_sql``'s, joined with a table of
    each key's range, compiled once per dialect and ``n``. Each key's ``x`` says which sub-block
    statistics it gets (``SUBS_*``); the bucket arithmetic runs only for ``SUBS_CUT`` keys, so it
    cannot overflow.

    On PostgreSQL that table is ``unnest`` of five arrays (one short statement whatever ``n``:
    psycopg parses a long one anew on every call); elsewhere a ``VALUES`` list of ``n`` rows (a
    power of two, so a few variants serve every request)."""
    span: Any
    keys: Any = true()
    if dialect.name == "postgresql":
        arrays = [bindparam(c, type_=ARRAY(BigInteger)) for c in _SPAN]
        span = func.unnest(*arrays).table_valued(*_SPAN).render_derived(name="span")
        # The keys again as an index condition: the planner cannot see inside the unnest (its
        # estimates would pick a scan of every block at a few hundred keys).
        keys = history_blocks.c.key_id == any_(arrays[0])
    else:
        span = (
            values(*(column(c, BigInteger) for c in _SPAN), name="span")
            .data([tuple(bindparam(f"{c}{i}", type_=BigInteger) for c in _SPAN) for i in range(n)])
            .cte("span")
        )
    hb, hs = history_blocks, history_block_stats
    nb = bindparam("nb", type_=BigInteger)

    def bucket_of(step: Any) -> Any:
        return ((step - span.c.lo) * nb) // span.c.w

    sub = case(
        (span.c.x == literal_column(str(SUBS_NONE)), null()),
        (span.c.x == literal_column(str(SUBS_ALL)), hs.c.sub),
        (hb.c.step_lo < span.c.lo, hs.c.sub),
        (hb.c.step_hi > span.c.hi, hs.c.sub),
        (bucket_of(hb.c.step_lo) != bucket_of(hb.c.step_hi), hs.c.sub),
        else_=None,
    )
    q = (
        select(hb.c.key_id, *_stats_columns(sub))
        .select_from(span.join(hb, hb.c.key_id == span.c.k).outerjoin(hs, hs.c.block_id == hb.c.id))
        .where(keys, hb.c.step_hi >= span.c.lo, hb.c.step_lo <= span.c.hi)
        .order_by(hb.c.key_id, hb.c.id)
    )
    compiled = q.compile(dialect=dialect)
    return str(compiled), tuple(compiled.positiontup or ()) if compiled.positional else None


def keys_block_stats(
    conn: Connection, spans: Sequence[tuple[int, int, int]], buckets: int
) -> tuple[dict[int, env.BlockStats], list[dict[str, Any]]]:
    """``envelope_blocks``' statistics for each ``(key id, step_min, step_max)`` of ``spans`` (at
    most ``MANY_KEYS``, distinct keys, non-empty ranges), in one statement, and the statistics
    computed for blocks that had none (their points are not kept: many keys' could be large)."""
    assert len(spans) <= MANY_KEYS
    table: list[tuple[int, ...]] = []
    for key_id, lo, hi in spans:
        bk = env.Bucketer(lo, hi, buckets)
        table.append((key_id, lo, hi, bk.width if bk.exact64 else 1, _subs(bk)))
    params: dict[str, Any] = {"nb": buckets}
    if conn.dialect.name == "postgresql":
        sql, names = _many_sql(conn.dialect, 0)
        params.update(zip(_SPAN, (list(c) for c in zip(*table, strict=True)), strict=True))
    else:
        n = 1 << max(0, (len(spans) - 1).bit_length())
        sql, names = _many_sql(conn.dialect, n)
        table += [(0, 0, -1, 1, SUBS_NONE)] * (n - len(table))  # padding: no key has id 0
        for i, row in enumerate(table):
            params.update(zip((f"{c}{i}" for c in _SPAN), row, strict=True))
    by_key: dict[int, list[list[Any]]] = {k: [] for k, _, _ in spans}
    for r in _raw_rows(conn, sql, names, params):
        by_key[int(r[0])].append(list(r[1:]))
    out: dict[int, env.BlockStats] = {}
    computed: list[dict[str, Any]] = []
    for key_id, rows in by_key.items():
        out[key_id], more = _complete(conn, rows, None)
        computed += more
    return out, computed


def backfill_stats(conn: Connection, computed: list[dict[str, Any]]) -> None:
    """Store statistics an envelope computed for blocks that had none, for the blocks still as
    they were when read: same count and step range (any rewrite of a block changes its count:
    a tail grows, a merge absorbs). The rows are locked meanwhile (PostgreSQL; SQLite's writer is
    alone), and a row a writer stored first is kept."""
    hb = history_blocks
    keys = ("count", "step_lo", "step_hi", "stride")
    want = {c["block_id"]: tuple(c[k] for k in keys) for c in computed}
    fresh: list[int] = []
    for part in chunks(list(want)):
        q = (
            select(hb.c.id, hb.c.count, hb.c.step_lo, hb.c.step_hi, hb.c.stride)
            .where(hb.c.id.in_(part))
            .with_for_update(read=True)
        )
        for r in conn.execute(q):
            if want[int(r.id)] == tuple(int(x) for x in r[1:]):
                fresh.append(int(r.id))
    keep = set(fresh)
    rows = [
        {k: c[k] for k in ("block_id", "t_first", "t_last", "sub")}
        for c in computed
        if c["block_id"] in keep
    ]
    if rows:
        store_stats(conn, rows, replace=False)
