"""Wire schemas of the REST API (pydantic), shared by the routes and the OpenAPI document.

Floats inside ``config``/``summary``/history may be non-finite; in JSON they are the strings
"NaN", "Infinity" and "-Infinity" (see ``wire.py``), so those fields are typed loosely.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from labbook.store import FileInfo, MetricKeyInfo, ProjectInfo, RunInfo
from labbook.store.accounts import KeyInfo, UserInfo

Role = Literal["admin", "member", "viewer"]
Visibility = Literal["private", "public"]
RunState = Literal["running", "finished", "failed", "crashed"]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


# ------------------------------------------------------------------------------------ identity
class EntityRole(BaseModel):
    name: str
    role: Role


class ViewerOut(BaseModel):
    name: str
    admin: bool
    entities: list[EntityRole]


class LoginIn(BaseModel):
    username: str = Field(max_length=128)
    password: str = Field(max_length=1024)


class UserIn(BaseModel):
    name: str = Field(max_length=128)
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    admin: bool = False


class UserOut(BaseModel):
    name: str
    admin: bool
    created_at: dt.datetime

    @classmethod
    def of(cls, u: UserInfo) -> UserOut:
        return cls(name=u.name, admin=u.admin, created_at=u.created_at)


class UserPage(BaseModel):
    items: list[UserOut]
    next_cursor: str | None


class KeyIn(BaseModel):
    name: str | None = Field(default=None, max_length=128)


class KeyOut(BaseModel):
    prefix: str
    name: str | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None

    @classmethod
    def of(cls, k: KeyInfo) -> KeyOut:
        return cls(
            prefix=k.prefix, name=k.name, created_at=k.created_at, last_used_at=k.last_used_at
        )


class NewKeyOut(KeyOut):
    key: str


class KeyPage(BaseModel):
    items: list[KeyOut]
    next_cursor: str | None


class TeamIn(BaseModel):
    name: str = Field(max_length=128)


class TeamOut(BaseModel):
    name: str
    role: Role


class MemberIn(BaseModel):
    role: Role


class MemberOut(BaseModel):
    team: str
    user: str
    role: Role


# ------------------------------------------------------------------------------------ projects
class ProjectIn(BaseModel):
    visibility: Visibility | None = None


class ProjectOut(BaseModel):
    entity: str
    name: str
    visibility: Visibility
    created_at: dt.datetime
    run_count: int
    last_run_at: dt.datetime | None

    @classmethod
    def of(cls, p: ProjectInfo) -> ProjectOut:
        return cls(
            entity=p.entity,
            name=p.name,
            visibility=p.visibility,  # type: ignore[arg-type]
            created_at=p.created_at,
            run_count=p.run_count,
            last_run_at=p.last_run_at,
        )


class ProjectPage(BaseModel):
    items: list[ProjectOut]
    next_cursor: str | None


# ---------------------------------------------------------------------------------------- runs
class RunOut(BaseModel):
    entity: str
    project: str
    id: str
    name: str | None
    state: RunState
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

    @classmethod
    def of(cls, r: RunInfo) -> RunOut:
        return cls(
            entity=r.ref.entity,
            project=r.ref.project,
            id=r.ref.id,
            name=r.name,
            state=r.state,  # type: ignore[arg-type]
            exit_code=r.exit_code,
            config=r.config,
            summary=r.summary,
            tags=r.tags,
            notes=r.notes,
            group=r.group,
            job_type=r.job_type,
            metadata=r.metadata,
            created_at=r.created_at,
            started_at=r.started_at,
            finished_at=r.finished_at,
            heartbeat_at=r.heartbeat_at,
            last_seq=r.last_seq,
        )


class RunPage(BaseModel):
    items: list[RunOut]
    next_cursor: str | None
    warnings: list[str] = Field(
        default_factory=list,
        description="first page only: fields of the filter or order that no run of the project "
        "has, with the keys that do exist",
    )


class RunUpsertIn(BaseModel):
    """Optional attributes applied when PUT creates or resumes a run."""

    name: str | None = Field(default=None, max_length=256)
    tags: list[str] | None = Field(default=None, max_length=1000)
    notes: str | None = Field(default=None, max_length=100_000)


class RunUpsertOut(BaseModel):
    run: RunOut
    last_seq: int
    resumed: bool


class RunPatchIn(BaseModel):
    name: str | None = Field(default=None, max_length=256)
    tags: list[str] | None = Field(default=None, max_length=1000)
    notes: str | None = Field(default=None, max_length=100_000)
    state: RunState | None = None
    config: dict[str, Any] | None = Field(default=None, description="replaces the whole config")
    group: str | None = Field(default=None, max_length=256)
    job_type: str | None = Field(default=None, max_length=256)


class LastSeqOut(BaseModel):
    last_seq: int


class MetricOut(BaseModel):
    key: str
    dtype: str
    last: Any
    min: Any
    max: Any
    count: int
    last_step: int | None

    @classmethod
    def of(cls, m: MetricKeyInfo) -> MetricOut:
        return cls(
            key=m.key,
            dtype=m.dtype,
            last=m.last,
            min=m.min,
            max=m.max,
            count=m.count,
            last_step=m.last_step,
        )


class SeriesOut(BaseModel):
    steps: list[int]
    values: list[Any]
    times: list[Any]


class HistoryOut(BaseModel):
    keys: dict[str, SeriesOut]
    next_cursor: str | None


class EnvelopeOut(BaseModel):
    step_min: int
    step_max: int
    buckets: int
    bucket_lo: list[int]
    first_step: list[int]
    last_step: list[int]
    first: list[Any]
    last: list[Any]
    min: list[Any]
    max: list[Any]
    count: list[int]


class FileOut(BaseModel):
    path: str
    sha256: str
    size: int
    updated_at: dt.datetime

    @classmethod
    def of(cls, f: FileInfo) -> FileOut:
        return cls(path=f.path, sha256=f.sha256, size=f.size, updated_at=f.updated_at)
