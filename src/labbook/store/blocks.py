"""History rows to columnar blocks in the database: collection, block writes, merging.

``collect_history`` transposes a batch's ``h`` rows into per-key typed columns; ``write_history``
turns them into blocks (growing a key's small tail block in place), non-scalar rows and updated
metric-key statistics with a few bulk statements; ``merge_run_blocks`` combines small blocks when a
run ends. Every block write also writes the block's sub-block statistics (``history_block_stats``)
in the same transaction. The pure block format lives in ``history.py``; the envelope reads blocks
in ``envelope_db.py`` and computes in ``envelope.py``.
"""

from __future__ import annotations

import math
import operator
from collections import namedtuple
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import (
    Connection,
    Select,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from labbook import limits
from labbook import records as rk
from labbook.errors import ValidationError
from labbook.limits import MAX_ROW_KEYS, shorten
from labbook.store import history as hist
from labbook.store.schema import (
    BigId,
    history_block_stats,
    history_blocks,
    history_values,
    metric_keys,
)

_CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


def chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


# --------------------------------------------------------------------------- history collection


@dataclass
class KeyBatch:
    """One key's points from this batch, in write order."""

    scalar_rows: np.ndarray  # indices into the batch's h rows
    scalar_values: np.ndarray
    scalar_dtype: str | None
    other_rows: list[int]
    other_values: list[Any]
    other_dtype: str | None
    scalar_last: Any = None  # the last scalar as logged (an int stays an int in the summary)


def _typed(col: Sequence[Any]) -> tuple[np.ndarray, str] | None:
    """Scalars as a typed array, or None when ``col`` holds anything else."""
    types = set(map(type, col))
    try:
        if types <= {float}:
            return np.array(col, dtype=np.float64), "float"
        if types <= {bool}:
            return np.array(col, dtype=np.bool_), "bool"
        if types <= {int}:
            try:
                return np.array(col, dtype=np.int64), "int"
            except OverflowError:
                return np.array(col, dtype=np.float64), "float"
        if types <= {float, int, bool}:
            return np.array(col, dtype=np.float64), "float"
    except OverflowError:  # an int beyond float range
        return np.array([_as_float(v) for v in col], dtype=np.float64), "float"
    return None


def _as_float(v: Any) -> float:
    try:
        return float(v)
    except OverflowError:
        return math.inf if v > 0 else -math.inf


def _is_scalar(v: Any) -> bool:
    t = type(v)
    if t is float or t is int or t is bool:
        return True
    return isinstance(v, np.floating | np.integer | np.bool_)


def _scalar_py(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


def _split_key(rows: np.ndarray, col: Sequence[Any]) -> KeyBatch:
    typed = _typed(col)
    if typed is not None:
        return KeyBatch(rows, typed[0], typed[1], [], [], None, col[-1])
    s_rows: list[int] = []
    s_vals: list[Any] = []
    o_rows: list[int] = []
    o_vals: list[Any] = []
    other: str | None = None
    for r, v in zip(rows.tolist(), col, strict=True):
        if _is_scalar(v):
            s_rows.append(r)
            s_vals.append(_scalar_py(v))
        else:
            o_rows.append(r)
            o_vals.append(v)
            text_like = isinstance(v, str) or v is None
            other = (other or "text") if text_like else "object"
    if s_vals:
        t = _typed(s_vals)
        assert t is not None
        arr, sd = t
    else:
        arr, sd = np.empty(0, np.float64), None
    return KeyBatch(
        np.array(s_rows, np.int64), arr, sd, o_rows, o_vals, other, s_vals[-1] if s_vals else None
    )


@dataclass
class Collected:
    steps: np.ndarray
    times: np.ndarray
    keys: dict[str, KeyBatch]

    def last_values(self) -> dict[str, Any]:
        """Each key's last logged value: what applying the rows to a summary in order leaves."""
        out: dict[str, Any] = {}
        for k, kb in self.keys.items():
            last_s = int(kb.scalar_rows[-1]) if len(kb.scalar_rows) else -1
            last_o = kb.other_rows[-1] if kb.other_rows else -1
            out[k] = kb.other_values[-1] if last_o > last_s else kb.scalar_last
        return out


def _same_keys(ds: list[dict[str, Any]]) -> tuple[tuple[str, ...], list[Sequence[Any]]] | None:
    """The keys and value columns when every dict holds the same keys; None otherwise.

    Every dict has as many keys as the first, and each of those keys (a missing one stops the
    extraction): so each holds exactly the first one's keys. Cheaper than comparing key views.
    """
    if not ds:
        return None
    keys = tuple(ds[0])
    if set(map(len, ds)) != {len(keys)}:
        return None
    if not keys:
        return keys, []
    try:
        if len(keys) == 1:
            return keys, [list(map(operator.itemgetter(keys[0]), ds))]
        return keys, list(zip(*map(operator.itemgetter(*keys), ds), strict=True))
    except KeyError:
        return None


def collect_history(hrows: list[rk.AnyRecord]) -> Collected:
    """Transpose history rows into per-key columns; every step of it runs in C per row (that is
    most of the ingest speed, and what lets the sender keep up with a training loop)."""
    n = len(hrows)
    try:
        structs = set(map(type, hrows)) == {rk.HistoryRow}
        if structs:  # what log() made, or a frame decoded into the struct: typed, read in C
            step_list = list(map(rk.row_step, hrows))
            ts_list = list(map(rk.row_ts, hrows))
            ds = list(map(rk.row_values, hrows))
        else:
            step_list = [r["step"] for r in hrows]
            ts_list = [r["ts"] for r in hrows]
            ds = [r["d"] for r in hrows]
            if not set(map(type, step_list)) <= {int}:
                step_list = [hist.check_step(s, "step") for s in step_list]
        steps = np.array(step_list, dtype=np.int64)
        times = np.array(ts_list, dtype=np.float64)
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise ValidationError(f"bad history row: {e!r}") from e
    if not structs and not set(map(type, ds)) <= {dict}:
        raise ValidationError("history 'd' must be an object")
    per_key: dict[str, list[tuple[list[int] | None, Sequence[Any]]]] = {}
    same = _same_keys(ds)
    if same is not None:
        # Every row logs the same keys (a training loop): read each key's column straight out
        # of the dicts, in C, with no tuple per row.
        keys, cols = same
        _check_key_count(keys, hrows, None)
        per_key = {k: [(None, col)] for k, col in zip(keys, cols, strict=True)}
        return _collected(n, steps, times, per_key, hrows)
    # Rows log different keys: group them by their key tuple, so the transposition itself
    # (``zip(*values)``) runs in C once per distinct key set instead of once per point.
    key_tuples = list(map(tuple, ds))
    value_tuples = list(map(tuple, map(dict.values, ds)))
    by_keys: dict[tuple[str, ...], list[int]] = {}
    for i, kt in enumerate(key_tuples):
        idx = by_keys.get(kt)
        if idx is None:
            by_keys[kt] = [i]
        else:
            idx.append(i)
    groups = [(kt, idx, [value_tuples[i] for i in idx]) for kt, idx in by_keys.items()]
    for ks, idx, vals in groups:
        _check_key_count(ks, hrows, idx)
        for k, col in zip(ks, zip(*vals, strict=True), strict=True):
            per_key.setdefault(k, []).append((idx, col))
    return _collected(n, steps, times, per_key, hrows)


def _check_key_count(
    keys: tuple[str, ...], hrows: list[rk.AnyRecord], idx: list[int] | None
) -> None:
    if len(keys) > MAX_ROW_KEYS:
        seq = hrows[0 if idx is None else idx[0]]["seq"]
        raise ValidationError(
            f"record seq {seq} has {len(keys)} keys; at most {MAX_ROW_KEYS} per row"
        )


def _collected(
    n: int,
    steps: np.ndarray,
    times: np.ndarray,
    per_key: dict[str, list[tuple[list[int] | None, Sequence[Any]]]],
    hrows: list[rk.AnyRecord],
) -> Collected:
    """Each key's points as typed columns, in row order (``None`` rows: all ``n`` rows), after
    the key and value limits (``labbook.limits``: once per key, and per string/list point)."""
    out: dict[str, KeyBatch] = {}
    for k, parts in per_key.items():
        problem = limits.key_problem(k) if isinstance(k, str) else "keys must be strings"
        if problem is not None:
            seq = next((r["seq"] for r in hrows if k in r["d"]), None)
            raise ValidationError(f"record seq {seq}: key {shorten(str(k))!r}: {problem}")
        if len(parts) == 1:
            idx, col = parts[0]
            rows = np.arange(n, dtype=np.int64) if idx is None else np.array(idx, np.int64)
            out[k] = _split_key(rows, col)
            continue
        rows = np.concatenate([np.array(p[0], np.int64) for p in parts])
        order = np.argsort(rows, kind="stable")
        flat = [v for p in parts for v in p[1]]
        out[k] = _split_key(rows[order], [flat[j] for j in order.tolist()])
    for k, kb in out.items():
        # Strings, lists and media references: the string, nesting and key rules inside them.
        for r, v in zip(kb.other_rows, kb.other_values, strict=True):
            if v is not None:
                found = limits.nested_problem(v, 2)
                if found is not None:
                    raise ValidationError(
                        f"record seq {hrows[r]['seq']}: key {shorten(k)!r}{found[0]}: {found[1]}"
                    )
    return Collected(steps, times, out)


# ------------------------------------------------------------------------------ history writes

_MK_STATS = (
    "id",
    "key",
    "scalar_dtype",
    "other_dtype",
    "count",
    "scalar_count",
    "last",
    "last_is_scalar",
    "last_json",
    "last_step",
    "min",
    "max",
    "first_step",
    "max_step",
    "tail_block_id",
    "tail_count",
)


def _insert_blocks(conn: Connection, new: list[tuple[int, hist.Block]]) -> list[int]:
    """Insert ``(key_id, block)`` pairs with their statistics; returns the new ids in order."""
    if not new:
        return []
    stmt = insert(history_blocks).returning(history_blocks.c.id, sort_by_parameter_order=True)
    ids = [int(r[0]) for r in conn.execute(stmt, [b.row() | {"key_id": k} for k, b in new])]
    conn.execute(
        insert(history_block_stats),
        [b.stats_row() | {"block_id": i} for i, (_, b) in zip(ids, new, strict=True)],
    )
    return ids


_UPDATE_BLOCK = (
    update(history_blocks)
    .where(history_blocks.c.id == bindparam("b_id", type_=BigId))
    .values(
        {
            c: bindparam("b_" + c, type_=history_blocks.c[c].type)
            for c in (
                "step_lo",
                "step_hi",
                "stride",
                "count",
                "dtype",
                "min",
                "max",
                "sum",
                "first",
                "last",
                "steps",
                "vals",
                "times",
            )
        }
    )
)


def _update_blocks(conn: Connection, changed: list[tuple[int, hist.Block]]) -> None:
    """Rewrite ``(id, block)`` pairs in place, with their statistics."""
    if changed:
        conn.execute(
            _UPDATE_BLOCK,
            [{"b_" + k: v for k, v in (b.row() | {"id": i}).items()} for i, b in changed],
        )
        store_stats(conn, [b.stats_row() | {"block_id": i} for i, b in changed], replace=True)


def store_stats(conn: Connection, rows: list[dict[str, Any]], *, replace: bool) -> None:
    """Insert statistics rows; an existing row is replaced (``replace``) or kept.

    Upserts, because a reader may store the statistics of an older block concurrently (see
    ``envelope_db.backfill_stats``): the writer's row must win, and neither side may fail on the
    other's.
    """
    hs = history_block_stats
    insert_fn: Any
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as insert_fn
    else:
        from sqlalchemy.dialects.sqlite import insert as insert_fn
    stmt = insert_fn(hs)
    if replace:
        stmt = stmt.on_conflict_do_update(
            index_elements=[hs.c.block_id],
            set_={c: stmt.excluded[c] for c in ("t_first", "t_last", "sub")},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=[hs.c.block_id])
    conn.execute(stmt, rows)


def fetch_plain(conn: Connection, stmt: Select[Any]) -> list[Any]:
    """Rows of a SELECT of plain columns (ints, strings, bytes), accessed by column name.

    On PostgreSQL/psycopg the query runs in psycopg's binary result format, inside the same
    transaction: bytea then travels as raw bytes instead of hex text, which makes reading history
    blobs about four times faster. The columns must need no SQLAlchemy result processing.
    """
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        row_type = namedtuple("PlainRow", [c.key for c in stmt.selected_columns])  # type: ignore[misc]
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor(binary=True) as cur:
            cur.execute(str(compiled), compiled.params)
            return [row_type(*r) for r in cur.fetchall()]
    return list(conn.execute(stmt))


BLOCK_COLUMNS = (
    history_blocks.c.id,
    history_blocks.c.key_id,
    history_blocks.c.step_lo,
    history_blocks.c.stride,
    history_blocks.c.count.label("n"),  # not "count": a row's .count is also a tuple method
    history_blocks.c.dtype,
    history_blocks.c.steps,
    history_blocks.c.vals,
    history_blocks.c.times,
)


def _load_blocks(conn: Connection, ids: Sequence[int]) -> dict[int, Any]:
    out: dict[int, Any] = {}
    for part in chunks(list(ids)):
        for r in fetch_plain(conn, select(*BLOCK_COLUMNS).where(history_blocks.c.id.in_(part))):
            out[int(r.id)] = r
    return out


def block_points(r: Any, as_dtype: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, values, times) of a row selected with ``BLOCK_COLUMNS``."""
    steps = hist.decode_steps(int(r.step_lo), int(r.stride), int(r.n), r.steps)
    vals = hist.decode_values(r.dtype, r.vals)
    if as_dtype is not None and as_dtype != r.dtype:
        vals = vals.astype(hist.DTYPES[as_dtype])
    return steps, vals, hist.decode_times(r.times)


_UPDATE_KEY = (
    update(metric_keys)
    .where(metric_keys.c.id == bindparam("b_id", type_=BigId))
    .values(
        {
            c: bindparam("b_" + c, type_=metric_keys.c[c].type)
            for c in _MK_STATS
            if c not in ("id", "key")
        }
    )
)


def write_history(conn: Connection, run_pk: int, col: Collected) -> None:
    """Blocks, non-scalar rows and metric-key statistics for one batch's history."""
    mk = metric_keys
    names = sorted(col.keys)
    if not names:  # rows with an empty ``d`` carry nothing to store
        return
    state: dict[str, dict[str, Any]] = {}
    for part in chunks(names):
        q = select(*(mk.c[c] for c in _MK_STATS)).where(mk.c.run_pk == run_pk, mk.c.key.in_(part))
        for r in conn.execute(q):
            state[r.key] = dict(r._mapping)
    new = [k for k in names if k not in state]
    if new:
        stmt = insert(mk).returning(mk.c.id, mk.c.key, sort_by_parameter_order=True)
        fresh = conn.execute(
            stmt,
            [
                {"run_pk": run_pk, "key": k, "count": 0, "scalar_count": 0, "last_is_scalar": False}
                for k in new
            ],
        )
        for r in fresh:
            state[r.key] = {c: None for c in _MK_STATS} | {
                "id": int(r.id),
                "key": r.key,
                "count": 0,
                "scalar_count": 0,
                "last_is_scalar": False,
            }

    # Small tails that this batch's points will be folded into.
    grow = [
        int(st["tail_block_id"])
        for k, st in state.items()
        if len(col.keys[k].scalar_values)
        and st["tail_block_id"] is not None
        and (st["tail_count"] or 0) < hist.TAIL_GROW_BELOW
    ]
    tails = _load_blocks(conn, grow) if grow else {}

    inserts: list[tuple[int, hist.Block]] = []
    insert_keys: list[str] = []
    updates: list[tuple[int, hist.Block]] = []
    values_rows: list[dict[str, Any]] = []
    last_block: dict[str, tuple[int | None, int]] = {}  # key -> (updated id or None=new, count)

    for k in names:
        kb = col.keys[k]
        st = state[k]
        key_id = st["id"]
        n_s = len(kb.scalar_values)
        n_o = len(kb.other_values)
        if n_s:
            steps = col.steps[kb.scalar_rows]
            times = col.times[kb.scalar_rows]
            vals = kb.scalar_values
            assert kb.scalar_dtype is not None
            bdtype: str = kb.scalar_dtype
            tail = tails.get(int(st["tail_block_id"])) if st["tail_block_id"] is not None else None
            if tail is not None:
                bdtype = hist.combine_dtype(tail.dtype, bdtype) or "float"
                t_steps, t_vals, t_times = block_points(tail, bdtype)
                vals = vals.astype(hist.DTYPES[bdtype], copy=False)
                steps = np.concatenate((t_steps, steps))
                vals = np.concatenate((t_vals, vals))
                times = np.concatenate((t_times, times))
            blocks = hist.make_blocks(steps, vals, times, bdtype)
            fresh_blocks = blocks
            if tail is not None:
                updates.append((int(tail.id), blocks[0]))
                fresh_blocks = blocks[1:]
                last_block[k] = (int(tail.id), blocks[0].count)
            for b in fresh_blocks:
                inserts.append((key_id, b))
                insert_keys.append(k)
            if fresh_blocks:
                last_block[k] = (None, blocks[-1].count)
            bmin, bmax = hist.value_stats(kb.scalar_values)[:2]
            st["min"] = _fmin(st["min"], bmin)
            st["max"] = _fmax(st["max"], bmax)
            st["scalar_dtype"] = hist.combine_dtype(st["scalar_dtype"], kb.scalar_dtype)
            st["scalar_count"] = int(st["scalar_count"]) + n_s
            lo, hi = int(steps.min()), int(steps.max())
            st["first_step"] = lo if st["first_step"] is None else min(int(st["first_step"]), lo)
            st["max_step"] = hi if st["max_step"] is None else max(int(st["max_step"]), hi)
        if n_o:
            for row_i, v in zip(kb.other_rows, kb.other_values, strict=True):
                values_rows.append(
                    {
                        "key_id": key_id,
                        "step": int(col.steps[row_i]),
                        "ts": float(col.times[row_i]),
                        "value": v,
                    }
                )
            od = st["other_dtype"]
            st["other_dtype"] = "object" if "object" in (od, kb.other_dtype) else "text"
        st["count"] = int(st["count"]) + n_s + n_o
        last_s = int(kb.scalar_rows[-1]) if n_s else -1
        last_o = kb.other_rows[-1] if n_o else -1
        if last_s >= last_o:
            # The float column sorts and filters; the JSON copy keeps an int64 exact.
            st["last"] = _scalar_py(kb.scalar_values[-1])
            st["last_is_scalar"], st["last_json"] = True, _scalar_py(kb.scalar_last)
            st["last_step"] = int(col.steps[last_s])
        else:
            st["last"], st["last_is_scalar"] = None, False
            st["last_json"] = kb.other_values[-1]
            st["last_step"] = int(col.steps[last_o])

    ids = _insert_blocks(conn, inserts)
    for k, new_id in zip(insert_keys, ids, strict=True):
        last_block[k] = (new_id, last_block[k][1])
    _update_blocks(conn, updates)
    for k, (tail_id, cnt) in last_block.items():
        state[k]["tail_block_id"] = tail_id
        state[k]["tail_count"] = cnt
    if values_rows:
        conn.execute(insert(history_values), values_rows)
    conn.execute(
        _UPDATE_KEY,
        [{"b_" + c: state[k][c] for c in _MK_STATS if c != "key"} for k in names],
    )


def _fmin(a: float | None, b: float) -> float:
    return b if a is None or math.isnan(a) else (a if math.isnan(b) else min(a, b))


def _fmax(a: float | None, b: float) -> float:
    return b if a is None or math.isnan(a) else (a if math.isnan(b) else max(a, b))


def merge_run_blocks(conn: Connection, run_pk: int, cap: int = hist.BLOCK_CAP) -> int:
    """Combine each key's small adjacent blocks into blocks of up to ``cap`` points.

    Returns how many blocks were removed. Blocks are merged only with their neighbours in id order
    (see the history module), so the canonical point order is unchanged.
    """
    hb, mk = history_blocks, metric_keys
    q = (
        select(hb.c.id, hb.c.key_id, hb.c.count)
        .join(mk, mk.c.id == hb.c.key_id)
        .where(mk.c.run_pk == run_pk)
        .order_by(hb.c.key_id, hb.c.id)
    )
    per_key: dict[int, list[tuple[int, int]]] = {}
    for r in conn.execute(q):
        per_key.setdefault(int(r.key_id), []).append((int(r.id), int(r._mapping["count"])))
    plans: list[tuple[int, list[int]]] = []
    for key_id, blocks in per_key.items():
        for g in hist.merge_groups([c for _, c in blocks], cap):
            plans.append((key_id, [blocks[i][0] for i in g]))
    if not plans:
        return 0
    removed = 0
    updates: list[tuple[int, hist.Block]] = []
    doomed: list[int] = []
    tails: dict[int, tuple[int, int]] = {}
    for batch in _plan_batches(plans):
        loaded = _load_blocks(conn, [i for _, ids in batch for i in ids])
        for key_id, ids in batch:
            rows = [loaded[i] for i in ids]
            dtype: str | None = None
            for r in rows:
                dtype = hist.combine_dtype(dtype, r.dtype)
            assert dtype is not None
            steps, vals, times = hist.concat_points(block_points(r, dtype) for r in rows)
            block = hist.make_block(steps, vals, times, dtype)
            updates.append((ids[0], block))
            doomed.extend(ids[1:])
            removed += len(ids) - 1
            if ids[-1] == per_key[key_id][-1][0]:
                tails[key_id] = (ids[0], block.count)
    _update_blocks(conn, updates)
    for part in chunks(doomed):
        conn.execute(delete(hb).where(hb.c.id.in_(part)))
    if tails:
        conn.execute(
            update(mk)
            .where(mk.c.id == bindparam("b_id", type_=BigId))
            .values(tail_block_id=bindparam("b_tid"), tail_count=bindparam("b_tc")),
            [{"b_id": k, "b_tid": t, "b_tc": c} for k, (t, c) in tails.items()],
        )
    return removed


def _plan_batches(
    plans: list[tuple[int, list[int]]], points: int = 64
) -> Iterable[list[tuple[int, list[int]]]]:
    """Group merge plans so that a bounded number of blocks is held in memory at once."""
    cur: list[tuple[int, list[int]]] = []
    n = 0
    for p in plans:
        cur.append(p)
        n += len(p[1])
        if n >= points:
            yield cur
            cur, n = [], 0
    if cur:
        yield cur
