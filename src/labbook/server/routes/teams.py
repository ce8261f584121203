"""Teams: create one (you become its admin); its members see who is in it; its admins set and
remove members."""

from __future__ import annotations

from fastapi import APIRouter, Response

from labbook.errors import NotFoundError
from labbook.server.auth import require_entity, require_user
from labbook.server.deps import Name, PrincipalDep, StoreDep
from labbook.server.schemas import MemberIn, MemberOut, TeamIn, TeamOut
from labbook.server.wire import check_name

router = APIRouter(tags=["identity"])


@router.post("/teams", response_model=TeamOut, status_code=201)
def create_team(body: TeamIn, store: StoreDep, principal: PrincipalDep) -> TeamOut:
    user = require_user(principal)
    check_name("team", body.name)
    store.create_team(body.name, owner=user.name)
    return TeamOut(name=body.name, role="admin")


def _team_admin(store: StoreDep, principal: PrincipalDep, team: str) -> None:
    require_entity(store, principal, team, "admin")
    if not store.is_team(team):
        raise NotFoundError("not found")


@router.get("/teams/{team}/members", response_model=list[MemberOut])
def list_members(team: Name, store: StoreDep, principal: PrincipalDep) -> list[MemberOut]:
    """Who is in the team, for anyone in it (viewers included); 404 to everyone else, as for a
    private project."""
    require_entity(store, principal, team, "read")
    if not store.is_team(team):
        raise NotFoundError("not found")
    return [
        MemberOut.model_validate({"team": team, "user": u, "role": r})
        for u, r in store.team_members(team)
    ]


@router.put("/teams/{team}/members/{user}", response_model=MemberOut)
def set_member(
    team: Name, user: Name, body: MemberIn, store: StoreDep, principal: PrincipalDep
) -> MemberOut:
    _team_admin(store, principal, team)
    store.set_member(team, user, body.role)
    return MemberOut(team=team, user=user, role=body.role)


@router.delete("/teams/{team}/members/{user}", status_code=204)
def remove_member(team: Name, user: Name, store: StoreDep, principal: PrincipalDep) -> Response:
    _team_admin(store, principal, team)
    store.remove_member(team, user)
    return Response(status_code=204)
