"""Who may see and change what: 404 (not 403) for private projects, roles, public projects."""

from __future__ import annotations

from lbserver import Server, error

RUN = "/projects/acme/vision/runs/r1"


def _setup(s: Server) -> dict[str, dict[str, str]]:
    h = {
        "owner": s.user("olga"),
        "member": s.user("mike"),
        "viewer": s.user("vera"),
        "outsider": s.user("otto"),
        "site": s.user("root", admin=True),
    }
    s.team("acme", "olga", mike="member", vera="viewer")
    assert s.put(RUN, headers=h["member"]).status_code == 200
    return h


def _log_and_upload(s: Server, who: dict[str, str]) -> None:
    recs = [
        {
            "t": "h",
            "seq": i + 1,
            "step": i,
            "ts": 1.0 + i,
            "rt": float(i),
            "d": {"loss": 1.0 / (i + 1)},
        }
        for i in range(8)
    ]
    assert s.post(RUN + "/records", json={"records": recs}, headers=who).status_code == 200
    assert s.put(RUN + "/files/notes.txt", content=b"hello", headers=who).status_code == 200


def test_private_project_is_404_for_anonymous_and_outsiders(any_server: Server) -> None:
    s = any_server
    h = _setup(s)
    _log_and_upload(s, h["member"])
    for who in (None, h["outsider"]):
        for path in (
            "/projects/acme/vision",
            RUN,
            RUN + "/metrics",
            RUN + "/history",
            RUN + "/envelope?key=loss&buckets=4",
            "/projects/acme/vision/runs",
            RUN + "/files",
            RUN + "/files/notes.txt",
        ):
            msg = error(s.get(path, headers=who), 404)
            assert "vision" not in msg and "acme" not in msg
        # writes are 404 too, not 403: the project's existence does not leak
        error(s.post(RUN + "/records", json={"records": []}, headers=who), 404)
        error(s.patch(RUN, json={"name": "x"}, headers=who), 404)
        error(s.put(RUN + "/files/x.txt", content=b"x", headers=who), 404)
    # the member who wrote them reads them
    assert s.get(RUN + "/files/notes.txt", headers=h["member"]).content == b"hello"
    env = s.get(RUN + "/envelope?key=loss&buckets=4", headers=h["member"])
    assert env.status_code == 200
    # a project that does not exist answers exactly like a private one
    a = s.get("/projects/acme/nothing", headers=h["outsider"]).json()
    b = s.get("/projects/acme/vision", headers=h["outsider"]).json()
    assert a == b
    listed = s.get("/projects", headers=h["outsider"]).json()["items"]
    assert listed == []


def test_roles(server: Server) -> None:
    s = server
    h = _setup(s)
    # viewers read but cannot write
    _log_and_upload(s, h["member"])
    assert s.get(RUN, headers=h["viewer"]).json()["id"] == "r1"
    assert s.get(RUN + "/files/notes.txt", headers=h["viewer"]).content == b"hello"
    error(s.patch(RUN, json={"name": "x"}, headers=h["viewer"]), 403, "forbidden")
    more = [{"t": "h", "seq": 9, "step": 8, "ts": 9.0, "rt": 8.0, "d": {"loss": 0.0}}]
    error(s.post(RUN + "/records", json={"records": more}, headers=h["viewer"]), 403)
    error(s.put(RUN + "/files/notes.txt", content=b"overwritten", headers=h["viewer"]), 403)
    assert s.get(RUN, headers=h["viewer"]).json()["last_seq"] == 8  # nothing was stored
    assert s.get(RUN + "/files/notes.txt", headers=h["viewer"]).content == b"hello"
    error(s.post(RUN + "/heartbeat", headers=h["viewer"]), 403)
    error(s.put("/projects/acme/vision/runs/r2", headers=h["viewer"]), 403)
    # members write runs but cannot change visibility
    r = s.patch(RUN, json={"name": "renamed", "tags": ["a", "b"]}, headers=h["member"])
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    assert s.post(RUN + "/heartbeat", headers=h["member"]).status_code == 204
    error(s.put("/projects/acme/vision", json={"visibility": "public"}, headers=h["member"]), 403)
    # team admins (and site admins) do
    r = s.put("/projects/acme/vision", json={"visibility": "public"}, headers=h["owner"])
    assert r.status_code == 200 and r.json()["visibility"] == "public"
    r = s.put("/projects/acme/vision", json={"visibility": "private"}, headers=h["site"])
    assert r.json()["visibility"] == "private"
    # the viewer sees the project in lists, the outsider does not
    assert [p["name"] for p in s.get("/projects", headers=h["viewer"]).json()["items"]] == [
        "vision"
    ]
    assert s.get("/projects?entity=acme", headers=h["outsider"]).json()["items"] == []


