"""Error shape for every failure kind; runs list/patch/heartbeat; name validation."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from lbserver import Server, error

from labbook.errors import LabbookError

P = "/projects/alice/digits"


def test_error_shapes(server: Server, monkeypatch: pytest.MonkeyPatch, caplog: Any) -> None:
    s = server
    h = s.user("alice")
    error(s.get("/no/such/route"), 404, "not_found")
    error(s.client.post("/api/v1/viewer"), 405, "method_not_allowed")
    error(s.get(P + "/runs?limit=0", headers=h), 422, "validation_error")
    error(s.post("/session", json={"username": 1}), 422, "validation_error")
    msg = error(s.put("/projects/alice/bad%20name", headers=h), 422, "validation_error")
    assert "project" in msg

    def boom(*a: Any, **k: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(s.store, "entity_roles", boom)
    with caplog.at_level(logging.ERROR, logger="labbook.server"):
        msg = error(s.get("/viewer", headers=h), 500, "internal_error")
    assert "secret" not in msg
    assert "secret detail" in caplog.text  # logged with the traceback

    class Teapot(LabbookError):
        code = "teapot"
        status = 418

    def tea(*a: Any, **k: Any) -> Any:
        raise Teapot("short and stout")

    monkeypatch.setattr(s.store, "entity_roles", tea)
    assert s.get("/viewer", headers=h).json() == {
        "error": {"code": "teapot", "message": "short and stout"}
    }


def test_declared_body_limit(make_server: Any) -> None:
    s = make_server(max_body_bytes=1000)
    h = s.user("alice")
    error(s.put(P + "/runs/r1", json={"notes": "x" * 2000}, headers=h), 413, "payload_too_large")
    # a project called "files" is not a file upload
    big = {"visibility": "private", "pad": "x" * 2000}
    error(s.put("/projects/alice/files", json=big, headers=h), 413)
    assert (
        s.put(P + "/runs/r1", json={"notes": "short"}, headers=h).json()["run"]["notes"] == "short"
    )


@pytest.mark.parametrize("name", ["a b", "a/b", "x" * 129, "ü", "%2e%2e", "%2e"])
def test_bad_names(server: Server, name: str) -> None:
    s = server
    h = s.user("alice")
    resp = s.put(f"/projects/alice/p/runs/{name}", headers=h)
    assert resp.status_code in (404, 422), resp.text  # a '/' makes it another (unknown) route
    if resp.status_code == 422:
        error(resp, 422, "validation_error")
    assert s.store.projects() == []


def test_runs_list_patch_heartbeat(any_server: Server) -> None:
    s = any_server
    h = s.user("alice")
    for i in range(5):
        s.put(f"{P}/runs/r{i}", headers=h)
        s.post(
            f"{P}/runs/r{i}/records",
            json={"records": [{"t": "h", "seq": 1, "step": 0, "ts": 1.0, "d": {"acc": i / 10}}]},
            headers=h,
        )
    page = s.get(P + "/runs?order=-metrics.acc.last&limit=2", headers=h).json()
    assert [r["id"] for r in page["items"]] == ["r4", "r3"]
    page2 = s.get(
        f"{P}/runs?order=-metrics.acc.last&limit=2&cursor={page['next_cursor']}", headers=h
    ).json()
    assert [r["id"] for r in page2["items"]] == ["r2", "r1"]
    flt = '{"metrics.acc.last": {"$gte": 0.3}}'
    got = s.get(P + "/runs", params={"filters": flt}, headers=h).json()
    assert sorted(r["id"] for r in got["items"]) == ["r3", "r4"] and got["next_cursor"] is None
    error(s.get(P + "/runs", params={"filters": "[1]"}, headers=h), 422)
    error(s.get(P + "/runs", params={"filters": "{bad"}, headers=h), 422)
    error(s.get(P + "/runs", params={"order": "nonsense.field"}, headers=h), 422)
    r = s.patch(P + "/runs/r0", json={"notes": "n", "tags": ["x"], "state": "failed"}, headers=h)
    assert r.status_code == 200
    body = r.json()
    assert (body["notes"], body["tags"], body["state"]) == ("n", ["x"], "failed")
    assert body["finished_at"] is not None
    tagged = s.get(P + "/runs", params={"filters": '{"tags": "x"}'}, headers=h).json()["items"]
    assert [t["id"] for t in tagged] == ["r0"]
    error(s.patch(P + "/runs/r0", json={"state": "exploded"}, headers=h), 422)
    error(s.patch(P + "/runs/zz", json={"name": "x"}, headers=h), 404, "run_not_found")
    before = s.get(P + "/runs/r1", headers=h).json()["heartbeat_at"]
    assert s.post(P + "/runs/r1/heartbeat", headers=h).status_code == 204
    assert s.get(P + "/runs/r1", headers=h).json()["heartbeat_at"] > before
    error(s.post(P + "/runs/zz/heartbeat", headers=h), 404)
    proj = s.get(P, headers=h).json()
    assert proj["run_count"] == 5 and proj["name"] == "digits" and proj["last_run_at"]


def test_stale_heartbeat_reads_crashed(make_server: Any) -> None:
    s = make_server(crash_after=0.0)
    h = s.user("alice")
    s.put(P + "/runs/r1", headers=h)
    assert s.get(P + "/runs/r1", headers=h).json()["state"] == "crashed"


def test_a_run_reads_as_crashed_five_minutes_after_its_last_heartbeat(server: Server) -> None:
    import datetime as dt

    from sqlalchemy import update

    from labbook.store.schema import runs

    h = server.user("alice")
    server.put(P + "/runs/r1", headers=h)

    def quiet_for(seconds: float) -> str:
        then = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
        with server.store.engine.begin() as conn:
            conn.execute(update(runs).values(heartbeat_at=then))
        return str(server.get(P + "/runs/r1", headers=h).json()["state"])

    assert quiet_for(290) == "running"
    assert quiet_for(310) == "crashed"
    assert server.post(P + "/runs/r1/heartbeat", headers=h).status_code == 204
    assert server.get(P + "/runs/r1", headers=h).json()["state"] == "running"


def test_nul_characters_are_bad_input_not_a_server_fault(any_server: Server) -> None:
    """PostgreSQL refuses NUL in text and JSONB, SQLite in JSON paths: whichever field carries
    one, the answer is a 4xx with the error shape (stored or refused), never a 500."""
    h = any_server.user("alice")
    runs = "/projects/alice/p/runs"
    assert any_server.put(f"{runs}/r1", headers=h).status_code in (200, 201)
    attempts = {
        "order": any_server.get(runs, params={"order": "config.a\x00"}, headers=h),
        "filter field": any_server.get(
            runs, params={"filters": json.dumps({"config.a\x00": 1})}, headers=h
        ),
        "filter value": any_server.get(
            runs, params={"filters": json.dumps({"name": "a\x00"})}, headers=h
        ),
        "patch notes": any_server.patch(f"{runs}/r1", json={"notes": "a\x00"}, headers=h),
        "patch tags": any_server.patch(f"{runs}/r1", json={"tags": ["a\x00"]}, headers=h),
        "put notes": any_server.put(f"{runs}/r2", json={"notes": "a\x00"}, headers=h),
        "key name": any_server.post("/keys", json={"name": "a\x00"}, headers=h),
        "key delete": any_server.delete("/keys/a%00", headers=h),
        "login": any_server.post("/session", json={"username": "a\x00", "password": "x"}),
    }
    for what, resp in attempts.items():
        assert resp.status_code < 500, (what, resp.status_code, resp.text)
        if resp.status_code >= 400:
            error(resp, resp.status_code)
    for what in ("order", "filter field"):  # no database can use such a path
        error(attempts[what], 422, "validation_error")
    # Nothing already stored was lost on the way.
    assert any_server.get(f"{runs}/r1", headers=h).json()["id"] == "r1"


def test_deep_filter_and_order_paths_are_refused_by_a_depth_limit(any_server: Server) -> None:
    """A config/summary path deeper than ``MAX_FIELD_DEPTH`` segments is a 422 naming the field
    (shortened), on both databases; PostgreSQL answered 500 ("cannot pass more than 100
    arguments to a function") from 99 segments. The limit itself still works."""
    from labbook.store.query import MAX_FIELD_DEPTH

    s = any_server
    h = s.user("alice")
    s.put(P + "/runs/r1", headers=h)
    deep = "config." + ".".join(["a"] * 99)
    msg = error(s.get(P + "/runs", params={"filters": json.dumps({deep: 1})}, headers=h), 422)
    assert "deeper than" in msg and str(MAX_FIELD_DEPTH) in msg and "config.a.a" in msg
    assert len(msg) < 300  # the field is shortened, not echoed whole
    error(s.get(P + "/runs", params={"order": "-" + deep}, headers=h), 422, "validation_error")
    nested = {"$or": [{"summary." + ".".join(["b"] * 150): {"$gt": 1}}]}
    error(s.get(P + "/runs", params={"filters": json.dumps(nested)}, headers=h), 422)
    at_limit = "config." + ".".join(["a"] * MAX_FIELD_DEPTH)
    over = "config." + ".".join(["a"] * (MAX_FIELD_DEPTH + 1))
    for field in (at_limit, "summary." + ".".join(["x"] * MAX_FIELD_DEPTH)):
        ok = s.get(P + "/runs", params={"filters": json.dumps({field: {"$gte": 1}})}, headers=h)
        assert ok.status_code == 200 and ok.json()["items"] == [], ok.text
        assert s.get(P + "/runs", params={"order": field}, headers=h).status_code == 200
    error(s.get(P + "/runs", params={"filters": json.dumps({over: 1})}, headers=h), 422)
