"""The model registry: an entity's registered models, each linking artifact versions under
versions of its own (``v0``, ``v1``, ...) and aliases (``staging``, ``production``).

A link is a pointer, not a copy: the artifact version keeps its own name, aliases and lineage,
and the registry adds a stable, promotable name for it (``alice/digits-cnn:production``) that
outlives the project the model was trained in being renamed or tidied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from labbook import manifests
from labbook.errors import NotFoundError
from labbook.store.artifacts import load_versions, versions_select
from labbook.store.models import LinkInfo, RegisteredModelInfo
from labbook.store.schema import (
    artifact_versions,
    registered_models,
    registry_aliases,
    registry_links,
)


class RegistryMixin:
    _read: Callable[[], AbstractContextManager[Connection]]
    _write: Callable[[], AbstractContextManager[Connection]]

    def registered_models(self, entity: str) -> list[RegisteredModelInfo]:
        with self._read() as conn:
            rows = conn.execute(
                select(registered_models)
                .where(registered_models.c.entity == entity)
                .order_by(registered_models.c.name)
            ).all()
            return [_model_info(conn, r) for r in rows]

    def registered_model(
        self, entity: str, name: str
    ) -> tuple[RegisteredModelInfo, list[LinkInfo]]:
        """A model and its linked versions, newest first."""
        with self._read() as conn:
            row = _model_row(conn, entity, name)
            q = (
                select(registry_links.c.id)
                .where(registry_links.c.model_id == row.id)
                .order_by(registry_links.c.idx.desc())
            )
            links = _links(conn, row, [int(i) for i in conn.execute(q).scalars()])
            return _model_info(conn, row), links

    def link_model(
        self,
        entity: str,
        name: str,
        version_id: int,
        aliases: Iterable[str] = (),
        description: str | None = None,
    ) -> tuple[LinkInfo, bool]:
        """Link an artifact version into ``entity/name`` (made when missing); ``(link,
        created)``. A version linked before keeps its link, and the aliases move to it."""
        manifests.check_name("registered model name", name)
        wanted = manifests.check_aliases(aliases)
        for attempt in range(3):
            try:
                return self._link(entity, name, version_id, wanted, description)
            except IntegrityError:  # a concurrent link took the model's name or next index
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _link(
        self,
        entity: str,
        name: str,
        version_id: int,
        aliases: list[str],
        description: str | None,
    ) -> tuple[LinkInfo, bool]:
        now = dt.datetime.now(dt.UTC)
        with self._write() as conn:
            mid = conn.execute(
                select(registered_models.c.id).where(
                    registered_models.c.entity == entity, registered_models.c.name == name
                )
            ).scalar()
            if mid is None:
                mid = conn.execute(
                    insert(registered_models)
                    .returning(registered_models.c.id)
                    .values(entity=entity, name=name, description=description, created_at=now)
                ).scalar_one()
            mid = int(mid)
            row = conn.execute(
                select(registered_models).where(registered_models.c.id == mid).with_for_update()
            ).one()
            lid = conn.execute(
                select(registry_links.c.id).where(
                    registry_links.c.model_id == mid, registry_links.c.version_id == version_id
                )
            ).scalar()
            created = lid is None
            if lid is None:
                top = conn.execute(
                    select(func.max(registry_links.c.idx)).where(registry_links.c.model_id == mid)
                ).scalar()
                lid = conn.execute(
                    insert(registry_links)
                    .returning(registry_links.c.id)
                    .values(
                        model_id=mid,
                        idx=0 if top is None else int(top) + 1,
                        version_id=version_id,
                        linked_at=now,
                    )
                ).scalar_one()
            lid = int(lid)
            _move(conn, mid, lid, aliases)
            return _links(conn, row, [lid])[0], created

    def registry_link(self, entity: str, name: str, ref: str) -> LinkInfo:
        """The link ``ref`` (``vN``, ``latest`` or an alias) names."""
        with self._read() as conn:
            row = _model_row(conn, entity, name)
            return _links(conn, row, [_resolve(conn, row, ref)])[0]

    def update_registry_link(
        self, entity: str, name: str, ref: str, aliases: Iterable[str]
    ) -> LinkInfo:
        """Replace the link's aliases (each moved from the link that held it)."""
        wanted = manifests.check_aliases(aliases)
        with self._write() as conn:
            row = _model_row(conn, entity, name)
            lid = _resolve(conn, row, ref)
            conn.execute(delete(registry_aliases).where(registry_aliases.c.link_id == lid))
            _move(conn, int(row.id), lid, wanted)
            return _links(conn, row, [lid])[0]


