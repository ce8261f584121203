"""Users (site admins only): list and create."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from labbook.errors import PermissionDenied
from labbook.server.auth import Principal, require_user
from labbook.server.deps import PrincipalDep, StoreDep
from labbook.server.schemas import UserIn, UserOut, UserPage
from labbook.server.wire import check_name, decode_cursor, encode_cursor

router = APIRouter(tags=["identity"])


def _site_admin(principal: Principal) -> None:
    if not require_user(principal).admin:
        raise PermissionDenied("only site admins manage users")


@router.get("/users", response_model=UserPage)
def list_users(
    store: StoreDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> UserPage:
    _site_admin(principal)
    offset = decode_cursor(cursor)
    found = store.list_users(limit + 1, offset)
    more = len(found) > limit
    return UserPage(
        items=[UserOut.of(u) for u in found[:limit]],
        next_cursor=encode_cursor(offset + limit) if more else None,
    )


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, store: StoreDep, principal: PrincipalDep) -> UserOut:
    _site_admin(principal)
    check_name("user", body.name)
    return UserOut.of(store.create_user(body.name, password=body.password, admin=body.admin))
