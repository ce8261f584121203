"""Where artifact versions live, behind one narrow seam: the local Store with its BlobStore, or a
labbook server over HTTP. Both answer in the Store's own value types (``VersionInfo``,
``LinkInfo``, ``Entry``, ``LineageGraph``), so everything above (upload, download, the
``Artifact`` object, the CLI) is written once.

The seam is the REST contract's shape (docs/api.md, "Artifacts"): commit a manifest, learn which
blobs are missing, put those, commit again. Over HTTP that is what makes an upload resumable;
locally the same steps cost nothing extra and keep the two paths one.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from labbook.errors import ChecksumMismatch, ValidationError
from labbook.manifests import Entry
from labbook.store.models import LineageGraph, LinkInfo, RunLink, RunRef, VersionInfo

if TYPE_CHECKING:
    from labbook.blobs import BlobStore
    from labbook.client import Client
    from labbook.settings import Settings
    from labbook.store import Store

Progress = Callable[[int], None]
"""Called with the number of bytes just moved (for progress bars)."""

UPLOAD_CHUNK = 1 << 20


class Backend(Protocol):
    """The operations artifacts need; see the module docstring."""

    remote: bool
    """True over HTTP: downloads then go through the local cache."""

    def commit(
        self,
        entity: str,
        project: str,
        name: str,
        type: str,
        entries: list[Entry],
        *,
        description: str | None,
        metadata: dict[str, Any] | None,
        aliases: list[str],
        run_id: str | None,
    ) -> tuple[VersionInfo, bool]:
        """Commit; raises BlobsMissing naming the blobs to put first."""
        ...

    def put_blob(
        self, entity: str, project: str, sha256: str, path: Path, progress: Progress | None
    ) -> None:
        """Store one file as the blob ``sha256``; ChecksumMismatch if its bytes hash otherwise."""
        ...

    def version(self, entity: str, project: str, name: str, ref: str) -> VersionInfo: ...

    def versions(self, entity: str, project: str, name: str) -> list[VersionInfo]: ...

    def collections(self, entity: str, project: str, type: str | None) -> list[VersionInfo]:
        """The newest version of each collection of a project (of a type)."""
        ...

    def manifest(self, v: VersionInfo) -> list[Entry]: ...

    def read(self, v: VersionInfo, entry: Entry) -> Iterator[bytes]:
        """An entry's bytes, streamed."""
        ...

    def update(
        self,
        v: VersionInfo,
        *,
        aliases: list[str] | None,
        description: str | None,
        metadata: dict[str, Any] | None,
    ) -> VersionInfo: ...

    def delete(self, v: VersionInfo) -> None: ...

    def use(self, run: RunRef, v: VersionInfo) -> None: ...

    def users(self, v: VersionInfo) -> list[RunLink]: ...

    def run_artifacts(self, run: RunRef) -> tuple[list[VersionInfo], list[VersionInfo]]: ...

    def lineage(self, v: VersionInfo | RunRef, depth: int, direction: str) -> LineageGraph: ...

    def link(
        self, entity: str, model: str, v: VersionInfo, aliases: list[str]
    ) -> tuple[LinkInfo, bool]: ...

    def registry_link(self, entity: str, model: str, ref: str) -> LinkInfo: ...

    def close(self) -> None: ...


