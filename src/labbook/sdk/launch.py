"""Starting a run: decide where it goes, then hand the training thread back at once.

What ``init`` must do before it returns is small: name the run, make its folder, start the
journal writer and give it the run header. Everything else happens on other threads: the sender
opens the store (SQLAlchemy's import and the migration check, ~0.3 s of CPU) or asks a server whose
key owner is not known yet; a capture thread reads the host, git and package metadata and starts
the system sampler. So a new local run costs the script a few milliseconds (DESIGN.md: "well
under 100 ms"), while a record logged right after ``init`` is already on its way to the journal.

Three cases still do their work here, because their answer decides what the run is:

* a server is configured: one handshake (whose key, may it write, create or resume the run), so
  a bad key or a project the key cannot write fails at ``init``, like wandb;
* a run id is given (``id=``): the store says whether it exists (refused, or resumed);
* resuming: the store says where the run stopped, and journals of that run not yet stored are
  completed first, so no seq or step is reused (a reused seq would be dropped as a duplicate).
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook import records
from labbook.client.credentials import server_settings, stored_user
from labbook.data.values import plain
from labbook.errors import (
    AuthenticationError,
    LabbookError,
    NotFoundError,
    PermissionDenied,
    RateLimited,
    UsageError,
    ValidationError,
)
from labbook.sdk.journal import JournalWriter, RunDir
from labbook.sdk.names import run_id as new_run_id
from labbook.sdk.names import run_name
from labbook.sdk.run import Run
from labbook.sdk.sender import Sender
from labbook.settings import Settings, local_entity
from labbook.store.peek import count_runs

if TYPE_CHECKING:  # imported where used: only the fast path's modules load on the script's thread
    from labbook.client import Client as HttpClient
    from labbook.sdk.console import ConsoleCapture
    from labbook.sdk.http import HttpSink
    from labbook.sdk.sinks import Sink
    from labbook.sdk.system import SystemMonitor

INIT_BUDGET = 2.0
"""Seconds ``init`` spends retrying a server that does not answer before it journals alone."""

CAPTURE_JOIN = 10.0
"""Seconds ``finish`` waits for the metadata capture (git on a huge repository can be slow)."""


def check_name(kind: str, value: str) -> str:
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", value):
        raise ValidationError(
            f"{kind} name {value!r} is invalid: use 1-128 letters, digits, '_', '-' or '.'"
        )
    return value


@dataclass
class _Plan:
    """What ``init`` decided: the run's identity, where its seqs and steps start, its sink."""

    settings: Settings
    project: str
    run_id: str
    entity: str | None
    """None: the server that knows whose key this is could not be asked; the journal says so
    (``entity: null`` in its header) and the sender learns it before the first upload."""
    config: dict[str, Any]
    name: str | None = None
    number: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    start_seq: int = 0
    start_step: int = 0
    resumed: bool = False
    sink: Sink | None = None
    """A sink this thread had to open (handshake, resume); else the sender opens ``open_sink``."""
    open_sink: Callable[[Path], Sink] | None = None
    entity_known: Callable[[str], None] | None = None


def start_run(
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
    on_finish: Callable[[Any], None],
) -> Run:
    offline = s.mode == "offline"
    remote = server_settings(s)
    if remote.base_url is not None:
        s = remote  # the run's URL, the sink and a later `labbook sync` use the server
    rid = check_name("run id", run_id) if run_id else new_run_id()
    if entity is not None:
        check_name("entity", entity)
    parent = Path(s.run_dir or Path.cwd()).expanduser()
    resuming = resume not in (None, False, "never")
    if offline:
        if resuming and resume != "allow":
            raise UsageError("resuming a run needs online mode: the store knows where it stopped")
        plan = _Plan(s, project, rid, entity or s.entity or _offline_entity(s), cfg)
    elif s.base_url is not None:
        plan = _plan_server(s, project, entity, rid, cfg, resume, parent)
    else:
        ent = entity or s.entity or local_entity()
        plan = _plan_local(s, project, ent, rid, cfg, resume, given_id=run_id is not None)
    if plan.resumed:
        name = name or plan.name
    plan.config = {**plan.config, **cfg} if plan.resumed else cfg
    return _launch(plan, s, offline, parent, name, tags, notes, group, job_type, on_finish)


