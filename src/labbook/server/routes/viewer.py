"""``GET /viewer``: who am I (the SDK's ``whoami``)."""

from __future__ import annotations

from fastapi import APIRouter

from labbook.server.auth import Principal, require_user
from labbook.server.deps import PrincipalDep, StoreDep
from labbook.server.schemas import EntityRole, ViewerOut
from labbook.store import Store

router = APIRouter(tags=["identity"])


def viewer_of(store: Store, principal: Principal) -> ViewerOut:
    user = require_user(principal)
    roles = store.entity_roles(user.name)
    return ViewerOut(
        name=user.name,
        admin=user.admin,
        entities=[EntityRole(name=n, role=r) for n, r in roles],  # type: ignore[arg-type]
    )


@router.get("/viewer", response_model=ViewerOut)
def get_viewer(store: StoreDep, principal: PrincipalDep) -> ViewerOut:
    return viewer_of(store, principal)
