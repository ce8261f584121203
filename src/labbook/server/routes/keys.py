"""API keys: list and create your own (shown once), revoke yours. Site admins do the same for
any user under ``/users/{name}/keys``: ``labbook keys create NAME`` over HTTP."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from labbook.errors import NotFoundError, PermissionDenied
from labbook.server.auth import Principal, require_user
from labbook.server.deps import PrincipalDep, StoreDep
from labbook.server.schemas import KeyIn, KeyOut, KeyPage, NewKeyOut
from labbook.store import Store

router = APIRouter(tags=["identity"])


def _keys_of(store: Store, user: str) -> KeyPage:
    return KeyPage(items=[KeyOut.of(k) for k in store.list_keys(user)], next_cursor=None)


def _new_key(store: Store, user: str, body: KeyIn | None) -> NewKeyOut:
    new = store.create_key(user, body.name if body else None)
    return NewKeyOut(key=new.key, **KeyOut.of(new.info).model_dump())


def _for_user(store: Store, principal: Principal, name: str) -> str:
    """``name`` when the caller may manage that user's keys: themself, or a site admin."""
    caller = require_user(principal)
    if caller.name != name and not caller.admin:
        raise PermissionDenied("only site admins manage other users' keys")
    if store.get_user(name) is None:
        raise NotFoundError(f"no user {name!r}")
    return name


@router.get("/keys", response_model=KeyPage)
def list_keys(store: StoreDep, principal: PrincipalDep) -> KeyPage:
    return _keys_of(store, require_user(principal).name)


@router.post("/keys", response_model=NewKeyOut, status_code=201)
def create_key(
    store: StoreDep, principal: PrincipalDep, body: Annotated[KeyIn | None, Body()] = None
) -> NewKeyOut:
    return _new_key(store, require_user(principal).name, body)


@router.get("/users/{name}/keys", response_model=KeyPage)
def list_user_keys(name: str, store: StoreDep, principal: PrincipalDep) -> KeyPage:
    return _keys_of(store, _for_user(store, principal, name))


@router.post("/users/{name}/keys", response_model=NewKeyOut, status_code=201)
def create_user_key(
    name: str,
    store: StoreDep,
    principal: PrincipalDep,
    body: Annotated[KeyIn | None, Body()] = None,
) -> NewKeyOut:
    """A key for ``name``, shown once: how a site admin gives a new user their first key."""
    return _new_key(store, _for_user(store, principal, name), body)


@router.delete("/keys/{prefix}", status_code=204)
def revoke_key(prefix: str, store: StoreDep, principal: PrincipalDep) -> Response:
    user = require_user(principal)
    owner = store.key_owner(prefix)
    if owner is None or (owner != user.name and not user.admin):
        raise NotFoundError("no such API key")
    store.revoke_key(prefix)
    return Response(status_code=204)