def _model_row(conn: Connection, entity: str, name: str) -> Any:
    row = conn.execute(
        select(registered_models).where(
            registered_models.c.entity == entity, registered_models.c.name == name
        )
    ).first()
    if row is None:
        raise NotFoundError(f"registered model {entity}/{name} not found")
    return row


def _resolve(conn: Connection, model: Any, ref: str) -> int:
    idx = manifests.version_index(ref)
    links = registry_links.c
    if idx is not None:
        q = select(links.id).where(links.model_id == model.id, links.idx == idx)
    elif ref == manifests.LATEST:
        q = select(links.id).where(links.model_id == model.id).order_by(links.idx.desc()).limit(1)
    else:
        q = select(registry_aliases.c.link_id).where(
            registry_aliases.c.model_id == model.id, registry_aliases.c.alias == ref
        )
    lid = conn.execute(q).scalar()
    if lid is None:
        raise NotFoundError(f"registered model {model.entity}/{model.name}:{ref} not found")
    return int(lid)


def _move(conn: Connection, mid: int, lid: int, aliases: list[str]) -> None:
    if not aliases:
        return
    conn.execute(
        delete(registry_aliases).where(
            registry_aliases.c.model_id == mid, registry_aliases.c.alias.in_(aliases)
        )
    )
    conn.execute(
        insert(registry_aliases), [{"model_id": mid, "alias": a, "link_id": lid} for a in aliases]
    )


def _model_info(conn: Connection, row: Any) -> RegisteredModelInfo:
    links = registry_links.c
    count, top = conn.execute(
        select(func.count(), func.max(links.idx)).where(links.model_id == row.id)
    ).one()
    aliases = {
        a: f"v{int(i)}"
        for a, i in conn.execute(
            select(registry_aliases.c.alias, links.idx)
            .join(registry_links, registry_links.c.id == registry_aliases.c.link_id)
            .where(registry_aliases.c.model_id == row.id)
            .order_by(registry_aliases.c.alias)
        )
    }
    if top is not None:
        aliases = {manifests.LATEST: f"v{int(top)}", **aliases}
    return RegisteredModelInfo(
        row.entity, row.name, row.description, row.created_at, int(count), aliases
    )


def _links(conn: Connection, model: Any, ids: list[int]) -> list[LinkInfo]:
    if not ids:
        return []
    links = registry_links.c
    rows = conn.execute(
        select(links.id, links.idx, links.version_id, links.linked_at).where(links.id.in_(ids))
    ).all()
    by_id = {int(r.id): r for r in rows}
    top = conn.execute(select(func.max(links.idx)).where(links.model_id == model.id)).scalar()
    names: dict[int, list[str]] = {i: [] for i in ids}
    for lid, alias in conn.execute(
        select(registry_aliases.c.link_id, registry_aliases.c.alias)
        .where(registry_aliases.c.link_id.in_(ids))
        .order_by(registry_aliases.c.alias)
    ):
        names[int(lid)].append(alias)
    vids = sorted({int(r.version_id) for r in rows})
    vrows = conn.execute(versions_select().where(artifact_versions.c.id.in_(vids))).all()
    versions = {v.id: v for v in load_versions(conn, vrows)}
    out = []
    for i in ids:
        r = by_id[i]
        aliases = names[i]
        if top is not None and int(r.idx) == int(top):
            aliases = [manifests.LATEST, *aliases]
        out.append(
            LinkInfo(
                model=model.name,
                entity=model.entity,
                index=int(r.idx),
                aliases=aliases,
                linked_at=r.linked_at,
                artifact=versions[int(r.version_id)],
            )
        )
    return out
