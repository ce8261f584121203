"""API keys: list and create your own (shown once), revoke yours (or any, as a site admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from labbook.errors import NotFoundError
from labbook.server.auth import require_user
from labbook.server.deps import PrincipalDep, StoreDep
from labbook.server.schemas import KeyIn, KeyOut, KeyPage, NewKeyOut

router = APIRouter(tags=["identity"])


@router.get("/keys", response_model=KeyPage)
def list_keys(store: StoreDep, principal: PrincipalDep) -> KeyPage:
    user = require_user(principal)
    return KeyPage(items=[KeyOut.of(k) for k in store.list_keys(user.name)], next_cursor=None)


@router.post("/keys", response_model=NewKeyOut, status_code=201)
def create_key(
    store: StoreDep, principal: PrincipalDep, body: Annotated[KeyIn | None, Body()] = None
) -> NewKeyOut:
    user = require_user(principal)
    new = store.create_key(user.name, body.name if body else None)
    return NewKeyOut(key=new.key, **KeyOut.of(new.info).model_dump())


@router.delete("/keys/{prefix}", status_code=204)
def revoke_key(prefix: str, store: StoreDep, principal: PrincipalDep) -> Response:
    user = require_user(principal)
    owner = store.key_owner(prefix)
    if owner is None or (owner != user.name and not user.admin):
        raise NotFoundError("no such API key")
    store.revoke_key(prefix)
    return Response(status_code=204)
