"""``labbook sync``: replay journals into the store or the configured server, resuming from
their acknowledged offsets, and say exactly what was and was not stored.

Sync only reads a journal; only its writer ever appends to it. What sync cannot read is reported,
never cut: a damaged region in the middle is read past (the reader resynchronises on the next
valid frame), a torn tail at the end stays as it is, and a gap in the seqs (records the writer
dropped, e.g. while the disk was full) is named. A run whose process died without an exit record
(its lock is free) is marked ``crashed`` in the store by a synthetic exit record that goes to the
sink only, with seq = the journal's highest seq + 1: a resumed run continues after the highest
seq of the store and of any old journal, so it never reuses that number.

Safe to repeat: the store ignores seqs it holds, so a second sync stores nothing new and reports
the same damage again (the journal still holds it).
"""

from __future__ import annotations

import re
import shutil
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from labbook import records
from labbook.client.credentials import server_settings
from labbook.errors import JournalError, LabbookError, NotFoundError, SinkError, StorageFull
from labbook.sdk.journal import JOURNAL_NAME, RunDir, release_lock
from labbook.sdk.sender import Sender, rejected_path, rejected_seqs
from labbook.sdk.sinks import LocalSink, Sink
from labbook.settings import Settings, local_entity
from labbook.store import RunRef

CRASH_EXIT_CODE = -9


@dataclass
class JournalScan:
    """What one pass over a whole journal found, without decoding every frame."""

    header: records.Record | None
    """The run header record, None when the journal's first readable record is not one."""
    tail: records.Record | None
    """The journal's last readable record."""
    last_seq: int
    """Highest seq of a readable record (0 when none)."""
    skipped: list[records.Skipped]
    missing: list[tuple[int, int]]
    """Seq ranges (first, last) absent from intact frames: records the writer dropped."""
    size: int

    @property
    def exit_state(self) -> str | None:
        """The state the exit record gives; None when the journal has no exit record."""
        tail = self.tail or {}
        return str(tail.get("state", "finished")) if tail.get("t") == records.EXIT else None


def _frame_count(payload: bytes) -> int:
    """Records in a frame, read from its msgpack array header (no decoding of the records)."""
    b = payload[0] if payload else 0
    if 0x90 <= b <= 0x9F:
        return b & 0x0F
    if b == 0xDC:
        return int(struct.unpack_from(">H", payload, 1)[0])
    if b == 0xDD:
        return int(struct.unpack_from(">I", payload, 1)[0])
    return len(records.decode_batch(payload))  # a lone map: one record


