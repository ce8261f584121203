"""REST edits of a run after the fact (PATCH config, DELETE) and the runs list's notes on fields
no run has; on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import msgspec
from lbserver import Server, error

RUN = "/projects/acme/vision/runs/r1"


def _setup(s: Server) -> dict[str, dict[str, str]]:
    h = {"admin": s.user("olga"), "member": s.user("mike"), "viewer": s.user("vera")}
    h["outsider"] = s.user("otto")
    s.team("acme", "olga", mike="member", vera="viewer")
    assert s.put(RUN, headers=h["member"]).status_code == 200
    recs = [{"t": "h", "seq": 1, "step": 0, "ts": 1.0, "rt": 0.0, "d": {"loss": 0.5}}]
    assert s.post(RUN + "/records", json={"records": recs}, headers=h["member"]).status_code == 200
    return h


def test_patch_replaces_the_config(any_server: Server) -> None:
    s = any_server
    h = _setup(s)
    body = {"config": {"lr": 0.1, "optim": {"name": "sgd"}, "x": {"$float": "nan"}}, "group": "g"}
    r = s.patch(RUN, json=body, headers=h["member"])
    assert r.status_code == 200, r.text
    assert r.json()["group"] == "g"
    exact = s.get(RUN, headers=h["viewer"] | {"Accept": "application/msgpack"})
    config = msgspec.msgpack.decode(exact.content)["config"]
    assert config["lr"] == 0.1 and config["optim"] == {"name": "sgd"}
    assert math.isnan(config["x"])  # the tagged form is the store's spelling of NaN
    error(s.patch(RUN, json={"config": {"lr": 1}}, headers=h["viewer"]), 403, "forbidden")
    error(s.patch(RUN, json={"config": [1]}, headers=h["member"]), 422)
    assert s.get(RUN, headers=h["viewer"]).json()["config"]["lr"] == 0.1


def test_delete_needs_a_member_and_removes_the_run(any_server: Server) -> None:
    s = any_server
    h = _setup(s)
    error(s.delete(RUN, headers=h["outsider"]), 404)  # a private project: not there for otto
    error(s.delete(RUN, headers=h["viewer"]), 403, "forbidden")
    assert s.get(RUN, headers=h["viewer"]).status_code == 200
    r = s.delete(RUN, headers=h["member"])
    assert r.status_code == 204 and r.content == b""
    error(s.get(RUN, headers=h["admin"]), 404, "run_not_found")
    error(s.get(RUN + "/history", headers=h["admin"]), 404, "run_not_found")
    error(s.delete(RUN, headers=h["member"]), 404, "run_not_found")
    assert s.get("/projects/acme/vision/runs", headers=h["admin"]).json()["items"] == []


def test_runs_list_notes_fields_no_run_has(any_server: Server) -> None:
    s = any_server
    h = _setup(s)
    listing = "/projects/acme/vision/runs"
    page = s.get(listing, params={"filters": '{"summary.los": 1}'}, headers=h["viewer"]).json()
    assert page["items"] == []
    assert page["warnings"] == ["no run in acme/vision has summary.los; did you mean summary.loss?"]
    ok = s.get(listing, params={"order": "-summary.loss"}, headers=h["viewer"]).json()
    assert len(ok["items"]) == 1 and ok["warnings"] == []
