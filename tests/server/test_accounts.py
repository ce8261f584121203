"""Identity: viewer, API keys (shown once, hashed, revocable, last use), password login with a
session cookie, logout, login rate limiting, user management by site admins."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from lbserver import Server, error

from labbook.store.schema import api_keys, users


def test_viewer_and_bearer_errors(server: Server) -> None:
    s = server
    error(s.get("/viewer"), 401, "unauthenticated")
    h = s.user("alice")
    assert s.get("/viewer", headers=h).json() == {
        "name": "alice",
        "admin": False,
        "entities": [{"name": "alice", "role": "admin"}],
    }
    error(s.get("/viewer", headers={"Authorization": "Bearer lb_nope"}), 401)
    error(s.get("/viewer", headers={"Authorization": "Basic abc"}), 401)
    key = h["Authorization"].split()[1]
    forged = key[:-1] + ("a" if key[-1] != "a" else "b")
    error(s.get("/viewer", headers={"Authorization": f"Bearer {forged}"}), 401)


def test_keys_shown_once_hashed_revocable(server: Server) -> None:
    s = server
    h = s.user("alice")
    r = s.post("/keys", json={"name": "laptop"}, headers=h)
    assert r.status_code == 201
    new = r.json()
    key, prefix = new["key"], new["prefix"]
    assert key.startswith(prefix) and prefix.startswith("lb_") and len(prefix) == 11
    assert len(key) >= 40 and new["name"] == "laptop"
    listed = s.get("/keys", headers=h).json()["items"]
    assert [k["prefix"] for k in listed if k["name"] == "laptop"] == [prefix]
    assert all("key" not in k for k in listed)
    # only the hash is stored
    with s.store.engine.connect() as conn:
        stored = conn.execute(sa.select(api_keys.c.key_hash).where(api_keys.c.prefix == prefix))
        (digest,) = stored.one()
    assert key not in digest and len(digest) == 64
    mine = {"Authorization": f"Bearer {key}"}
    assert s.get("/viewer", headers=mine).json()["name"] == "alice"
    # someone else cannot revoke it (and does not learn it exists)
    error(s.delete(f"/keys/{prefix}", headers=s.user("bob")), 404)
    assert s.delete(f"/keys/{prefix}", headers=h).status_code == 204
    error(s.get("/viewer", headers=mine), 401)
    error(s.delete(f"/keys/{prefix}", headers=h), 404)
    assert prefix not in [k["prefix"] for k in s.get("/keys", headers=h).json()["items"]]
    # site admins revoke anyone's
    other = s.post("/keys", headers=h).json()["prefix"]
    assert s.delete(f"/keys/{other}", headers=s.user("root", admin=True)).status_code == 204


def test_site_admins_manage_any_users_keys_over_rest(server: Server) -> None:
    """The admin bootstrap without shell access to the server host: create a user, give them
    a key (shown once), see and revoke their keys."""
    s = server
    root = s.user("root", admin=True)
    assert s.post("/users", json={"name": "carol"}, headers=root).status_code == 201
    r = s.post("/users/carol/keys", json={"name": "ci"}, headers=root)
    assert r.status_code == 201
    key, prefix = r.json()["key"], r.json()["prefix"]
    carol = {"Authorization": f"Bearer {key}"}
    assert s.get("/viewer", headers=carol).json()["name"] == "carol"
    listed = s.get("/users/carol/keys", headers=root).json()["items"]
    assert [(k["prefix"], k["name"]) for k in listed] == [(prefix, "ci")]
    assert all("key" not in k for k in listed)
    # a user may use the same routes for themself, but not for anyone else
    assert [k["prefix"] for k in s.get("/users/carol/keys", headers=carol).json()["items"]] == [
        prefix
    ]
    assert s.post("/users/carol/keys", headers=carol).status_code == 201
    error(s.get("/users/root/keys", headers=carol), 403, "forbidden")
    error(s.post("/users/root/keys", headers=carol), 403, "forbidden")
    error(s.post("/users/nobody/keys", headers=root), 404)
    error(s.post("/users/carol/keys"), 401)
    assert s.delete(f"/keys/{prefix}", headers=root).status_code == 204
    error(s.get("/viewer", headers=carol), 401)
    assert prefix not in [
        k["prefix"] for k in s.get("/users/carol/keys", headers=root).json()["items"]
    ]


def test_key_last_used_updated_at_most_once_a_minute(server: Server) -> None:
    s = server
    h = s.user("alice")
    prefix = h["Authorization"].split()[1][:11]

    def last_used() -> Any:
        with s.store.engine.connect() as conn:
            q = sa.select(api_keys.c.last_used_at).where(api_keys.c.prefix == prefix)
            return conn.execute(q).scalar()

    assert last_used() is None
    s.get("/viewer", headers=h)
    first = last_used()
    assert first is not None
    s.get("/viewer", headers=h)
    assert last_used() == first
    old = first - dt.timedelta(minutes=2)
    with s.store.engine.begin() as conn:
        conn.execute(
            sa.update(api_keys).where(api_keys.c.prefix == prefix).values(last_used_at=old)
        )
    s.get("/viewer", headers=h)
    assert last_used() > first
    listed = s.get("/keys", headers=h).json()["items"]
    assert listed[0]["last_used_at"] is not None


def test_password_login_cookie_and_logout(server: Server) -> None:
    s = server
    s.store.create_user("alice", password="correct horse")
    with s.store.engine.connect() as conn:
        stored = conn.execute(sa.select(users.c.password_hash)).scalar()
    assert stored.startswith("$argon2id$")
    error(s.post("/session", json={"username": "alice", "password": "wrong"}), 401)
    error(s.post("/session", json={"username": "nobody", "password": "x"}), 401)
    r = s.post("/session", json={"username": "alice", "password": "correct horse"})
    assert r.status_code == 200 and r.json()["name"] == "alice"
    cookie = r.headers["set-cookie"]
    assert "labbook_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    token = s.client.cookies.get("labbook_session")
    assert token
    assert s.get("/viewer").json()["name"] == "alice"  # the client keeps the cookie
    assert s.delete("/session").status_code == 204
    s.client.cookies.clear()
    error(s.get("/viewer"), 401)
    # the old token is dead on the server, not only forgotten by the client
    s.client.cookies.set("labbook_session", token)
    error(s.get("/viewer"), 401)


def test_login_rate_limited(make_server: Any) -> None:
    s = make_server(login_max_failures=3)
    s.store.create_user("alice", password="pw")
    for _ in range(3):
        error(s.post("/session", json={"username": "alice", "password": "bad"}), 401)
    r = s.post("/session", json={"username": "alice", "password": "pw"})
    error(r, 429, "rate_limited")
    assert int(r.headers["retry-after"]) >= 1
    # another username from the same client is not affected
    s.store.create_user("bob", password="pw")
    assert s.post("/session", json={"username": "bob", "password": "pw"}).status_code == 200


def test_users_site_admin_only(server: Server) -> None:
    s = server
    root, alice = s.user("root", admin=True), s.user("alice")
    error(s.get("/users", headers=alice), 403, "forbidden")
    error(s.post("/users", json={"name": "eve"}, headers=alice), 403)
    error(s.get("/users"), 401)
    r = s.post("/users", json={"name": "carol", "password": "pw", "admin": False}, headers=root)
    assert r.status_code == 201 and r.json()["name"] == "carol"
    error(s.post("/users", json={"name": "carol"}, headers=root), 409, "conflict")
    error(s.post("/users", json={"name": "../x"}, headers=root), 422)
    names = [u["name"] for u in s.get("/users?limit=2", headers=root).json()["items"]]
    page1 = s.get("/users?limit=2", headers=root).json()
    page2 = s.get(f"/users?limit=2&cursor={page1['next_cursor']}", headers=root).json()
    assert names == ["alice", "carol"] and [u["name"] for u in page2["items"]] == ["root"]
    assert page2["next_cursor"] is None
    assert s.post("/session", json={"username": "carol", "password": "pw"}).status_code == 200


def test_expired_session_is_anonymous(server: Server) -> None:
    from labbook.store.schema import sessions

    s = server
    s.store.create_user("alice", password="pw")
    assert s.post("/session", json={"username": "alice", "password": "pw"}).status_code == 200
    assert s.get("/viewer").status_code == 200
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with s.store.engine.begin() as conn:
        conn.execute(sa.update(sessions).values(expires_at=past))
    error(s.get("/viewer"), 401)


def test_openapi_document(server: Server) -> None:
    doc = server.get("/openapi.json").json()
    schemes = doc["components"]["securitySchemes"]
    assert schemes["HTTPBearer"]["scheme"] == "bearer"
    assert schemes["APIKeyCookie"]["name"] == "labbook_session"
    paths = doc["paths"]
    for p in (
        "/api/v1/viewer",
        "/api/v1/session",
        "/api/v1/users",
        "/api/v1/keys",
        "/api/v1/keys/{prefix}",
        "/api/v1/teams",
        "/api/v1/teams/{team}/members/{user}",
        "/api/v1/projects",
        "/api/v1/projects/{entity}/{project}",
        "/api/v1/projects/{entity}/{project}/runs",
        "/api/v1/projects/{entity}/{project}/runs/{run}",
        "/api/v1/projects/{entity}/{project}/runs/{run}/records",
        "/api/v1/projects/{entity}/{project}/runs/{run}/heartbeat",
        "/api/v1/projects/{entity}/{project}/runs/{run}/metrics",
        "/api/v1/projects/{entity}/{project}/runs/{run}/history",
        "/api/v1/projects/{entity}/{project}/runs/{run}/envelope",
        "/api/v1/projects/{entity}/{project}/runs/{run}/files",
        "/api/v1/projects/{entity}/{project}/runs/{run}/files/{path}",
    ):
        assert p in paths, p
    assert (
        "application/msgpack"
        in paths["/api/v1/projects/{entity}/{project}/runs/{run}/records"]["post"]["requestBody"][
            "content"
        ]
    )


def test_api_keys_are_compared_in_constant_time(server: Server, monkeypatch: Any) -> None:
    """A key whose prefix matches is checked with ``hmac.compare_digest`` on its hash, so the
    time an answer takes does not tell how much of a guessed secret was right."""
    import hmac

    from labbook.store import accounts

    compared: list[tuple[str, str]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(accounts.hmac, "compare_digest", spy)
    good = server.user("alice")
    key = good["Authorization"].removeprefix("Bearer ")
    assert server.get("/viewer", headers=good).status_code == 200
    last = key[-1]
    wrong = key[:-1] + ("b" if last != "b" else "c")  # same prefix, one character off
    error(server.get("/viewer", headers={"Authorization": f"Bearer {wrong}"}), 401)
    assert len(compared) == 2
    assert compared[0][0] == compared[0][1] and compared[1][0] != compared[1][1]
