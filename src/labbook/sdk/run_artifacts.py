"""A run's artifact calls: ``log_artifact``, ``use_artifact``, ``link_model``/``link_artifact``.

Logging returns at once: the artifact's files were hashed when they were added, and the upload
and commit happen on the run's artifact thread (``labbook.artifacts.Uploader``); ``wait()`` and
``finish()`` wait for them. Using resolves the version now (the caller is about to download it)
and records the use on the same thread, so a use made before the sender has stored the run's
header is not refused.
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labbook import manifests
from labbook.errors import UsageError

if TYPE_CHECKING:
    from labbook.artifacts import Artifact, Backend, Uploader
    from labbook.sdk.journal import RunDir
    from labbook.settings import Settings


class RunArtifactsMixin:
    settings: Settings
    id: str
    project: str
    _run_dir: RunDir
    _artifact_backend: Backend | None
    _uploader: Uploader | None
    _artifacts_lock: threading.Lock

    if TYPE_CHECKING:  # the Run's own

        @property
        def entity(self) -> str: ...

        @property
        def offline(self) -> bool: ...

    def _artifacts_init(self) -> None:
        self._artifact_backend = None
        self._uploader = None
        self._artifacts_lock = threading.Lock()

    def _backend(self) -> Backend:
        with self._artifacts_lock:
            if self._artifact_backend is None:
                if self.offline:
                    raise UsageError(
                        "this run is offline: artifacts can be logged (they are uploaded by "
                        "`labbook sync`) but not fetched; use_artifact needs the store or server"
                    )
                from labbook.artifacts import open_backend

                self._artifact_backend = open_backend(self.settings)
            return self._artifact_backend

    def _artifact_thread(self) -> Uploader:
        with self._artifacts_lock:
            if self._uploader is None:
                from labbook.artifacts import Uploader

                self._uploader = Uploader(
                    self._run_dir.path, self._backend, self.offline, lambda: self.entity
                )
            return self._uploader

    def log_artifact(
        self,
        artifact_or_path: Artifact | str | os.PathLike[str],
        name: str | None = None,
        type: str | None = None,
        aliases: list[str] | None = None,
        tags: list[str] | None = None,
        *,
        _producer: bool = True,
    ) -> Artifact:
        """Log a new version of an artifact (or of a file or folder, by path) as this run's
        output; returns at once, ``artifact.wait()`` blocks until it is committed."""
        from labbook.artifacts import Artifact

        if isinstance(artifact_or_path, Artifact):
            art = artifact_or_path
        else:
            path = Path(artifact_or_path)
            art = Artifact(name or path.name.replace(" ", "_"), type or "unspecified")
            if path.is_dir():
                art.add_dir(path)
            else:
                art.add_file(path)
        draft = art._writable()
        wanted = manifests.check_aliases(aliases or [])
        body = {
            "kind": "log",
            "entity": self.entity or None,
            "project": self.project,
            "run_id": self.id,
            "aliases": wanted,
            "producer": _producer,
            "draft": draft.as_json(),
        }
        art._settings = self.settings
        art._future = self._artifact_thread().submit(body)
        if not self.offline:  # opened by the artifact thread, not here: log_artifact is quick
            art._backend_source = self._backend
        return art

    def use_artifact(
        self,
        artifact_or_name: Artifact | str,
        type: str | None = None,
        aliases: list[str] | None = None,
        use_as: str | None = None,
    ) -> Artifact:
        """The version ``name:alias`` (or ``name:vN``, ``project/name:alias``,
        ``entity/project/name:alias``) names, recorded as this run's input."""
        from labbook.artifacts import Artifact

        backend = self._backend()
        if isinstance(artifact_or_name, Artifact):
            art = artifact_or_name
            if art.is_draft():  # wandb: using a new artifact stores it, as this run's input only
                self.log_artifact(art, aliases=aliases, _producer=False).wait()
            v = art.wait()._need_version()
        else:
            p = manifests.parse_artifact_path(artifact_or_name)
            v = backend.version(p.entity or self.entity, p.project or self.project, p.name, p.ref)
            if type is not None and v.type != type:
                raise UsageError(
                    f"artifact {artifact_or_name!r} is of type {v.type!r}, not {type!r}"
                )
            art = Artifact._committed(v, backend, self.settings)
        self._artifact_thread().submit(
            {
                "kind": "use",
                "entity": self.entity or None,
                "project": self.project,
                "run_id": self.id,
                "art_entity": v.entity,
                "art_project": v.project,
                "name": v.name,
                "version": v.version,
            }
        )
        return art

    def link_model(
        self, artifact: Artifact | str, registered_model_name: str, aliases: list[str] | None = None
    ) -> Any:
        """Link a ``model`` artifact version into the registry (``"registry/name"``,
        ``"entity/registry/name"`` or just ``"name"``: the run's entity's registry)."""
        from labbook.artifacts import Artifact

        art = artifact if isinstance(artifact, Artifact) else self.use_artifact(artifact)
        v = art.wait()._need_version()
        parts = [p for p in registered_model_name.split("/") if p]
        if len(parts) == 3 and parts[1] in ("registry", "model-registry"):
            entity, model = parts[0], parts[2]
        elif len(parts) == 2 and parts[0] in ("registry", "model-registry"):
            entity, model = self.entity, parts[1]
        elif len(parts) == 2:
            entity, model = parts
        elif len(parts) == 1:
            entity, model = self.entity, parts[0]
        else:
            raise UsageError(
                f"invalid registered model {registered_model_name!r}: use 'registry/name' or "
                "'entity/registry/name'"
            )
        link, _ = self._backend().link(
            entity, manifests.check_name("registered model name", model), v,
            manifests.check_aliases(aliases or []),
        )  # fmt: skip
        return link

    link_artifact = link_model

    def _finish_artifacts(self) -> None:
        """Wait for logged artifacts while their upload makes progress (``finish``)."""
        up = self._uploader
        if up is None:
            if self._artifact_backend is not None:
                self._artifact_backend.close()
            return
        quiet = self.settings.silent

        def say(line: str) -> None:
            if not quiet:
                print(line, file=sys.__stderr__)

        done = up.finish(self.settings.finish_timeout, say)
        if self.offline and not quiet:
            say(f"labbook: artifacts of this offline run are kept in {self._run_dir.path}")
        elif not done or up.failures:
            for f in up.failures:
                print(f"labbook: {f}", file=sys.__stderr__)
            print(
                "labbook: some artifacts were not uploaded; they are kept in the run folder. "
                f"Upload them with:\n  labbook sync {self._run_dir.path}",
                file=sys.__stderr__,
            )
        if self._artifact_backend is not None and done:
            self._artifact_backend.close()