def scan_journal(path: Path, *, final: bool) -> JournalScan:
    """Check every frame of the journal at ``path``; decode only the first and the last.

    ``final``: the writer is gone, so unreadable bytes at the end are a torn tail (reported).
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"cannot read journal {path}: {exc}") from exc
    if not data.startswith(records.FILE_MAGIC):
        raise JournalError(f"{path} is not a labbook journal")
    skipped: list[records.Skipped] = []
    missing: list[tuple[int, int]] = []
    first: bytes | None = None
    last_payload = b""
    next_seq = None  # the seq the next frame should start at
    seen_skips = 0
    for _, seq, payload in records.iter_frames(
        data, len(records.FILE_MAGIC), final=final, skipped=skipped
    ):
        if first is None:
            first = payload
        # A seq jump right after a damaged region is that damage; anywhere else the writer
        # numbered records it then dropped.
        if next_seq is not None and seq > next_seq and len(skipped) == seen_skips:
            missing.append((next_seq, seq - 1))
        seen_skips = len(skipped)
        next_seq = seq + _frame_count(payload)
        last_payload = payload
    # The header is the first record the writer gets; look through the first frame anyway, so
    # a record queued before it (a heartbeat) cannot hide it.
    heads = records.decode_batch(first) if first is not None else []
    tail = records.decode_batch(last_payload)[-1] if last_payload else None
    return JournalScan(
        header=next((r for r in heads if r.get("t") == records.RUN), None),
        tail=tail,
        last_seq=int(tail["seq"]) if tail is not None else 0,
        skipped=skipped,
        missing=missing,
        size=len(data),
    )


@dataclass
class SyncResult:
    """What one ``sync_run`` did, and what it could not do."""

    run_dir: Path
    ref: RunRef
    sent: int
    """Records stored by this sync (the store already held the others)."""
    last_seq: int
    """Highest seq the sender has confirmed stored."""
    state: str
    """The run's state as the journal tells it: finished, failed, crashed or running."""
    journal_last_seq: int = 0
    stored_seq: int = 0
    """Highest seq the store holds for this run, asked after sending."""
    skipped: list[records.Skipped] = field(default_factory=list)
    missing: list[tuple[int, int]] = field(default_factory=list)
    live: bool = False
    """A live process holds the run's lock: it is still being written."""
    header_supplied: bool = False
    """The journal's run header was unreadable: entity/project came from the command line."""
    expected_seq: int = 0
    """The seq the store must hold for the whole journal to be stored (with the crash record)."""
    rejected: int = 0
    """Records the destination refused during this sync (set aside in ``rejected_file``)."""
    rejected_total: int = 0
    """Records of this run set aside so far, by this sync, an earlier one or the run itself."""
    rejected_file: Path | None = None
    artifacts: int = 0
    """Artifact operations (logged versions, uses) this sync stored from the run folder."""
    artifact_errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        """One line per thing that was not stored."""
        out = [f"skipped {s.describe()}" for s in self.skipped]
        out += [
            f"seq {a}" + (f" to {b}" if b != a else "") + " not in the journal "
            f"({b - a + 1:,} record{'s' if b != a else ''} the writer dropped)"
            for a, b in self.missing
        ]
        if self.header_supplied:
            out.append("the run header (name, config) was unreadable")
        if self.rejected_total:
            out.append(
                f"{self.rejected_total:,} record(s) refused by the destination ({self.rejected:,} "
                f"by this sync), set aside with the reason in {self.rejected_file}"
            )
        out += [f"not stored: {e}" for e in self.artifact_errors]
        return out


def find_run_dirs(paths: list[Path]) -> Iterator[RunDir]:
    """Run dirs named directly, or every run dir under a ``labbook/`` folder."""
    for path in paths:
        p = Path(path)
        if (p / JOURNAL_NAME).is_file() or (p.is_file() and p.name == JOURNAL_NAME):
            yield RunDir.find(p)
            continue
        found = (
            sorted(
                c
                for c in p.glob("*")
                if c.is_dir() and not c.is_symlink() and (c / JOURNAL_NAME).is_file()
            )
            if p.is_dir()
            else []
        )
        if not found:
            raise JournalError(f"{p} is neither a run directory nor a folder of run directories")
        for c in found:
            yield RunDir(c.resolve())


LOCAL_SYNC_BATCH_BYTES = 8_000_000
"""Journal payload per transaction when ``labbook sync`` writes to the local store."""

_DIR_ID = re.compile(r"^(?:offline-)?run-\d{8}_\d{6}-(?P<id>[A-Za-z0-9_.-]+)$")


def run_header(
    run_dir: RunDir, entity_of: Callable[[], str] | None = None
) -> tuple[RunRef, str | None, int]:
    """The run's identity, the state its exit record gives (None: no exit yet), its last seq."""
    scan = scan_journal(run_dir.journal, final=False)
    ref = _run_ref(run_dir, scan, None, None, None, entity_of)
    return ref, scan.exit_state, scan.last_seq


