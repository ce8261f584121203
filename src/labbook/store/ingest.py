"""The write path: one batch of journal records applied to one run in one transaction.

Records at or below the run's stored ``last_seq`` are skipped, which is what makes re-sending a
batch (or replaying a whole journal with ``labbook sync``) harmless. The rest are applied in seq
order to an in-memory copy of the run row; history rows are only collected and then turned into
columnar blocks per key at the end, with a handful of bulk statements for the whole batch.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import Connection, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Insert

from labbook import limits
from labbook import records as rk
from labbook.errors import ValidationError
from labbook.limits import MAX_PATH_CHARS, MAX_TEXT_CHARS, shorten
from labbook.store.blocks import Collected, chunks, collect_history, merge_run_blocks, write_history
from labbook.store.models import RunRef
from labbook.store.schema import files, projects, run_tags, runs

_EXIT_STATES = ("finished", "failed", "crashed")
_UPDATABLE = {
    "name": "name",
    "tags": "tags",
    "notes": "notes",
    "group": "group_name",
    "job_type": "job_type",
}


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
    "name",
    "state",
    "exit_code",
    "config",
    "summary",
    "tags",
    "notes",
    "group_name",
    "job_type",
    "meta",
    "created_at",
    "started_at",
    "finished_at",
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
                "project_id": pid,
                "run_id": ref.id,
                "state": "running",
                "config": {},
                "summary": {},
                "tags": [],
                "meta": {},
                "created_at": now,
                "updated_at": now,
                "heartbeat_at": now,
                "last_seq": 0,
            },
            ["project_id", "run_id"],
        )
        row = conn.execute(q).one()
    m = row._mapping
    return RunState(
        pk=int(m["pk"]), last_seq=int(m["last_seq"]), values={c: m[c] for c in _STATE_COLUMNS}
    )


# ------------------------------------------------------------------------------------- records


def _need(rec: rk.AnyRecord, key: str) -> Any:
    try:
        return rec[key]
    except KeyError:
        raise ValidationError(
            f"record seq {rec.get('seq')} ({rec.get('t')!r}) lacks field {key!r}"
        ) from None


def _dict_field(rec: rk.AnyRecord, key: str) -> dict[str, Any]:
    v = _need(rec, key)
    if not isinstance(v, dict):
        raise ValidationError(f"record seq {rec.get('seq')}: {key!r} must be an object")
    return v


# Column widths and characters (labbook.limits, the rules log() applies too): checked here, on
# every database alike, so bad input is a ValidationError naming it, not a database error.


def _tags(v: Any) -> list[str]:
    if v is None:
        return []
    if not isinstance(v, list | tuple) or not all(isinstance(t, str) and t for t in v):
        raise ValidationError(f"tags must be a list of non-empty strings: {shorten(repr(v))}")
    for t in v:
        _text(t, "tag")
    return list(dict.fromkeys(v))


def _text(v: Any, what: str, limit: int | None = MAX_TEXT_CHARS) -> str | None:
    if v is not None and not isinstance(v, str):
        raise ValidationError(f"{what} must be a string, got {shorten(repr(v))}")
    if v is not None:
        problem = limits.text_problem(v, limit)
        if problem is not None:
            raise ValidationError(f"{what} {shorten(v)!r} is refused: {problem}")
    return v


def _text_field(name: str, v: Any) -> str | None:
    return _text(v, name, None if name == "notes" else MAX_TEXT_CHARS)


def _values(rec: rk.Record, field_name: str, depth: int = 1) -> dict[str, Any]:
    """A config/summary/meta object of ``rec``, after the key, string and depth limits."""
    v = _dict_field(rec, field_name)
    found = limits.nested_problem(v, depth)
    if found is not None:
        where, problem = found
        raise ValidationError(
            f"record seq {rec.get('seq')} ({rec.get('t')!r}): {field_name}{shorten(where)}: "
            f"{problem}"
        )
    return v


def fresh_records(records: Sequence[rk.AnyRecord], last_seq: int) -> list[rk.AnyRecord]:
    """The records not yet applied, in seq order (vectorised: batches hold thousands).

    Rows may come as :class:`records.HistoryRow` structs (the local sink hands over what
    ``log()`` made) or as dicts (decoded from a journal or a request body).
    """
    try:
        seqs = rk.seqs_of(records)
    except (TypeError, KeyError, IndexError, AttributeError):
        raise ValidationError("every record must be an object with a 'seq'") from None
    if not set(map(type, seqs)) <= {int} or min(seqs) < 1:
        bad = next(q for q in seqs if type(q) is not int or q < 1)
        raise ValidationError(f"record has no valid seq (a positive integer): {bad!r}")
    first_seq = seqs[0]
    if seqs == list(range(first_seq, first_seq + len(seqs))):
        # Consecutive, as a writer numbers them (nearly every batch): no sort, no array.
        return list(records[max(0, last_seq - first_seq + 1) :])
    arr = np.array(seqs, dtype=np.int64)
    if len(arr) > 1 and not bool(np.all(arr[1:] > arr[:-1])):
        order = np.argsort(arr, kind="stable")
        arr = arr[order]
        keep = np.concatenate(([True], arr[1:] != arr[:-1]))  # a seq sent twice counts once
        order, arr = order[keep], arr[keep]
        records = [records[i] for i in order.tolist()]
    first = int(np.searchsorted(arr, last_seq, "right"))
    return list(records[first:])


def apply(conn: Connection, ref: RunRef, records: Sequence[rk.AnyRecord], now: dt.datetime) -> int:
    """Apply a batch (see the module doc); returns the run's last_seq afterwards."""
    with rk.gc_paused():
        return _apply(conn, ref, records, now)


