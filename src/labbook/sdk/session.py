"""``labbook.init`` and the process's active run.

wandb's API has one active run per process (``wandb.run``, ``wandb.log``); this module is where
that single piece of process state lives, so nothing else needs globals.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from labbook import records
from labbook.client.credentials import server_settings
from labbook.errors import (
    AuthenticationError,
    LabbookError,
    NotFoundError,
    PermissionDenied,
    RateLimited,
    UsageError,
    ValidationError,
)
from labbook.sdk import capture
from labbook.sdk.config import Config, config_input
from labbook.sdk.journal import JournalWriter, RunDir
from labbook.sdk.names import run_id as new_run_id
from labbook.sdk.names import run_name
from labbook.sdk.run import Run
from labbook.sdk.sender import Sender
from labbook.sdk.sinks import LocalSink
from labbook.sdk.system import SystemMonitor
from labbook.sdk.values import plain
from labbook.settings import Settings, local_entity
from labbook.store import RunRef

if TYPE_CHECKING:  # httpx is imported only when a server is configured
    from labbook.client import Client as HttpClient
    from labbook.sdk.http import HttpSink

_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class DisabledRun:
    """What ``mode="disabled"`` returns: every call works, nothing is written anywhere."""

    def __init__(self, config: dict[str, Any], name: str | None, project: str) -> None:
        self.id = "disabled"
        self.name = name or "disabled"
        self.project = project
        self.entity = "disabled"
        self.config = Config(config)
        self.summary: dict[str, Any] = {}
        self.tags: tuple[str, ...] = ()
        self.notes: str | None = None
        self.dir = ""
        self.url = ""
        self.path = ""
        self.offline = True
        self.step = 0

    def log(self, data: Any, step: int | None = None, commit: bool | None = None, **_: Any) -> None:
        return None

    def save(self, *args: Any, **kwargs: Any) -> list[str]:
        return []

    def define_metric(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def log_code(self, *args: Any, **kwargs: Any) -> list[str]:
        return []

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        _SESSION.clear(self)

    join = finish

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish()


class _Session:
    """The active run, plus the hooks that finish it when the interpreter exits."""

    def __init__(self) -> None:
        self.run: Run | DisabledRun | None = None
        self.lock = threading.RLock()
        self._hooked = False
        self._failed = False

    def set(self, run: Run | DisabledRun) -> None:
        with self.lock:
            self.run = run
            if not self._hooked:
                self._hooked = True
                atexit.register(self._atexit)
                previous = sys.excepthook

                def hook(
                    et: type[BaseException], e: BaseException, tb: TracebackType | None
                ) -> None:
                    self._failed = True
                    previous(et, e, tb)

                sys.excepthook = hook

    def clear(self, run: Any) -> None:
        with self.lock:
            if self.run is run:
                self.run = None

    def _atexit(self) -> None:
        run = self.run
        if run is not None:
            run.finish(exit_code=1 if self._failed else 0)


_SESSION = _Session()


def active_run() -> Run | DisabledRun | None:
    return _SESSION.run


def _check_name(kind: str, value: str) -> str:
    if not _NAME_RE.match(value):
        raise ValidationError(
            f"{kind} name {value!r} is invalid: use 1-128 letters, digits, '_', '-' or '.'"
        )
    return value


def init(
    project: str | None = None,
    entity: str | None = None,
    config: Any = None,
    name: str | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    dir: str | Path | None = None,
    id: str | None = None,
    resume: bool | str | None = None,
    reinit: bool | None = None,
    settings: Settings | None = None,
    save_code: bool | None = None,
    config_exclude_keys: Sequence[str] | None = None,
    config_include_keys: Sequence[str] | None = None,
    allow_val_change: bool | None = None,
    **_ignored: Any,
) -> Run | DisabledRun:
    """Start a run (wandb's signature). A run still active in this process is finished first.

    ``save_code=True`` copies the script being run into the run's ``code/`` folder;
    ``config_include_keys`` / ``config_exclude_keys`` filter ``config`` (e.g. a whole
    ``argparse.Namespace``) before it is stored; ``allow_val_change=True`` lets the script
    change config values it already set.
    """
    base = settings or Settings()
    overrides: dict[str, Any] = {}
    if mode is not None:
        if mode not in ("online", "offline", "disabled"):
            raise UsageError(f"mode must be 'online', 'offline' or 'disabled', not {mode!r}")
        overrides["mode"] = mode
    if dir is not None:
        overrides["run_dir"] = Path(dir)
    s = base.model_copy(update=overrides) if overrides else base
    project = _check_name("project", project or s.project or "uncategorized")
    if config_exclude_keys is not None and config_include_keys is not None:
        raise UsageError("pass config_include_keys or config_exclude_keys, not both")
    cfg = {k: plain(k, v) for k, v in config_input(config).items()}
    if config_include_keys is not None:
        include = set(config_include_keys)
        cfg = {k: v for k, v in cfg.items() if k in include}
    if config_exclude_keys is not None:
        exclude = set(config_exclude_keys)
        cfg = {k: v for k, v in cfg.items() if k not in exclude}

    with _SESSION.lock:
        if _SESSION.run is not None:
            _SESSION.run.finish()
        if s.mode == "disabled":
            disabled = DisabledRun(cfg, name, project)
            _SESSION.set(disabled)
            return disabled
        run = _start(s, project, entity, cfg, name, tags, notes, group, job_type, id, resume)
        _SESSION.set(run)
        if allow_val_change:
            run.config.allow_val_changes()
        if save_code:
            _save_program(run)
        return run


def _save_program(run: Run) -> None:
    """The running script, into ``code/`` (nothing to save in a notebook or ``python -c``)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is None or not program.is_file():
        return
    run._copy_code(program, Path(program.name))


def _start(
    s: Settings,
    project: str,
    entity: str | None,
    cfg: dict[str, Any],
    name: str | None,
    tags: Sequence[str] | None,
    notes: str | None,
    group: str | None,
    job_type: str | None,
    run_id: str | None,
    resume: bool | str | None,
) -> Run:
    offline = s.mode == "offline"
    remote = server_settings(s)
    if remote.base_url is not None:
        s = remote  # the run's URL, the sink and a later `labbook sync` use the server
    client = _client(s) if s.base_url is not None and not offline else None
    try:
        ent = _check_name("entity", entity or s.entity or _entity_of(s, client))
        rid = _check_name("run id", run_id) if run_id else new_run_id()
        ref = RunRef(ent, project, rid)
    except BaseException:
        if client is not None:
            client.close()
        raise
    started = time.time()
    parent = Path(s.run_dir or Path.cwd()).expanduser()
    # The run's folder is made only once the store agreed to the run (resume checks below), so
    # a refused init leaves nothing behind; the sink learns the folder then.
    sink: LocalSink | HttpSink | None = None
    reader: Any = None
    if client is not None:
        from labbook.client import RemoteReader
        from labbook.sdk.http import HttpSink

        sink = HttpSink(client, ref, parent, max_batch_bytes=s.sender_batch_bytes)
        reader = RemoteReader(client)
    elif not offline:
        sink = LocalSink.from_settings(s, ref, parent)
        reader = sink.store
    start_seq, start_step, summary = 0, 0, {}
    number = None
    try:
        if sink is not None:
            start_seq = (
                sink.last_seq() if isinstance(sink, LocalSink) else _open_remote(sink, s, resume)
            )
        # A server that was down leaves nothing to check: the run is taken for a new one.
        if sink is not None and (isinstance(sink, LocalSink) or sink.run_info is not None):
            if start_seq:
                if resume in (None, False, "never"):
                    raise UsageError(
                        f"run {ref.entity}/{ref.project}/{rid} already exists; pass "
                        "resume='allow' to continue it or choose another id"
                    )
                prev = reader.get_run(ref)
                cfg = {**prev.config, **cfg}
                summary = dict(prev.summary)
                name = name or prev.name
                steps = [k.last_step for k in reader.metric_keys(ref) if k.last_step is not None]
                start_step = max(steps) + 1 if steps else 0
            elif resume == "must":
                raise UsageError(
                    f"resume='must' but run {ref.entity}/{ref.project}/{rid} does not exist"
                )
            if isinstance(sink, LocalSink):
                number = reader.count_runs(ent, project) + (0 if start_seq else 1)
            else:  # the PUT above already created the run
                with contextlib.suppress(LabbookError):
                    number = reader.count_runs(ent, project)
        elif sink is None and resume not in (None, False, "never", "allow"):
            raise UsageError("resuming a run needs online mode: the store knows where it stopped")
    except BaseException:
        if sink is not None:
            sink.close()
        raise

    run_dir = RunDir.create(parent, rid, offline, started)
    if sink is not None:
        sink.files_dir = run_dir.files
    lock_fd = run_dir.try_lock()
    hb = _Heartbeat(s.heartbeat_interval)
    wake: list[Sender] = []
    writer = JournalWriter(
        run_dir.journal,
        flush_interval=s.flush_interval,
        start_seq=start_seq,
        max_buffer_bytes=s.journal_buffer_bytes,
        on_flush=lambda end, recs: wake[0].offer(end, recs) if wake else None,
        tick=hb.tick,
    )
    hb.writer = writer
    sender: Sender | None = None
    if sink is not None:
        # A resumed run's journal starts empty but its seqs continue after what the store holds.
        run_dir.write_acked(start_seq, len(records.FILE_MAGIC))
        sender = Sender(run_dir, sink, batch_bytes=s.sender_batch_bytes)
        wake.append(sender)
        sender.start()

    run_name_ = name or run_name(number or 1 + int(started) % 97)
    writer.put(
        {
            "t": records.RUN,
            "id": rid,
            "project": project,
            "entity": ent,
            "name": run_name_,
            "tags": [str(t) for t in (tags or [])],
            "notes": notes,
            "group": group,
            "job_type": job_type,
            "config": cfg,
            "started_at": started,
            "resumed": bool(start_seq),
        }
    )
    console = _capture(s, run_dir, writer, started)
    return Run(
        settings=s,
        run_id=rid,
        name=run_name_,
        project=project,
        entity=ent,
        run_dir=run_dir,
        writer=writer,
        sender=sender,
        lock_fd=lock_fd,
        config=cfg,
        tags=[str(t) for t in (tags or [])],
        notes=notes,
        group=group,
        job_type=job_type,
        started=started,
        start_step=start_step,
        summary=summary,
        console=console,
        on_finish=_SESSION.clear,
    )


def _client(s: Settings) -> HttpClient:
    from labbook.client import Client

    return Client.from_settings(s)


INIT_BUDGET = 2.0
"""Seconds ``init`` spends retrying a server that does not answer before it journals alone."""


def _auth_error(s: Settings, exc: LabbookError) -> LabbookError:
    problem = "rejected the API key" if s.api_key else "needs an API key"
    return AuthenticationError(
        f"the labbook server at {s.base_url} {problem} ({exc.message}); "
        "run `labbook login` or set LABBOOK_API_KEY"
    )


def _entity_of(s: Settings, client: HttpClient | None) -> str:
    """Default entity: the key owner's name on a server, else the local user name."""
    from labbook.client.credentials import stored_user

    if client is None:
        # Offline with a server configured: the run is synced there later, as the key's owner.
        return (stored_user(s) if s.base_url is not None else None) or local_entity()
    from labbook.client import ServerUnavailable

    try:
        return str(client.viewer(budget=INIT_BUDGET)["name"])
    except AuthenticationError as exc:
        raise _auth_error(s, exc) from None
    except (ServerUnavailable, RateLimited):
        user = stored_user(s)
        if user is not None:
            return user
        fallback = local_entity()
        if not s.silent:
            print(
                f"labbook: cannot reach {s.base_url} to learn whose key this is; logging as "
                f"entity {fallback!r} (pass entity= or set LABBOOK_ENTITY to choose)",
                file=sys.__stderr__,
            )
        return fallback


def _open_remote(sink: HttpSink, s: Settings, resume: bool | str | None) -> int:
    """Create or resume the run on the server; a down server leaves the run to the journal."""
    from labbook.client import ServerUnavailable

    ref = sink.ref
    try:
        return sink.open(budget=INIT_BUDGET)
    except AuthenticationError as exc:
        raise _auth_error(s, exc) from None
    except (NotFoundError, PermissionDenied) as exc:
        if not s.api_key:  # anonymous callers see no private project: that is the real problem
            raise _auth_error(s, exc) from None
        raise type(exc)(
            f"cannot log to project {ref.entity}/{ref.project} on {s.base_url}: it does not exist "
            f"or this API key may not write to it ({exc.message})"
        ) from None
    except (ServerUnavailable, RateLimited) as exc:
        if resume not in (None, False, "never"):
            raise UsageError(
                f"resume={resume!r} needs the server, which knows where run {ref} stopped, "
                f"but it is unreachable: {exc.message}"
            ) from None
        sink.expect_new = True
        if not s.silent:
            print(
                f"labbook: cannot reach the server ({exc.message}); the run is journaled "
                "locally and uploaded when the server answers (or with `labbook sync`)",
                file=sys.__stderr__,
            )
        return 0


class _Heartbeat:
    """Queues a heartbeat record from the writer thread every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last = time.monotonic()
        self.writer: JournalWriter | None = None

    def tick(self) -> None:
        now = time.monotonic()
        if now - self.last >= self.interval and self.writer is not None:
            self.last = now
            self.writer.put({"t": records.HEARTBEAT, "ts": time.time()})


class _Captures:
    """What runs beside the script until ``finish``: console tee and system sampler."""

    def __init__(self, console: Any, monitor: SystemMonitor | None) -> None:
        self.console = console
        self.monitor = monitor

    def stop(self) -> None:
        if self.monitor is not None:
            self.monitor.stop()
        if self.console is not None:
            self.console.stop()


def _capture(s: Settings, run_dir: RunDir, writer: JournalWriter, started: float) -> _Captures:
    """Metadata, git state, requirements, console output and system metrics, each behind its
    own setting."""
    files = run_dir.files
    meta: dict[str, Any] = {}
    if s.capture_system:
        meta.update(capture.system_metadata())
    if s.capture_git:
        git = capture.git_state(Path.cwd(), exclude=[run_dir.path.parent])
        if git is not None:
            meta["git"] = git.to_dict()
            if git.diff:
                with contextlib.suppress(OSError):
                    (files / "diff.patch").write_text(git.diff, encoding="utf-8")
    if s.capture_requirements:
        with contextlib.suppress(OSError):
            (files / "requirements.txt").write_text(capture.requirements())
    if meta:
        meta = {k: plain(k, v) for k, v in meta.items()}
        with contextlib.suppress(OSError, TypeError, ValueError):
            (files / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
        writer.put({"t": records.META, "m": meta})
    console: capture.ConsoleCapture | None = None
    if s.capture_console:
        console = capture.ConsoleCapture(files / "output.log")
        try:
            console.start()
        except OSError as exc:
            print(f"labbook: console output will not be captured: {exc}", file=sys.__stderr__)
            console = None
    monitor = None
    if s.system_metrics:
        monitor = SystemMonitor(
            writer.put, interval=s.system_interval, disk_path=run_dir.path, started=started
        ).start()
    return _Captures(console, monitor)


def finish_active(exit_code: int | None = None) -> None:
    run = _SESSION.run
    if run is not None:
        run.finish(exit_code)
