"""The read API's artifacts: ``Api().artifact(...)``, ``.artifacts(...)``, ``.model(...)``, and a
stored run's ``logged_artifacts()`` / ``used_artifacts()`` (wandb's public API shapes).

They answer the same ``labbook.Artifact`` objects a run's ``use_artifact`` does (download,
``get``, aliases and ``save()``), over the local store or the configured server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from labbook import manifests
from labbook.store import RunRef

if TYPE_CHECKING:
    from labbook.artifacts import Artifact, Backend
    from labbook.settings import Settings


class ApiArtifactsMixin:
    settings: Settings
    _artifact_backend: Backend | None = None

    if TYPE_CHECKING:

        @property
        def remote(self) -> bool: ...

        @property
        def default_entity(self) -> str: ...

        def entity_of(self, project: str) -> str: ...

    def artifact_backend(self) -> Backend:
        """The artifacts' side of the store this Api reads (one per Api, made on first use)."""
        if self._artifact_backend is None:
            from labbook.artifacts import LocalBackend, RemoteBackend

            reader: Any = self
            if self.remote:
                self._artifact_backend = RemoteBackend(reader._remote.client)
            else:
                self._artifact_backend = LocalBackend(reader.store, reader.blobs)
        return self._artifact_backend

    def _wrap(self, v: Any) -> Artifact:
        from labbook.artifacts import Artifact

        return Artifact._committed(v, self.artifact_backend(), self.settings)

    def artifact(self, name: str, type: str | None = None) -> Artifact:
        """``entity/project/name:alias`` (or ``project/name:vN``; the entity found as for
        ``runs``)."""
        p = manifests.parse_artifact_path(name)
        if p.project is None:
            raise ValueError(f"name the project: 'project/{name}' or 'entity/project/{name}'")
        entity = p.entity or self.entity_of(p.project)
        v = self.artifact_backend().version(entity, p.project, p.name, p.ref)
        if type is not None and v.type != type:
            raise ValueError(f"artifact {name!r} is of type {v.type!r}, not {type!r}")
        return self._wrap(v)

    def artifacts(
        self, project: str, type: str | None = None, name: str | None = None
    ) -> list[Artifact]:
        """The newest version of each artifact of a project (of one type), or with ``name``
        every version of that artifact, newest first."""
        parts = [x for x in project.strip("/").split("/") if x]
        entity, proj = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
        entity = entity or self.entity_of(proj)
        backend = self.artifact_backend()
        if name is not None:
            found = backend.versions(entity, proj, name)
            if type is not None:
                found = [v for v in found if v.type == type]
        else:
            found = backend.collections(entity, proj, type)
        return [self._wrap(v) for v in found]

    def model(self, name: str) -> Artifact:
        """A registered model's version: ``entity/name:production`` (``name:alias`` for the
        default entity's registry)."""
        head, _, ref = name.rpartition(":") if ":" in name else (name, "", "latest")
        parts = [x for x in head.split("/") if x and x not in ("registry", "model-registry")]
        if len(parts) == 1:
            entity, model = self.default_entity, parts[0]
        elif len(parts) == 2:
            entity, model = parts
        else:
            raise ValueError(f"expected 'entity/name:alias', got {name!r}")
        link = self.artifact_backend().registry_link(entity, model, ref or "latest")
        return self._wrap(link.artifact)

    def _run_artifacts(self, ref: RunRef, which: int) -> list[Artifact]:
        return [self._wrap(v) for v in self.artifact_backend().run_artifacts(ref)[which]]
