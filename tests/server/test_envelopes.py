"""Envelopes of many runs x keys in one request: the single-run envelope's buckets, bucket times,
run choice by ids or by the table's filters, live appends, ETag/304 and bad parameters."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

import msgspec
import pytest
from lbserver import Server, error
from seed import T0, log_run

P = "/projects/alice/digits"
MSGPACK = {"Accept": "application/msgpack"}
ARRAYS = ("bucket_lo", "first_step", "last_step", "first", "last", "min", "max", "count")


def _loss(i: int, n: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k in range(n):
        d: dict[str, Any] = {"loss": math.sin(k / 7) + i, "acc": k % 5}
        if k == 37:
            d["loss"] = 1000.0 + i  # a spike no bucket may hide
        if k == 50 and i == 1:
            d["loss"] = math.nan
        if k % 10 == 0:
            d["note"] = f"text {k}"  # a text key: never charted
        rows.append(d)
    return rows


@pytest.fixture
def seeded(any_server: Server) -> tuple[Server, dict[str, str]]:
    s = any_server
    h = s.user("alice")
    for i in range(4):
        log_run(
            s,
            h,
            f"{P}/runs/r{i}",
            config={"lr": 10.0**-i},
            rows=_loss(i, 200 + 50 * i),
            started_at=T0 + 1000 * i,
            dt=0.5 + i,
            state=None if i == 3 else "finished",
        )
    log_run(s, h, f"{P}/runs/empty", config={"lr": 5.0}, started_at=T0 + 9000)
    return s, h


def _env(s: Server, h: dict[str, str], **params: Any) -> dict[str, Any]:
    q = "&".join(f"{k}={quote(str(v))}" for k, v in params.items())
    r = s.get(f"{P}/envelopes?{q}", headers=h)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"series", "runs_total"}
    return body


def test_series_equal_the_single_run_envelope(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    body = _env(s, h, keys="loss,acc,note,nope", runs="r2,r0,missing,empty", buckets=32)
    assert body["runs_total"] == 3  # the ids the project holds
    assert [(x["run"], x["key"]) for x in body["series"]] == [
        ("r2", "loss"), ("r2", "acc"), ("r0", "loss"), ("r0", "acc")
    ]  # fmt: skip
    for x in body["series"]:
        one = s.get(f"{P}/runs/{x['run']}/envelope?key={x['key']}&buckets=32", headers=h).json()
        assert {k: x[k] for k in (*ARRAYS, "step_min", "step_max", "buckets")} == one
        assert x["step_min"] == 0 and x["buckets"] == 32
    r0 = body["series"][2]
    assert max(r0["max"]) == 1000.0  # the spike at step 37 survives 32 buckets
    assert sum(r0["count"]) == 200


def test_bucket_times_are_those_of_the_first_and_last_points(
    seeded: tuple[Server, dict[str, str]],
) -> None:
    s, h = seeded
    for buckets in (1, 7, 1000):
        body = _env(s, h, keys="loss", runs="r0,r1,r3", buckets=buckets)
        for x in body["series"]:
            i = int(x["run"][1:])
            hist = s.get(f"{P}/runs/{x['run']}/history?keys=loss", headers=h).json()
            times = dict(
                zip(hist["keys"]["loss"]["steps"], hist["keys"]["loss"]["times"], strict=True)
            )
            assert x["first_time"] == [times[st] for st in x["first_step"]]
            assert x["last_time"] == [times[st] for st in x["last_step"]]
            start = T0 + 1000 * i
            assert x["rt_first"] == pytest.approx([t - start for t in x["first_time"]])
            assert x["rt_last"] == pytest.approx([t - start for t in x["last_time"]])
            assert x["rt_first"][0] == pytest.approx(0.5 + i)  # the first row, dt after start
    nan = _env(s, h, keys="loss", runs="r1", buckets=1000)["series"][0]
    assert nan["first"][50] == "NaN" and nan["min"][50] == "NaN"


def test_runs_chosen_by_the_table_filters(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    flt = json.dumps({"config.lr": {"$lt": 0.5}})
    body = _env(s, h, keys="loss", filters=flt, order="-config.lr", limit=2, buckets=10)
    assert [x["run"] for x in body["series"]] == ["r1", "r2"]
    assert body["runs_total"] == 3
    table = s.get(f"{P}/columns?select=name&filters={quote(flt)}&order=-config.lr", headers=h)
    assert table.json()["ids"][:2] == ["r1", "r2"]
    default = _env(s, h, keys="loss", buckets=10)  # the first 20 of the table: newest first
    assert [x["run"] for x in default["series"]] == ["r3", "r2", "r1", "r0"]
    assert default["runs_total"] == 5


def test_live_appends_and_conditional_polling(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    url = f"{P}/envelopes?keys=loss&runs=r3&buckets=50"
    first = s.get(url, headers=h)
    tag = first.headers["etag"]
    last_step = first.json()["series"][0]["last_step"][-1]
    assert last_step == 349
    assert s.get(url, headers=h | {"If-None-Match": tag}).status_code == 304
    rows = [{"loss": -5.0 - k} for k in range(10)]
    log_run(s, h, f"{P}/runs/r3", rows=rows, step0=350, started_at=T0 + 3000, dt=3.5, state=None)
    again = s.get(url, headers=h | {"If-None-Match": tag})
    assert again.status_code == 200 and again.headers["etag"] != tag
    new = _env(s, h, keys="loss", runs="r3", buckets=50, step_min=last_step + 1)
    x = new["series"][0]
    assert (x["step_min"], x["step_max"]) == (350, 359)
    assert x["first_step"] == list(range(350, 360)) and x["first"] == [-5.0 - k for k in range(10)]
    assert x["rt_first"][0] == pytest.approx(3.5 * 351)
    window = _env(s, h, keys="loss", runs="r3", buckets=5, step_min=30, step_max=39)["series"][0]
    assert window["bucket_lo"] == [30, 32, 34, 36, 38] and max(window["max"]) == 1003.0


def test_msgpack_is_exact(seeded: tuple[Server, dict[str, str]]) -> None:
    s, h = seeded
    r = s.get(f"{P}/envelopes?keys=loss&runs=r1&buckets=1000", headers=h | MSGPACK)
    assert r.headers["content-type"] == "application/msgpack"
    x = msgspec.msgpack.decode(r.content)["series"][0]
    assert math.isnan(x["first"][50]) and x["first"][0] == 1.0
    assert x["first_time"][0] == T0 + 1000 + 1.5  # r1 starts at T0 + 1000, rows 1.5 s apart


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("keys=", "keys"),
        ("runs=r0", "keys"),
        ("keys=" + ",".join(f"k{i}" for i in range(101)), "keys"),
        ("keys=loss&runs=" + ",".join(f"r{i}" for i in range(1001)), "runs"),
        ("keys=loss&runs=,", "runs"),
        ("keys=loss&runs=a%20b", "runs"),
        ("keys=loss&limit=1001", "limit"),
        ("keys=loss&buckets=0", "buckets"),
        ("keys=loss&buckets=100001", "buckets"),
        ("keys=loss&limit=1000&buckets=20000", "buckets"),
        ("keys=loss&filters=nope", "filters"),
        ("keys=loss&order=tags", "tags"),
        ("keys=loss&step_min=x", "step_min"),
    ],
)
def test_bad_parameters_are_422_naming_them(
    seeded: tuple[Server, dict[str, str]], query: str, names: str
) -> None:
    s, h = seeded
    assert names in error(s.get(f"{P}/envelopes?{query}", headers=h), 422, "validation_error")


def test_envelopes_permissions(server: Server) -> None:
    s = server
    h = s.user("alice")
    log_run(s, h, f"{P}/runs/r0", rows=[{"loss": 1.0}])
    bob = s.user("bob")
    assert error(s.get(f"{P}/envelopes?keys=loss", headers=bob), 404) == "project not found"
    error(s.get(f"{P}/envelopes?keys=loss"), 404)
    s.put(P, json={"visibility": "public"}, headers=h)
    assert len(s.get(f"{P}/envelopes?keys=loss").json()["series"]) == 1
