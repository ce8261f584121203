"""The write path: one batch of journal records applied to one run in one transaction.

Records at or below the run's stored ``last_seq`` are skipped, which is what makes re-sending a
batch (or replaying a whole journal with ``labbook sync``) harmless. The rest are applied in seq
order to an in-memory copy of the run row; history rows are only collected and then turned into
columnar blocks per key at the end, with a handful of bulk statements for the whole batch.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Insert

from labbook import records as rk
from labbook.errors import ValidationError
from labbook.store import history as hist
from labbook.store.models import RunRef
from labbook.store.schema import (
    BigId,
    files,
    history_blocks,
    history_values,
    metric_keys,
    projects,
    run_tags,
    runs,
)

_CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits
_EXIT_STATES = ("finished", "failed", "crashed")
_UPDATABLE = {"name": "name", "tags": "tags", "notes": "notes", "group": "group_name",
              "job_type": "job_type"}


def chunks(items: Sequence[Any], n: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def utc_from_unix(x: Any) -> dt.datetime:
    return dt.datetime.fromtimestamp(float(x), dt.UTC)


def _insert_ignore(conn: Connection, table: Any, values: dict[str, Any], keys: list[str]) -> None:
    """Insert unless a row with the same unique ``keys`` exists (another writer may race us)."""
    name = conn.dialect.name
    stmt: Insert
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        conn.execute(pg_insert(table).values(**values).on_conflict_do_nothing(index_elements=keys))
    elif name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        conn.execute(
            sqlite_insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
        )
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        stmt = insert(table).values(**values)
        try:
            with conn.begin_nested():
                conn.execute(stmt)
        except IntegrityError:
            pass


# ------------------------------------------------------------------------------ run row state


@dataclass
class RunState:
    """The mutable columns of one runs row while a batch is applied."""

    pk: int
    last_seq: int
    values: dict[str, Any]
    dirty: set[str] = field(default_factory=set)

    def set(self, column: str, value: Any) -> None:
        self.values[column] = value
        self.dirty.add(column)


_STATE_COLUMNS = (
    "name", "state", "exit_code", "config", "summary", "tags", "notes", "group_name", "job_type",
    "meta", "created_at", "started_at", "finished_at",
)


def lock_run(conn: Connection, ref: RunRef, now: dt.datetime) -> RunState:
    """The run's row, locked for this transaction, created (with its project) on first sight."""
    pid = conn.execute(
        select(projects.c.id).where(projects.c.entity == ref.entity, projects.c.name == ref.project)
    ).scalar()
    if pid is None:
        _insert_ignore(
            conn,
            projects,
            {"entity": ref.entity, "name": ref.project, "created_at": now},
            ["entity", "name"],
        )
        pid = conn.execute(
            select(projects.c.id).where(
                projects.c.entity == ref.entity, projects.c.name == ref.project
            )
        ).scalar_one()
    cols = [runs.c.pk, runs.c.last_seq, *(runs.c[c] for c in _STATE_COLUMNS)]
    q = select(*cols).where(runs.c.project_id == pid, runs.c.run_id == ref.id).with_for_update()
    row = conn.execute(q).first()
    if row is None:
        _insert_ignore(
            conn,
            runs,
            {
                "project_id": pid, "run_id": ref.id, "state": "running", "config": {},
                "summary": {}, "tags": [], "meta": {}, "created_at": now, "updated_at": now,
                "heartbeat_at": now, "last_seq": 0,
            },
            ["project_id", "run_id"],
        )
        row = conn.execute(q).one()
    m = row._mapping
    return RunState(
        pk=int(m["pk"]), last_seq=int(m["last_seq"]), values={c: m[c] for c in _STATE_COLUMNS}
    )


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
            if isinstance(v, str) or v is None:
                other = other or "text"
            else:
                other = "object"
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


