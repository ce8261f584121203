"""``labbook sync``: replay journals into the store or the configured server, resuming from
their acknowledged offsets.

Safe to repeat (the store ignores seqs it holds) and safe on a run whose process was killed: a
journal without an exit record whose lock is free gets a ``crashed`` exit record appended, so the
run reads as crashed instead of running forever.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from labbook import records
from labbook.client.credentials import server_settings
from labbook.errors import JournalError
from labbook.sdk.journal import JOURNAL_NAME, RunDir, release_lock, valid_length
from labbook.sdk.sender import Sender
from labbook.sdk.sinks import LocalSink, Sink
from labbook.settings import Settings, local_entity
from labbook.store import RunRef


@dataclass
class SyncResult:
    run_dir: Path
    ref: RunRef
    sent: int
    last_seq: int
    state: str


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


def run_header(
    run_dir: RunDir, entity_of: Callable[[], str] | None = None
) -> tuple[RunRef, str | None, int]:
    """The run's identity, the state its exit record gives (None: no exit yet), its last seq.

    A header whose entity is null was written while nobody could say whose API key the run used
    (the server was down at ``init``); ``entity_of`` says it now (the key's owner, asked of the
    server), never the machine's user name.

    Only the first frame (the run header) and the last one (the exit record, when the run ended)
    are decoded: a journal of a long run holds millions of frames.
    """
    try:
        data = run_dir.journal.read_bytes()
    except OSError as exc:
        raise JournalError(f"cannot read journal {run_dir.journal}: {exc}") from exc
    if not data.startswith(records.FILE_MAGIC):
        raise JournalError(f"{run_dir.journal} is not a labbook journal")
    first: bytes | None = None
    last_payload = b""
    last = 0
    for _, seq, payload in records.iter_frames(data, len(records.FILE_MAGIC)):
        if first is None:
            first = payload
        last, last_payload = seq, payload
    head = records.decode_batch(first)[0] if first is not None else {}
    if head.get("t") != records.RUN:
        raise JournalError(f"{run_dir.journal} holds no run header record; nothing to sync")
    entity = head.get("entity")
    if entity is None:
        if entity_of is None:
            raise JournalError(
                f"{run_dir.journal}: the run's entity is not known yet; sync it to the server "
                "whose API key it used"
            )
        entity = entity_of()
    ref = RunRef(entity, head["project"], head["id"])
    tail = records.decode_batch(last_payload)[-1]
    last = tail["seq"]
    exited = str(tail.get("state", "finished")) if tail.get("t") == records.EXIT else None
    return ref, exited, last


def _append_crash(run_dir: RunDir) -> int:
    """Cut a torn tail and append ``exit(state=crashed)``; returns its seq."""
    length, last = valid_length(run_dir.journal)
    rec = {"t": records.EXIT, "code": -9, "ts": time.time(), "state": "crashed"}
    with open(run_dir.journal, "r+b") as f:
        f.truncate(length)
        f.seek(length)
        f.write(records.frame(last + 1, records.encode_batch([{**rec, "seq": last + 1}])))
        f.flush()
        os.fsync(f.fileno())
    return last + 1


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


def sync_run(
    run_dir: RunDir,
    settings: Settings,
    *,
    sink: Sink | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> SyncResult:
    ref, exited, _ = run_header(run_dir, lambda: entity_for(settings))
    lock = run_dir.try_lock()
    try:
        if lock is not None and not exited:
            _append_crash(run_dir)
            exited = "crashed"
        own_sink = sink is None
        the_sink: Sink = sink or sink_for(settings, ref, run_dir.files)
        try:
            batch_bytes = settings.sender_batch_bytes
            if isinstance(the_sink, LocalSink):
                # No request size to respect: fewer, larger transactions (~10% faster replay).
                batch_bytes = max(batch_bytes, LOCAL_SYNC_BATCH_BYTES)
            sender = Sender(run_dir, the_sink, batch_bytes=batch_bytes)
            try:
                stored = the_sink.last_seq()
                sender.acked_seq = max(sender.acked_seq, stored)
                total = run_dir.journal.stat().st_size
                sent = sender.send_available(
                    progress=(lambda off: progress(off, total)) if progress else None
                )
            finally:
                sender.close_journal()
        finally:
            if own_sink:
                the_sink.close()
        return SyncResult(run_dir.path, ref, sent, sender.acked_seq, exited or "running")
    finally:
        release_lock(lock)
