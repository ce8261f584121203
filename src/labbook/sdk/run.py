"""The ``Run`` a training script holds: ``log``, ``config``, ``summary``, ``save``, ``finish``.

Only :meth:`Run.log` is on the hot path. It validates and flattens the values (raising on the
training thread, naming the key) and appends one record to the journal writer's deque; all I/O
happens on the writer and sender threads.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from labbook import limits, records
from labbook.data.values import (
    ROW_KEY_BYTES,
    check_row_size,
    check_text,
    clean_mapping,
    flatten_into,
)
from labbook.errors import UsageError
from labbook.limits import MAX_RECORD_BYTES
from labbook.sdk.config import Config
from labbook.sdk.journal import JournalWriter, RunDir, release_lock
from labbook.sdk.run_artifacts import RunArtifactsMixin
from labbook.sdk.sender import Sender
from labbook.sdk.summary import Summary
from labbook.settings import Settings

if TYPE_CHECKING:
    from labbook.sdk.metric_defs import MetricDef, MetricDefs

MAX_CODE_FILES = 1000
_NOT_CODE_DIRS = frozenset(
    {"__pycache__", "node_modules", "site-packages", "venv", "env", "labbook", "wandb", "mlruns"}
)


def _skipped_code_dir(path: Path) -> bool:
    """Folders ``log_code`` never searches: hidden ones, environments, caches, run folders."""
    return (
        path.name.startswith(".")
        or path.name in _NOT_CODE_DIRS
        or (path / "pyvenv.cfg").is_file()
        or path.is_symlink()
    )


class Run(RunArtifactsMixin):
    """One tracked run. Created by :func:`labbook.init`, never directly."""

    def __init__(
        self,
        *,
        settings: Settings,
        run_id: str,
        name: str,
        project: str,
        entity: str | None,
        run_dir: RunDir,
        writer: JournalWriter,
        sender: Sender | None,
        lock_fd: int | None,
        config: dict[str, Any],
        tags: list[str],
        notes: str | None,
        group: str | None,
        job_type: str | None,
        started: float,
        start_step: int = 0,
        summary: dict[str, Any] | None = None,
        console: Any = None,
        on_finish: Any = None,
        resumed: bool = False,
    ) -> None:
        self.settings = settings
        self.id = run_id
        self._name = name
        self.project = project
        self._entity = entity
        self._run_dir = run_dir
        self._writer = writer
        self._put = writer.putter
        self._sender = sender
        self._lock_fd = lock_fd
        self._tags = list(tags)
        self._notes = notes
        self.group = group
        self.job_type = job_type
        self.start_time = started
        self._step = start_step
        self._pending: dict[str, Any] | None = None
        self._pending_size = 0
        self._known_keys: set[str] = set()
        self._summary_data: dict[str, Any] = dict(summary or {})
        self.summary = Summary(self._summary_data, self._on_summary_write)
        self.config = Config(config, self._on_config_change)
        self._console = console
        self._on_finish = on_finish
        self._warned_step = False
        self._media_files: set[str] = set()
        self._metric_defs: MetricDefs | None = None  # None until define_metric: log() checks it
        self._finished = False
        self._finish_lock = threading.Lock()
        self._resumed = resumed
        self._artifacts_init()

    # ----- identity ----------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._name

    @name.setter
    def name(self, value: str) -> None:
        self._name = check_text("name", str(value))
        self._put({"t": records.UPDATE, "name": self._name})

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(self._tags)

    @tags.setter
    def tags(self, value: Any) -> None:
        self._tags = [check_text("tag", str(t)) for t in value]
        self._put({"t": records.UPDATE, "tags": list(self._tags)})

    @property
    def notes(self) -> str | None:
        return self._notes

    @notes.setter
    def notes(self, value: str | None) -> None:
        self._notes = None if value is None else check_text("notes", str(value), None)
        self._put({"t": records.UPDATE, "notes": value})

    @property
    def entity(self) -> str:
        """The user or team the run belongs to; ``""`` while a server that was down at ``init``
        has not said whose API key this is (the sender asks before the first upload)."""
        return self._entity or ""

    def _entity_known(self, entity: str) -> None:
        self._entity = entity

    @property
    def path(self) -> str:
        return f"{self.entity or '-'}/{self.project}/{self.id}"

    @property
    def dir(self) -> str:
        """Files written here are uploaded when the run finishes (wandb's ``run.dir``)."""
        return str(self._run_dir.files)

    @property
    def url(self) -> str:
        """The run's page in the dashboard: on the server the run goes to, else what
        ``labbook ui`` serves over the local store (``http://127.0.0.1:<LABBOOK_PORT, 8080>``)."""
        base = (self.settings.base_url or f"http://127.0.0.1:{self.settings.port}").rstrip("/")
        return f"{base}/{self.entity or '-'}/{self.project}/runs/{self.id}"

    @property
    def step(self) -> int:
        return self._step

    @property
    def offline(self) -> bool:
        return self._sender is None

    @property
    def journal_dir(self) -> Path:
        return self._run_dir.path

    def started_line(self) -> str:
        """What ``init`` prints: the run's name and where its records go."""
        what = f"{'resumed run' if self._resumed else 'run'} {self.name}"
        if self._sender is None:
            return (
                f"{what} → offline journal {self._run_dir.path} "
                f"(upload it with `labbook sync {self._run_dir.path}`)"
            )
        if self.settings.base_url is not None:
            return f"{what} → {self.url}"
        return f"{what} → {_store_place(self.settings)}; {self.url} (`labbook ui` serves it)"

    def _finished_line(self, state: str, code: int) -> str:
        """What ``finish`` prints: state, length, and the first few scalar metrics' last values."""
        took = _duration(time.time() - self.start_time)
        rows = self._step
        what = f"run {self.name} {state}" + (f" (exit code {code})" if code else "")
        shown = [
            f"{k} {v:.4g}"
            for k, v in self._summary_data.items()
            if type(v) in (float, int) and not k.startswith(("_", "system/"))
        ][:4]
        return " · ".join([f"{what} after {took}", f"{rows} step{'s' * (rows != 1)}", *shown])

    # ----- logging -----------------------------------------------------------------------------
    def log(
        self,
        data: Mapping[str, Any],
        step: int | None = None,
        commit: bool | None = None,
        sync: bool | None = None,
    ) -> None:
        """Record one row of metrics.

        Without ``step`` each call is a row and advances the step; ``commit=False`` merges into the
        row being built. With ``step``, calls at the same step merge, a higher step starts a new
        row, and a lower one is dropped with a single warning (wandb's semantics). ``sync`` is
        accepted for wandb's sake and changes nothing: ``log()`` never waits for I/O.
        """
        if self._finished:
            raise UsageError(f"run {self.id} is finished; call labbook.init() for a new run")
        row: dict[str, Any] = {}
        refs: list[str] = []
        if type(data) is dict or isinstance(data, Mapping):
            # Keys are checked once each (known keys); their count, with the row's size.
            size = flatten_into(row, data, "", refs, self._known_keys)
        else:
            raise TypeError(f"log() takes a dict of metrics, not {type(data).__name__}")
        if step is not None:
            if type(step) is not int:
                step = _as_step(step)
            if step < self._step:
                if not self._warned_step:
                    self._warned_step = True
                    warnings.warn(
                        f"labbook: step {step} is lower than the current step {self._step}; "
                        "dropping this data (logged steps must not decrease)",
                        stacklevel=2,
                    )
                return
            if size + len(row) * ROW_KEY_BYTES > MAX_RECORD_BYTES:
                check_row_size(row, size)  # before the step moves: a refused row changes nothing
            if step > self._step:
                if self._pending is not None:
                    self._commit()
                self._step = step
            if refs:
                self._resolve_refs(row, refs)
            self._add(row, size)
            if commit:
                self._commit()
            return
        if refs:
            self._resolve_refs(row, refs)
        if self._pending is None and size + len(row) * ROW_KEY_BYTES <= MAX_RECORD_BYTES:
            self._pending = row  # the common case, without _add's call
            self._pending_size = size
        else:
            self._add(row, size)
        if commit is False:
            return
        self._commit()

    def _add(self, row: dict[str, Any], size: int) -> None:
        """Make ``row`` the pending row, or merge it into the pending one (same step).

        ``size``: the bytes of the row's strings and lists (``flatten_into``). A merged row is one
        record too, so it must stay within ``MAX_ROW_KEYS`` and ``MAX_RECORD_BYTES``; it is only
        measured when the running estimate could pass them.
        """
        pending = self._pending
        if pending is None:
            if size + len(row) * ROW_KEY_BYTES > MAX_RECORD_BYTES:
                check_row_size(row, size)
            self._pending = row
            self._pending_size = size
            return
        total = self._pending_size + size
        n = len(pending) + len(row)
        if total + n * ROW_KEY_BYTES > MAX_RECORD_BYTES:  # a bound past MAX_ROW_KEYS too
            check_row_size({**pending, **row}, total)
        pending.update(row)
        self._pending_size = total

    def _resolve_refs(self, row: dict[str, Any], keys: list[str]) -> None:
        """Replace media values by their references at the row's step (``self._step``).

        Encoding and hashing happen here, on the training thread; the bytes ride on ``file``
        records to the journal writer, which writes them under ``run.dir`` before journaling
        the records (so the sink uploads them like any run file). Files go to the writer before
        the history row that references them.
        """
        step = self._step
        puts: list[records.Record] = []
        for key in keys:
            value = row[key]
            try:
                ref, files = value._to_history(key, step)
            except (TypeError, ValueError) as exc:
                raise type(exc)(f"cannot log key {key!r}: {exc}") from exc
            row[key] = ref
            for path, digest, data in files:
                puts.append(
                    {
                        "t": records.FILE,
                        "path": path,
                        "sha256": digest,
                        "size": len(data),
                        "_bytes": data,
                    }
                )
        for rec in puts:
            self._media_files.add(rec["path"])
            self._put(rec)

    def _commit(self) -> None:
        row = self._pending
        self._pending = None
        if row is None:
            return
        ts = time.time()
        self._put(records.HistoryRow(self._step, ts, ts - self.start_time, row))
        self._summary_data.update(row)
        if self._metric_defs is not None:
            self._apply_metric_defs(self._metric_defs, row)
        self._step += 1
        if not self._step & 1023 and self._sender is not None:
            self._pace()

    def _pace(self) -> None:
        """Every 1024 rows: when the sender is far behind, give it the GIL for a millisecond.

        CPython hands the GIL over every 5 ms, and a thread that releases it (every syscall the
        sender makes: SQLite statements, file reads, even its imports while the store opens)
        waits up to that long to get it back while this thread logs in a tight loop. A loop
        logging hundreds of thousands of rows a second then starves the sender: a 10M-point
        run's finish() waited 51 s for it, holding the backlog in memory. Yielding only when more
        than ``PACE_BACKLOG`` records wait bounds both, and costs nothing to a loop the sender
        keeps up with (every real training loop: a step's compute outlasts its log()).
        """
        sender = self._sender
        if sender is not None and sender.behind(self._writer.last_seq + self._writer.waiting):
            time.sleep(0.001)

    def _apply_metric_defs(self, defs: MetricDefs, row: dict[str, Any]) -> None:
        """The summary writes ``define_metric`` asks for, journaled right after their row."""
        writes, removed = defs.observe(row)
        if not writes and not removed:
            return
        rec: dict[str, Any] = {"t": records.SUMMARY, "u": writes}
        if removed:
            rec["del"] = removed
            for key in removed:
                self._summary_data.pop(key, None)
        self._summary_data.update(writes)
        self._put(rec)

    def define_metric(
        self,
        name: str,
        step_metric: str | None = None,
        step_sync: bool | None = None,
        hidden: bool | None = None,
        summary: str | None = None,
        goal: str | None = None,
        overwrite: bool | None = None,
    ) -> MetricDef:
        """Say what ``name``'s summary holds and which metric is its x-axis (wandb's call).

        ``summary`` is a comma-separated list of ``min``, ``max``, ``mean``, ``best`` (with
        ``goal="minimize"`` or ``"maximize"``), ``last`` or ``none``: the run's summary then
        holds ``{"min": ..., ...}`` for the key instead of its last value. A trailing ``*`` in
        ``name`` matches every key with that prefix. ``step_sync`` is accepted for wandb's
        sake: rows always carry every key logged with them.
        """
        for what, key in (("define_metric name", name), ("step_metric", step_metric)):
            # A name no key can have would be refused later, with the metadata record it is in.
            bare = key.rstrip("*") if isinstance(key, str) else ""
            problem = limits.key_problem(bare) if bare else None
            if problem is not None:
                raise ValueError(f"{what} {limits.shorten(bare)!r}: {problem}")
        if self._metric_defs is None:
            from labbook.sdk.metric_defs import MetricDefs

            self._metric_defs = MetricDefs()
        d = self._metric_defs.define(name, step_metric, summary, goal, hidden, overwrite)
        defs = [x.as_record() for x in self._metric_defs.defs.values()]
        self._put({"t": records.META, "m": {"metric_definitions": defs}})
        return d

    # ----- config and summary callbacks ---------------------------------------------------------
    def _on_config_change(self, changed: dict[str, Any]) -> None:
        clean = clean_mapping("config", changed)
        changed.update(clean)
        self._put({"t": records.CONFIG, "u": clean})

    def _on_summary_write(self, values: dict[str, Any], deleted: list[str]) -> dict[str, Any]:
        clean = clean_mapping("summary", values)
        rec: dict[str, Any] = {"t": records.SUMMARY, "u": clean}
        if deleted:
            rec["del"] = list(deleted)
        self._put(rec)
        return clean

    # ----- files -------------------------------------------------------------------------------
    def save(
        self, glob_str: str | os.PathLike[str], base_path: str | None = None, policy: str = "live"
    ) -> list[str]:
        """Make files part of the run: linked into ``run.dir`` now, uploaded when the run ends.

        Paths keep their layout relative to ``base_path`` (default: the glob's directory part).
        """
        if policy not in ("live", "now", "end"):
            raise UsageError(f"save policy must be 'live', 'now' or 'end', not {policy!r}")
        import glob
        import shutil

        pattern = os.fspath(glob_str)
        base = Path(base_path) if base_path else Path(os.path.dirname(pattern) or ".")
        saved = []
        for match in sorted(glob.glob(pattern, recursive=True)):
            src = Path(match)
            if not src.is_file():
                continue
            try:
                rel = src.resolve().relative_to(base.resolve())
            except ValueError:
                rel = Path(src.name)
            dest = self._run_dir.files / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            if dest.resolve() == src.resolve():
                saved.append(rel.as_posix())
                continue
            dest.unlink(missing_ok=True)
            try:
                dest.symlink_to(src.resolve())
            except OSError:
                shutil.copy2(src, dest)
            saved.append(rel.as_posix())
        return saved

    def log_code(
        self,
        root: str | os.PathLike[str] = ".",
        name: str | None = None,
        include_fn: Any = None,
        exclude_fn: Any = None,
    ) -> list[str]:
        """Copy the source files under ``root`` into the run (``code/...``), as they are now.

        wandb's call: ``include_fn(path)`` picks files (default: ``*.py``), ``exclude_fn(path)``
        drops some; hidden folders, virtual environments, caches and labbook's and wandb's run
        folders are never searched. A copy, not a link: the code the run ran, not a later edit.
        Returns the paths saved, relative to ``run.dir``. ``name`` (wandb's name for its code
        artifact) is accepted and unused: the files are part of the run.
        """
        base = Path(root).resolve()
        if not base.is_dir():
            raise UsageError(f"log_code: {root!r} is not a directory")
        include = include_fn if include_fn is not None else (lambda p: str(p).endswith(".py"))
        saved: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not _skipped_code_dir(Path(dirpath, d)))
            for fname in sorted(filenames):
                src = Path(dirpath, fname)
                if not include(str(src)) or (exclude_fn is not None and exclude_fn(str(src))):
                    continue
                if len(saved) >= MAX_CODE_FILES:
                    warnings.warn(
                        f"labbook: log_code keeps at most {MAX_CODE_FILES} files", stacklevel=2
                    )
                    return saved
                rel = self._copy_code(src, src.relative_to(base))
                if rel is not None:
                    saved.append(rel)
        return saved

    def _copy_code(self, src: Path, rel: Path) -> str | None:
        """Copy ``src`` to ``code/<rel>`` in the run; the run-relative path, None if unreadable."""
        dest_rel = Path("code", rel)
        dest = self._run_dir.files / dest_rel
        import shutil

        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
        except OSError:
            return None
        return dest_rel.as_posix()

    def _record_files(self) -> None:
        from labbook.blobs import sha256_file

        root = self._run_dir.files
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root).as_posix()
            if rel in self._media_files:
                continue  # recorded (with its hash) when it was logged
            try:
                digest, size = sha256_file(path)
            except OSError as exc:
                print(f"labbook: cannot read {path} for upload: {exc}", file=sys.__stderr__)
                continue
            self._put(
                {
                    "t": records.FILE,
                    "path": rel,
                    "sha256": digest,
                    "size": size,
                }
            )

    def _write_run_files(self) -> None:
        from labbook.sdk import yamlout

        files = self._run_dir.files
        with contextlib.suppress(OSError, ValueError):
            (files / "config.yaml").write_text(yamlout.dump(self.config.as_dict()))
        with contextlib.suppress(OSError, TypeError, ValueError):
            (files / "summary.json").write_text(
                json.dumps(self._summary_data, sort_keys=True, default=str, allow_nan=True)
            )

    # ----- end of the run ----------------------------------------------------------------------
    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        """End the run: flush, fsync, wait for the upload at most ``finish_timeout`` seconds."""
        with self._finish_lock:
            if self._finished:
                return
            self._finished = True
        code = 0 if exit_code is None else int(exit_code)
        if self._pending is not None:
            self._commit()
        if self._console is not None:
            with contextlib.suppress(Exception):
                self._console.stop()
        self._writer.stop_ticks()
        self._write_run_files()
        self._record_files()
        ts = time.time()
        self._put(
            {
                "t": records.EXIT,
                "code": code,
                "ts": ts,
                "state": "finished" if code == 0 else "failed",
            }
        )
        self._writer.close()
        journaled = self._writer.report()
        if journaled.lost:  # data loss is said even when silent
            print(
                f"labbook: run {self.id}: {journaled.lost:,} records are lost "
                f"({journaled.error}): {journaled.describe()}. The journal "
                f"{self._run_dir.journal} holds the other {journaled.written:,}.",
                file=sys.__stderr__,
            )
        if not self.settings.silent:
            print(
                f"labbook: {self._finished_line('finished' if code == 0 else 'failed', code)}",
                file=sys.__stderr__,
            )
        if self._sender is not None:
            # Only what reached the file can be uploaded: wait for that, not for lost records.
            done = self._sender.finish(journaled.last_written_seq, self.settings.finish_timeout)
            self._sender.close()
            if self._sender.rejected and not self.settings.silent:
                print(
                    f"labbook: {self._sender.rejected} record(s) of run {self.id} were refused "
                    f"and set aside; they are listed in {self._sender.rejected_path}",
                    file=sys.__stderr__,
                )
            if not done and not self.settings.silent:
                reason = f" ({self._sender.last_error})" if self._sender.last_error else ""
                print(
                    f"labbook: run {self.id} was not fully uploaded within "
                    f"{self.settings.finish_timeout:g}s{reason}; the rest is in the journal. "
                    f"Upload it with:\n  labbook sync {self._run_dir.path}",
                    file=sys.__stderr__,
                )
        self._finish_artifacts()
        release_lock(self._lock_fd)
        self._lock_fd = None
        if self._on_finish is not None:
            self._on_finish(self)

    def join(self, exit_code: int | None = None) -> None:
        self.finish(exit_code)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(exit_code=1 if exc_type is not None else 0)

    def __repr__(self) -> str:
        return f"<Run {self.path} ({self.name})>"


def _store_place(s: Settings) -> str:
    """The local store, as a user would find it: its folder, or its database without password."""
    if not s.db_url:
        return f"local store {s.expanded_dir()}"
    url = s.db_url
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        creds, _, host = rest.partition("@")
        url = f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return f"store {url}"


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _as_step(step: Any) -> int:
    try:
        if isinstance(step, bool) or int(step) != step:
            raise ValueError
        return int(step)
    except (TypeError, ValueError):
        raise TypeError(f"step must be an integer, got {step!r}") from None