_ROW_KINDS = frozenset({rk.HISTORY, rk.SYSTEM})


def _is_row(r: rk.AnyRecord) -> bool:
    return type(r) is rk.HistoryRow or r.get("t") in _ROW_KINDS


def _apply(conn: Connection, ref: RunRef, records: Sequence[rk.AnyRecord], now: dt.datetime) -> int:
    run = lock_run(conn, ref, now)
    todo = fresh_records(records, run.last_seq)
    if not todo:
        return run.last_seq
    v = run.values
    config = dict(v["config"] or {})
    summary = dict(v["summary"] or {})
    meta = dict(v["meta"] or {})
    hrows: list[rk.AnyRecord] = []
    file_recs: dict[str, tuple[str, int]] = {}
    exited = False
    last_seq = int(todo[-1]["seq"])
    kinds = rk.kinds_of(todo)
    collected: Collected | None = None
    if kinds == {rk.HISTORY}:
        # The bulk of all traffic: history only. The summary then takes each key's last value.
        hrows = list(todo)
        collected = collect_history(hrows)
        summary.update(collected.last_values())
        todo = []
    elif rk.SUMMARY not in kinds and kinds & _ROW_KINDS:
        # History among other records (a run's first batch, a journal replayed by sync): the
        # rows still go columnar. Only summary records must be ordered against history rows,
        # and there are none, so the rows' summary effect can be applied in one go.
        structs, dicts = rk.split_structs(todo)
        others: list[rk.AnyRecord] = list(dicts)
        if any(map(_is_row, others)):  # rows as dicts too (a journal read back): keep order
            hrows = [r for r in todo if _is_row(r)]
            others = [r for r in todo if not _is_row(r)]
        else:
            hrows = list(structs)
        collected = collect_history(hrows)
        if rk.SYSTEM in kinds:  # system rows own their keys and leave the summary alone
            for r in hrows:
                if type(r) is rk.HistoryRow:
                    summary.update(r.d)
                elif r["t"] == rk.HISTORY:
                    summary.update(r["d"])
        else:
            summary.update(collected.last_values())
        todo = others
    for r in todo:
        try:
            exited = _apply_one(r, run, config, summary, meta, hrows, file_recs, now) or exited
        except ValidationError:
            raise
        except (TypeError, ValueError, OverflowError, AttributeError) as e:  # malformed fields
            raise ValidationError(f"record seq {r['seq']} ({r.get('t')!r}): {e}") from e
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


