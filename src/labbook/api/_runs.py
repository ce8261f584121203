"""``labbook.Api``: read runs back for analysis (wandb's public API shape).

History comes back at full fidelity as a pandas DataFrame: one row per step, ``_step``,
``_timestamp`` and ``_runtime`` columns, NaN and ±Inf as logged. It is never sampled.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from labbook.api._artifacts import ApiArtifactsMixin
from labbook.api._files import ApiFile
from labbook.client.credentials import server_settings
from labbook.errors import NotFoundError, ProjectNotFound, UsageError
from labbook.settings import Settings, local_entity
from labbook.store import KeySeries, RunInfo, RunRef, Store
from labbook.store.history import union_steps

if TYPE_CHECKING:  # pandas costs ~0.2 s of CPU to import; a training script never needs it
    import pandas as pd

    from labbook.blobs import BlobStore
    from labbook.client import RemoteReader


class Api(ApiArtifactsMixin):
    """Read access to the configured server, or to the local store when there is none.

    A server is configured by ``LABBOOK_BASE_URL`` or ``labbook login``; passing ``store`` reads
    that store whatever is configured.
    """

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None) -> None:
        self.settings = server_settings(settings or Settings())
        self._store = store
        self._owns_store = store is None
        self._remote: RemoteReader | None = None
        self._viewer: dict[str, Any] | None = None
        self._blobs: BlobStore | None = None
        self._entities: dict[str, str] = {}  # project name -> the entity it was found under
        self._artifact_backend = None
        if store is None and self.settings.base_url is not None:
            from labbook.client import Client, RemoteReader

            self._remote = RemoteReader(Client.from_settings(self.settings))

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.from_settings(self.settings)
        return self._store

    @property
    def reader(self) -> Store | RemoteReader:
        """Where reads go: the server's reader when one is configured, else the local store."""
        return self._remote if self._remote is not None else self.store

    @property
    def remote(self) -> bool:
        return self._remote is not None

    @property
    def blobs(self) -> BlobStore:
        """The local store's blob store (run file contents)."""
        if self._blobs is None:
            from labbook.blobs import open_blobstore

            self._blobs = open_blobstore(self.settings.resolved_blobs_uri(), self.settings)
        return self._blobs

    def viewer(self) -> dict[str, Any]:
        """The server's ``/viewer`` answer for the configured key (asked once)."""
        if self._remote is None:
            raise UsageError("no labbook server is configured; the local store has no viewer")
        if self._viewer is None:
            self._viewer = self._remote.client.viewer()
        return self._viewer

    @property
    def default_entity(self) -> str:
        if self.settings.entity:
            return self.settings.entity
        if self._remote is not None:
            return str(self.viewer()["name"])
        return local_entity()

    def entity_of(self, project: str) -> str:
        """The entity of ``project`` when the caller named none.

        The default entity when it has the project (or ``LABBOOK_ENTITY`` names one); otherwise
        the one entity that has it: among the caller's own and team entities on a server, among
        every entity in the local store. Raises ``ProjectNotFound`` when none has it and
        ``UsageError`` when several do, naming them.
        """
        if project in self._entities:
            return self._entities[project]
        default = self.default_entity
        if self.settings.entity or self.reader.project(default, project) is not None:
            self._entities[project] = default
            return default
        if self._remote is not None:
            viewer = self.viewer()
            mine = [str(viewer["name"])]
            mine += [str(e["name"]) for e in viewer.get("entities") or [] if e["name"] not in mine]
            found = sorted(
                {p.entity for p in self.reader.projects() if p.name == project} & set(mine)
            )
            where = f"any of your entities ({', '.join(mine)}) on {self.settings.base_url}"
        else:
            found = sorted({p.entity for p in self.store.projects() if p.name == project})
            where = f"the local store ({self.settings.resolved_db_url()})"
        if not found:
            raise ProjectNotFound(f"no project {project!r} in {where}; name it as ENTITY/{project}")
        if len(found) > 1:
            raise UsageError(
                f"project {project!r} exists in several entities; name one of "
                + ", ".join(f"{e}/{project}" for e in found)
            )
        self._entities[project] = found[0]
        return found[0]

    def close(self) -> None:
        self._artifact_backend = None
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None
        self._blobs = None
        if self._remote is not None:
            self._remote.close()
            self._remote = None

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def projects(self, entity: str | None = None) -> list[Any]:
        return list(self.reader.projects(entity))

    def _project_path(self, path: str) -> tuple[str, str]:
        parts = [p for p in path.strip("/").split("/") if p]
        if len(parts) == 1:
            return self.entity_of(parts[0]), parts[0]
        if len(parts) == 2:
            return parts[0], parts[1]
        raise ValueError(f"expected 'entity/project' or 'project', got {path!r}")

    def run_ref(self, path: str) -> RunRef:
        """``entity/project/id``, ``project/id`` (entity found as for :meth:`runs`) or wandb's
        ``entity/project/runs/id`` as a reference."""
        parts = path.strip("/").split("/") if isinstance(path, str) else []
        if len(parts) == 2 and all(parts):
            return RunRef(self.entity_of(parts[0]), parts[0], parts[1])
        return RunRef.parse(path, "-")

    def runs(
        self,
        path: str,
        filters: dict[str, Any] | None = None,
        order: str | list[str] | None = None,
        per_page: int = 100,
    ) -> Runs:
        entity, project = self._project_path(path)
        return Runs(self, entity, project, filters, order, per_page)

    def run(self, path: str) -> ApiRun:
        return ApiRun(self, self.reader.get_run(self.run_ref(path)))


