"""Resuming a run whose earlier process left records only in its journal.

A process that died while the server was down (or before its sender caught up) leaves records
that only its journal holds. The store then knows an older "last seq" and "last step" than the
run really reached. A resumed process that continued from the store's numbers would reuse the
unsent records' seqs, and the store drops a seq it already holds, so one of the two would be
lost for good, and later values would land at the wrong steps.

So ``init(id=..., resume=...)`` first stores what every earlier journal of the run still holds
(the same replay ``labbook sync`` does, into the sink the new process opened), and the new
journal starts after the highest seq and step found in the store or in those journals. A journal
that cannot be stored now stops the resume with the command that completes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from labbook import records
from labbook.errors import JournalError, LabbookError, UsageError
from labbook.sdk.journal import JOURNAL_NAME, RunDir, read_records, release_lock
from labbook.sdk.sinks import Sink
from labbook.settings import Settings
from labbook.store import RunRef


@dataclass(frozen=True)
class OldJournals:
    """What the earlier journals of a run hold, whether stored or not."""

    dirs: tuple[Path, ...]
    last_seq: int
    """The highest seq any of them holds."""
    next_step: int
    """One past the highest history step any of them holds (0: none logged a row)."""


def old_run_dirs(parent: Path, ref: RunRef) -> list[RunDir]:
    """Run folders under ``parent/labbook`` whose journal is of run ``ref``, oldest first: same
    project and id (and entity, where the header names one). A folder named for the run whose
    header cannot be read is included: its records may be the run's, and only a sync that is
    told the run's identity can store them."""
    root = parent / "labbook"
    if not root.is_dir():
        return []
    found: list[RunDir] = []
    for path in sorted(root.glob(f"*run-*-{ref.id}*")):
        rest = path.name.rsplit(f"-{ref.id}", 1)[-1]
        if rest and not (rest.startswith("-") and rest[1:].isdigit()):
            continue  # another run whose id merely starts with this one
        if path.is_symlink() or not (path / JOURNAL_NAME).is_file():
            continue
        head = _header(path / JOURNAL_NAME)
        if head is not None and (
            head.get("id") != ref.id
            or head.get("project") != ref.project
            or head.get("entity") not in (None, ref.entity)
        ):
            continue
        found.append(RunDir(path.resolve()))
    return sorted(found, key=lambda d: d.path.stat().st_mtime)


def _header(journal: Path) -> records.Record | None:
    try:
        for _, _, rec in read_records(journal):
            return rec if rec.get("t") == records.RUN else None
    except (JournalError, ValueError):
        return None
    return None


def complete_old_journals(
    parent: Path, ref: RunRef, settings: Settings, sink: Sink
) -> OldJournals | None:
    """Store what the earlier journals of ``ref`` hold (through ``sink``); None when there are
    none. Raises UsageError when one belongs to a live process or cannot be stored now."""
    from labbook.sdk.sync import sync_run  # sync builds on this package's sender and sinks

    dirs = old_run_dirs(parent, ref)
    if not dirs:
        return None
    last_seq = 0
    next_step = 0
    for run_dir in dirs:
        lock = run_dir.try_lock()
        if lock is None:
            raise UsageError(
                f"run {ref.entity}/{ref.project}/{ref.id} is still running in another process "
                f"(its journal {run_dir.path} is in use); finish it before resuming"
            )
        release_lock(lock)
        files_dir = sink.files_dir
        try:
            sink.files_dir = run_dir.files
            sync_run(run_dir, settings, sink=sink)
        except (LabbookError, OSError) as exc:
            raise UsageError(
                f"run {ref.entity}/{ref.project}/{ref.id} has records that only its earlier "
                f"journal holds, and they could not be stored now ({exc}). Store them with\n"
                f"  labbook sync {run_dir.path}\nthen resume again."
            ) from None
        finally:
            sink.files_dir = files_dir
        seq, step = _extent(run_dir)
        last_seq = max(last_seq, seq)
        next_step = max(next_step, step)
    return OldJournals(tuple(d.path for d in dirs), last_seq, next_step)


def _extent(run_dir: RunDir) -> tuple[int, int]:
    """The highest seq in the journal, and one past its highest history step."""
    last_seq = 0
    next_step = 0
    with records.gc_paused():
        for _, seq, rec in read_records(run_dir.journal):
            last_seq = max(last_seq, seq)
            if rec.get("t") == records.HISTORY:
                next_step = max(next_step, int(rec["step"]) + 1)
    return last_seq, next_step