def _offline_entity(s: Settings) -> str | None:
    """Offline, the entity is the destination's: the key owner of a configured server (None,
    resolved at ``labbook sync``, when ``login`` did not record it), else the local user."""
    if s.base_url is None:
        return local_entity()
    return stored_user(s)


# ----- local store -------------------------------------------------------------------------------


def _plan_local(
    s: Settings,
    project: str,
    entity: str,
    rid: str,
    cfg: dict[str, Any],
    resume: bool | str | None,
    *,
    given_id: bool,
) -> _Plan:
    from labbook.sdk.sinks import LocalSink
    from labbook.store import RunRef

    ref = RunRef(entity, project, rid)
    if not given_id and resume in (None, False, "never"):
        # A new id cannot exist yet: nothing to check, only the name's number to read.
        number = count_runs(s.resolved_db_url(), entity, project)
        if number is not None:  # the fast path: the store opens on the sender's thread
            return _Plan(
                s,
                project,
                rid,
                entity,
                cfg,
                number=number + 1,
                open_sink=lambda files: LocalSink.from_settings(s, ref, files),
            )
    sink = LocalSink.from_settings(s, ref, s.run_dir or Path.cwd())
    try:
        plan = _Plan(s, project, rid, entity, cfg, sink=sink)
        _check_existing(plan, sink, sink.store, resume)
        if plan.number is None:
            plan.number = sink.store.count_runs(entity, project) + (0 if plan.resumed else 1)
        return plan
    except BaseException:
        sink.close()
        raise


def _check_existing(plan: _Plan, sink: Sink, reader: Any, resume: bool | str | None) -> None:
    """Refuse or resume a run id the store already holds; complete its unsent journals first."""
    from labbook.sdk.resume import complete_old_journals
    from labbook.store import RunRef

    ref = RunRef(str(plan.entity), plan.project, plan.run_id)
    parent = Path(plan.settings.run_dir or Path.cwd()).expanduser()
    stored = sink.last_seq()
    resuming = resume not in (None, False, "never")
    if resuming:
        old = complete_old_journals(parent, ref, plan.settings, sink)
        stored = max(stored, sink.last_seq())
    else:
        old = None
    if stored:
        if not resuming:
            raise UsageError(
                f"run {ref.entity}/{ref.project}/{ref.id} already exists; pass "
                "resume='allow' to continue it or choose another id"
            )
        prev = reader.get_run(ref)
        plan.config = dict(prev.config)
        plan.summary = dict(prev.summary)
        plan.name = prev.name
        steps = [k.last_step for k in reader.metric_keys(ref) if k.last_step is not None]
        plan.start_step = max(steps) + 1 if steps else 0
        plan.start_seq = stored
        plan.resumed = True
    elif resume == "must":
        raise UsageError(
            f"resume='must' but run {ref.entity}/{ref.project}/{ref.id} does not exist"
        )
    if old is not None:
        # Records the store refused or never got still hold their numbers in the old journal.
        plan.start_seq = max(plan.start_seq, old.last_seq)
        plan.start_step = max(plan.start_step, old.next_step)


# ----- a server ----------------------------------------------------------------------------------


def _plan_server(
    s: Settings,
    project: str,
    entity: str | None,
    rid: str,
    cfg: dict[str, Any],
    resume: bool | str | None,
    parent: Path,
) -> _Plan:
    from labbook.client import Client, RemoteReader
    from labbook.store import RunRef

    client = Client.from_settings(s)
    try:
        ent = entity or s.entity or _key_owner(s, client)
        if ent is None:
            # The server is down and nobody recorded whose key this is: never guess (a key's
            # runs must not land under this machine's user name). The sender asks first.
            if resume not in (None, False, "never"):
                raise UsageError(
                    f"resume={resume!r} needs the server, which knows where run {rid} stopped, "
                    f"but {s.base_url} is unreachable"
                )
            _say(
                s,
                f"cannot reach {s.base_url}; the run is journaled locally and uploaded "
                "when the server answers (or with `labbook sync`)",
            )
            return _Plan(
                s, project, rid, None, cfg, open_sink=_late_http_sink(client, s, project, rid)
            )
        from labbook.sdk.http import HttpSink

        sink = HttpSink(
            client, RunRef(ent, project, rid), parent, max_batch_bytes=s.sender_batch_bytes
        )
        plan = _Plan(s, project, rid, ent, cfg, sink=sink)
        _open_remote(sink, s, resume)
        if sink.run_info is not None:  # the server answered
            reader = RemoteReader(client)
            _check_existing(plan, sink, reader, resume)
            with contextlib.suppress(LabbookError):
                plan.number = reader.count_runs(ent, project)
        return plan
    except BaseException:
        client.close()
        raise