class Runs:
    """Lazily paged runs of a project; iterate it, ``len()`` it or ``to_pandas()`` it."""

    def __init__(
        self,
        api: Api,
        entity: str,
        project: str,
        filters: dict[str, Any] | None,
        order: str | list[str] | None,
        per_page: int,
    ) -> None:
        self.api = api
        self.entity = entity
        self.project = project
        self.filters = filters
        self.order = order
        self.per_page = max(1, per_page)
        self._cache: list[ApiRun] | None = None
        self.warnings: list[str] = []
        """Notes on the query, known once the first page is fetched: a filter or order field
        that no run of the project has (each is also issued as a ``UserWarning``)."""

    def __iter__(self) -> Iterator[ApiRun]:
        if self._cache is not None:
            yield from self._cache
            return
        fetched: list[ApiRun] = []
        for info in self._infos():
            run = ApiRun(self.api, info)
            fetched.append(run)
            yield run
        self._cache = fetched

    def _warn(self, notes: list[str]) -> None:
        for note in notes:
            if note not in self.warnings:
                self.warnings.append(note)
                warnings.warn(note, UserWarning, stacklevel=4)

    def _infos(self) -> Iterator[RunInfo]:
        reader = self.api.reader
        if not isinstance(reader, Store):
            notes: list[str] = []
            pages = reader.run_pages(
                self.entity,
                self.project,
                filters=self.filters,
                order=self.order,
                per_page=self.per_page,
                warnings=notes,
            )
            for i, info in enumerate(pages):
                if i == 0:
                    self._warn(notes)
                yield info
            self._warn(notes)  # a query that matched nothing
            return
        if self.filters or self.order:
            self._warn(
                reader.absent_fields(
                    self.entity, self.project, filters=self.filters, order=self.order
                )
            )
        offset = 0
        while True:
            page = reader.list_runs(
                self.entity,
                self.project,
                filters=self.filters,
                order=self.order,
                limit=self.per_page,
                offset=offset,
            )
            yield from page
            if len(page) < self.per_page:
                return
            offset += len(page)

    def __len__(self) -> int:
        return len(list(iter(self)))

    def __getitem__(self, i: int) -> ApiRun:
        return list(iter(self))[i]

    def to_pandas(self) -> pd.DataFrame:
        """One row per run: identity and state, then ``config.*`` and ``summary.*`` columns."""
        import pandas as pd

        rows = []
        for run in self:
            row: dict[str, Any] = {
                "id": run.id,
                "name": run.name,
                "state": run.state,
                "created_at": run.created_at,
                "tags": list(run.tags),
                "group": run.group,
                "job_type": run.job_type,
            }
            for k, v in flatten(run.config).items():
                row[f"config.{k}"] = v
            for k, v in flatten(run.summary).items():
                row[f"summary.{k}"] = v
            rows.append(row)
        return pd.DataFrame(rows)