def _run_ref(
    run_dir: RunDir,
    scan: JournalScan,
    entity: str | None,
    project: str | None,
    run_id: str | None,
    entity_of: Callable[[], str] | None = None,
) -> RunRef:
    """The run the journal belongs to: its header's, or the one given when that is unreadable.

    A header whose entity is null was written while nobody could say whose API key the run used
    (the server was down at ``init``): ``--entity``, else ``entity_of`` (the key's owner, asked
    of the server now) says it; never the machine's user name.
    """
    head = scan.header
    if head is not None:
        head_entity = head.get("entity")
        if head_entity is None:
            if entity is None and entity_of is None:
                raise JournalError(
                    f"{run_dir.journal}: the run's entity is not known yet; sync it to the "
                    "server whose API key it used, or pass --entity"
                )
            head_entity = entity if entity is not None else entity_of()  # type: ignore[misc]
        ref = RunRef(head_entity, head["project"], head["id"])
        for flag, given, have in (
            ("--entity", entity, ref.entity),
            ("--project", project, ref.project),
            ("--id", run_id, ref.id),
        ):
            if given is not None and given != have:
                raise JournalError(
                    f"{run_dir.journal} belongs to run {ref}; {flag} {given} does not match "
                    "(--entity/--project/--id are for a journal whose run header is damaged)"
                )
        return ref
    if not scan.tail:
        raise JournalError(f"{run_dir.journal} holds no readable record; nothing to sync")
    m = _DIR_ID.match(run_dir.path.name)
    rid = run_id or (m.group("id") if m else None)
    if not (entity and project and rid):
        raise JournalError(
            f"the run header of {run_dir.journal} is damaged, so the journal does not say which "
            "run it belongs to. Pass --entity and --project (and --id when the folder's name "
            "does not end in the run's id) to store the rest of it."
        )
    return RunRef(entity, project, rid)


def entity_for(settings: Settings) -> str:
    """The entity of a run whose journal does not name one: the API key's owner on the
    configured server (asked now), or the local user for the local store."""
    remote = server_settings(settings)
    if remote.base_url is None:
        return local_entity()
    from labbook.client import Client

    with Client.from_settings(remote) as client:
        return str(client.viewer()["name"])


def sink_for(settings: Settings, ref: RunRef, files_dir: Path) -> Sink:
    """The configured server's ``HttpSink``, else the local store's ``LocalSink``."""
    remote = server_settings(settings)
    if remote.base_url is None:
        return LocalSink.from_settings(settings, ref, files_dir)
    from labbook.client import Client
    from labbook.sdk.http import HttpSink

    return HttpSink(
        Client.from_settings(remote), ref, files_dir, max_batch_bytes=remote.sender_batch_bytes
    )


def _destination(settings: Settings) -> str:
    return server_settings(settings).base_url or _store_location(settings)


def _store_location(settings: Settings) -> str:
    """The local store's database: its file for SQLite, its URL (no password) otherwise."""
    from labbook.store.engine import normalize_url, sqlite_file

    url = normalize_url(settings.resolved_db_url())
    db_file = sqlite_file(url)
    return str(db_file) if db_file else url.render_as_string(hide_password=True)


def _crash_record(scan: JournalScan, run_dir: RunDir) -> records.Record:
    """``exit(state=crashed)`` for a run whose process died: seq = journal's last + 1, time = the
    run's last sign of life (its last record), not the time of the sync."""
    ts = (scan.tail or {}).get("ts")
    if not isinstance(ts, int | float):
        ts = run_dir.journal.stat().st_mtime
    return {
        "t": records.EXIT,
        "code": CRASH_EXIT_CODE,
        "ts": float(ts),
        "state": "crashed",
        "seq": scan.last_seq + 1,
    }


class SyncFailed(SinkError):
    """The destination refused or failed while a journal was replayed; nothing was lost."""

    def __init__(self, message: str, result: SyncResult) -> None:
        super().__init__(message)
        self.result = result