def collect_history(hrows: list[rk.Record]) -> Collected:
    """Transpose history rows into per-key columns.

    Rows are grouped by their key tuple, so the transposition itself (``zip(*values)``) runs in C
    once per distinct key set instead of once per point; that is most of the ingest speed.
    """
    n = len(hrows)
    try:
        step_list = [r["step"] for r in hrows]
        if not set(map(type, step_list)) <= {int}:
            step_list = [hist.check_step(s, "step") for s in step_list]
        steps = np.array(step_list, dtype=np.int64)
        times = np.array([r["ts"] for r in hrows], dtype=np.float64)
        ds = [r["d"] for r in hrows]
    except (KeyError, TypeError, ValueError, OverflowError) as e:
        raise ValidationError(f"bad history row: {e!r}") from e
    if not set(map(type, ds)) <= {dict}:
        raise ValidationError("history 'd' must be an object")
    key_tuples = list(map(tuple, ds))
    value_tuples = list(map(tuple, map(dict.values, ds)))
    distinct = set(key_tuples)
    groups: list[tuple[tuple[str, ...], list[int] | None, list[tuple[Any, ...]]]]
    if len(distinct) == 1:
        groups = [(key_tuples[0], None, value_tuples)]  # every row logs the same keys
    else:
        by_keys: dict[tuple[str, ...], list[int]] = {}
        for i, kt in enumerate(key_tuples):
            idx = by_keys.get(kt)
            if idx is None:
                by_keys[kt] = [i]
            else:
                idx.append(i)
        groups = [(kt, idx, [value_tuples[i] for i in idx]) for kt, idx in by_keys.items()]
    per_key: dict[str, list[tuple[list[int] | None, tuple[Any, ...]]]] = {}
    for ks, idx, vals in groups:
        for k, col in zip(ks, zip(*vals, strict=True), strict=True):
            per_key.setdefault(k, []).append((idx, col))
    out: dict[str, KeyBatch] = {}
    for k, parts in per_key.items():
        if not isinstance(k, str) or not k:
            raise ValidationError(f"history keys must be non-empty strings, got {k!r}")
        if len(parts) == 1:
            idx, col = parts[0]
            rows = np.arange(n, dtype=np.int64) if idx is None else np.array(idx, np.int64)
            out[k] = _split_key(rows, col)
            continue
        rows = np.concatenate([np.array(p[0], np.int64) for p in parts])
        order = np.argsort(rows, kind="stable")
        flat = [v for p in parts for v in p[1]]
        out[k] = _split_key(rows[order], [flat[j] for j in order.tolist()])
    return Collected(steps, times, out)


# ------------------------------------------------------------------------------ history writes

_MK_STATS = (
    "id", "key", "scalar_dtype", "other_dtype", "count", "scalar_count", "last", "last_is_scalar",
    "last_json", "last_step", "min", "max", "first_step", "max_step", "tail_block_id", "tail_count",
)


def _insert_blocks(conn: Connection, rows: list[dict[str, Any]]) -> list[int]:
    if not rows:
        return []
    stmt = insert(history_blocks).returning(history_blocks.c.id, sort_by_parameter_order=True)
    return [int(r[0]) for r in conn.execute(stmt, rows)]


_UPDATE_BLOCK = (
    update(history_blocks)
    .where(history_blocks.c.id == bindparam("b_id", type_=BigId))
    .values(
        {
            c: bindparam("b_" + c, type_=history_blocks.c[c].type)
            for c in ("step_lo", "step_hi", "stride", "count", "dtype", "min", "max", "sum",
                      "first", "last", "steps", "vals", "times")
        }
    )
)


def _update_blocks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_UPDATE_BLOCK, [{"b_" + k: v for k, v in r.items()} for r in rows])


def _load_blocks(conn: Connection, ids: Sequence[int]) -> dict[int, Row[Any]]:
    hb = history_blocks
    out: dict[int, Row[Any]] = {}
    for part in chunks(list(ids)):
        q = select(
            hb.c.id, hb.c.key_id, hb.c.step_lo, hb.c.stride, hb.c.count, hb.c.dtype, hb.c.steps,
            hb.c.vals, hb.c.times,
        ).where(hb.c.id.in_(part))
        for r in conn.execute(q):
            out[int(r.id)] = r
    return out


