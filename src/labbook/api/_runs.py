"""``labbook.Api``: read runs back for analysis (wandb's public API shape).

History comes back at full fidelity as a pandas DataFrame: one row per step, ``_step``,
``_timestamp`` and ``_runtime`` columns, NaN and ±Inf as logged. It is never sampled.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from labbook.client.credentials import server_settings
from labbook.settings import Settings, local_entity
from labbook.store import KeySeries, RunInfo, RunRef, Store

if TYPE_CHECKING:  # pandas costs ~0.2 s of CPU to import; a training script never needs it
    import pandas as pd

    from labbook.client import RemoteReader


class Api:
    """Read access to the configured server, or to the local store when there is none.

    A server is configured by ``LABBOOK_BASE_URL`` or ``labbook login``; passing ``store`` reads
    that store whatever is configured.
    """

    def __init__(self, settings: Settings | None = None, *, store: Store | None = None) -> None:
        self.settings = server_settings(settings or Settings())
        self._store = store
        self._owns_store = store is None
        self._remote: RemoteReader | None = None
        self._viewer: str | None = None
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
    def default_entity(self) -> str:
        if self.settings.entity:
            return self.settings.entity
        if self._remote is not None:
            if self._viewer is None:
                self._viewer = str(self._remote.client.viewer()["name"])
            return self._viewer
        return local_entity()

    _viewer: str | None = None

    def close(self) -> None:
        if self._store is not None and self._owns_store:
            self._store.close()
            self._store = None
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
            return self.default_entity, parts[0]
        if len(parts) == 2:
            return parts[0], parts[1]
        raise ValueError(f"expected 'entity/project' or 'project', got {path!r}")

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
        parts = path.strip("/").split("/") if isinstance(path, str) else []
        default = self.default_entity if len(parts) == 2 else "-"
        ref = RunRef.parse(path, default)
        return ApiRun(self, self.reader.get_run(ref))


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

    def _infos(self) -> Iterator[RunInfo]:
        reader = self.api.reader
        if not isinstance(reader, Store):
            yield from reader.run_pages(
                self.entity,
                self.project,
                filters=self.filters,
                order=self.order,
                per_page=self.per_page,
            )
            return
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
            for k, v in _flat(run.config).items():
                row[f"config.{k}"] = v
            for k, v in _flat(run.summary).items():
                row[f"summary.{k}"] = v
            rows.append(row)
        return pd.DataFrame(rows)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


class ApiRun:
    """A stored run as the read API shows it."""

    def __init__(self, api: Api, info: RunInfo) -> None:
        self._api = api
        self._info = info

    # identity and attributes
    @property
    def id(self) -> str:
        return self._info.ref.id

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
    def name(self) -> str:
        return self._info.name or self._info.ref.id

    @property
    def state(self) -> str:
        return self._info.state

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._info.config)

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self._info.summary)

    @property
    def tags(self) -> list[str]:
        return list(self._info.tags)

    @property
    def notes(self) -> str | None:
        return self._info.notes

    @property
    def group(self) -> str | None:
        return self._info.group

    @property
    def job_type(self) -> str | None:
        return self._info.job_type

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self._info.metadata)

    @property
    def created_at(self) -> datetime | None:
        return self._info.created_at

    @property
    def exit_code(self) -> int | None:
        return self._info.exit_code

    @property
    def last_seq(self) -> int:
        return self._info.last_seq

    def refresh(self) -> ApiRun:
        self._info = self._api.reader.get_run(self._info.ref)
        return self

    def files(self) -> list[Any]:
        return list(self._api.reader.files(self._info.ref))

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
    """Align per-key series on their steps into one frame, keeping each key's dtype."""
    import pandas as pd

    nonempty = {k: s for k, s in series.items() if len(s.steps)}
    if not nonempty:
        return pd.DataFrame({"_step": np.array([], dtype=np.int64)})
    steps = np.unique(np.concatenate([s.steps for s in nonempty.values()]))
    n = len(steps)
    times = np.full(n, np.nan)
    columns: dict[str, Any] = {"_step": steps}
    for key in sorted(nonempty):
        s = nonempty[key]
        idx = np.searchsorted(steps, s.steps)
        times[idx] = np.fmax(times[idx], s.times)
        if len(idx) == n:
            columns[key] = s.values
            continue
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
    columns["_timestamp"] = times
    start = started_at.timestamp() if started_at is not None else (times[0] if n else 0.0)
    columns["_runtime"] = times - start
    frame = pd.DataFrame(columns)
    ordered = ["_step", *sorted(nonempty), "_timestamp", "_runtime"]
    return frame[ordered]
