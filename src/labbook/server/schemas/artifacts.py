"""Wire schemas of artifacts, lineage and the model registry (docs/api.md, "Artifacts")."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from labbook.manifests import Entry
from labbook.store import (
    CollectionInfo,
    LineageGraph,
    LinkInfo,
    RegisteredModelInfo,
    RunLink,
    VersionInfo,
)


class RunLinkOut(BaseModel):
    entity: str
    project: str
    id: str
    name: str | None
    state: str

    @classmethod
    def of(cls, r: RunLink) -> RunLinkOut:
        return cls(entity=r.entity, project=r.project, id=r.id, name=r.name, state=r.state)


class VersionOut(BaseModel):
    entity: str
    project: str
    name: str
    type: str
    version: str = Field(description="vN")
    index: int
    digest: str = Field(description="the manifest digest: the version's identity")
    description: str | None
    metadata: dict[str, Any]
    aliases: list[str] = Field(description="`latest` first on the newest version")
    size: int
    file_count: int
    created_at: dt.datetime
    logged_by: RunLinkOut | None

    @classmethod
    def of(cls, v: VersionInfo) -> VersionOut:
        return cls(
            entity=v.entity,
            project=v.project,
            name=v.name,
            type=v.type,
            version=v.version,
            index=v.index,
            digest=v.digest,
            description=v.description,
            metadata=v.metadata,
            aliases=v.aliases,
            size=v.size,
            file_count=v.file_count,
            created_at=v.created_at,
            logged_by=None if v.logged_by is None else RunLinkOut.of(v.logged_by),
        )


class VersionDetailOut(VersionOut):
    used_by: list[RunLinkOut]


class CollectionOut(BaseModel):
    entity: str
    project: str
    name: str
    type: str
    description: str | None
    version_count: int
    latest: VersionOut | None
    updated_at: dt.datetime

    @classmethod
    def of(cls, c: CollectionInfo) -> CollectionOut:
        return cls(
            entity=c.entity,
            project=c.project,
            name=c.name,
            type=c.type,
            description=c.description,
            version_count=c.version_count,
            latest=None if c.latest is None else VersionOut.of(c.latest),
            updated_at=c.updated_at,
        )


class CollectionDetailOut(CollectionOut):
    versions: list[VersionOut]


class EntryIn(BaseModel):
    path: str
    digest: str
    size: int = Field(ge=0)
    ref: str | None = None


class EntryOut(BaseModel):
    path: str
    digest: str
    size: int
    ref: str | None

    @classmethod
    def of(cls, e: Entry) -> EntryOut:
        return cls(path=e.path, digest=e.digest, size=e.size, ref=e.ref)


class ManifestOut(BaseModel):
    digest: str
    entries: list[EntryOut]


class VersionIn(BaseModel):
    type: str
    description: str | None = None
    metadata: dict[str, Any] | None = None
    aliases: list[str] = Field(default_factory=list)
    run: str | None = Field(default=None, description="the id of the run that logged it")
    entries: list[EntryIn]


class VersionPatch(BaseModel):
    aliases: list[str] | None = None
    description: str | None = None
    metadata: dict[str, Any] | None = None


class BlobOut(BaseModel):
    sha256: str
    size: int


class ArtifactRefIn(BaseModel):
    entity: str
    project: str
    name: str
    ref: str = "latest"


class RunArtifactsOut(BaseModel):
    logged: list[VersionOut]
    used: list[VersionOut]


class LineageNode(BaseModel):
    id: str
    kind: Literal["run", "artifact"]
    entity: str
    project: str
    run_id: str | None = None
    name: str | None = None
    state: str | None = None
    type: str | None = None
    version: str | None = None
    index: int | None = None
    digest: str | None = None
    aliases: list[str] | None = None


class LineageEdge(BaseModel):
    source: str
    target: str


class LineageOut(BaseModel):
    root: str
    nodes: list[LineageNode]
    edges: list[LineageEdge]
    truncated: bool

    @classmethod
    def of(cls, g: LineageGraph) -> LineageOut:
        return cls(
            root=g.root,
            nodes=[LineageNode(**n) for n in g.nodes],
            edges=[LineageEdge(**e) for e in g.edges],
            truncated=g.truncated,
        )


class LinkOut(BaseModel):
    model: str
    entity: str
    version: str
    index: int
    aliases: list[str]
    linked_at: dt.datetime
    artifact: VersionOut

    @classmethod
    def of(cls, link: LinkInfo) -> LinkOut:
        return cls(
            model=link.model,
            entity=link.entity,
            version=link.version,
            index=link.index,
            aliases=link.aliases,
            linked_at=link.linked_at,
            artifact=VersionOut.of(link.artifact),
        )


class RegisteredModelOut(BaseModel):
    entity: str
    name: str
    description: str | None
    created_at: dt.datetime
    version_count: int
    aliases: dict[str, str] = Field(description="alias -> vN of the model")

    @classmethod
    def of(cls, m: RegisteredModelInfo) -> RegisteredModelOut:
        return cls(
            entity=m.entity,
            name=m.name,
            description=m.description,
            created_at=m.created_at,
            version_count=m.version_count,
            aliases=m.aliases,
        )


class RegisteredModelDetailOut(RegisteredModelOut):
    versions: list[LinkOut]


class LinkIn(BaseModel):
    artifact: ArtifactRefIn
    aliases: list[str] = Field(default_factory=list)
    description: str | None = None


class AliasesIn(BaseModel):
    aliases: list[str]
