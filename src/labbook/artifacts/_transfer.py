"""Moving an artifact's bytes: upload (commit, put what is missing, commit again) and download
(verified against the manifest, through a cache keyed by SHA-256).

Memory stays flat whatever the artifact's size: files are streamed in 1 MiB chunks both ways and
never held whole (1 GB of 1,000 files uploads within a few tens of MB of the interpreter's own,
``bench/artifacts.py``). Uploads of several blobs run on a few threads, since each one waits on
the network or the object store far more than on this process.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labbook.artifacts._backend import Backend, Progress
from labbook.errors import BlobsMissing, ChecksumMismatch, UsageError
from labbook.manifests import Entry
from labbook.store.models import VersionInfo

CHUNK = 1 << 20
UPLOAD_THREADS = 4
DOWNLOAD_THREADS = 4
COMMIT_ATTEMPTS = 3


@dataclass
class Draft:
    """What a version is made of before it is committed: its entries and, for each blob, the
    local file its bytes are read from."""

    name: str
    type: str
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    entries: dict[str, Entry] = field(default_factory=dict)
    sources: dict[str, Path] = field(default_factory=dict)  # sha256 -> a file with those bytes

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "description": self.description,
            "metadata": self.metadata,
            "entries": [e.as_dict() for e in self.entries.values()],
            "sources": {d: str(p) for d, p in self.sources.items()},
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Draft:
        entries = {
            e["path"]: Entry(e["path"], e["digest"], int(e["size"]), e.get("ref"))
            for e in d["entries"]
        }
        return cls(
            d["name"],
            d["type"],
            d.get("description"),
            dict(d.get("metadata") or {}),
            entries,
            {k: Path(v) for k, v in d.get("sources", {}).items()},
        )

    @property
    def size(self) -> int:
        return sum(e.size for e in self.entries.values())


def upload(
    backend: Backend,
    entity: str,
    project: str,
    draft: Draft,
    aliases: list[str],
    run_id: str | None,
    progress: Progress | None = None,
    threads: int = UPLOAD_THREADS,
    on_missing: Callable[[list[str]], None] | None = None,
) -> tuple[VersionInfo, bool]:
    """Commit ``draft`` as a version of ``entity/project/name``; ``(version, created)``.

    The first commit names the blobs the store lacks; only those are sent (an interrupted upload,
    run again, sends the rest and nothing twice); then the commit is made again.
    """
    entries = sorted(draft.entries.values(), key=lambda e: e.path)
    for attempt in range(COMMIT_ATTEMPTS):
        try:
            return backend.commit(
                entity, project, draft.name, draft.type, entries,
                description=draft.description, metadata=draft.metadata or None,
                aliases=aliases, run_id=run_id,
            )  # fmt: skip
        except BlobsMissing as exc:
            if attempt == COMMIT_ATTEMPTS - 1:
                raise
            missing = exc.missing
        if on_missing is not None:
            on_missing(missing)
        unknown = [d for d in missing if d not in draft.sources]
        if unknown:
            raise UsageError(
                f"the store lacks {len(unknown)} blob(s) of artifact {draft.name!r} and no local "
                "file holds them any more"
            )

        def put(sha: str) -> None:
            backend.put_blob(entity, project, sha, draft.sources[sha], progress)

        if threads <= 1 or len(missing) == 1:
            for sha in missing:
                put(sha)
        else:
            with ThreadPoolExecutor(min(threads, len(missing))) as pool:
                for _ in pool.map(put, missing):
                    pass
    raise AssertionError("unreachable")


# ---------------------------------------------------------------------------------- download
def cache_path(cache_dir: Path, sha256: str) -> Path:
    return cache_dir / "artifacts" / "obj" / "sha256" / sha256[:2] / sha256


def _copy_verified(chunks: Iterable[bytes], dest: Path, entry: Entry, what: str,
                   progress: Progress | None) -> None:  # fmt: skip
    """Write ``chunks`` to ``dest`` (via a temporary file beside it) only if they hash to the
    entry's digest; ChecksumMismatch naming the file otherwise, leaving nothing behind."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".lb-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                h.update(chunk)
                size += len(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        if h.hexdigest() != entry.digest or size != entry.size:
            raise ChecksumMismatch(
                f"{entry.path!r} from {what} is corrupt: {size} bytes hashing to "
                f"{h.hexdigest()[:12]}…, the manifest says {entry.size} bytes, "
                f"{entry.digest[:12]}…"
            )
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_file(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


def _intact(path: Path, entry: Entry) -> bool:
    """Whether a file already holds exactly the entry's bytes (a repeated download skips it)."""
    try:
        if not path.is_file() or path.stat().st_size != entry.size:
            return False
        h = hashlib.sha256()
        for chunk in _read_file(path):
            h.update(chunk)
        return h.hexdigest() == entry.digest
    except OSError:
        return False


@dataclass
class DownloadStats:
    files: int = 0
    fetched: int = 0  # files read from the store or server
    from_cache: int = 0  # files copied from the local cache
    kept: int = 0  # files already in place and intact
    references: int = 0  # reference entries (not stored by labbook; not downloaded)


def download(
    backend: Backend,
    v: VersionInfo,
    entries: list[Entry],
    root: Path,
    cache_dir: Path,
    progress: Progress | None = None,
    use_cache: bool | None = None,
) -> DownloadStats:
    """Write every blob entry of ``v`` under ``root``, each verified against its digest.

    Over HTTP (or from an S3 store) a file goes into the cache first, so the next download of
    any artifact holding the same bytes reads nothing from the network; from a local file store
    the blob store itself is the cache.
    """
    stats = DownloadStats()
    cached = backend.remote or not getattr(backend, "blobs_are_local_files", False)
    if use_cache is not None:
        cached = use_cache
    root = Path(root)
    lock = threading.Lock()

    def count(field: str) -> None:
        with lock:
            setattr(stats, field, getattr(stats, field) + 1)

    def one(entry: Entry) -> None:
        dest = root / entry.path
        if _intact(dest, entry):
            count("kept")
            if progress is not None:
                progress(entry.size)
            return
        if not cached:
            _copy_verified(backend.read(v, entry), dest, entry, "the blob store", progress)
            count("fetched")
            return
        hit = cache_path(cache_dir, entry.digest)
        if hit.is_file():
            try:
                _copy_verified(_read_file(hit), dest, entry, f"the cache ({hit})", progress)
                count("from_cache")
                return
            except ChecksumMismatch:
                hit.unlink(missing_ok=True)  # a damaged cache entry is fetched again
        _copy_verified(backend.read(v, entry), hit, entry, "the server", progress)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(hit, dest)  # just verified: copied without hashing it again
        count("fetched")

    blobs = [e for e in entries if e.ref is None]
    stats.files = len(entries)
    stats.references = len(entries) - len(blobs)
    # Remote reads wait on the network or the object store: a few at a time fill the pipe.
    workers = DOWNLOAD_THREADS if cached and len(blobs) > 1 else 1
    if workers == 1:
        for entry in blobs:
            one(entry)
    else:
        with ThreadPoolExecutor(workers) as pool:
            for _ in pool.map(one, blobs):
                pass
    return stats


# ------------------------------------------------------------------------------------- cache
def parse_size(text: str) -> int:
    """``10GB``, ``512MiB``, ``2e9``... as bytes (decimal units are powers of 1000)."""
    s = text.strip().upper().replace(" ", "")
    units = {
        "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
        "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "K": 10**3, "M": 10**6,
        "G": 10**9, "T": 10**12, "B": 1,
    }  # fmt: skip
    for unit in sorted(units, key=len, reverse=True):
        if s.endswith(unit):
            number, mult = s[: -len(unit)], units[unit]
            break
    else:
        number, mult = s, 1
    try:
        value = float(number)
    except ValueError:
        raise UsageError(f"invalid size {text!r}: use e.g. 10GB, 500MB or 2GiB") from None
    if value < 0:
        raise UsageError(f"invalid size {text!r}: must be >= 0")
    return int(value * mult)


@dataclass
class CleanupResult:
    removed_files: int
    removed_bytes: int
    kept_files: int
    kept_bytes: int


def cleanup_cache(
    cache_dir: Path, max_bytes: int, on_remove: Callable[[Path], None] | None = None
) -> CleanupResult:
    """Remove the least recently used cached files until the cache holds at most ``max_bytes``.

    "Used" is the file's access or modification time, whichever is later (a download reads
    the cached copy; filesystems mounted ``noatime`` still see when it was written)."""
    base = cache_dir / "artifacts" / "obj"
    files: list[tuple[float, int, Path]] = []
    if base.is_dir():
        for p in base.rglob("*"):
            if p.is_file():
                st = p.stat()
                files.append((max(st.st_atime, st.st_mtime), st.st_size, p))
    total = sum(s for _, s, _ in files)
    removed = removed_bytes = 0
    for _, size, path in sorted(files):
        if total <= max_bytes:
            break
        path.unlink(missing_ok=True)
        if on_remove is not None:
            on_remove(path)
        total -= size
        removed += 1
        removed_bytes += size
    return CleanupResult(removed, removed_bytes, len(files) - removed, total)


def copy_into(src: Path, dest: Path) -> None:
    """Copy a file (used to keep an offline run's artifact files in its run folder)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