def _late_http_sink(
    client: HttpClient, s: Settings, project: str, rid: str
) -> Callable[[Path], Sink]:
    """The sink of a run started while the server was down: on the sender's thread, learn whose
    key this is, then create the run (as a new one: a run the server already holds under that
    id is someone else's)."""
    from labbook.sdk.http.sink import CALL_BUDGET, HttpSink
    from labbook.store import RunRef

    def open_sink(files: Path) -> Sink:
        owner = str(client.viewer(budget=CALL_BUDGET)["name"])
        sink = HttpSink(
            client,
            RunRef(owner, project, rid),
            files,
            max_batch_bytes=s.sender_batch_bytes,
            expect_new=True,
        )
        sink.open()
        return sink

    return open_sink


def _auth_error(s: Settings, exc: LabbookError) -> LabbookError:
    problem = "rejected the API key" if s.api_key else "needs an API key"
    return AuthenticationError(
        f"the labbook server at {s.base_url} {problem} ({exc.message}); "
        "run `labbook login` or set LABBOOK_API_KEY"
    )


def _key_owner(s: Settings, client: HttpClient) -> str | None:
    """Whose key this is: the server's answer, else what ``labbook login`` recorded, else None."""
    from labbook.client import ServerUnavailable

    try:
        return str(client.viewer(budget=INIT_BUDGET)["name"])
    except AuthenticationError as exc:
        raise _auth_error(s, exc) from None
    except (ServerUnavailable, RateLimited):
        return stored_user(s)


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
        _say(
            s,
            f"cannot reach the server ({exc.message}); the run is journaled locally and "
            "uploaded when the server answers (or with `labbook sync`)",
        )
        return 0


# ----- the run itself ----------------------------------------------------------------------------


def _launch(
    plan: _Plan,
    s: Settings,
    offline: bool,
    parent: Path,
    name: str | None,
    tags: Sequence[str] | None,
    notes: str | None,
    group: str | None,
    job_type: str | None,
    on_finish: Callable[[Any], None],
) -> Run:
    started = time.time()
    # The run's folder is made only once the store agreed to the run (resume checks above), so
    # a refused init leaves nothing behind.
    run_dir = RunDir.create(parent, plan.run_id, offline, started)
    lock_fd = run_dir.try_lock()
    hb = _Heartbeat(s.heartbeat_interval)
    wake: list[Sender] = []
    writer = JournalWriter(
        run_dir.journal,
        flush_interval=s.flush_interval,
        start_seq=plan.start_seq,
        max_buffer_bytes=s.journal_buffer_bytes,
        on_flush=lambda start, end, recs: wake[0].offer(start, end, recs) if wake else None,
        tick=hb.tick,
    )
    hb.writer = writer
    holder: list[Run] = []
    sender: Sender | None = None
    if not offline:
        sink = plan.sink
        if sink is not None:
            sink.files_dir = run_dir.files
        opener = plan.open_sink

        def open_sink() -> Sink:
            assert opener is not None
            opened = opener(run_dir.files)
            ref = getattr(opened, "ref", None)
            if plan.entity is None and ref is not None and holder:
                holder[0]._entity_known(ref.entity)
            return opened

        # A resumed run's journal starts empty but its seqs continue after what the store holds.
        run_dir.write_acked(plan.start_seq, len(records.FILE_MAGIC))
        sender = Sender(
            run_dir,
            sink,
            open_sink=open_sink if sink is None else None,
            batch_bytes=s.sender_batch_bytes,
            on_error=_StoreTrouble(s, run_dir),
        )
        wake.append(sender)
        sender.start()

    the_name = name or run_name(plan.number or 1 + int(started) % 97)
    tag_list = [str(t) for t in (tags or [])]
    writer.put(
        {
            "t": records.RUN,
            "id": plan.run_id,
            "project": plan.project,
            "entity": plan.entity,
            "name": the_name,
            "tags": tag_list,
            "notes": notes,
            "group": group,
            "job_type": job_type,
            "config": plan.config,
            "started_at": started,
            "resumed": plan.resumed,
        }
    )
    captures = _Captures.start(s, run_dir, writer, started)
    run = Run(
        settings=s,
        run_id=plan.run_id,
        name=the_name,
        project=plan.project,
        entity=plan.entity,
        run_dir=run_dir,
        writer=writer,
        sender=sender,
        lock_fd=lock_fd,
        config=plan.config,
        tags=tag_list,
        notes=notes,
        group=group,
        job_type=job_type,
        started=started,
        start_step=plan.start_step,
        summary=plan.summary,
        console=captures,
        on_finish=on_finish,
        resumed=plan.resumed,
    )
    holder.append(run)
    _say(s, run.started_line())
    return run


