"""The envelope's database side: reading one key's blocks with their statistics, and storing the
statistics an envelope had to compute for blocks written before they existed. The math is in
``envelope.py``."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import BigInteger, Connection, Dialect, bindparam, case, select

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


@functools.lru_cache(maxsize=8)
def _envelope_sql(dialect: Dialect, exact: bool) -> tuple[str, tuple[str, ...] | None]:
    """``envelope_blocks``'s query, compiled once per dialect (building and compiling it took
    longer than running it): the SQL and, for a positional paramstyle, the parameters' order."""
    hb, hs = history_blocks, history_block_stats
    key, lo, hi, nb, w = (bindparam(n, type_=BigInteger) for n in ("key", "lo", "hi", "nb", "w"))
    sub: Any = hs.c.sub
    if exact:

        def bucket_of(step: Any) -> Any:
            return ((step - lo) * nb) // w

        sub = case(
            (hb.c.step_lo < lo, hs.c.sub),
            (hb.c.step_hi > hi, hs.c.sub),
            (bucket_of(hb.c.step_lo) != bucket_of(hb.c.step_hi), hs.c.sub),
            else_=None,
        )
    q = (
        select(
            hb.c.id,
            hb.c.step_lo,
            hb.c.step_hi,
            hb.c.count,
            hb.c.first,
            hb.c.last,
            hb.c.min,
            hb.c.max,
            hb.c.stride,
            hs.c.t_first,
            hs.c.t_last,
            sub.label("sub"),
            hs.c.block_id.label("has_stats"),
        )
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
    condition only runs when the first two are false, so it cannot overflow). A block without a
    statistics row is decoded here and its statistics computed, so the envelope sees every block
    alike. ``load`` decodes wall times too with ``times``.
    """
    bk = env.Bucketer(step_min, step_max, buckets)
    sql, names = _envelope_sql(conn.dialect, bk.exact64)
    params = {"key": key_id, "lo": step_min, "hi": step_max, "nb": buckets, "w": bk.width}
    rows = [list(r) for r in _raw_rows(conn, sql, names, params)]
    bare = [i for i, r in enumerate(rows) if r[12] is None]
    cache: dict[int, env.BlockPoints] = {}
    computed: list[dict[str, Any]] = []
    if bare:
        decoded = _envelope_points(conn, [int(rows[i][0]) for i in bare], True)
        for i in bare:
            r, bp = decoded[int(rows[i][0])]
            assert bp.times is not None
            steps = hist.decode_steps(int(r.step_lo), int(r.stride), int(r.n), r.steps)
            srow = hist.block_stats_row(steps, bp.values, bp.times, int(r.stride))
            rows[i][9:12] = srow["t_first"], srow["t_last"], srow["sub"]
            cache[int(r.id)] = bp
            computed.append(
                srow
                | {
                    "block_id": int(r.id),
                    "count": int(r.n),
                    "step_lo": int(r.step_lo),
                    "step_hi": int(rows[i][2]),
                    "stride": int(r.stride),
                }
            )
    stats = env.BlockStats.from_rows([(*r[:12], True) for r in rows])

    def load(ids: Sequence[int]) -> dict[int, env.BlockPoints]:
        missing = [i for i in ids if i not in cache]
        if missing:
            cache.update({i: bp for i, (_, bp) in _envelope_points(conn, missing, times).items()})
        return {i: cache[i] for i in ids}

    return EnvelopeBlocks(stats, load, computed)


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
