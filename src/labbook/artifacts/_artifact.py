"""``labbook.Artifact``: wandb's artifact object, a draft until logged, a committed version after.

A draft collects entries: files are hashed as they are added (the hash is what makes a version
one version, and it is known before anything is uploaded), directories walked, references
recorded with their checksum or ETag, media objects and ``new_file`` contents written to a
staging folder of the draft's own. ``run.log_artifact`` freezes it and hands it to the run's
uploader thread, so the training thread never waits on the upload; ``wait()`` does.

A committed version (from ``log_artifact`` once uploaded, ``use_artifact`` or
``Api().artifact``) is read-only but for its aliases, description and metadata (``save()``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from labbook import manifests
from labbook.artifacts._backend import Backend
from labbook.artifacts._transfer import DownloadStats, Draft, download
from labbook.blobs import sha256_file
from labbook.errors import NotFoundError, UsageError
from labbook.limits import normalize_path
from labbook.manifests import Entry
from labbook.store.models import RunLink, VersionInfo

if TYPE_CHECKING:
    from labbook.settings import Settings

# What ``add(obj, name)`` writes for each media kind, and how ``get(name)`` finds it again.
_MEDIA_SUFFIX = {"table": ".table.json", "plot": ".plot.json", "histogram": ".histogram.json",
                 "image": ".image.png"}  # fmt: skip


class ArtifactEntry:
    """One file of an artifact (wandb's ``ArtifactManifestEntry``)."""

    def __init__(self, entry: Entry, artifact: Artifact, local: Path | None = None) -> None:
        self.path = entry.path
        self.digest = entry.digest
        self.size = entry.size
        self.ref = entry.ref
        self._entry = entry
        self._artifact = artifact
        self.local_path = str(local) if local is not None else None

    def download(self, root: str | os.PathLike[str] | None = None) -> str:
        """Download this one file (verified) and return its local path."""
        return self._artifact._download_entries([self._entry], root)[0]

    def ref_target(self) -> str:
        return self.ref or ""

    def __repr__(self) -> str:
        return f"ArtifactEntry({self.path!r}, size={self.size}, digest={self.digest[:12]!r})"


class ArtifactManifest:
    """An artifact's entries by path (``artifact.manifest.entries["model.keras"]``)."""

    def __init__(self, entries: dict[str, ArtifactEntry], digest: str) -> None:
        self.entries = entries
        self.digest = digest

    def __len__(self) -> int:
        return len(self.entries)

    def to_json(self) -> dict[str, Any]:
        return {
            "digest": self.digest,
            "entries": {p: e._entry.as_dict() for p, e in sorted(self.entries.items())},
        }


class Artifact:
    """A versioned set of files: a dataset, a model, predictions (see the module docstring)."""

    def __init__(
        self,
        name: str,
        type: str,
        description: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        if metadata is not None and not isinstance(metadata, dict):
            raise UsageError("artifact metadata must be a dict")
        self._draft: Draft | None = Draft(
            manifests.check_name("artifact name", name),
            manifests.check_name("artifact type", type),
            description,
            dict(metadata or {}),
        )
        self._staging: Path | None = None
        self._version: VersionInfo | None = None
        self._backend: Backend | None = None
        self._backend_source: Callable[[], Backend] | None = None
        self._settings: Settings | None = None
        self._entries: list[Entry] | None = None
        self._future: Future[VersionInfo] | None = None
        self._lock = threading.Lock()
        self._aliases: list[str] = []
        self.description = description
        self.metadata: dict[str, Any] = dict(metadata or {})

    # ------------------------------------------------------------------------ construction
    @classmethod
    def _committed(cls, v: VersionInfo, backend: Backend, settings: Settings) -> Artifact:
        art = cls.__new__(cls)
        art._draft = None
        art._staging = None
        art._backend = backend
        art._backend_source = None
        art._settings = settings
        art._entries = None
        art._future = None
        art._lock = threading.Lock()
        art._bind(v)
        return art

    def _bind(self, v: VersionInfo) -> None:
        self._version = v
        self._aliases = [a for a in v.aliases]
        self.description = v.description
        self.metadata = dict(v.metadata)

    # ---------------------------------------------------------------------------- drafting
    def _writable(self) -> Draft:
        if self._draft is None or self._future is not None or self._version is not None:
            raise UsageError(
                "this artifact is logged and can no longer change; make a new "
                "labbook.Artifact for a new version"
            )
        return self._draft

    def _put(self, entry: Entry, source: Path | None) -> ArtifactEntry:
        draft = self._writable()
        draft.entries[entry.path] = entry
        if source is not None:
            draft.sources[entry.digest] = source
        return ArtifactEntry(entry, self, source)

    def add_file(
        self,
        local_path: str | os.PathLike[str],
        name: str | None = None,
        is_tmp: bool = False,
        **_: Any,
    ) -> ArtifactEntry:
        """Add a file under ``name`` (its own file name by default); hashed now."""
        path = Path(local_path)
        if not path.is_file():
            raise UsageError(f"add_file: {str(path)!r} is not a file")
        digest, size = sha256_file(path)
        entry = manifests.check_entry(name or path.name, digest, size)
        return self._put(entry, path.resolve())

    def add_dir(self, local_path: str | os.PathLike[str], name: str | None = None) -> None:
        """Add every file under a directory, at its relative path (under ``name/`` if given)."""
        root = Path(local_path)
        if not root.is_dir():
            raise UsageError(f"add_dir: {str(root)!r} is not a directory")
        self._writable()
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            for f in sorted(filenames):
                p = Path(dirpath) / f
                rel = p.relative_to(root).as_posix()
                self.add_file(p, f"{name.rstrip('/')}/{rel}" if name else rel)

    def add_reference(
        self, uri: str, name: str | None = None, checksum: bool = True, **_: Any
    ) -> list[ArtifactEntry]:
        """Record a file by URI without copying it: ``file://`` (hashed), ``s3://`` (its ETag)
        or ``http(s)://`` (its ETag or, failing that, a hash of its body)."""
        from labbook.artifacts._references import resolve_reference

        self._writable()
        return [
            self._put(manifests.check_entry(path, digest, size, ref), None)
            for path, digest, size, ref in resolve_reference(uri, name, checksum)
        ]

    def _stage(self) -> Path:
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix="labbook-artifact-"))
        return self._staging

    @contextlib.contextmanager
    def new_file(
        self, name: str, mode: str = "x", encoding: str | None = None
    ) -> Iterator[IO[Any]]:
        """Write a file straight into the artifact: ``with art.new_file("a.txt") as f:``."""
        self._writable()
        clean = normalize_path(name)
        target = self._stage() / "new" / clean
        target.parent.mkdir(parents=True, exist_ok=True)
        binary = "b" in mode
        open_mode = "wb" if binary else "w"
        with open(target, open_mode, encoding=None if binary else (encoding or "utf-8")) as f:
            yield f
        self.add_file(target, clean)

    def add(self, obj: Any, name: str) -> ArtifactEntry:
        """Add a labbook Table, Image, Histogram or plot object as ``name.<kind>.<ext>``; files it
        refers to (a table's images) go in beside it. ``get(name)`` rebuilds the object."""
        to_history = getattr(obj, "_to_history", None)
        if to_history is None:
            raise UsageError(
                f"add(obj, {name!r}): {type(obj).__name__} is not a labbook Table, Image, "
                "Histogram or plot; add a file with add_file or new_file instead"
            )
        self._writable()
        clean = normalize_path(name)
        ref, files = to_history(clean, 0)
        kind = str(ref.get("_type", "object"))
        main = ref.get("path")
        out: ArtifactEntry | None = None
        for path, _sha, data in files:
            target = clean + _MEDIA_SUFFIX.get(kind, f".{kind}.json") if path == main else path
            dest = self._stage() / "media" / target
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            e = self.add_file(dest, target)
            if path == main:
                out = e
        if out is None:  # a histogram's counts live in its reference, not a file
            data = json.dumps(ref, sort_keys=True).encode()
            dest = self._stage() / "media" / (clean + _MEDIA_SUFFIX.get(kind, f".{kind}.json"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data)
            out = self.add_file(dest, dest.relative_to(self._stage() / "media").as_posix())
        return out

    def remove(self, name: str) -> None:
        draft = self._writable()
        if draft.entries.pop(name, None) is None:
            raise NotFoundError(f"the artifact has no entry {name!r}")

    # --------------------------------------------------------------------------- reading
    def _all_entries(self) -> list[Entry]:
        if self._draft is not None and self._version is None:
            return sorted(self._draft.entries.values(), key=lambda e: e.path)
        if self._entries is None:
            self._entries = self._need_backend().manifest(self._need_version())
        return self._entries

    @property
    def manifest(self) -> ArtifactManifest:
        sources = self._draft.sources if self._draft is not None else {}
        entries = {
            e.path: ArtifactEntry(e, self, sources.get(e.digest)) for e in self._all_entries()
        }
        return ArtifactManifest(entries, manifests.manifest_digest(self._all_entries()))

    @property
    def digest(self) -> str:
        """The manifest digest: what makes this content this version."""
        if self._version is not None:
            return self._version.digest
        return manifests.manifest_digest(self._all_entries())

    def get_entry(self, name: str) -> ArtifactEntry:
        for e in self._all_entries():
            if e.path == name:
                sources = self._draft.sources if self._draft is not None else {}
                return ArtifactEntry(e, self, sources.get(e.digest))
        raise NotFoundError(f"artifact {self.name!r} has no file {name!r}")

    get_path = get_entry

    def get(self, name: str) -> Any:
        """The Table, Image, Histogram or plot object ``add(obj, name)`` stored, rebuilt."""
        from labbook.data import media

        paths = {e.path for e in self._all_entries()}
        for kind, suffix in _MEDIA_SUFFIX.items():
            if name + suffix in paths:
                local = Path(self.get_entry(name + suffix).download())
                if kind == "table":
                    return media.Table.from_json(local.read_bytes())
                if kind == "plot":
                    return media.Plot.from_json(local.read_bytes())
                if kind == "image":
                    return media.Image(str(local))
                return json.loads(local.read_bytes())
        raise NotFoundError(f"artifact {self.name!r} has no object {name!r} (added with add())")

    # ------------------------------------------------------------------------ versions
    def _need_version(self) -> VersionInfo:
        if self._version is None:
            if self._future is not None:
                return self.wait()._need_version()
            raise UsageError("this artifact is a draft: log it with run.log_artifact(...) first")
        return self._version

    def _need_backend(self) -> Backend:
        if self._backend is None and self._backend_source is not None:
            self._backend = self._backend_source()
        if self._backend is None:
            raise UsageError("this artifact is a draft: log it with run.log_artifact(...) first")
        return self._backend

    def wait(self, timeout: float | None = None) -> Artifact:
        """Block until the upload has committed the version (raises what stopped it)."""
        if self._future is not None and self._version is None:
            self._bind(self._future.result(timeout))
        return self

    def is_draft(self) -> bool:
        return self._version is None and self._future is None

    @property
    def name(self) -> str:
        """``name:vN`` once committed, the bare name for a draft (as in wandb)."""
        if self._version is not None:
            return f"{self._version.name}:{self._version.version}"
        return self._draft.name if self._draft is not None else ""

    @property
    def source_name(self) -> str:
        return self.name

    @property
    def collection_name(self) -> str:
        return self._version.name if self._version is not None else self.name

    @property
    def qualified_name(self) -> str:
        v = self._need_version()
        return f"{v.entity}/{v.project}/{v.name}:{v.version}"

    @property
    def type(self) -> str:
        if self._version is not None:
            return self._version.type
        return self._draft.type if self._draft is not None else ""

    @property
    def version(self) -> str:
        return self._need_version().version

    @property
    def entity(self) -> str:
        return self._need_version().entity

    @property
    def project(self) -> str:
        return self._need_version().project

    @property
    def id(self) -> str:
        return self.digest

    @property
    def size(self) -> int:
        if self._version is not None:
            return self._version.size
        return sum(e.size for e in self._all_entries())

    @property
    def file_count(self) -> int:
        return len(self._all_entries())

    @property
    def created_at(self) -> Any:
        return self._need_version().created_at

    @property
    def aliases(self) -> list[str]:
        """Editable: change the list, then ``save()``. ``latest`` follows the newest version."""
        return self._aliases

    @aliases.setter
    def aliases(self, value: list[str]) -> None:
        self._aliases = list(value)

    def save(self) -> Artifact:
        """Store edits of ``aliases``, ``description`` and ``metadata`` of a committed version."""
        v = self._need_version()
        wanted = manifests.check_aliases(self._aliases)
        self._bind(
            self._need_backend().update(
                v, aliases=wanted, description=self.description, metadata=self.metadata
            )
        )
        return self

    def delete(self) -> None:
        self._need_backend().delete(self._need_version())

    def logged_by(self) -> RunLink | None:
        """The run that logged this version (``.entity``, ``.project``, ``.id``, ``.name``)."""
        return self._need_version().logged_by

    def used_by(self) -> list[RunLink]:
        """Runs that used this version, in the order they did."""
        return self._need_backend().users(self._need_version())

    def lineage(self, depth: int = 3, direction: str = "both") -> dict[str, Any]:
        g = self._need_backend().lineage(self._need_version(), depth, direction)
        return {"root": g.root, "nodes": g.nodes, "edges": g.edges, "truncated": g.truncated}

    # --------------------------------------------------------------------------- download
    def _default_root(self) -> Path:
        v = self._need_version()
        return Path("artifacts") / f"{v.name}:{v.version}"

    def _download_entries(
        self, entries: list[Entry], root: str | os.PathLike[str] | None
    ) -> list[str]:
        v = self._need_version()
        base = Path(root) if root is not None else self._default_root()
        assert self._settings is not None
        download(self._need_backend(), v, entries, base, self._settings.cache_dir)
        return [str(base / e.path) for e in entries]

    def download(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        progress: Any = None,
        **_: Any,
    ) -> str:
        """Every file under ``root`` (``./artifacts/<name>:vN`` by default), each checked against
        the manifest's SHA-256; files already there and intact are kept, and files this machine
        fetched before come from the cache. Returns the root."""
        v = self._need_version()
        base = Path(root) if root is not None else self._default_root()
        assert self._settings is not None
        self.last_download: DownloadStats = download(
            self._need_backend(), v, self._all_entries(), base, self._settings.cache_dir, progress
        )
        return str(base)

    def file(self, root: str | os.PathLike[str] | None = None) -> str:
        """The path of the artifact's only file, downloaded."""
        entries = [e for e in self._all_entries() if e.ref is None]
        if len(entries) != 1:
            raise UsageError(
                f"artifact {self.name!r} has {len(entries)} files; file() is for one, use "
                "download() or get_entry(name).download()"
            )
        return self._download_entries(entries, root)[0]

    def verify(self, root: str | os.PathLike[str] | None = None) -> None:
        """Raise ChecksumMismatch unless every file under ``root`` matches the manifest."""
        from labbook.errors import ChecksumMismatch

        base = Path(root) if root is not None else self._default_root()
        for e in self._all_entries():
            if e.ref is not None:
                continue
            p = base / e.path
            if not p.is_file():
                raise ChecksumMismatch(f"{p} is missing")
            if sha256_file(p)[0] != e.digest:
                raise ChecksumMismatch(f"{p} does not match the manifest")

    # ----------------------------------------------------------------------------- misc
    def _cleanup(self) -> None:
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def __repr__(self) -> str:
        if self._version is not None:
            return f"<Artifact {self.qualified_name} ({self.type})>"
        return f"<Artifact {self.name} ({self.type}, draft, {len(self._all_entries())} files)>"
