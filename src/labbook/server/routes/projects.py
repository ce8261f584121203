"""Projects: list the visible ones, read one, create one or change its visibility."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query

from labbook.errors import NotFoundError, PermissionDenied
from labbook.server.auth import HIDDEN, entity_role, require_project
from labbook.server.deps import Entity, PrincipalDep, Project, StoreDep
from labbook.server.schemas import ProjectIn, ProjectOut, ProjectPage
from labbook.server.wire import check_name, decode_cursor, encode_cursor
from labbook.store.accounts import role_rank

router = APIRouter(tags=["projects"])


@router.get("/projects", response_model=ProjectPage)
def list_projects(
    store: StoreDep,
    principal: PrincipalDep,
    entity: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> ProjectPage:
    if entity is not None:
        check_name("entity", entity)
    offset = decode_cursor(cursor)
    roles: dict[str, str | None] = {}
    visible = []
    for p in store.projects(entity):
        if p.entity not in roles:
            roles[p.entity] = entity_role(store, principal, p.entity)
        if p.visibility == "public" or roles[p.entity] is not None:
            visible.append(p)
    page = visible[offset : offset + limit]
    more = len(visible) > offset + limit
    return ProjectPage(
        items=[ProjectOut.of(p) for p in page],
        next_cursor=encode_cursor(offset + limit) if more else None,
    )


@router.get("/projects/{entity}/{project}", response_model=ProjectOut)
def get_project(
    entity: Entity, project: Project, store: StoreDep, principal: PrincipalDep
) -> ProjectOut:
    require_project(store, principal, entity, project, "read")
    info = store.project(entity, project)
    if info is None:  # deleted in between
        raise NotFoundError(HIDDEN)
    return ProjectOut.of(info)


@router.put("/projects/{entity}/{project}", response_model=ProjectOut)
def put_project(
    entity: Entity,
    project: Project,
    store: StoreDep,
    principal: PrincipalDep,
    body: Annotated[ProjectIn | None, Body()] = None,
) -> ProjectOut:
    """Create a project (members; private unless asked) or change its visibility (admins)."""
    visibility = body.visibility if body else None
    current = require_project(store, principal, entity, project, "write")
    needs_admin = visibility is not None and (
        (current is None and visibility == "public")
        or (current is not None and current != visibility)
    )
    if needs_admin:
        role = entity_role(store, principal, entity)
        if role_rank(role) < role_rank("admin"):
            raise PermissionDenied(f"changing visibility needs the admin role on {entity!r}")
    store.ensure_project(entity, project, visibility)
    created = store.project(entity, project)
    if created is None:  # pragma: no cover - just created
        raise NotFoundError(HIDDEN)
    return ProjectOut.of(created)