def sync_run(
    run_dir: RunDir,
    settings: Settings,
    *,
    sink: Sink | None = None,
    progress: Callable[[int, int], None] | None = None,
    entity: str | None = None,
    project: str | None = None,
    run_id: str | None = None,
) -> SyncResult:
    """Store what the journal holds that the destination lacks; never write to the journal.

    Raises :class:`SyncFailed` (with what was stored so far) when the destination fails.
    """
    lock = run_dir.try_lock()
    try:
        live = lock is None
        scan = scan_journal(run_dir.journal, final=not live)
        ref = _run_ref(run_dir, scan, entity, project, run_id, lambda: entity_for(settings))
        exited = scan.exit_state
        crash = _crash_record(scan, run_dir) if exited is None and not live else None
        result = SyncResult(
            run_dir.path,
            ref,
            0,
            0,
            exited or ("crashed" if crash else "running"),
            journal_last_seq=scan.last_seq,
            skipped=scan.skipped,
            missing=scan.missing,
            live=live,
            header_supplied=scan.header is None,
            expected_seq=crash["seq"] if crash else scan.last_seq,
        )
        try:
            the_sink: Sink = sink or sink_for(settings, ref, run_dir.files)
        except (LabbookError, OSError) as exc:
            raise SyncFailed(_failure_message(run_dir, settings, exc, result), result) from exc
        try:
            _replay(run_dir, the_sink, settings, result, crash, progress)
        except (LabbookError, OSError) as exc:
            raise SyncFailed(_failure_message(run_dir, settings, exc, result), result) from exc
        finally:
            if sink is None:
                the_sink.close()
        if not live:
            _sync_artifacts(run_dir, settings, result)
        return result
    finally:
        release_lock(lock)


def _sync_artifacts(run_dir: RunDir, settings: Settings, result: SyncResult) -> None:
    """Store the artifacts the run logged and used that are still in its folder (an offline
    run's, or one whose upload was cut), once its records are stored."""
    from labbook.artifacts import open_backend, pending_ops, sync_pending

    if not pending_ops(run_dir.path):
        return
    backend = open_backend(settings)
    try:
        result.artifacts, result.artifact_errors = sync_pending(
            run_dir.path, backend, result.ref.entity
        )
    finally:
        backend.close()


def _replay(
    run_dir: RunDir,
    sink: Sink,
    settings: Settings,
    result: SyncResult,
    crash: records.Record | None,
    progress: Callable[[int, int], None] | None,
) -> None:
    batch_bytes = settings.sender_batch_bytes
    if isinstance(sink, LocalSink):
        # No request size to respect: fewer, larger transactions (~10% faster replay).
        batch_bytes = max(batch_bytes, LOCAL_SYNC_BATCH_BYTES)
    # The command reports refused records itself, with the rest of what was not stored.
    sender = Sender(run_dir, sink, batch_bytes=batch_bytes, warn_rejected=False)
    sender.final = not result.live
    try:
        stored = sink.last_seq()
        if stored < sender.acked_seq:
            # The destination holds less than the journal's acknowledgements say: they are
            # another one's (the run went to the local store, this sync goes to a server). What
            # this one holds decides what to send; seqs make re-reading the journal harmless.
            sender.restart_after(stored)
        sender.acked_seq = max(sender.acked_seq, stored)
        total = run_dir.journal.stat().st_size
        result.sent = sender.send_available(
            progress=(lambda off: progress(off, total)) if progress else None
        )
        if crash is not None:
            # To the store only: the journal stays exactly as its writer left it.
            sink.send([crash])
        result.stored_seq = sink.last_seq()
    finally:
        sender.close_journal()
        result.last_seq = sender.acked_seq
        result.rejected = sender.rejected
        result.rejected_total = len(set(rejected_seqs(run_dir)))
        if result.rejected_total:
            result.rejected_file = rejected_path(run_dir)


def _failure_message(
    run_dir: RunDir, settings: Settings, exc: BaseException, result: SyncResult
) -> str:
    """One paragraph: what failed, that nothing is lost, what to run next."""
    remote = server_settings(settings).base_url
    reason = str(exc).strip() or repr(exc)
    where = f"the server {remote}" if remote else f"the store {_store_location(settings)}"
    what = f"{where} is full ({reason})" if isinstance(exc, StorageFull) else f"{where}: {reason}"
    total = result.journal_last_seq
    stored = (
        f"holds its records up to seq {result.last_seq} of {total}"
        if result.last_seq
        else f"holds none of its {total:,} records"
    )
    return (
        f"could not store run {result.ref}: {what}. Nothing is lost: the store "
        f"{stored}, and the journal {run_dir.journal} keeps every record (it is marked "
        f"acknowledged only up to what was stored). Run `labbook sync {run_dir.path}` again "
        "once the destination has room or is back."
    )


# --------------------------------------------------------------------------- clean up
@dataclass
class CleanVerdict:
    run_dir: Path
    removable: bool
    reason: str


