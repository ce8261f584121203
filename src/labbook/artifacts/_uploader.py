"""A run's artifact work off the training thread: committing logged versions, recording uses.

Every operation is first written to the run's folder (``artifacts/pending/NNNNNN-<kind>.json``)
and removed once the store has it, so a process killed half-way leaves its artifacts where
``labbook sync`` finds them, as it finds the journal. An offline run, or one whose store stays
unreachable, also copies each file it logged into ``artifacts/blobs/`` (by SHA-256): what is
synced later is what was logged, even if the script overwrites its model file meanwhile.

An operation that fails because the run is not in the store yet (the sender is still opening it)
or the store is unreachable is retried with backoff; one refused for good (a bad alias, a name
of another type) fails its ``wait()`` with the store's error and is set aside as ``.failed``.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labbook.artifacts._backend import Backend
from labbook.artifacts._transfer import Draft, copy_into, upload
from labbook.errors import LabbookError, RunNotFound, SinkError, StorageFull
from labbook.store.models import RunRef, VersionInfo

PENDING = "pending"
BLOBS = "blobs"
RETRY_BUDGET = 60.0
"""Seconds an operation keeps retrying while the run is not in the store yet or the store is
unreachable, before it is left for ``labbook sync``."""


def artifacts_dir(run_dir: Path) -> Path:
    return run_dir / "artifacts"


@dataclass
class Op:
    path: Path
    body: dict[str, Any]
    future: Future[VersionInfo]


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, RunNotFound | SinkError | StorageFull | OSError) or (
        isinstance(exc, LabbookError) and exc.status >= 500
    )


def write_op(run_dir: Path, body: dict[str, Any]) -> Path:
    """Persist an operation (atomically: a crash leaves it whole or absent)."""
    pending = artifacts_dir(run_dir) / PENDING
    pending.mkdir(parents=True, exist_ok=True)
    n = len(list(pending.glob("*.json"))) + len(list(pending.glob("*.failed")))
    while True:
        path = pending / f"{n:06d}-{body['kind']}.json"
        if not path.exists():
            break
        n += 1
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body), encoding="utf-8")
    os.replace(tmp, path)
    return path


def keep_files(run_dir: Path, draft: Draft) -> Draft:
    """Copy the draft's files into the run folder (by SHA-256) and point the draft at them."""
    blobs = artifacts_dir(run_dir) / BLOBS
    kept: dict[str, Path] = {}
    for sha, src in draft.sources.items():
        dest = blobs / sha[:2] / sha
        if not dest.is_file():
            copy_into(src, dest)
        kept[sha] = dest
    draft.sources = kept
    return draft


def apply_op(
    backend: Backend, body: dict[str, Any], progress: Callable[[int], None] | None = None
) -> VersionInfo:
    """Carry out one persisted operation against a store."""
    run = RunRef(body["entity"], body["project"], body["run_id"])
    if body["kind"] == "log":
        draft = Draft.from_json(body["draft"])
        v, _ = upload(backend, run.entity, run.project, draft, body["aliases"], run.id, progress)
        return v
    v = backend.version(body["art_entity"], body["art_project"], body["name"], body["version"])
    backend.use(run, v)
    return v


def pending_ops(run_dir: Path) -> list[Path]:
    pending = artifacts_dir(run_dir) / PENDING
    return sorted(pending.glob("*.json")) if pending.is_dir() else []


class Uploader:
    """The run's artifact thread (see the module docstring)."""

    def __init__(
        self,
        run_dir: Path,
        backend: Callable[[], Backend],
        offline: bool,
        entity: Callable[[], str],
    ) -> None:
        self.run_dir = run_dir
        self._backend = backend
        self.offline = offline
        self._entity = entity
        self._queue: queue.Queue[Op | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="labbook-artifacts", daemon=True)
        self._thread.start()
        self._busy = 0
        self._lock = threading.Lock()
        self.moved = 0  # bytes uploaded or kept so far: finish() waits while this grows
        self.failures: list[str] = []

    def submit(self, body: dict[str, Any]) -> Future[VersionInfo]:
        fut: Future[VersionInfo] = Future()
        path = write_op(self.run_dir, body)
        with self._lock:
            self._busy += 1
        self._queue.put(Op(path, body, fut))
        return fut

    def _progress(self, n: int) -> None:
        self.moved += n

    def _loop(self) -> None:
        while True:
            op = self._queue.get()
            if op is None:
                return
            try:
                self._run(op)
            finally:
                with self._lock:
                    self._busy -= 1

    def _run(self, op: Op) -> None:
        body = op.body
        if body["kind"] == "log" and self.offline:
            body["draft"] = keep_files(self.run_dir, Draft.from_json(body["draft"])).as_json()
            op.path.write_text(json.dumps(body), encoding="utf-8")
            op.future.set_exception(
                LabbookError(
                    f"artifact {body['draft']['name']!r} is kept in {self.run_dir} (offline); "
                    f"`labbook sync {self.run_dir}` uploads it"
                )
            )
            return
        if body["kind"] == "use" and self.offline:
            op.future.set_exception(LabbookError("offline: the use is recorded at sync"))
            return
        deadline = time.monotonic() + RETRY_BUDGET
        delay = 0.05
        while True:
            try:
                if not body.get("entity"):
                    body["entity"] = self._entity()
                    if not body["entity"]:  # the server has not said whose key this is yet
                        raise RunNotFound("the run's entity is not known yet")
                v = apply_op(self._backend(), body, self._progress)
            except BaseException as exc:
                if _transient(exc) and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                if _transient(exc) and body["kind"] == "log":
                    with contextlib.suppress(OSError):  # keep the bytes for `labbook sync`
                        body["draft"] = keep_files(
                            self.run_dir, Draft.from_json(body["draft"])
                        ).as_json()
                        op.path.write_text(json.dumps(body), encoding="utf-8")
                else:
                    with contextlib.suppress(OSError):
                        op.path.rename(op.path.with_suffix(".failed"))
                self.failures.append(f"{_what(body)}: {exc}")
                op.future.set_exception(exc)
                return
            with contextlib.suppress(OSError):
                op.path.unlink()
            op.future.set_result(v)
            return

    def idle(self) -> bool:
        with self._lock:
            return self._busy == 0

    def finish(self, stall_timeout: float, say: Callable[[str], None] | None = None) -> bool:
        """Wait for the queued work while it makes progress (bytes move or operations end);
        give up after ``stall_timeout`` seconds without any. True when everything is done."""
        last = (self.moved, self._busy)
        since = time.monotonic()
        told = False
        while not self.idle():
            time.sleep(0.05)
            now = (self.moved, self._busy)
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since > stall_timeout:
                break
            if not told and say is not None and time.monotonic() - since > 2.0:
                say("labbook: waiting for artifact uploads to finish...")
                told = True
        self._queue.put(None)
        return self.idle()


def _what(body: dict[str, Any]) -> str:
    if body["kind"] == "log":
        return f"artifact {body['draft']['name']!r}"
    return f"use of {body['name']}:{body['version']}"


def sync_pending(
    run_dir: Path, backend: Backend, entity: str | None = None
) -> tuple[int, list[str]]:
    """Apply a run folder's pending operations in order (``labbook sync``); (done, errors)."""
    done, errors = 0, []
    for path in pending_ops(run_dir):
        body = json.loads(path.read_text(encoding="utf-8"))
        if not body.get("entity") and entity:
            body["entity"] = entity
        try:
            apply_op(backend, body)
        except LabbookError as exc:
            errors.append(f"{_what(body)}: {exc.message}")
            continue
        path.unlink()
        done += 1
    return done, errors