def block_points(r: Row[Any], as_dtype: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    steps = hist.decode_steps(int(r.step_lo), int(r.stride), int(r.count), r.steps)
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
                {"run_pk": run_pk, "key": k, "count": 0, "scalar_count": 0,
                 "last_is_scalar": False}
                for k in new
            ],
        )
        for r in fresh:
            state[r.key] = {c: None for c in _MK_STATS} | {
                "id": int(r.id), "key": r.key, "count": 0, "scalar_count": 0,
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

    inserts: list[dict[str, Any]] = []
    insert_keys: list[str] = []
    updates: list[dict[str, Any]] = []
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
            brows = [b.row() for b in blocks]
            if tail is not None:
                updates.append(brows[0] | {"id": int(tail.id)})
                brows = brows[1:]
                last_block[k] = (int(tail.id), blocks[0].count)
            for br in brows:
                inserts.append(br | {"key_id": key_id})
                insert_keys.append(k)
            if brows:
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
            for r, v in zip(kb.other_rows, kb.other_values, strict=True):
                values_rows.append(
                    {"key_id": key_id, "step": int(col.steps[r]), "ts": float(col.times[r]),
                     "value": v}
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
    for k, bid in zip(insert_keys, ids, strict=True):
        last_block[k] = (bid, last_block[k][1])
    _update_blocks(conn, updates)
    for k, (bid, cnt) in last_block.items():
        state[k]["tail_block_id"] = bid
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
        per_key.setdefault(int(r.key_id), []).append((int(r.id), int(r.count)))
    plans: list[tuple[int, list[int]]] = []
    for key_id, blocks in per_key.items():
        for g in hist.merge_groups([c for _, c in blocks], cap):
            plans.append((key_id, [blocks[i][0] for i in g]))
    if not plans:
        return 0
    removed = 0
    updates: list[dict[str, Any]] = []
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
            updates.append(block.row() | {"id": ids[0]})
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


# ------------------------------------------------------------------------------------- records


def _need(rec: rk.Record, key: str) -> Any:
    try:
        return rec[key]
    except KeyError:
        raise ValidationError(
            f"record seq {rec.get('seq')} ({rec.get('t')!r}) lacks field {key!r}"
        ) from None


def _dict_field(rec: rk.Record, key: str) -> dict[str, Any]:
    v = _need(rec, key)
    if not isinstance(v, dict):
        raise ValidationError(f"record seq {rec.get('seq')}: {key!r} must be an object")
    return v


def _tags(v: Any) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list | tuple) or not all(isinstance(t, str) and t for t in v):
        raise ValidationError(f"tags must be a list of non-empty strings, got {v!r}")
    return list(dict.fromkeys(v))


def _text(v: Any, what: str) -> str | None:
    if v is not None and not isinstance(v, str):
        raise ValidationError(f"{what} must be a string, got {v!r}")
    return v


def fresh_records(records: Sequence[rk.Record], last_seq: int) -> list[rk.Record]:
    """The records not yet applied, in seq order (vectorised: batches hold thousands)."""
    try:
        seqs = [r["seq"] for r in records]
    except (TypeError, KeyError, IndexError):
        raise ValidationError("every record must be an object with a 'seq'") from None
    if not set(map(type, seqs)) <= {int} or min(seqs) < 1:
        bad = next(q for q in seqs if type(q) is not int or q < 1)
        raise ValidationError(f"record has no valid seq (a positive integer): {bad!r}")
    arr = np.array(seqs, dtype=np.int64)
    if len(arr) > 1 and not bool(np.all(arr[1:] > arr[:-1])):
        order = np.argsort(arr, kind="stable")
        arr = arr[order]
        keep = np.concatenate(([True], arr[1:] != arr[:-1]))  # a seq sent twice counts once
        order, arr = order[keep], arr[keep]
        records = [records[i] for i in order.tolist()]
    first = int(np.searchsorted(arr, last_seq, "right"))
    return list(records[first:])


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while a batch is transposed.

    Collecting creates a tuple per row and per key and none of them can form a cycle; with many
    objects alive in the process (a caller holding a large batch) the collections the allocations
    trigger can otherwise halve ingest speed.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def apply(conn: Connection, ref: RunRef, records: Sequence[rk.Record], now: dt.datetime) -> int:
    """Apply a batch (see the module doc); returns the run's last_seq afterwards."""
    with _gc_paused():
        return _apply(conn, ref, records, now)


def _apply(conn: Connection, ref: RunRef, records: Sequence[rk.Record], now: dt.datetime) -> int:
    run = lock_run(conn, ref, now)
    todo = fresh_records(records, run.last_seq)
    if not todo:
        return run.last_seq
    v = run.values
    config = dict(v["config"] or {})
    summary = dict(v["summary"] or {})
    meta = dict(v["meta"] or {})
    hrows: list[rk.Record] = []
    file_recs: dict[str, tuple[str, int]] = {}
    exited = False
    last_seq = int(todo[-1]["seq"])
    kinds = {r.get("t") for r in todo}
    collected: Collected | None = None
    if kinds == {rk.HISTORY}:
        # The bulk of all traffic: history only. The summary then takes each key's last value.
        hrows = list(todo)
        collected = collect_history(hrows)
        summary.update(collected.last_values())
        todo = []
    for r in todo:
        t = r.get("t")
        if t == rk.HISTORY:
            d = r.get("d")
            if not isinstance(d, dict):
                raise ValidationError(f"record seq {r['seq']}: history 'd' must be an object")
            hrows.append(r)
            summary.update(d)
        elif t == rk.RUN:
            _apply_run(run, r, config)
            run.set("state", "running")
            run.set("exit_code", None)
            run.set("finished_at", None)
        elif t == rk.CONFIG:
            config.update(_dict_field(r, "u"))
        elif t == rk.SUMMARY:
            summary.update(_dict_field(r, "u") if "u" in r else {})
            for key in r.get("del") or ():
                summary.pop(key, None)
        elif t == rk.META:
            meta.update(_dict_field(r, "m"))
        elif t == rk.UPDATE:
            for field_name, column in _UPDATABLE.items():
                if field_name in r:
                    val = r[field_name]
                    run.set(column, _tags(val) if field_name == "tags" else _text(val, field_name))
        elif t == rk.FILE:
            path = _need(r, "path")
            if not isinstance(path, str) or not path:
                raise ValidationError(f"record seq {r['seq']}: bad file path {path!r}")
            file_recs[path] = (str(_need(r, "sha256")), int(_need(r, "size")))
        elif t == rk.EXIT:
            state = r.get("state", "finished")
            if state not in _EXIT_STATES:
                raise ValidationError(f"record seq {r['seq']}: bad exit state {state!r}")
            run.set("state", state)
            code = r.get("code")
            run.set("exit_code", int(code) if code is not None else None)
            ts = r.get("ts")
            run.set("finished_at", utc_from_unix(ts) if ts is not None else now)
            exited = True
        # "hb" and kinds this version does not know only advance seq and the heartbeat.
    if config != v["config"]:
        run.set("config", config)
    if summary != v["summary"] or hrows:
        run.set("summary", summary)
    if meta != v["meta"]:
        run.set("meta", meta)
    if hrows:
        write_history(conn, run.pk, collected or collect_history(hrows))
    if file_recs:
        _write_files(conn, run.pk, file_recs, now)
    if "tags" in run.dirty:
        conn.execute(delete(run_tags).where(run_tags.c.run_pk == run.pk))
        if run.values["tags"]:
            conn.execute(
                insert(run_tags), [{"run_pk": run.pk, "tag": t} for t in run.values["tags"]]
            )
    if exited:
        merge_run_blocks(conn, run.pk)
    changes = {c: run.values[c] for c in run.dirty}
    changes.update(last_seq=last_seq, heartbeat_at=now, updated_at=now)
    conn.execute(update(runs).where(runs.c.pk == run.pk).values(**changes))
    return last_seq


def _apply_run(run: RunState, r: rk.Record, config: dict[str, Any]) -> None:
    resumed = bool(r.get("resumed"))
    if "name" in r:
        run.set("name", _text(r["name"], "name"))
    if "tags" in r:
        run.set("tags", _tags(r["tags"]))
    for f in ("notes", "job_type"):
        if f in r:
            run.set(f, _text(r[f], f))
    if "group" in r:
        run.set("group_name", _text(r["group"], "group"))
    cfg = r.get("config")
    if cfg is not None:
        if not isinstance(cfg, dict):
            raise ValidationError(f"record seq {r['seq']}: 'config' must be an object")
        if not resumed:
            config.clear()
        config.update(cfg)
    started = r.get("started_at")
    if started is not None:
        at = utc_from_unix(started)
        prev = run.values["started_at"]
        if not (resumed and prev is not None):
            run.set("started_at", at)
        # A run synced long after it ran still sorts by when it happened.
        if at < run.values["created_at"]:
            run.set("created_at", at)


def _write_files(
    conn: Connection, run_pk: int, recs: dict[str, tuple[str, int]], now: dt.datetime
) -> None:
    paths = sorted(recs)
    have: set[str] = set()
    for part in chunks(paths):
        q = select(files.c.path).where(files.c.run_pk == run_pk, files.c.path.in_(part))
        have.update(conn.execute(q).scalars())
    upd = [p for p in paths if p in have]
    new = [p for p in paths if p not in have]
    if upd:
        conn.execute(
            update(files)
            .where(files.c.run_pk == run_pk, files.c.path == bindparam("b_path"))
            .values(sha256=bindparam("b_sha"), size=bindparam("b_size"),
                    updated_at=bindparam("b_at", type_=files.c.updated_at.type)),
            [{"b_path": p, "b_sha": recs[p][0], "b_size": recs[p][1], "b_at": now} for p in upd],
        )
    if new:
        conn.execute(
            insert(files),
            [
                {"run_pk": run_pk, "path": p, "sha256": recs[p][0], "size": recs[p][1],
                 "updated_at": now}
                for p in new
            ],
        )