# ------------------------------------------------------------------------------------- local
class LocalBackend:
    """The Store and BlobStore in this process (the default without a server)."""

    remote = False

    def __init__(self, store: Store, blobs: BlobStore, owns: bool = False) -> None:
        self.store = store
        self.blobs = blobs
        self._owns = owns
        # Blobs put but not yet recorded as the project's: recorded in one transaction at the
        # next commit, not one each (a thousand small files were a thousand SQLite commits).
        self._put: dict[tuple[str, str], list[tuple[str, int]]] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalBackend:
        from labbook.blobs import open_blobstore
        from labbook.store import Store

        store = Store.from_settings(settings)
        return cls(store, open_blobstore(settings.resolved_blobs_uri(), settings), owns=True)

    @property
    def blobs_are_local_files(self) -> bool:
        return self.blobs.uri.startswith("file://")

    def commit(
        self,
        entity: str,
        project: str,
        name: str,
        type: str,
        entries: list[Entry],
        *,
        description: str | None,
        metadata: dict[str, Any] | None,
        aliases: list[str],
        run_id: str | None,
    ) -> tuple[VersionInfo, bool]:
        with self._lock:
            held = self._put.pop((entity, project), [])
        if held:
            self.store.add_project_blobs(entity, project, held)
        return self.store.commit_artifact(
            entity, project, name, type, entries, description=description,
            metadata=metadata, aliases=aliases, run_id=run_id,
        )  # fmt: skip

    def put_blob(
        self, entity: str, project: str, sha256: str, path: Path, progress: Progress | None
    ) -> None:
        real = self.blobs.put_file(path, sha256)  # a no-op for a blob already stored
        if real != sha256:
            raise ChecksumMismatch(
                f"{path} changed after it was added to the artifact (it hashes to "
                f"{real[:12]}…, not {sha256[:12]}…); add it again"
            )
        with self._lock:
            self._put.setdefault((entity, project), []).append((sha256, path.stat().st_size))
        if progress is not None:
            progress(path.stat().st_size)

    def version(self, entity: str, project: str, name: str, ref: str) -> VersionInfo:
        return self.store.artifact_version(entity, project, name, ref)

    def versions(self, entity: str, project: str, name: str) -> list[VersionInfo]:
        return self.store.artifact_collection(entity, project, name)[1]

    def collections(self, entity: str, project: str, type: str | None) -> list[VersionInfo]:
        return [
            c.latest for c in self.store.artifact_collections(entity, project, type) if c.latest
        ]

    def manifest(self, v: VersionInfo) -> list[Entry]:
        return self.store.artifact_manifest(v.id)

    def read(self, v: VersionInfo, entry: Entry) -> Iterator[bytes]:
        return self.blobs.open_read(entry.digest)

    def update(
        self,
        v: VersionInfo,
        *,
        aliases: list[str] | None,
        description: str | None,
        metadata: dict[str, Any] | None,
    ) -> VersionInfo:
        return self.store.update_artifact_version(
            v, aliases=aliases, description=description, metadata=metadata
        )

    def delete(self, v: VersionInfo) -> None:
        self.store.delete_artifact_version(v)

    def use(self, run: RunRef, v: VersionInfo) -> None:
        self.store.use_artifact(run, v.id)

    def users(self, v: VersionInfo) -> list[RunLink]:
        return self.store.artifact_users(v.id)

    def run_artifacts(self, run: RunRef) -> tuple[list[VersionInfo], list[VersionInfo]]:
        return self.store.run_artifacts(run)

    def lineage(self, v: VersionInfo | RunRef, depth: int, direction: str) -> LineageGraph:
        if isinstance(v, RunRef):
            return self.store.run_lineage(v, depth, direction)
        return self.store.version_lineage(v, depth, direction)

    def link(
        self, entity: str, model: str, v: VersionInfo, aliases: list[str]
    ) -> tuple[LinkInfo, bool]:
        if v.type != "model":
            raise ValidationError(
                f"only artifacts of type 'model' can be registered; {v.name}:{v.version} is "
                f"of type {v.type!r}"
            )
        return self.store.link_model(entity, model, v.id, aliases)

    def registry_link(self, entity: str, model: str, ref: str) -> LinkInfo:
        return self.store.registry_link(entity, model, ref)

    def close(self) -> None:
        if self._owns:
            self.store.close()


# ------------------------------------------------------------------------------------ remote
def _time(v: str) -> dt.datetime:
    return dt.datetime.fromisoformat(v.replace("Z", "+00:00"))


def _run_link(d: dict[str, Any] | None) -> RunLink | None:
    if d is None:
        return None
    return RunLink(d["entity"], d["project"], d["id"], d.get("name"), d.get("state", ""))


def version_of(d: dict[str, Any]) -> VersionInfo:
    """A ``VersionOut`` answer as the Store's value (``id`` 0: the server's key is its own)."""
    return VersionInfo(
        id=0,
        entity=d["entity"],
        project=d["project"],
        name=d["name"],
        type=d["type"],
        index=int(d["index"]),
        digest=d["digest"],
        description=d.get("description"),
        metadata=dict(d.get("metadata") or {}),
        aliases=list(d.get("aliases") or []),
        size=int(d["size"]),
        file_count=int(d["file_count"]),
        created_at=_time(d["created_at"]),
        logged_by=_run_link(d.get("logged_by")),
    )


def _link_of(d: dict[str, Any]) -> LinkInfo:
    return LinkInfo(
        model=d["model"],
        entity=d["entity"],
        index=int(d["index"]),
        aliases=list(d["aliases"]),
        linked_at=_time(d["linked_at"]),
        artifact=version_of(d["artifact"]),
    )


def _q(*parts: str) -> str:
    return "/".join(quote(p, safe="") for p in parts)