def _apply_one(
    r: rk.AnyRecord,
    run: RunState,
    config: dict[str, Any],
    summary: dict[str, Any],
    meta: dict[str, Any],
    hrows: list[rk.AnyRecord],
    file_recs: dict[str, tuple[str, int]],
    now: dt.datetime,
) -> bool:
    """Apply one non-bulk record to the in-memory run; True when it ended the run."""
    if type(r) is rk.HistoryRow:  # a row among summary writes (define_metric): order matters
        hrows.append(r)
        summary.update(r.d)
        return False
    if not isinstance(r, dict):
        raise ValidationError(f"record {r!r:.60} is not an object")
    t = r.get("t")
    if t == rk.HISTORY:
        d = r.get("d")
        if not isinstance(d, dict):
            raise ValidationError(f"record seq {r['seq']}: history 'd' must be an object")
        hrows.append(r)
        summary.update(d)
    elif t == rk.SYSTEM:
        if not isinstance(r.get("d"), dict):
            raise ValidationError(f"record seq {r['seq']}: system 'd' must be an object")
        hrows.append(r)  # same columnar history, own steps, no summary
    elif t == rk.RUN:
        _apply_run(run, r, config)
        run.set("state", "running")
        run.set("exit_code", None)
        run.set("finished_at", None)
    elif t == rk.CONFIG:
        config.update(_values(r, "u"))
    elif t == rk.SUMMARY:
        summary.update(_values(r, "u") if "u" in r else {})
        dels = r.get("del") or []
        if not isinstance(dels, list):
            raise ValidationError(f"record seq {r['seq']}: 'del' must be a list of keys")
        for key in dels:
            summary.pop(key, None)
    elif t == rk.META:
        meta.update(_values(r, "m"))
    elif t == rk.UPDATE:
        for field_name, column in _UPDATABLE.items():
            if field_name in r:
                val = r[field_name]
                run.set(
                    column, _tags(val) if field_name == "tags" else _text_field(field_name, val)
                )
    elif t == rk.FILE:
        path, sha, size = _need(r, "path"), _need(r, "sha256"), _need(r, "size")
        if (
            not isinstance(path, str)
            or not 0 < len(path) <= MAX_PATH_CHARS
            or limits.text_problem(path, None) is not None
        ):
            raise ValidationError(f"record seq {r['seq']}: bad file path {shorten(repr(path))}")
        if not isinstance(sha, str) or len(sha) > 64 or type(size) is not int or size < 0:
            raise ValidationError(f"record seq {r['seq']}: bad sha256/size for {path!r}")
        file_recs[path] = (sha, size)
    elif t == rk.EXIT:
        state = r.get("state", "finished")
        if state not in _EXIT_STATES:
            raise ValidationError(f"record seq {r['seq']}: bad exit state {state!r}")
        run.set("state", state)
        code = r.get("code")
        run.set("exit_code", int(code) if code is not None else None)
        ts = r.get("ts")
        run.set("finished_at", utc_from_unix(ts) if ts is not None else now)
        return True
    # "hb" and kinds this version does not know only advance seq and the heartbeat.
    return False


def _apply_run(run: RunState, r: rk.Record, config: dict[str, Any]) -> None:
    resumed = bool(r.get("resumed"))
    if "name" in r:
        run.set("name", _text(r["name"], "name"))
    if "tags" in r:
        run.set("tags", _tags(r["tags"]))
    for f in ("notes", "job_type"):
        if f in r:
            run.set(f, _text_field(f, r[f]))
    if "group" in r:
        run.set("group_name", _text(r["group"], "group"))
    cfg = r.get("config")
    if cfg is not None:
        cfg = _values(r, "config")
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
            .values(
                sha256=bindparam("b_sha"),
                size=bindparam("b_size"),
                updated_at=bindparam("b_at", type_=files.c.updated_at.type),
            ),
            [{"b_path": p, "b_sha": recs[p][0], "b_size": recs[p][1], "b_at": now} for p in upd],
        )
    if new:
        conn.execute(
            insert(files),
            [
                {
                    "run_pk": run_pk,
                    "path": p,
                    "sha256": recs[p][0],
                    "size": recs[p][1],
                    "updated_at": now,
                }
                for p in new
            ],
        )
