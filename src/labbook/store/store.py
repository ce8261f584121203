"""The Store: every read and write of runs, history and files goes through this one class.

It is the same code over SQLite (local mode, ``sqlite:///~/.labbook/labbook.db``) and PostgreSQL
(the server at scale); the SDK's LocalSink calls it in-process and the HTTP server calls it per
request. A Store holds only an engine, so it is cheap to keep and safe to share between threads.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import Connection, Select, func, select
from sqlalchemy.engine import URL
from sqlalchemy.exc import DataError, IntegrityError, OperationalError

from labbook import records as rk
from labbook.errors import (
    NotFoundError,
    ProjectNotFound,
    RunNotFound,
    StorageFull,
    UsageError,
    ValidationError,
)
from labbook.store import blocks as blk
from labbook.store import envelope, envelope_db
from labbook.store import history as hist
from labbook.store import ingest as ing
from labbook.store.accounts import AccountsMixin
from labbook.store.artifacts import ArtifactMixin
from labbook.store.charts import ChartMixin
from labbook.store.engine import (
    DEFAULT_SCHEMA,
    WRITE_OPTION,
    engine_schema,
    make_engine,
    normalize_url,
    sqlite_file,
    upgrade,
)
from labbook.store.lineage import LineageMixin
from labbook.store.models import (
    Envelope,
    FileInfo,
    KeySeries,
    MetricKeyInfo,
    ProjectInfo,
    RunInfo,
    RunRef,
)
from labbook.store.query import QueryBuilder, absent_field_notes, fields_of
from labbook.store.registry import RegistryMixin
from labbook.store.runedit import LAST_RUN_AT, RunEditMixin, project_info, project_infos
from labbook.store.schema import files, history_blocks, history_values, metric_keys, projects, runs
from labbook.store.table import TableMixin

if TYPE_CHECKING:
    from labbook.settings import Settings

_RUN_COLUMNS = (
    runs.c.run_id,
    runs.c.name,
    runs.c.state,
    runs.c.exit_code,
    runs.c.config,
    runs.c.summary,
    runs.c.tags,
    runs.c.notes,
    runs.c.group_name,
    runs.c.job_type,
    runs.c.meta,
    runs.c.created_at,
    runs.c.started_at,
    runs.c.finished_at,
    runs.c.heartbeat_at,
    runs.c.last_seq,
)


def _select_run(ref: RunRef, *columns: Any) -> Select[Any]:
    """``columns`` of the run ``ref`` names (a project's run ids are unique)."""
    return (
        select(*columns)
        .join(projects, projects.c.id == runs.c.project_id)
        .where(
            projects.c.entity == ref.entity,
            projects.c.name == ref.project,
            runs.c.run_id == ref.id,
        )
    )


@contextmanager
def _values_checked() -> Iterator[None]:
    """A value the database refuses is bad input (422), not a server fault (500).

    E.g. PostgreSQL refuses NUL characters in text and JSONB, wherever they come from: a run's
    notes, a key name, a filter value, a user name at login. Checking every such field before it
    reaches SQL would repeat the database's own rules in many places, and miss some.
    """
    try:
        yield
    except DataError as e:
        raise ValidationError(f"the database rejected a value: {e.orig}") from e


_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"


@contextmanager
def _room_checked() -> Iterator[None]:
    """A database that ran out of room is :class:`StorageFull` (507), not a traceback: the
    transaction rolled back, so nothing of it is stored and the caller may retry later. The
    message is the database's own (no file names: a server's answer must not show its paths)."""
    try:
        yield
    except OperationalError as e:
        orig = e.orig
        if (
            getattr(orig, "sqlite_errorcode", None) == _SQLITE_FULL
            or getattr(orig, "sqlstate", None) == _PG_DISK_FULL
        ):
            raise StorageFull(str(orig).strip() or "the database is full") from e
        raise


MAX_BUCKETS = 100_000
MAX_PAGE = 10_000


def _typed_stat(x: float | None, dtype: str | None) -> Any:
    if x is None:
        return None
    if dtype == "int" and math.isfinite(x):
        return int(x)
    if dtype == "bool" and not math.isnan(x):
        return bool(x)
    return x


def _int_arg(v: Any, name: str, lo: int, hi: int | None = None) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < lo or (hi is not None and v > hi):
        bound = f" and <= {hi}" if hi is not None else ""
        raise ValidationError(f"{name} must be an integer >= {lo}{bound}, got {v!r}")
    return v


def _opt_step(v: Any, name: str) -> int | None:
    if v is None:
        return None
    try:
        return hist.check_step(v, name)
    except (TypeError, OverflowError) as e:
        raise ValidationError(str(e)) from None


class Store(
    AccountsMixin,
    RunEditMixin,
    TableMixin,
    ChartMixin,
    ArtifactMixin,
    LineageMixin,
    RegistryMixin,
):
    """Runs, history and files over one SQLAlchemy engine (see the module docstring).

    Accounts (users, teams, keys, sessions) are in ``accounts.py``, project and run edits of the
    REST API in ``runedit.py``, the dashboard's project-wide reads in ``table.py`` and its
    many-run chart reads in ``charts.py``; all are mixed in here, so there is still one Store.
    """

    def __init__(
        self, url: str | URL, *, crash_after: float = 300.0, schema: str = DEFAULT_SCHEMA
    ) -> None:
        self.url = normalize_url(url)
        self.crash_after = float(crash_after)
        self.engine = make_engine(self.url, schema=schema)
        self.dialect = self.engine.dialect.name
        self.schema = engine_schema(self.engine)
        """The PostgreSQL schema holding the tables; None on SQLite."""

    @classmethod
    def open(
        cls, url: str | URL, *, crash_after: float = 300.0, schema: str = DEFAULT_SCHEMA
    ) -> Store:
        """A Store whose database exists and is migrated to the newest schema (on PostgreSQL:
        in ``schema``, created when missing)."""
        u = normalize_url(url)
        path = sqlite_file(u)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(u, crash_after=crash_after, schema=schema)
        try:
            with _room_checked():
                upgrade(store.engine)
        except BaseException:
            store.close()
            raise
        return store

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """``open`` with the database, schema and crash timeout of ``settings``."""
        return cls.open(
            settings.resolved_db_url(), crash_after=settings.crash_after, schema=settings.db_schema
        )

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url.render_as_string(hide_password=True)!r})"

    # ------------------------------------------------------------------------------ helpers
    @staticmethod
    def _now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def _cutoff(self, now: dt.datetime) -> dt.datetime:
        return now - dt.timedelta(seconds=self.crash_after)

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with _values_checked(), _room_checked(), self.engine.connect() as conn:
            conn = conn.execution_options(**{WRITE_OPTION: True})
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        # One transaction, so the several SELECTs of a read see one snapshot.
        with _values_checked(), self.engine.connect() as conn, conn.begin():
            yield conn

    @staticmethod
    def _project_id(conn: Connection, entity: str, project: str) -> int | None:
        q = select(projects.c.id).where(projects.c.entity == entity, projects.c.name == project)
        pid = conn.execute(q).scalar()
        return None if pid is None else int(pid)

    @staticmethod
    def _run_pk(conn: Connection, ref: RunRef) -> int:
        pk = conn.execute(_select_run(ref, runs.c.pk)).scalar()
        if pk is None:
            raise RunNotFound(f"run {ref} not found")
        return int(pk)

    def _run_info(self, row: Any, entity: str, project: str, cutoff: dt.datetime) -> RunInfo:
        m = row._mapping
        state = m["state"]
        hb = m["heartbeat_at"]
        if state == "running" and (hb is None or hb < cutoff):
            state = "crashed"
        return RunInfo(
            ref=RunRef(entity, project, m["run_id"]),
            name=m["name"],
            state=state,
            exit_code=m["exit_code"],
            config=dict(m["config"] or {}),
            summary=dict(m["summary"] or {}),
            tags=list(m["tags"] or []),
            notes=m["notes"],
            group=m["group_name"],
            job_type=m["job_type"],
            metadata=dict(m["meta"] or {}),
            created_at=m["created_at"],
            started_at=m["started_at"],
            finished_at=m["finished_at"],
            heartbeat_at=hb,
            last_seq=int(m["last_seq"]),
        )

    # ---------------------------------------------------------------------------- write path
    def ingest(self, ref: RunRef, records: Sequence[rk.AnyRecord]) -> int:
        """Apply a batch of journal records to a run in one transaction; see ``ingest.py``.

        Idempotent by seq: records at or below the stored last seq are skipped. Returns the stored
        last seq.
        """
        if not records:
            return self.last_seq(ref)
        with self._write() as conn:
            return ing.apply(conn, ref, records, self._now())

    def last_seq(self, ref: RunRef) -> int:
        with self._read() as conn:
            v = conn.execute(_select_run(ref, runs.c.last_seq)).scalar()
        return 0 if v is None else int(v)

    def count_runs(self, entity: str, project: str) -> int:
        with self._read() as conn:
            q = (
                select(func.count())
                .select_from(runs)
                .join(projects, projects.c.id == runs.c.project_id)
                .where(projects.c.entity == entity, projects.c.name == project)
            )
            return int(conn.execute(q).scalar_one())

    def merge_blocks(self, ref: RunRef) -> int:
        """Merge the run's small history blocks now (``exit`` does this on its own)."""
        with self._write() as conn:
            return blk.merge_run_blocks(conn, self._run_pk(conn, ref))

    # --------------------------------------------------------------------------------- reads
    def projects(self, entity: str | None = None) -> list[ProjectInfo]:
        """Projects (of one entity, or all), most recently active first."""
        q = project_infos().order_by(
            LAST_RUN_AT.desc().nulls_last(), projects.c.entity, projects.c.name
        )
        if entity is not None:
            q = q.where(projects.c.entity == entity)
        with self._read() as conn:
            return [project_info(row) for row in conn.execute(q).all()]

    def get_run(self, ref: RunRef) -> RunInfo:
        now = self._now()
        with self._read() as conn:
            row = conn.execute(_select_run(ref, *_RUN_COLUMNS)).first()
        if row is None:
            raise RunNotFound(f"run {ref} not found")
        return self._run_info(row, ref.entity, ref.project, self._cutoff(now))

    def list_runs(
        self,
        entity: str,
        project: str,
        *,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[RunInfo]:
        """A page of a project's runs; ``filters``/``order`` as described in ``query.py``."""
        _int_arg(limit, "limit", 1, MAX_PAGE)
        _int_arg(offset, "offset", 0)
        now = self._now()
        cutoff = self._cutoff(now)
        qb = QueryBuilder(self.dialect, cutoff)
        where = qb.where(filters)
        order_by = qb.order(order)
        with self._read() as conn:
            pid = self._project_id(conn, entity, project)
            if pid is None:
                raise ProjectNotFound(f"project {entity}/{project} not found")
            q = (
                select(*_RUN_COLUMNS)
                .where(runs.c.project_id == pid, where)
                .order_by(*order_by)
                .limit(limit)
                .offset(offset)
            )
            rows = conn.execute(q).all()
        return [self._run_info(r, entity, project, cutoff) for r in rows]

    def absent_fields(
        self,
        entity: str,
        project: str,
        *,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
    ) -> list[str]:
        """Messages for the fields of ``filters``/``order`` that no run of the project has (a
        typo'd key otherwise gives an empty or unsorted table and no reason); see ``query.py``.
        """
        roots = ("config.", "summary.", "summary_metrics.", "metrics.")
        names = [n for n in fields_of(filters, order) if n.startswith(roots)]
        if not names:  # run attributes always exist
            return []
        with self._read() as conn:
            pid = self._project_id(conn, entity, project)
            if pid is None:
                raise ProjectNotFound(f"project {entity}/{project} not found")
            return absent_field_notes(conn, self.dialect, pid, f"{entity}/{project}", names)

    def metric_keys(self, ref: RunRef) -> list[MetricKeyInfo]:
        mk = metric_keys
        with self._read() as conn:
            pk = self._run_pk(conn, ref)
            rows = conn.execute(select(mk).where(mk.c.run_pk == pk).order_by(mk.c.key)).all()
        out = []
        for r in rows:
            sd = r.scalar_dtype
            last = r.last_json
            if r.last_is_scalar and last is None:  # not expected; the float is the fallback
                last = _typed_stat(r.last, sd)
            out.append(
                MetricKeyInfo(
                    key=r.key,
                    dtype=sd or r.other_dtype or "float",
                    last=last,
                    min=_typed_stat(r.min, sd) if sd else None,
                    max=_typed_stat(r.max, sd) if sd else None,
                    count=int(r._mapping["count"]),
                    last_step=None if r.last_step is None else int(r.last_step),
                )
            )
        return out

    def history(
        self,
        ref: RunRef,
        keys: Sequence[str] | None = None,
        *,
        step_min: int | None = None,
        step_max: int | None = None,
    ) -> dict[str, KeySeries]:
        """Every point of the asked keys (all keys by default), in step order, never sampled.

        Numeric keys come back as float64/int64/bool arrays; keys holding text, None or objects
        as object arrays. Keys the run never logged are left out. Steps are inclusive bounds.
        """
        smin = _opt_step(step_min, "step_min")
        smax = _opt_step(step_max, "step_max")
        if isinstance(keys, str):
            keys = [keys]
        mk, hb, hv = metric_keys, history_blocks, history_values
        with self._read() as conn:
            pk = self._run_pk(conn, ref)
            q = select(mk.c.id, mk.c.key, mk.c.scalar_dtype, mk.c.count, mk.c.scalar_count).where(
                mk.c.run_pk == pk
            )
            krows: list[Any] = []
            if keys is None:
                krows = list(conn.execute(q))
            else:
                for part in blk.chunks(sorted(set(keys))):
                    krows.extend(conn.execute(q.where(mk.c.key.in_(part))))
            by_id = {int(r.id): r for r in krows}
            blocks: dict[int, list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = {}
            scalar_ids = [i for i, r in by_id.items() if r.scalar_count]
            for part in blk.chunks(scalar_ids):
                bq = select(*blk.BLOCK_COLUMNS).where(hb.c.key_id.in_(part))
                if smin is not None:
                    bq = bq.where(hb.c.step_hi >= smin)
                if smax is not None:
                    bq = bq.where(hb.c.step_lo <= smax)
                # Ordered here, not by SQL: SQLite would copy every blob through its sorter.
                brows = sorted(blk.fetch_plain(conn, bq), key=lambda r: (r.key_id, r.id))
                for r in brows:
                    kid = int(r.key_id)
                    blocks.setdefault(kid, []).append(blk.block_points(r, by_id[kid].scalar_dtype))
            others: dict[int, tuple[list[int], list[float], list[Any]]] = {}
            other_ids = [i for i, r in by_id.items() if r._mapping["count"] > r.scalar_count]
            for part in blk.chunks(other_ids):
                vq = select(hv.c.key_id, hv.c.step, hv.c.ts, hv.c.value).where(
                    hv.c.key_id.in_(part)
                )
                if smin is not None:
                    vq = vq.where(hv.c.step >= smin)
                if smax is not None:
                    vq = vq.where(hv.c.step <= smax)
                for vr in conn.execute(vq.order_by(hv.c.key_id, hv.c.id)):
                    o = others.setdefault(int(vr.key_id), ([], [], []))
                    o[0].append(int(vr.step))
                    o[1].append(math.nan if vr.ts is None else float(vr.ts))
                    o[2].append(vr.value)
        out: dict[str, KeySeries] = {}
        for kid, krow in sorted(by_id.items(), key=lambda kv: kv[1].key):
            series = self._series(krow.scalar_dtype, blocks.get(kid, []), others.get(kid))
            if smin is not None or smax is not None:
                lo = smin if smin is not None else hist.I64_MIN
                hi = smax if smax is not None else hist.I64_MAX
                m = (series.steps >= lo) & (series.steps <= hi)
                if not bool(m.all()):
                    series = KeySeries(series.steps[m], series.values[m], series.times[m])
            out[krow.key] = series
        return out

    def history_page(
        self,
        ref: RunRef,
        keys: Sequence[str] | None = None,
        *,
        limit: int,
        step_min: int | None = None,
        step_max: int | None = None,
    ) -> tuple[dict[str, KeySeries], int | None]:
        """At most ``limit`` distinct steps of :meth:`history` from ``step_min`` on, and the step
        the next page starts at (None when nothing is left): one page of the REST API's history.

        What is decoded is bounded by the page, not by the rest of the run. Block statistics give
        a step by which some asked key has ``limit`` points, and only blocks up to it are read;
        reading every later block for each page made paging a 10M-point series quadratic.
        """
        _int_arg(limit, "limit", 1)
        smin = _opt_step(step_min, "step_min")
        smax = _opt_step(step_max, "step_max")
        if isinstance(keys, str):
            keys = [keys]
        bound, after = self._page_bound(ref, keys, smin, smax, limit)
        hi = smax if bound is None else bound
        series = self.history(ref, keys, step_min=smin, step_max=hi)
        steps = hist.union_steps([s.steps for s in series.values() if len(s.steps)])
        if len(steps) > limit:
            cut = int(steps[limit - 1])
            for k, s in list(series.items()):
                if len(s.steps) and s.steps[-1] > cut:
                    n = int(np.searchsorted(s.steps, cut, side="right"))
                    series[k] = KeySeries(s.steps[:n], s.values[:n], s.times[:n])
            return series, int(steps[limit])
        return series, after

    def _page_bound(
        self,
        ref: RunRef,
        keys: Sequence[str] | None,
        smin: int | None,
        smax: int | None,
        limit: int,
    ) -> tuple[int | None, int | None]:
        """(a step by which one of ``keys`` has ``limit`` points from ``smin``, the first step
        after it that holds data); (None, None) when the rest of the range is under ``limit``."""
        mk, hb, hv = metric_keys, history_blocks, history_values
        with self._read() as conn:
            pk = self._run_pk(conn, ref)
            q = select(mk.c.id, mk.c.count, mk.c.scalar_count).where(mk.c.run_pk == pk)
            krows: list[Any] = []
            if keys is None:
                krows = list(conn.execute(q))
            else:
                for part in blk.chunks(sorted(set(keys))):
                    krows.extend(conn.execute(q.where(mk.c.key.in_(part))))
            scalar_ids = [int(r.id) for r in krows if r.scalar_count]
            other_ids = [int(r.id) for r in krows if r._mapping["count"] > r.scalar_count]
            spans: list[tuple[int, int]] = []  # (step_lo, step_hi) of every candidate block
            bounds: list[int] = []
            for part in blk.chunks(scalar_ids):
                bq = select(hb.c.key_id, hb.c.step_lo, hb.c.step_hi, hb.c.stride, hb.c.count).where(
                    hb.c.key_id.in_(part)
                )
                if smin is not None:
                    bq = bq.where(hb.c.step_hi >= smin)
                if smax is not None:
                    bq = bq.where(hb.c.step_lo <= smax)
                seen: dict[int, int] = {}
                for r in sorted(conn.execute(bq), key=lambda r: (r.key_id, r.step_lo)):
                    lo, hi, n = int(r.step_lo), int(r.step_hi), int(r._mapping["count"])
                    spans.append((lo, hi))
                    if smin is not None and lo < smin:  # only the points from smin on count
                        if r.stride:
                            n -= -(-(smin - lo) // int(r.stride))
                        else:  # an estimate: it only changes how full the page is
                            n = max(1, n * (hi - smin + 1) // (hi - lo + 1))
                    before = seen.get(r.key_id, 0)
                    seen[r.key_id] = before + n
                    if before < limit <= seen[r.key_id]:
                        bounds.append(int(r.step_hi))
            for kid in other_ids:
                vq = select(hv.c.step).where(hv.c.key_id == kid)
                if smin is not None:
                    vq = vq.where(hv.c.step >= smin)
                if smax is not None:
                    vq = vq.where(hv.c.step <= smax)
                nth = conn.execute(vq.order_by(hv.c.step).offset(limit - 1).limit(1)).scalar()
                if nth is not None:
                    bounds.append(int(nth))
            if not bounds:
                return None, None
            bound = min(bounds)
            if smax is not None and bound >= smax:
                return None, None
            # A block reaching past the bound may hold bound + 1; else the next data starts where
            # the first later block or value does.
            later = [lo if lo > bound else bound + 1 for lo, h in spans if h > bound]
            for part in blk.chunks(other_ids):
                vq = select(func.min(hv.c.step)).where(hv.c.key_id.in_(part), hv.c.step > bound)
                if smax is not None:
                    vq = vq.where(hv.c.step <= smax)
                v = conn.execute(vq).scalar()
                if v is not None:
                    later.append(int(v))
        return bound, (min(later) if later else None)

    @staticmethod
    def _series(
        dtype: str | None,
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
        other: tuple[list[int], list[float], list[Any]] | None,
    ) -> KeySeries:
        if parts:
            steps, values, times = hist.concat_points(parts)
        else:
            steps = np.empty(0, np.int64)
            values = np.empty(0, hist.DTYPES[dtype or "float"])
            times = np.empty(0, np.float64)
        if not other:
            return KeySeries(steps, values, times)
        o_steps = np.array(other[0], np.int64)
        o_times = np.array(other[1], np.float64)
        o_vals = np.empty(len(other[2]), dtype=object)
        for i, v in enumerate(other[2]):
            o_vals[i] = v
        if len(steps):
            s_vals = np.empty(len(values), dtype=object)
            for i, v in enumerate(values.tolist()):
                s_vals[i] = v
            o_steps = np.concatenate((steps, o_steps))
            o_vals = np.concatenate((s_vals, o_vals))
            o_times = np.concatenate((times, o_times))
        o_steps, o_vals, o_times = hist.sort_by_step(o_steps, o_vals, o_times)
        return KeySeries(o_steps, o_vals, o_times)

    def history_envelope(
        self,
        ref: RunRef,
        key: str,
        buckets: int = 1000,
        *,
        step_min: int | None = None,
        step_max: int | None = None,
        times: bool = False,
    ) -> Envelope:
        """Per-bucket first/last/min/max/count of a numeric key over a step range.

        The range defaults to the key's first and last step. Computed from block and sub-block
        statistics; only the blocks around narrow buckets' edges are decoded (see
        ``envelope.py``). ``times`` adds each bucket's first and last point's wall times
        (``first_time``/``last_time``; empty without): free where nothing is decoded, and about
        doubling the cost of what is.
        Blocks written before the sub-block statistics existed are decoded once and their
        statistics stored after the read (best effort: a database that cannot take the write now
        answers the same, only slower, next time too).
        """
        _int_arg(buckets, "buckets", 1, MAX_BUCKETS)
        smin = _opt_step(step_min, "step_min")
        smax = _opt_step(step_max, "step_max")
        mk = metric_keys
        with self._read() as conn:
            pk = self._run_pk(conn, ref)
            krow = conn.execute(
                select(
                    mk.c.id, mk.c.scalar_dtype, mk.c.other_dtype, mk.c.first_step, mk.c.max_step
                ).where(mk.c.run_pk == pk, mk.c.key == key)
            ).first()
            if krow is None:
                raise NotFoundError(f"run {ref} has no metric {key!r}")
            if krow.scalar_dtype is None:
                raise UsageError(
                    f"metric {key!r} holds {krow.other_dtype} values; envelopes need numbers"
                )
            lo = int(krow.first_step) if smin is None else smin
            hi = int(krow.max_step) if smax is None else smax
            if hi < lo:
                return envelope.empty_envelope(lo, hi, buckets)
            eb = envelope_db.envelope_blocks(conn, int(krow.id), lo, hi, buckets, times=times)
            out = envelope.compute_envelope(eb.stats, eb.load, lo, hi, buckets, times=times)
        if eb.computed:
            self._backfill_stats(eb.computed)
        return out

    def _backfill_stats(self, computed: list[dict[str, Any]]) -> None:
        """Store the statistics an envelope computed for blocks that had none, after its read."""
        try:
            with self._write() as conn:
                envelope_db.backfill_stats(conn, computed)
        except (OperationalError, IntegrityError, StorageFull):
            pass  # read-only, locked, full, or the block went away meanwhile: next time

    def files(self, ref: RunRef) -> list[FileInfo]:
        with self._read() as conn:
            pk = self._run_pk(conn, ref)
            rows = conn.execute(
                select(files.c.path, files.c.sha256, files.c.size, files.c.updated_at)
                .where(files.c.run_pk == pk)
                .order_by(files.c.path)
            ).all()
        return [FileInfo(r.path, r.sha256, int(r.size), r.updated_at) for r in rows]
