"""Plain values the Store hands out; no database objects leak past the Store's methods."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from labbook.errors import ValidationError
from labbook.limits import MAX_NAME_CHARS

if TYPE_CHECKING:
    import numpy as np


def _empty(dtype: str) -> np.ndarray:
    """An empty array; numpy is imported here, on first use, so that ``RunRef`` (which the SDK's
    training thread needs) costs nothing to import."""
    import numpy

    return numpy.empty(0, dtype)


RUN_STATES = ("running", "finished", "failed", "crashed")


def _check_part(kind: str, value: str) -> None:
    if not isinstance(value, str) or not value or "/" in value or value != value.strip():
        raise ValidationError(f"invalid {kind} {value!r}: must be a non-empty name without '/'")
    if len(value) > MAX_NAME_CHARS:
        raise ValidationError(f"invalid {kind}: longer than {MAX_NAME_CHARS} characters")


@dataclass(frozen=True)
class RunRef:
    """Where a run lives: ``entity/project/id``."""

    entity: str
    project: str
    id: str

    def __post_init__(self) -> None:
        _check_part("entity", self.entity)
        _check_part("project", self.project)
        _check_part("run id", self.id)

    @classmethod
    def parse(cls, path: str, default_entity: str) -> RunRef:
        """Accept ``entity/project/id``, ``project/id`` and wandb's ``entity/project/runs/id``."""
        parts = path.strip("/").split("/") if isinstance(path, str) else []
        if len(parts) == 4 and parts[2] == "runs":
            parts = [parts[0], parts[1], parts[3]]
        if len(parts) == 2:
            return cls(default_entity, parts[0], parts[1])
        if len(parts) == 3:
            return cls(parts[0], parts[1], parts[2])
        raise ValidationError(
            f"invalid run path {path!r}: expected 'entity/project/id', 'project/id' "
            "or 'entity/project/runs/id'"
        )

    def __str__(self) -> str:
        return f"{self.entity}/{self.project}/{self.id}"


@dataclass(frozen=True)
class ProjectInfo:
    entity: str
    name: str
    created_at: dt.datetime
    run_count: int
    last_run_at: dt.datetime | None
    visibility: str = "private"


@dataclass
class RunInfo:
    ref: RunRef
    name: str | None
    state: str
    exit_code: int | None
    config: dict[str, Any]
    summary: dict[str, Any]
    tags: list[str]
    notes: str | None
    group: str | None
    job_type: str | None
    metadata: dict[str, Any]
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    heartbeat_at: dt.datetime | None
    last_seq: int


@dataclass(frozen=True)
class MetricKeyInfo:
    """One logged key of a run.

    ``dtype`` is the scalar type ("float" | "int" | "bool") when any number was logged under the
    key, else "text" (only strings, maybe None) or "object" (media references, dicts).
    ``min``/``max`` cover the numeric values only (NaN-ignoring; as floats for huge ints);
    ``count`` counts every logged value; ``last`` is the most recently logged value, exactly as
    logged, and ``last_step`` its step.
    """

    key: str
    dtype: str
    last: Any
    min: float | int | bool | None
    max: float | int | bool | None
    count: int
    last_step: int | None


@dataclass
class KeySeries:
    """One key's full-fidelity history, in step order."""

    steps: np.ndarray
    values: np.ndarray
    times: np.ndarray

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class Envelope:
    """Per-bucket first/last/min/max/count of a numeric key, for the non-empty buckets only.

    Bucket ``b`` covers the steps ``s`` with
    ``floor((s - step_min) * buckets / (step_max - step_min + 1)) == b``; ``bucket_lo`` is the
    first step it covers. Values are float64 whatever the key's type.

    A bucket's edge may sit a little off the formula's (see ``envelope.py``: a sub-block is not
    cut); ``bucket_lo`` then says where it is, and bucket ``i`` holds exactly the points with
    ``bucket_lo[i] <= step < bucket_lo[i + 1]``. ``first_time``/``last_time`` are the wall times
    (unix seconds) of each bucket's first and last point, when asked for (``times=True``); empty
    otherwise.
    """

    step_min: int
    step_max: int
    buckets: int
    bucket_width: float
    bucket_lo: np.ndarray = field(default_factory=lambda: _empty("int64"))
    first_step: np.ndarray = field(default_factory=lambda: _empty("int64"))
    last_step: np.ndarray = field(default_factory=lambda: _empty("int64"))
    first: np.ndarray = field(default_factory=lambda: _empty("float64"))
    last: np.ndarray = field(default_factory=lambda: _empty("float64"))
    min: np.ndarray = field(default_factory=lambda: _empty("float64"))
    max: np.ndarray = field(default_factory=lambda: _empty("float64"))
    count: np.ndarray = field(default_factory=lambda: _empty("int64"))
    first_time: np.ndarray = field(default_factory=lambda: _empty("float64"))
    last_time: np.ndarray = field(default_factory=lambda: _empty("float64"))

    def __len__(self) -> int:
        return len(self.bucket_lo)


@dataclass(frozen=True)
class FileInfo:
    path: str
    sha256: str
    size: int
    updated_at: dt.datetime


# ---------------------------------------------------------------------------------- artifacts
@dataclass(frozen=True)
class RunLink:
    """A run named in an artifact's lineage (who logged or used a version)."""

    entity: str
    project: str
    id: str
    name: str | None
    state: str


@dataclass
class VersionInfo:
    """One committed artifact version. ``aliases`` include ``latest`` on the newest version."""

    id: int
    entity: str
    project: str
    name: str
    type: str
    index: int
    digest: str
    description: str | None
    metadata: dict[str, Any]
    aliases: list[str]
    size: int
    file_count: int
    created_at: dt.datetime
    logged_by: RunLink | None

    @property
    def version(self) -> str:
        return f"v{self.index}"

    @property
    def qualified_name(self) -> str:
        return f"{self.entity}/{self.project}/{self.name}:v{self.index}"


@dataclass
class CollectionInfo:
    entity: str
    project: str
    name: str
    type: str
    description: str | None
    version_count: int
    latest: VersionInfo | None
    updated_at: dt.datetime


@dataclass
class LinkInfo:
    """An artifact version linked into a registered model, under the model's own version."""

    model: str
    entity: str
    index: int
    aliases: list[str]
    linked_at: dt.datetime
    artifact: VersionInfo

    @property
    def version(self) -> str:
        return f"v{self.index}"


@dataclass
class RegisteredModelInfo:
    entity: str
    name: str
    description: str | None
    created_at: dt.datetime
    version_count: int
    aliases: dict[str, str]


@dataclass
class LineageGraph:
    """Runs and versions around a root, edges in the direction data flows."""

    root: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, str]] = field(default_factory=list)
    truncated: bool = False
