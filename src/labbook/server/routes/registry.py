"""The model registry of an entity (a user or a team): registered models linking artifact
versions under aliases. Readable by the entity's members (404 to anyone else, as a private
project is), changed by its members; linking also needs read access to the artifact's project.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from labbook.errors import ValidationError
from labbook.server.auth import require_entity, require_project
from labbook.server.deps import Entity, Name, PrincipalDep, StoreDep
from labbook.server.schemas.artifacts import (
    AliasesIn,
    LinkIn,
    LinkOut,
    RegisteredModelDetailOut,
    RegisteredModelOut,
)

router = APIRouter(tags=["registry"])
MODEL = "/registry/{entity}/{model}"
MODEL_TYPE = "model"


@router.get("/registry/{entity}", response_model=list[RegisteredModelOut])
def list_models(
    entity: Entity, store: StoreDep, principal: PrincipalDep
) -> list[RegisteredModelOut]:
    require_entity(store, principal, entity, "read")
    return [RegisteredModelOut.of(m) for m in store.registered_models(entity)]


@router.get(MODEL, response_model=RegisteredModelDetailOut)
def get_model(
    entity: Entity, model: Name, store: StoreDep, principal: PrincipalDep
) -> RegisteredModelDetailOut:
    require_entity(store, principal, entity, "read")
    info, links = store.registered_model(entity, model)
    return RegisteredModelDetailOut(
        **RegisteredModelOut.of(info).model_dump(), versions=[LinkOut.of(x) for x in links]
    )


@router.post(
    MODEL + "/versions",
    response_model=LinkOut,
    status_code=201,
    responses={200: {"model": LinkOut, "description": "already linked: that link"}},
)
def link_version(
    entity: Entity,
    model: Name,
    body: LinkIn,
    response: Response,
    store: StoreDep,
    principal: PrincipalDep,
) -> LinkOut:
    """Link an artifact version of type ``model`` (made when missing); 200 when linked before."""
    require_entity(store, principal, entity, "write")
    a = body.artifact
    require_project(store, principal, a.entity, a.project, "read")
    version = store.artifact_version(a.entity, a.project, a.name, a.ref)
    if version.type != MODEL_TYPE:
        raise ValidationError(
            f"only artifacts of type {MODEL_TYPE!r} can be registered; "
            f"{a.name}:{version.version} is of type {version.type!r}"
        )
    link, created = store.link_model(entity, model, version.id, body.aliases, body.description)
    if not created:
        response.status_code = 200
    return LinkOut.of(link)


@router.get(MODEL + "/{ref}", response_model=LinkOut)
def get_link(
    entity: Entity, model: Name, ref: Name, store: StoreDep, principal: PrincipalDep
) -> LinkOut:
    require_entity(store, principal, entity, "read")
    return LinkOut.of(store.registry_link(entity, model, ref))


@router.patch(MODEL + "/{ref}", response_model=LinkOut)
def patch_link(
    entity: Entity,
    model: Name,
    ref: Name,
    body: AliasesIn,
    store: StoreDep,
    principal: PrincipalDep,
) -> LinkOut:
    require_entity(store, principal, entity, "write")
    return LinkOut.of(store.update_registry_link(entity, model, ref, body.aliases))