def _say(s: Settings, line: str) -> None:
    if not s.silent:
        print(f"labbook: {line}", file=sys.__stderr__)


class _StoreTrouble:
    """Says once, as it happens, that records cannot be stored yet. The store opens on the
    sender's thread, so a store that cannot be opened (a read-only folder, a database that
    refuses) no longer fails ``init``; without this the script would only learn at ``finish``.
    An unreachable server is not news: ``init`` said so, or it comes and goes mid-run."""

    def __init__(self, s: Settings, run_dir: RunDir) -> None:
        self.settings = s
        self.run_dir = run_dir
        self.said = False

    def __call__(self, exc: BaseException) -> None:
        from labbook.errors import SinkError

        if self.said or (isinstance(exc, SinkError) and exc.code == "server_unavailable"):
            return
        self.said = True
        _say(
            self.settings,
            f"cannot store records yet ({exc}); they are safe in the journal and retried "
            f"(or upload them with `labbook sync {self.run_dir.path}`)",
        )


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
    """What runs beside the script until ``finish``: the console tee (started here: output from
    the first line on is kept) and, on a thread of its own, the metadata, git and package
    captures and the system sampler."""

    def __init__(self, console: ConsoleCapture | None) -> None:
        self.console = console
        self.monitor: SystemMonitor | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._lock = threading.Lock()

    @classmethod
    def start(
        cls, s: Settings, run_dir: RunDir, writer: JournalWriter, started: float
    ) -> _Captures:
        console = None
        if s.capture_console:
            from labbook.sdk.console import ConsoleCapture

            console = ConsoleCapture(run_dir.files / "output.log")
            try:
                console.start()
            except OSError as exc:
                print(f"labbook: console output will not be captured: {exc}", file=sys.__stderr__)
                console = None
        caps = cls(console)
        if s.capture_system or s.capture_git or s.capture_requirements or s.system_metrics:
            cwd = Path.cwd()  # read here: the script may chdir while the thread runs
            caps._thread = threading.Thread(
                target=caps._capture,
                args=(s, run_dir, writer, started, cwd),
                name="labbook-capture",
                daemon=True,
            )
            caps._thread.start()
        return caps

    def _capture(
        self, s: Settings, run_dir: RunDir, writer: JournalWriter, started: float, cwd: Path
    ) -> None:
        from labbook.sdk import capture

        files = run_dir.files
        meta: dict[str, Any] = {}
        if s.capture_system:
            meta.update(capture.system_metadata())
        if s.capture_git:
            git = capture.git_state(cwd, exclude=[run_dir.path.parent])
            if git is not None:
                meta["git"] = git.to_dict()
                if git.diff:
                    with contextlib.suppress(OSError):
                        (files / "diff.patch").write_text(git.diff, encoding="utf-8")
        if s.capture_requirements:
            with contextlib.suppress(OSError):
                (files / "requirements.txt").write_text(capture.requirements())
        if meta:
            clean: dict[str, Any] = {}
            for k, v in meta.items():
                with contextlib.suppress(ValueError, TypeError):  # a capture never fails a run
                    clean[k] = plain(k, v)
            meta = clean
            with contextlib.suppress(OSError, TypeError, ValueError):
                (files / "metadata.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
            writer.put({"t": records.META, "m": meta})
        if s.system_metrics:
            from labbook.sdk.system import SystemMonitor

            with self._lock:
                if not self._stopped:
                    self.monitor = SystemMonitor(
                        writer.put,
                        interval=s.system_interval,
                        disk_path=run_dir.path,
                        started=started,
                    ).start()

    def stop(self) -> None:
        """Wait for the captures (bounded), take the last system sample, stop the console tee."""
        if self._thread is not None:
            self._thread.join(CAPTURE_JOIN)
        with self._lock:
            self._stopped = True
            monitor = self.monitor
        if monitor is not None:
            monitor.stop()
        if self.console is not None:
            self.console.stop()
