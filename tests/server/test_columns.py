"""The runs table in columns, the project's keys, and conditional GETs (ETag → 304)."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

import msgspec
import pytest
import sqlalchemy as sa
from lbserver import Server, error
from seed import T0, log_run

from labbook.store.schema import runs

P = "/projects/alice/digits"
MSGPACK = {"Accept": "application/msgpack"}

CONFIGS: dict[str, dict[str, Any]] = {
    "r0": {"lr": 0.1, "opt": "adam", "model": {"depth": 18}, "seed": 0, "wd": math.nan},
    "r1": {"lr": 0.01, "opt": "sgd", "model": {"depth": 34}, "seed": 0, "wd": 0.0},
    "r2": {"lr": 0.001, "opt": "adam", "model": {"depth": 18}, "seed": 0, "flag": True},
    "r3": {"lr": 0.01, "opt": "sgd", "model": {"depth": 50}, "seed": 0},
    "r4": {"lr": "auto", "opt": "adam", "seed": 0},
}


def _seed(s: Server, h: dict[str, str]) -> None:
    for i, (rid, cfg) in enumerate(CONFIGS.items()):
        loss = [1.0 / (i + 1 + k) for k in range(4)]
        rows: list[dict[str, Any]] = [{"loss": v, "acc": k * 10 + i} for k, v in enumerate(loss)]
        if rid == "r2":
            rows[1]["loss"] = math.inf
        log_run(
            s,
            h,
            f"{P}/runs/{rid}",
            config=cfg,
            rows=rows,
            summary={"best": {"acc": 0.5 + i / 10}} if i % 2 == 0 else None,
            meta={"user": f"u{i % 2}", "host": "gpu1"},
            tags=["base"] if i < 2 else [],
            started_at=T0 + 100 * i,
            state=None if rid == "r4" else "finished",
        )


@pytest.fixture
def seeded(any_server: Server) -> tuple[Server, dict[str, str]]:
    h = any_server.user("alice")
    _seed(any_server, h)
    return any_server, h


def _table(s: Server, h: dict[str, str], **params: Any) -> dict[str, Any]:
    q = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
    r = s.get(f"{P}/columns?{q}", headers=h)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"total", "ids", "columns", "warnings"}
    return body


def test_columns_hold_the_asked_fields_per_run(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    select = (
        "name,state,created_at,runtime,tags,user,host,config.lr,config.model.depth,config.wd,"
        "config.flag,summary.best.acc,metrics.loss.min,metrics.loss.max,metrics.acc.last,"
        "metrics.acc.count,metrics.acc.last_step"
    )
    t = _table(s, h, select=select)
    assert t["total"] == 5
    assert t["ids"] == ["r4", "r3", "r2", "r1", "r0"]  # newest first by default
    c = t["columns"]
    assert list(c) == select.split(",")
    assert c["name"] == ["r4", "r3", "r2", "r1", "r0"]
    assert c["state"] == ["running", "finished", "finished", "finished", "finished"]
    assert c["created_at"][-1] == "2023-11-14T22:13:20Z"  # as RunOut writes times
    assert c["runtime"][1:] == [5.0] * 4  # exit one step after the 4 rows, 1 s apart
    assert c["runtime"][0] > 0  # running: up to its last heartbeat
    assert c["tags"] == [[], [], [], ["base"], ["base"]]
    assert c["user"] == ["u0", "u1", "u0", "u1", "u0"]
    assert c["host"] == ["gpu1"] * 5
    assert c["config.lr"] == ["auto", 0.01, 0.001, 0.01, 0.1]
    assert c["config.model.depth"] == [None, 50, 18, 34, 18]
    assert c["config.wd"] == [None, None, None, 0.0, "NaN"]
    assert c["config.flag"] == [None, None, True, None, None]
    assert c["summary.best.acc"] == [0.9, None, 0.7, None, 0.5]
    assert c["metrics.loss.min"] == [1 / 8, 1 / 7, 1 / 6, 1 / 5, 1 / 4]
    assert c["metrics.loss.max"] == [1 / 5, 1 / 4, "Infinity", 1 / 2, 1.0]
    assert c["metrics.acc.last"] == [34, 33, 32, 31, 30]
    assert c["metrics.acc.count"] == [4] * 5
    assert c["metrics.acc.last_step"] == [3] * 5
    assert t["warnings"] == []
    assert isinstance(c["metrics.acc.last"][0], int)  # ints stay ints


def test_filters_and_order_as_the_runs_list_takes_them(
    seeded: tuple[Server, dict[str, str]],
) -> None:
    s, h = seeded
    cases = [
        ({"config.opt": "adam"}, "config.lr"),
        ({"config.lr": {"$lt": 0.05}}, "-metrics.loss.min"),
        ({"tags": "base"}, "name"),
        ({"$or": [{"config.model.depth": 18}, {"state": "running"}]}, "-created_at"),
        ({"metrics.loss.max": {"$gt": 0.3}}, "metrics.acc.last"),
    ]
    for flt, order in cases:
        f = json.dumps(flt)
        t = _table(s, h, select="name", filters=f, order=order)
        listed = s.get(f"{P}/runs?filters={quote(f)}&order={quote(order)}", headers=h).json()
        want = [r["id"] for r in listed["items"]]
        assert t["ids"] == want, (flt, order)
        assert t["total"] == len(want)
        assert t["columns"]["name"] == want
    t = _table(s, h, select="config.opt,config.lr", order="config.opt,-config.lr")
    assert t["ids"] == ["r0", "r2", "r4", "r1", "r3"]  # adam 0.1, 0.001, "auto" (string last)


def test_limit_offset_and_total(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    t = _table(s, h, select="name", order="name", limit=2)
    assert t == {"total": 5, "ids": ["r0", "r1"], "columns": {"name": ["r0", "r1"]}, "warnings": []}
    t = _table(s, h, select="name", order="name", limit=2, offset=4)
    assert (t["total"], t["ids"]) == (5, ["r4"])
    t = _table(s, h, select="name", order="name", limit=2, offset=9)
    assert (t["total"], t["ids"]) == (5, [])
    assert _table(s, h)["columns"].keys() == {
        "name", "state", "created_at", "runtime", "tags", "user"
    }  # fmt: skip


def test_msgpack_keeps_floats_exact(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    url = f"{P}/columns?select=config.wd,metrics.loss.max,config.model&order=name"
    r = s.get(url, headers=h | MSGPACK)
    assert r.headers["content-type"] == "application/msgpack"
    t = msgspec.msgpack.decode(r.content)
    wd = t["columns"]["config.wd"]
    assert math.isnan(wd[0]) and wd[1:] == [0.0, None, None, None]
    assert t["columns"]["metrics.loss.max"][2] == math.inf
    assert t["columns"]["config.model"] == [
        {"depth": 18}, {"depth": 34}, {"depth": 18}, {"depth": 50}, None
    ]  # fmt: skip
    j = s.get(url, headers=h).json()
    assert j["columns"]["config.model"] == t["columns"]["config.model"]
    assert r.headers["etag"] != s.get(url, headers=h).headers["etag"]  # one tag per encoding


def test_warnings_name_fields_no_run_has(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    t = _table(s, h, select="config.lrr,metrics.los.min", order="summary.bestt")
    assert t["columns"]["config.lrr"] == [None] * 5
    assert len(t["warnings"]) == 3
    assert "config.lrr" in t["warnings"][1] and "did you mean config.lr" in t["warnings"][1]
    assert "metrics.loss.min" in t["warnings"][2]


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("select=nope", "select"),
        ("select=metrics.loss.median", "select"),
        ("select=" + ",".join(f"config.k{i}" for i in range(201)), "select"),
        ("limit=10001", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("filters=[1]", "filters"),
        ("filters={bad", "filters"),
        ("filters=" + quote('{"config.lr": {"$near": 1}}'), "$near"),
        ("order=tags", "order by tags"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    seeded: tuple[Server, dict[str, str]], query: str, names: str
) -> None:
    s, h = seeded
    assert names in error(s.get(f"{P}/columns?{query}", headers=h), 422, "validation_error")


def test_columns_permissions(server: Server) -> None:
    s = server
    h = s.user("alice")
    log_run(s, h, f"{P}/runs/r0", config={"lr": 1})
    bob = s.user("bob")
    for url in (f"{P}/columns", f"{P}/keys", "/projects/alice/nope/columns"):
        assert error(s.get(url, headers=bob), 404) == "project not found"
        error(s.get(url), 404)
    s.put(P, json={"visibility": "public"}, headers=h)
    assert s.get(f"{P}/columns?select=config.lr").json()["columns"] == {"config.lr": [1]}
    assert s.get(f"{P}/keys", headers=bob).status_code == 200


def test_etag_304_until_the_project_changes(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    url = f"{P}/columns?select=name,state,metrics.loss.last"
    first = s.get(url, headers=h)
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"

    def status() -> int:
        r = s.get(url, headers=h | {"If-None-Match": tag})
        assert r.headers["etag"]
        return int(r.status_code)

    assert status() == 304
    assert s.get(url, headers=h | {"If-None-Match": f'W/{tag}, "x"'}).status_code == 304
    assert s.get(f"{P}/columns?select=name", headers=h | {"If-None-Match": tag}).status_code == 200
    changes = [
        lambda: log_run(s, h, f"{P}/runs/r4", rows=[{"loss": 0.01}], step0=4, state=None),
        lambda: s.patch(f"{P}/runs/r1", json={"name": "renamed"}, headers=h),
        lambda: s.post(f"{P}/runs/r4/heartbeat", headers=h),
        lambda: s.delete(f"{P}/runs/r3", headers=h),
        lambda: log_run(s, h, f"{P}/runs/r9", config={"lr": 1}),
        lambda: _age_heartbeats(s),  # the running run reads as crashed now
    ]
    for change in changes:
        change()
        assert status() == 200
        new = s.get(url, headers=h)
        assert new.headers["etag"] != tag
        tag = new.headers["etag"]
        assert status() == 304
    assert "crashed" in s.get(url, headers=h).json()["columns"]["state"]


def _age_heartbeats(s: Server) -> None:
    with s.store.engine.begin() as conn:
        conn.execute(sa.update(runs).values(heartbeat_at=runs.c.created_at))


def test_get_run_etag(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    url = f"{P}/runs/r4"
    r = s.get(url, headers=h)
    tag = r.headers["etag"]
    assert s.get(url, headers=h | {"If-None-Match": tag}).status_code == 304
    assert r.json()["config"]["lr"] == "auto"
    s.get(url, headers=h | MSGPACK)
    log_run(s, h, url, rows=[{"loss": 0.5}], step0=4, state=None)
    assert s.get(url, headers=h | {"If-None-Match": tag}).status_code == 200
    tag = s.get(url, headers=h).headers["etag"]
    _age_heartbeats(s)
    r = s.get(url, headers=h | {"If-None-Match": tag})
    assert r.status_code == 200 and r.json()["state"] == "crashed"
    # NaN in a config reads back as the API's "NaN" string (and exact in msgpack)
    assert s.get(f"{P}/runs/r0", headers=h).json()["config"]["wd"] == "NaN"
    packed = msgspec.msgpack.decode(s.get(f"{P}/runs/r0", headers=h | MSGPACK).content)
    assert math.isnan(packed["config"]["wd"])
    listed = s.get(f"{P}/runs?order=name", headers=h).json()["items"]
    assert listed[0]["config"]["wd"] == "NaN"


def test_keys(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    k = s.get(f"{P}/keys", headers=h).json()
    config = {c["key"]: c for c in k["config"]}
    assert list(config) == ["flag", "lr", "model.depth", "opt", "seed", "wd"]
    assert config["lr"] == {"key": "lr", "types": ["number", "string"], "distinct": 4, "runs": 5}
    assert config["seed"]["distinct"] == 1  # does not vary
    assert config["model.depth"] == {
        "key": "model.depth", "types": ["number"], "distinct": 3, "runs": 4
    }  # fmt: skip
    assert config["wd"]["types"] == ["number"] and config["wd"]["distinct"] == 2
    assert [c for c in config if config[c]["distinct"] > 1] == ["lr", "model.depth", "opt", "wd"]
    summary = {c["key"]: c for c in k["summary"]}
    assert summary["best.acc"] == {"key": "best.acc", "types": ["number"], "runs": 3}
    assert summary["loss"]["runs"] == 5
    assert k["metrics"] == [{"key": "acc", "runs": 5}, {"key": "loss", "runs": 5}]


def test_keys_count_distinct_values_up_to_1000(server: Server) -> None:
    s = server
    h = s.user("alice")
    for i in range(3):
        log_run(s, h, f"{P}/runs/r{i}", config={"x": [i % 2], "y": {"_type": "image-file"}})
    k = s.get(f"{P}/keys", headers=h).json()["config"]
    assert k == [
        {"key": "x", "types": ["array"], "distinct": 2, "runs": 3},
        {"key": "y", "types": ["object"], "distinct": 1, "runs": 3},
    ]
    store = s.store
    from labbook.store.table import MAX_DISTINCT

    with store.engine.begin() as conn:
        pk = conn.execute(sa.select(runs.c.pk).where(runs.c.run_id == "r0")).scalar_one()
        row = conn.execute(sa.select(runs).where(runs.c.pk == pk)).one()._asdict()
        extra = []
        for i in range(MAX_DISTINCT + 50):
            r = dict(row, run_id=f"x{i}", config={"x": i, "z": i % 3 == 0})
            r.pop("pk")
            extra.append(r)
        conn.execute(sa.insert(runs), extra)
    k = s.get(f"{P}/keys", headers=h).json()["config"]
    assert k[0] == {"key": "x", "types": ["array", "number"], "distinct": 1000, "runs": 1053}
    assert k[2] == {"key": "z", "types": ["bool"], "distinct": 2, "runs": 1050}