def test_public_project_readable_anonymously(server: Server) -> None:
    s = server
    h = _setup(s)
    s.put("/projects/acme/vision", json={"visibility": "public"}, headers=h["owner"])
    s.post(
        RUN + "/records",
        json={
            "records": [{"t": "h", "seq": 1, "step": 0, "ts": 1.0, "rt": 0.0, "d": {"loss": 0.5}}]
        },
        headers=h["member"],
    )
    assert s.get(RUN).json()["summary"]["loss"] == 0.5
    assert s.get("/projects/acme/vision").json()["visibility"] == "public"
    assert [p["name"] for p in s.get("/projects").json()["items"]] == ["vision"]
    assert s.get(RUN + "/history?keys=loss").json()["keys"]["loss"]["values"] == [0.5]
    # reading is all: anonymous writes need credentials, outsiders are forbidden
    error(s.patch(RUN, json={"name": "x"}), 401, "unauthenticated")
    error(s.patch(RUN, json={"name": "x"}, headers=h["outsider"]), 403, "forbidden")
    more = {"records": [{"t": "h", "seq": 2, "step": 1, "ts": 2.0, "rt": 1.0, "d": {"loss": 9.0}}]}
    error(s.post(RUN + "/records", json=more), 401, "unauthenticated")
    error(s.post(RUN + "/records", json=more, headers=h["outsider"]), 403, "forbidden")
    error(s.put(RUN + "/files/a.txt", content=b"a"), 401, "unauthenticated")
    error(s.put(RUN + "/files/a.txt", content=b"a", headers=h["outsider"]), 403, "forbidden")
    assert s.get(RUN).json()["summary"]["loss"] == 0.5 and s.get(RUN + "/files").json() == []


def test_own_entity_and_project_creation(server: Server) -> None:
    s = server
    alice, bob = s.user("alice"), s.user("bob")
    # PUT run creates the (private) project in your own entity
    r = s.put("/projects/alice/p/runs/x", headers=alice)
    assert r.status_code == 200 and r.json()["resumed"] is False
    assert s.put("/projects/alice/p/runs/x", headers=alice).json()["resumed"] is True
    assert s.get("/projects/alice/p", headers=alice).json()["visibility"] == "private"
    # but not in someone else's
    error(s.put("/projects/alice/q/runs/x", headers=bob), 404)
    error(s.put("/projects/alice/q", headers=bob), 404)
    assert s.store.project("alice", "q") is None
    # members create projects; creating a public one needs admin
    s.team("t", "alice", bob="member")
    assert s.put("/projects/t/new", headers=bob).json()["visibility"] == "private"
    error(s.put("/projects/t/pub", json={"visibility": "public"}, headers=bob), 403)
    assert s.put("/projects/t/pub", json={"visibility": "public"}, headers=alice).status_code == 200


def test_team_membership_management(server: Server) -> None:
    s = server
    olga, mike, otto = s.user("olga"), s.user("mike"), s.user("otto")
    r = s.post("/teams", json={"name": "acme"}, headers=olga)
    assert r.status_code == 201 and r.json() == {"name": "acme", "role": "admin"}
    error(s.post("/teams", json={"name": "acme"}, headers=mike), 409, "conflict")
    error(s.post("/teams", json={"name": "mike"}, headers=olga), 409)  # a user's name
    error(s.post("/teams", json={"name": "bad name"}, headers=olga), 422)
    assert s.put("/teams/acme/members/mike", json={"role": "viewer"}, headers=olga).json() == {
        "team": "acme",
        "user": "mike",
        "role": "viewer",
    }
    viewer = s.get("/viewer", headers=mike).json()
    assert {"name": "acme", "role": "viewer"} in viewer["entities"]
    # a viewer cannot manage members; an outsider cannot even see the team
    error(s.put("/teams/acme/members/otto", json={"role": "admin"}, headers=mike), 403)
    error(s.put("/teams/acme/members/otto", json={"role": "admin"}, headers=otto), 404)
    error(s.put("/teams/acme/members/otto", json={"role": "boss"}, headers=olga), 422)
    assert s.delete("/teams/acme/members/mike", headers=olga).status_code == 204
    assert s.store.entity_role("mike", "acme") is None
    error(s.delete("/teams/acme/members/mike", headers=olga), 404)


def test_team_members_are_listed_to_members_only(any_server: Server) -> None:
    s = any_server
    h = _setup(s)  # acme: olga admin, mike member, vera viewer
    want = [
        {"team": "acme", "user": "mike", "role": "member"},
        {"team": "acme", "user": "olga", "role": "admin"},
        {"team": "acme", "user": "vera", "role": "viewer"},
    ]
    for who in ("owner", "member", "viewer", "site"):
        r = s.get("/teams/acme/members", headers=h[who])
        assert r.status_code == 200 and r.json() == want, who
    error(s.get("/teams/acme/members"), 401)  # anonymous: log in first, as for every team route
    msg = error(s.get("/teams/acme/members", headers=h["outsider"]), 404)
    assert "acme" not in msg
    error(s.get("/teams/olga/members", headers=h["owner"]), 404)  # a user is not a team
    assert s.delete("/teams/acme/members/vera", headers=h["owner"]).status_code == 204
    users = [m["user"] for m in s.get("/teams/acme/members", headers=h["owner"]).json()]
    assert users == ["mike", "olga"]
