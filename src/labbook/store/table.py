"""The dashboard's project-wide reads: the runs table column by column, the keys a project's runs
hold, a cheap version of a project for conditional polling, and bulk deletion.

The runs table is one SELECT over ``runs`` with only the asked columns (JSON paths extracted by
the database, so a run's whole config and summary never cross the wire), plus one SELECT of the
asked metric keys' statistics for the project's runs. Filters and order are ``query.py``'s, so
the table shows exactly what ``list_runs`` would, without building a ``RunInfo`` per run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Float, case, delete, func, select, type_coerce

from labbook.errors import ProjectNotFound, ValidationError
from labbook.store import jsoncodec
from labbook.store.blocks import chunks
from labbook.store.importance import ParamImportance, rank_params
from labbook.store.query import (
    QueryBuilder,
    _JsonPath,
    absent_field_notes,
    fields_of,
    json_loads,
    json_text,
    json_value,
    naive_utc,
    raw_time,
)
from labbook.store.schema import metric_keys, runs

MAX_TABLE_RUNS = 10_000
"""Most runs one table read returns (the dashboard's 10,000-run workspace in one request)."""
MAX_COLUMNS = 200
"""Most fields one table read selects."""
MAX_DISTINCT = 1000
"""Distinct values of a config key are counted up to this many."""
MAX_PARAMS = 100
"""Most config keys one importance read ranks."""
MIN_ID_RUNS = 10
DEFAULT_COLUMNS = ("name", "state", "created_at", "runtime", "tags", "user")
COMPUTED_FIELDS = {
    "runtime": "seconds from the run's start to its end (or last heartbeat while running)",
    "user": "the OS user that ran it (metadata)",
    "host": "the host it ran on (metadata)",
}
_META_FIELDS = ("user", "host")


@dataclass
class RunsTable:
    """Columns of the runs that match, in table order: ``columns[field][i]`` is run ``ids[i]``'s.

    Times are ISO 8601 strings (UTC), ``runtime`` float seconds, JSON values as stored (non-finite
    floats as floats); a run without the field has None.
    """

    total: int
    ids: list[str]
    columns: dict[str, list[Any]]
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KeyStats:
    """One key of a project's configs, summaries or metrics.

    ``types`` are JSON type names (number, string, bool, null, object, array); ``distinct`` counts
    distinct values up to ``MAX_DISTINCT`` (config keys only, else None); ``runs`` counts the runs
    that hold the key.
    """

    key: str
    types: list[str]
    distinct: int | None
    runs: int


@dataclass
class ProjectKeys:
    config: list[KeyStats]
    summary: list[KeyStats]
    metrics: list[KeyStats]


def _iso(v: dt.datetime | None) -> str | None:
    """A naive UTC datetime as the API writes times (``2024-05-01T12:00:00.5Z``, as RunOut)."""
    return None if v is None else v.isoformat() + "Z"


def _runtime(
    started: dt.datetime | None, finished: dt.datetime | None, heartbeat: dt.datetime | None
) -> float | None:
    end = finished if finished is not None else heartbeat
    if started is None or end is None:
        return None
    return max(0.0, (end - started).total_seconds())


def _typed_stat(x: float | None, dtype: str | None) -> Any:
    """A stored float statistic typed as the key's values (NULL is a NaN the column kept)."""
    if dtype is None:
        return None
    if x is None:
        return math.nan
    if dtype == "int" and math.isfinite(x):
        return int(x)
    if dtype == "bool" and not math.isnan(x):
        return bool(x)
    return x


class _Plan:
    """Where each selected field's value comes from: positions in the main SELECT, or a metric."""

    def __init__(self, dialect: str, qb: QueryBuilder, select_: Sequence[str]) -> None:
        self.dialect = dialect
        self.exprs: list[Any] = [runs.c.pk, runs.c.run_id]
        self.readers: dict[str, Callable[[Sequence[Any]], Any]] = {}
        self.metrics: dict[str, list[tuple[str, str]]] = {}  # key -> [(field, stat)]
        self._runtime_at: int | None = None
        for name in dict.fromkeys(select_):
            self._add(qb, name)

    def _slot(self, *exprs: Any) -> int:
        at = len(self.exprs)
        self.exprs.extend(exprs)
        return at

    def _add(self, qb: QueryBuilder, name: str) -> None:
        if name == "runtime":
            if self._runtime_at is None:
                self._runtime_at = self._slot(
                    *(
                        raw_time(self.dialect, c)
                        for c in (runs.c.started_at, runs.c.finished_at, runs.c.heartbeat_at)
                    )
                )
            at = self._runtime_at
            self.readers[name] = lambda row: _runtime(
                naive_utc(row[at]), naive_utc(row[at + 1]), naive_utc(row[at + 2])
            )
            return
        if name in _META_FIELDS:
            parts = _JsonPath(self.dialect, runs.c.meta, [name]).value_parts()
            self._json_reader(name, parts)
            return
        f = qb.field(name)  # validates the name; raises naming it
        if f.kind == "json":
            assert f.json is not None
            self._json_reader(name, f.json.value_parts())
        elif f.kind == "tags":
            at = self._slot(json_text(self.dialect, runs.c.tags))
            self.readers[name] = lambda row: list(json_loads(row[at]) or [])
        elif name.startswith("metrics."):
            key, _, stat = name.removeprefix("metrics.").rpartition(".")
            self.metrics.setdefault(key, []).append((name, stat))
        elif f.kind == "time":
            at = self._slot(raw_time(self.dialect, f.expr))
            self.readers[name] = lambda row: _iso(naive_utc(row[at]))
        else:
            at = self._slot(f.expr)
            self.readers[name] = lambda row: row[at]

    def _json_reader(self, name: str, parts: list[Any]) -> None:
        at = self._slot(*parts)
        n = len(parts)
        dialect = self.dialect
        self.readers[name] = lambda row: json_value(dialect, row[at : at + n])


class TableMixin:
    """The project-wide reads of :class:`labbook.store.Store` (it provides the connections)."""

    dialect: str
    _read: Callable[[], AbstractContextManager[Connection]]
    _write: Callable[[], AbstractContextManager[Connection]]
    _project_id: Callable[[Connection, str, str], int | None]
    _cutoff: Callable[[dt.datetime], dt.datetime]

    @staticmethod
    def _now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _pid(self, conn: Connection, entity: str, project: str) -> int:
        pid = self._project_id(conn, entity, project)
        if pid is None:
            raise ProjectNotFound(f"project {entity}/{project} not found")
        return pid

    # -------------------------------------------------------------------------------- table
    def runs_table(
        self,
        entity: str,
        project: str,
        select_: Sequence[str] = DEFAULT_COLUMNS,
        *,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int = MAX_TABLE_RUNS,
        offset: int = 0,
    ) -> RunsTable:
        """The matching runs' ``select_`` fields, column by column (see :class:`RunsTable`).

        Fields are ``query.py``'s vocabulary plus ``runtime``, ``user`` and ``host``;
        ``filters``/``order`` as ``list_runs`` takes them. ``total`` counts every matching run,
        beyond ``limit`` too.
        """
        if isinstance(select_, str):
            select_ = [select_]
        if len(select_) > MAX_COLUMNS:
            raise ValidationError(f"select: at most {MAX_COLUMNS} fields, got {len(select_)}")
        if (
            isinstance(limit, bool)
            or not isinstance(limit, int)
            or not 1 <= limit <= MAX_TABLE_RUNS
        ):
            raise ValidationError(f"limit must be 1..{MAX_TABLE_RUNS}, got {limit!r}")
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValidationError(f"offset must be an integer >= 0, got {offset!r}")
        now = self._now()
        qb = QueryBuilder(self.dialect, self._cutoff(now))
        try:
            plan = _Plan(self.dialect, qb, list(select_))
        except ValidationError as e:
            extra = ", ".join(COMPUTED_FIELDS)
            raise ValidationError(f"select: {e.message} (the table also has {extra})") from None
        where = qb.where(filters)
        order_by = qb.order(order)
        with self._read() as conn:
            pid = self._pid(conn, entity, project)
            cond = (runs.c.project_id == pid, where)
            rows = conn.execute(
                select(*plan.exprs).where(*cond).order_by(*order_by).limit(limit).offset(offset)
            ).all()
            if len(rows) < limit and (rows or offset == 0):
                total = offset + len(rows)
            else:
                total = int(
                    conn.execute(select(func.count()).select_from(runs).where(*cond)).scalar_one()
                )
            pks = [int(r[0]) for r in rows]
            columns: dict[str, list[Any]] = {
                name: [read(r) for r in rows] for name, read in plan.readers.items()
            }
            if plan.metrics:
                columns.update(self._metric_columns(conn, pid, pks, plan.metrics))
            names = [n for n in fields_of(filters, order) if n.startswith(_ROOTS)]
            names += [n for n in select_ if n.startswith(_ROOTS) and n not in names]
            warnings = (
                absent_field_notes(conn, self.dialect, pid, f"{entity}/{project}", names)
                if names
                else []
            )
        ordered = {name: columns[name] for name in dict.fromkeys(select_)}
        return RunsTable(total, [str(r[1]) for r in rows], ordered, warnings)

    def _metric_columns(
        self, conn: Connection, pid: int, pks: list[int], wanted: dict[str, list[tuple[str, str]]]
    ) -> dict[str, list[Any]]:
        """Metric stat columns, from one read of the asked keys' rows across the project.

        Read for the whole project (an indexed lookup per run and key) rather than by a list of
        up to 10,000 run pks, which would be 20 statements of 500 parameters. Only the asked
        statistics are read, undecoded (see ``query.raw_time``/``json_text``).
        """
        mk = metric_keys
        stats = {stat for fs in wanted.values() for _, stat in fs}
        cols: list[Any] = [mk.c.run_pk, mk.c.key, mk.c.scalar_dtype]
        at: dict[str, int] = {}
        for stat in sorted(stats):
            at[stat] = len(cols)
            if stat == "last":
                cols += [
                    mk.c.last_is_scalar,
                    json_text(self.dialect, mk.c.last_json),
                    type_coerce(mk.c.last, Float),
                ]
            elif stat in ("min", "max"):
                cols.append(type_coerce(mk.c[stat], Float))
            else:
                cols.append(mk.c[stat])

        def value(stat: str, r: Sequence[Any]) -> Any:
            i = at[stat]
            if stat == "last":
                if r[i] and r[i + 1] is None:  # not expected; the float is the fallback
                    return _typed_stat(r[i + 2], r[2])
                return json_loads(r[i + 1])
            if stat in ("min", "max"):
                return _typed_stat(r[i], r[2])
            return None if r[i] is None else int(r[i])

        row_of = {pk: i for i, pk in enumerate(pks)}
        out = {f: [None] * len(pks) for fs in wanted.values() for f, _ in fs}
        for part in chunks(sorted(wanted)):
            q = (
                select(*cols)
                .join(runs, runs.c.pk == mk.c.run_pk)
                .where(runs.c.project_id == pid, mk.c.key.in_(part))
            )
            for r in conn.execute(q).all():
                i = row_of.get(r[0])
                if i is None:
                    continue
                for name, stat in wanted[r[1]]:
                    out[name][i] = value(stat, r)
        return out

    def table_version(self, entity: str, project: str) -> str:
        """A token that changes whenever any run of the project changes in a way a table,
        envelope or key read could show: ingest (last seq, updated time), edits, heartbeats,
        deletions, new runs, and running runs turning crashed as their heartbeat ages.

        One indexed aggregate over the project's runs, so a poll that finds nothing new costs
        this instead of the table (the conditional-polling ETag).
        """
        cutoff = self._cutoff(self._now())
        stale = case(
            (
                (runs.c.state == "running")
                & (runs.c.heartbeat_at.is_(None) | (runs.c.heartbeat_at < cutoff)),
                1,
            ),
            else_=0,
        )
        with self._read() as conn:
            pid = self._pid(conn, entity, project)
            row = conn.execute(
                select(
                    func.count(),
                    func.sum(runs.c.pk),
                    func.sum(runs.c.last_seq),
                    func.max(runs.c.updated_at),
                    func.max(runs.c.heartbeat_at),
                    func.sum(stale),
                ).where(runs.c.project_id == pid)
            ).one()
        raw = json.dumps([pid, *(None if v is None else str(v) for v in row)])
        return hashlib.blake2b(raw.encode(), digest_size=12).hexdigest()

    # --------------------------------------------------------------------------------- keys
    def project_keys(self, entity: str, project: str, *, config_only: bool = False) -> ProjectKeys:
        """The config and summary paths (nested dicts walked, ``a.b``) and metric keys that the
        project's runs hold, with their types and how many runs hold each (``config_only``:
        the config keys alone, the others left empty)."""
        mk = metric_keys
        config = _KeyCounter(distinct=True)
        summary = _KeyCounter(distinct=False)
        metrics: list[KeyStats] = []
        cols = [json_text(self.dialect, runs.c.config)]
        if not config_only:
            cols.append(json_text(self.dialect, runs.c.summary))
        with self._read() as conn:
            pid = self._pid(conn, entity, project)
            for row in conn.execute(select(*cols).where(runs.c.project_id == pid)).all():
                cfg = json_loads(row[0])
                if isinstance(cfg, dict):
                    config.add_run(cfg)
                smry = None if config_only else json_loads(row[1])
                if isinstance(smry, dict):
                    summary.add_run(smry)
            if not config_only:
                mq = (
                    select(mk.c.key, func.count())
                    .join(runs, runs.c.pk == mk.c.run_pk)
                    .where(runs.c.project_id == pid)
                    .group_by(mk.c.key)
                    .order_by(mk.c.key)
                )
                metrics = [KeyStats(str(k), [], None, int(n)) for k, n in conn.execute(mq)]
        return ProjectKeys(config.stats(), summary.stats(), metrics)

    # --------------------------------------------------------------------------- importance
    def param_importance(
        self,
        entity: str,
        project: str,
        metric: str,
        params: Sequence[str] | None = None,
        *,
        filters: dict[str, Any] | None = None,
    ) -> tuple[int, list[ParamImportance]]:
        """How much each config path moves ``metric`` (a table field, e.g. ``summary.acc`` or
        ``metrics.loss.min``) across the matching runs (up to ``MAX_TABLE_RUNS``, newest first);
        see ``importance.py``. ``params`` default to the config paths that vary, leaving out
        identifier-like ones (a string for every run, all different). Returns (runs used, the
        parameters ranked)."""
        if params is None:
            params = [
                k.key
                for k in self.project_keys(entity, project, config_only=True).config
                if (k.distinct or 0) > 1
                and not ("string" in k.types and k.distinct == k.runs and k.runs > MIN_ID_RUNS)
            ][:MAX_PARAMS]
        elif len(params) > MAX_PARAMS:
            raise ValidationError(f"params: at most {MAX_PARAMS} keys, got {len(params)}")
        fields = [f"config.{p}" for p in params]
        qb = QueryBuilder(self.dialect, self._now())
        for what, names in (("metric", [metric]), ("params", fields)):
            try:
                for name in names:
                    qb.field(name)
            except ValidationError as e:
                raise ValidationError(f"{what}: {e.message}") from None
        table = self.runs_table(entity, project, [metric, *fields], filters=filters)
        values = {p: table.columns[f] for p, f in zip(params, fields, strict=True)}
        return rank_params(table.columns[metric], values)

    # ------------------------------------------------------------------------------- delete
    def delete_runs(
        self, entity: str, project: str, ids: Sequence[str]
    ) -> tuple[list[str], list[str]]:
        """Delete several runs of a project in one transaction (as ``delete_run`` does each);
        returns (deleted ids, ids the project does not hold), in the order asked."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, int] = {}
        with self._write() as conn:
            pid = self._pid(conn, entity, project)
            for part in chunks(wanted):
                q = select(runs.c.run_id, runs.c.pk).where(
                    runs.c.project_id == pid, runs.c.run_id.in_(part)
                )
                found.update((str(r), int(pk)) for r, pk in conn.execute(q))
            pks = list(found.values())
            for part in chunks(pks):
                conn.execute(delete(runs).where(runs.c.pk.in_(part)))
        return [i for i in wanted if i in found], [i for i in wanted if i not in found]


_ROOTS = ("config.", "summary.", "summary_metrics.", "metrics.")


_TYPE_NAMES: dict[type, str] = {
    type(None): "null",
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}
_SCALARS = (type(None), bool, int, float, str)


def _distinct_key(v: Any) -> Any:
    """A hashable stand-in for ``v`` that keeps 1, 1.0 and True apart and NaN equal to itself."""
    t = type(v)
    if t is float and v != v:
        return ("nan",)
    if t in _SCALARS:
        return (t, v)
    return ("json", json.dumps(jsoncodec.tag(v), sort_keys=True))


class _KeyCounter:
    """Types, distinct values and run counts of the leaf paths of many runs' JSON objects."""

    def __init__(self, *, distinct: bool) -> None:
        self.distinct = distinct
        self.paths: dict[str, tuple[list[int], set[str], set[Any]]] = {}

    def add_run(self, obj: dict[str, Any], prefix: str = "") -> None:
        paths = self.paths
        for k, v in obj.items():
            path = prefix + k
            t = type(v)
            if t is dict and v and "_type" not in v:
                self.add_run(v, path + ".")
                continue
            entry = paths.get(path)
            if entry is None:
                entry = paths[path] = ([0], set(), set())
            entry[0][0] += 1
            entry[1].add(_TYPE_NAMES.get(t, "object"))
            if self.distinct and len(entry[2]) < MAX_DISTINCT:
                entry[2].add(_distinct_key(v))

    def stats(self) -> list[KeyStats]:
        return [
            KeyStats(
                key,
                sorted(types),
                len(values) if self.distinct else None,
                count[0],
            )
            for key, (count, types, values) in sorted(self.paths.items())
        ]