class RemoteBackend:
    """A labbook server, through the one HTTP client (its retries, auth and error mapping)."""

    remote = True

    def __init__(self, client: Client, owns: bool = False) -> None:
        self.client = client
        self._owns = owns

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteBackend:
        from labbook.client import Client

        return cls(Client.from_settings(settings), owns=True)

    def _coll(self, entity: str, project: str, name: str) -> str:
        return f"/projects/{_q(entity, project)}/artifacts/{_q(name)}"

    def _ver(self, v: VersionInfo) -> str:
        return f"{self._coll(v.entity, v.project, v.name)}/v{v.index}"

    def commit(
        self,
        entity: str,
        project: str,
        name: str,
        type: str,
        entries: list[Entry],
        *,
        description: str | None,
        metadata: dict[str, Any] | None,
        aliases: list[str],
        run_id: str | None,
    ) -> tuple[VersionInfo, bool]:
        body = {
            "type": type,
            "description": description,
            "metadata": metadata,
            "aliases": aliases,
            "run": run_id,
            "entries": [e.as_dict() for e in entries],
        }
        resp = self.client.request(
            "POST", self._coll(entity, project, name) + "/versions", json_body=body
        )
        return version_of(resp.json()), resp.status_code == 201

    def put_blob(
        self, entity: str, project: str, sha256: str, path: Path, progress: Progress | None
    ) -> None:
        def chunks() -> Iterable[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(UPLOAD_CHUNK):
                    yield chunk
                    if progress is not None:
                        progress(len(chunk))

        try:
            self.client.request(
                "PUT",
                f"/projects/{_q(entity, project)}/blobs/{sha256}",
                content=chunks,
                headers={"Content-Type": "application/octet-stream"},
            )
        except ValidationError as exc:
            if "hashes to" not in exc.message:
                raise
            raise ChecksumMismatch(
                f"{path} changed after it was added to the artifact; add it again"
            ) from exc

    def version(self, entity: str, project: str, name: str, ref: str) -> VersionInfo:
        return version_of(self.client.get(f"{self._coll(entity, project, name)}/{_q(ref)}"))

    def versions(self, entity: str, project: str, name: str) -> list[VersionInfo]:
        body = self.client.get(self._coll(entity, project, name))
        return [version_of(v) for v in body["versions"]]

    def collections(self, entity: str, project: str, type: str | None) -> list[VersionInfo]:
        params = {"type": type} if type else None
        body = self.client.get(f"/projects/{_q(entity, project)}/artifacts", params=params)
        return [version_of(c["latest"]) for c in body if c.get("latest")]

    def manifest(self, v: VersionInfo) -> list[Entry]:
        body = self.client.get(self._ver(v) + "/manifest")
        return [
            Entry(e["path"], e["digest"], int(e["size"]), e.get("ref")) for e in body["entries"]
        ]

    def read(self, v: VersionInfo, entry: Entry) -> Iterator[bytes]:
        with self.client.stream("GET", f"{self._ver(v)}/files/{quote(entry.path)}") as resp:
            yield from resp.iter_bytes(UPLOAD_CHUNK)

    def update(
        self,
        v: VersionInfo,
        *,
        aliases: list[str] | None,
        description: str | None,
        metadata: dict[str, Any] | None,
    ) -> VersionInfo:
        body = {"aliases": aliases, "description": description, "metadata": metadata}
        resp = self.client.request(
            "PATCH", self._ver(v), json_body={k: x for k, x in body.items() if x is not None}
        )
        return version_of(resp.json())

    def delete(self, v: VersionInfo) -> None:
        self.client.request("DELETE", self._ver(v))

    def use(self, run: RunRef, v: VersionInfo) -> None:
        body = {"entity": v.entity, "project": v.project, "name": v.name, "ref": v.version}
        path = f"/projects/{_q(run.entity, run.project)}/runs/{_q(run.id)}/artifacts/used"
        self.client.request("POST", path, json_body=body)

    def users(self, v: VersionInfo) -> list[RunLink]:
        body = self.client.get(self._ver(v))
        return [r for r in map(_run_link, body["used_by"]) if r is not None]

    def run_artifacts(self, run: RunRef) -> tuple[list[VersionInfo], list[VersionInfo]]:
        path = f"/projects/{_q(run.entity, run.project)}/runs/{_q(run.id)}/artifacts"
        body = self.client.get(path)
        return [version_of(v) for v in body["logged"]], [version_of(v) for v in body["used"]]

    def lineage(self, v: VersionInfo | RunRef, depth: int, direction: str) -> LineageGraph:
        if isinstance(v, RunRef):
            path = f"/projects/{_q(v.entity, v.project)}/runs/{_q(v.id)}/lineage"
        else:
            path = self._ver(v) + "/lineage"
        body = self.client.get(path, params={"depth": depth, "direction": direction})
        return LineageGraph(body["root"], body["nodes"], body["edges"], body["truncated"])

    def link(
        self, entity: str, model: str, v: VersionInfo, aliases: list[str]
    ) -> tuple[LinkInfo, bool]:
        body = {
            "artifact": {
                "entity": v.entity, "project": v.project, "name": v.name, "ref": v.version,
            },
            "aliases": aliases,
        }  # fmt: skip
        resp = self.client.request(
            "POST", f"/registry/{_q(entity, model)}/versions", json_body=body
        )
        return _link_of(resp.json()), resp.status_code == 201

    def registry_link(self, entity: str, model: str, ref: str) -> LinkInfo:
        return _link_of(self.client.get(f"/registry/{_q(entity, model, ref)}"))

    def close(self) -> None:
        if self._owns:
            self.client.close()


def open_backend(settings: Settings) -> Backend:
    """The server's backend when one is configured, else the local store's."""
    from labbook.client.credentials import server_settings

    s = server_settings(settings)
    if s.base_url is not None:
        return RemoteBackend.from_settings(s)
    return LocalBackend.from_settings(settings)