def _copy_json(v: Any) -> Any:
    """A copy of a JSON-shaped value (dicts, lists, scalars): ``deepcopy`` without its memo and
    dispatch, which cost a tenth of a second for a thousand runs' configs."""
    if isinstance(v, dict):
        return {k: _copy_json(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy_json(x) for x in v]
    return v


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config values as dotted keys (``optim.lr``); a logged media value stays one value."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict) and not isinstance(v.get("_type"), str):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class ApiRun:
    """A stored run as the read API shows it (wandb's public ``Run``).

    ``name``, ``tags``, ``notes``, ``config``, ``group`` and ``job_type`` may be changed in
    place; :meth:`update` stores the changes.
    """

    def __init__(self, api: Api, info: RunInfo) -> None:
        self._api = api
        self._set(info)

    def _set(self, info: RunInfo) -> None:
        self._info = info
        self.name: str = info.name or info.ref.id
        self.tags: list[str] = list(info.tags)
        self.notes: str | None = info.notes
        self.config: dict[str, Any] = _copy_json(info.config)
        self.group: str | None = info.group
        self.job_type: str | None = info.job_type

    # identity and attributes
    @property
    def id(self) -> str:
        return self._info.ref.id

    def logged_artifacts(self) -> list[Any]:
        """The artifact versions this run logged (``labbook.Artifact`` objects)."""
        return self._api._run_artifacts(self._info.ref, 0)

    def used_artifacts(self) -> list[Any]:
        """The artifact versions this run used."""
        return self._api._run_artifacts(self._info.ref, 1)

    @property
    def entity(self) -> str:
        return self._info.ref.entity

    @property
    def project(self) -> str:
        return self._info.ref.project

    @property
    def path(self) -> list[str]:
        return [self.entity, self.project, self.id]

    @property
    def display_name(self) -> str:
        return self.name

    @display_name.setter
    def display_name(self, value: str) -> None:
        self.name = value

    @property
    def state(self) -> str:
        return self._info.state

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self._info.summary)

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._info.metadata)

    @property
    def created_at(self) -> datetime | None:
        return self._info.created_at

    @property
    def started_at(self) -> datetime | None:
        return self._info.started_at

    @property
    def finished_at(self) -> datetime | None:
        return self._info.finished_at

    @property
    def heartbeat_at(self) -> datetime | None:
        return self._info.heartbeat_at

    @property
    def runtime(self) -> float | None:
        """Seconds from start to finish (to the last heartbeat while running or crashed)."""
        start = self._info.started_at or self._info.created_at
        end = self._info.finished_at or self._info.heartbeat_at
        if start is None or end is None:
            return None
        return max(0.0, (end - start).total_seconds())

    @property
    def exit_code(self) -> int | None:
        return self._info.exit_code

    @property
    def last_seq(self) -> int:
        return self._info.last_seq

    def refresh(self) -> ApiRun:
        """Read the run again (edits not yet stored with :meth:`update` are dropped)."""
        self._set(self._api.reader.get_run(self._info.ref))
        return self

    def update(self) -> ApiRun:
        """Store what was changed on this object: name, tags, notes, config, group, job_type.

        The config is stored whole, as it now is. Over a server this needs the member role on
        the run's entity; the server's refusal is raised as it is (``PermissionDenied``).
        """
        info = self._info
        changes: dict[str, Any] = {}
        if self.name != (info.name or info.ref.id):
            changes["name"] = self.name
        if list(self.tags) != info.tags:
            changes["tags"] = list(self.tags)
        if self.notes != info.notes:
            changes["notes"] = self.notes or ""
        if self.config != info.config:
            changes["config"] = self.config
        if self.group != info.group:
            changes["group"] = self.group or ""
        if self.job_type != info.job_type:
            changes["job_type"] = self.job_type or ""
        if changes:
            self._set(self._api.reader.update_run(info.ref, **changes))
        return self

    def delete(self, delete_artifacts: bool = False) -> None:
        """Delete the run: its history, metric keys, tags and file records (wandb's
        ``delete_artifacts`` is accepted; a run's files are its only artifacts here, and their
        contents stay in the content-addressed blob store, which other runs may share).

        Over a server this needs the member role on the run's entity.
        """
        self._api.reader.delete_run(self._info.ref)

    def files(self, names: Sequence[str] | None = None) -> list[ApiFile]:
        """The run's files (only those named, when ``names`` is given), sorted by path."""
        ref = self._info.ref
        found = [ApiFile(self._api, ref, f) for f in self._api.reader.files(ref)]
        if names is not None:
            wanted = set(names)
            found = [f for f in found if f.name in wanted]
        return found

    def file(self, name: str) -> ApiFile:
        """One file of the run by its path; ``NotFoundError`` naming the run when it has none."""
        for f in self.files():
            if f.name == name:
                return f
        raise NotFoundError(f"run {self._info.ref} has no file {name!r}")

    def metric_keys(self) -> list[Any]:
        return list(self._api.reader.metric_keys(self._info.ref))

    def history(
        self,
        keys: Sequence[str] | None = None,
        pandas: bool = True,
        stream: str = "default",
        **_: Any,
    ) -> Any:
        """Every logged row (never sampled) as a DataFrame sorted by ``_step``.

        ``stream="system"`` gives the ``system/*`` samples instead (their ``_step`` is the sample
        index, not a training step, which is why they are not mixed into the default stream).
        """
        if stream not in ("default", "system"):
            raise ValueError(f"stream must be 'default' or 'system', not {stream!r}")
        if keys is None:
            system = stream == "system"
            keys = [
                k.key
                for k in self._api.reader.metric_keys(self._info.ref)
                if k.key.startswith("system/") == system
            ]
        series = self._api.reader.history(self._info.ref, list(keys))
        df = history_frame(series, self._info.started_at)
        if not pandas:
            return df.to_dict(orient="records")
        return df

    def scan_history(self, keys: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        yield from self.history(keys).to_dict(orient="records")

    def __repr__(self) -> str:
        return f"<Run {self.entity}/{self.project}/{self.id} ({self.state})>"


def history_frame(series: dict[str, KeySeries], started_at: datetime | None) -> pd.DataFrame:
    """Align per-key series on their steps into one frame, keeping each key's dtype.

    Built from the series' numpy arrays without a per-point Python object: a key whose steps are
    the frame's steps becomes its column as it is (pandas is told not to copy), and only keys
    logged at other steps are scattered into NaN-filled columns. A step logged twice under one
    key keeps its last value.
    """
    import pandas as pd

    nonempty = {k: s for k, s in sorted(series.items()) if len(s.steps)}
    if not nonempty:
        return pd.DataFrame({"_step": np.array([], dtype=np.int64)})
    steps = union_steps([s.steps for s in nonempty.values()])
    n = len(steps)
    times: np.ndarray | None = None
    columns: dict[str, Any] = {"_step": steps}
    for key, s in nonempty.items():
        if s.steps is steps or (len(s.steps) == n and np.array_equal(s.steps, steps)):
            columns[key] = s.values
            times = s.times if times is None else np.fmax(times, s.times)
            continue
        idx = np.searchsorted(steps, s.steps)
        if times is None:
            times = np.full(n, np.nan)
        elif not times.flags.writeable or any(times is t.times for t in nonempty.values()):
            times = times.copy()  # never write into a series' own array
        times[idx] = np.fmax(times[idx], s.times)
        vals = s.values
        if vals.dtype.kind == "f":
            col = np.full(n, np.nan)
            col[idx] = vals
            columns[key] = col
        elif vals.dtype.kind in "iub":
            dtype = "Int64" if vals.dtype.kind in "iu" else "boolean"
            mask = np.ones(n, dtype=bool)
            mask[idx] = False
            filled = np.zeros(n, dtype=vals.dtype)
            filled[idx] = vals
            columns[key] = pd.Series(filled).astype(dtype).mask(mask)  # type: ignore[call-overload]
        else:
            col_o = np.full(n, None, dtype=object)
            col_o[idx] = vals
            columns[key] = col_o
    assert times is not None
    columns["_timestamp"] = times
    start = started_at.timestamp() if started_at is not None else float(times[0])
    columns["_runtime"] = times - start
    return pd.DataFrame(columns, copy=False)