def _has_pending_artifacts(run_dir: RunDir) -> bool:
    from labbook.artifacts import pending_ops

    return bool(pending_ops(run_dir.path))


def rejected_files(run_dir: RunDir) -> list[Path]:
    """Records a destination refused, set aside beside the journal (``rejected*``)."""
    return sorted(p for p in run_dir.path.glob("rejected*") if p.is_file())


def clean_verdict(run_dir: RunDir, result: SyncResult) -> CleanVerdict:
    """Whether the run dir may be removed: only when everything in it is stored."""
    rejected = rejected_files(run_dir)
    if result.live:
        reason = "its process is still running"
    elif rejected:
        reason = f"the destination refused records, set aside in {rejected[0].name}"
    elif result.skipped or result.missing or result.header_supplied:
        reason = "part of its journal could not be read or is missing"
    elif result.artifact_errors or _has_pending_artifacts(run_dir):
        reason = "artifacts it logged are not stored yet"
    elif result.stored_seq < result.expected_seq:
        reason = f"the store holds seq {result.stored_seq} of {result.expected_seq}"
    else:
        return CleanVerdict(run_dir.path, True, f"fully stored up to seq {result.stored_seq}")
    return CleanVerdict(run_dir.path, False, reason)


def check_run(
    run_dir: RunDir,
    settings: Settings,
    *,
    entity: str | None = None,
    project: str | None = None,
    run_id: str | None = None,
) -> SyncResult:
    """What ``sync_run`` would find, without storing anything: for ``--clean --dry-run``.

    ``stored_seq`` is what the destination holds now; records still to upload show as a lower
    ``stored_seq`` than ``expected_seq``.
    """
    lock = run_dir.try_lock()
    try:
        live = lock is None
        scan = scan_journal(run_dir.journal, final=not live)
        ref = _run_ref(run_dir, scan, entity, project, run_id, lambda: entity_for(settings))
        exited = scan.exit_state
        crashed = exited is None and not live
        try:
            stored = _stored_seq(settings, ref)
        except (LabbookError, OSError) as exc:
            if isinstance(exc, JournalError):
                raise
            raise SinkError(
                f"could not ask {_destination(settings)} about run {ref}: {exc}"
            ) from exc
        return SyncResult(
            run_dir.path,
            ref,
            0,
            stored,
            exited or ("crashed" if crashed else "running"),
            journal_last_seq=scan.last_seq,
            stored_seq=stored,
            skipped=scan.skipped,
            missing=scan.missing,
            live=live,
            header_supplied=scan.header is None,
            expected_seq=scan.last_seq + 1 if crashed else scan.last_seq,
        )
    finally:
        release_lock(lock)


def _stored_seq(settings: Settings, ref: RunRef) -> int:
    """The seq the destination holds for ``ref`` (0: no such run), by a read that creates
    nothing: a sink would create the run to answer."""
    remote = server_settings(settings)
    if remote.base_url is not None:
        from labbook.client import Client, RemoteReader

        reader = RemoteReader(Client.from_settings(remote))
        try:
            return reader.get_run(ref).last_seq
        except NotFoundError:
            return 0
        finally:
            reader.close()
    from labbook.store import Store
    from labbook.store.engine import normalize_url, sqlite_file

    db_file = sqlite_file(normalize_url(settings.resolved_db_url()))
    if db_file is not None and not db_file.exists():
        return 0  # no store yet: nothing stored, and a dry run makes none
    with Store.from_settings(settings) as store:
        return store.last_seq(ref)


def remove_run_dir(run_dir: RunDir) -> bool:
    """Delete a run dir, holding its lock so a process cannot be writing it; False when one is.

    The ``latest-run`` link beside it is removed too when it pointed there.
    """
    lock = run_dir.try_lock()
    if lock is None:
        return False
    try:
        shutil.rmtree(run_dir.path)
    finally:
        release_lock(lock)
    link = run_dir.path.parent / "latest-run"
    if link.is_symlink() and not link.exists():
        link.unlink(missing_ok=True)
    return True
