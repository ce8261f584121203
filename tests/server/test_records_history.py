"""Records over HTTP (idempotent by seq, msgpack, JSON, gzip), history, envelope, limits."""

from __future__ import annotations

import gzip
import math
import struct
from typing import Any

import msgspec
from lbserver import Server, error

RUN = "/projects/alice/digits/runs/r1"
MSGPACK = {"Content-Type": "application/msgpack"}


def _rows(n: int, start: int = 0, seq0: int = 1, **cols: Any) -> list[dict[str, Any]]:
    return [
        {
            "t": "h",
            "seq": seq0 + i,
            "step": start + i,
            "ts": 1_700_000_000.0 + i,
            "rt": float(i),
            "d": {k: f(start + i) for k, f in cols.items()},
        }
        for i in range(n)
    ]


def _pack(records: list[dict[str, Any]]) -> bytes:
    return msgspec.msgpack.encode({"records": records})


def test_same_batch_twice_is_idempotent(any_server: Server) -> None:
    s = any_server
    h = s.user("alice")
    put = s.put(RUN, headers=h).json()
    assert put["last_seq"] == 0 and put["resumed"] is False
    batch = _pack(_rows(5, x=float))
    for _ in range(2):
        r = s.post(RUN + "/records", content=batch, headers=h | MSGPACK)
        assert r.status_code == 200 and r.json() == {"last_seq": 5}
    # an overlapping batch adds only what is new
    r = s.post(
        RUN + "/records", content=_pack(_rows(5, start=3, seq0=4, x=float)), headers=h | MSGPACK
    )
    assert r.json() == {"last_seq": 8}
    hist = s.get(RUN + "/history?keys=x", headers=h).json()
    assert hist["keys"]["x"]["steps"] == list(range(8))
    assert hist["next_cursor"] is None
    run = s.put(RUN, headers=h).json()
    assert run["resumed"] is True and run["last_seq"] == 8
    assert s.get(RUN, headers=h).json()["summary"]["x"] == 7.0


def test_json_and_gzip_bodies(server: Server) -> None:
    s = server
    h = s.user("alice")
    r = s.post(RUN + "/records", json={"records": _rows(2, y=int)}, headers=h)
    assert r.json() == {"last_seq": 2}
    body = gzip.compress(_pack(_rows(3, start=2, seq0=3, y=int)))
    r = s.post(RUN + "/records", content=body, headers=h | MSGPACK | {"Content-Encoding": "gzip"})
    assert r.status_code == 200 and r.json() == {"last_seq": 5}
    assert s.get(RUN + "/history", headers=h).json()["keys"]["y"]["values"] == [0, 1, 2, 3, 4]
    # in JSON, "NaN" is a string value, not a float
    r = s.post(
        RUN + "/records", json={"records": _rows(1, start=5, seq0=6, z=lambda i: "NaN")}, headers=h
    )
    assert r.status_code == 200
    metrics = {m["key"]: m for m in s.get(RUN + "/metrics", headers=h).json()}
    assert metrics["z"]["dtype"] == "text" and metrics["y"]["count"] == 5
    error(
        s.post(
            RUN + "/records", content=b"\x1f\x8bnot gzip", headers=h | {"Content-Encoding": "gzip"}
        ),
        400,
        "bad_request",
    )
    error(s.post(RUN + "/records", content=b"{nope", headers=h), 400)
    error(s.post(RUN + "/records", json={"rows": []}, headers=h), 422, "validation_error")
    error(s.post(RUN + "/records", json={"records": [{"t": "h"}]}, headers=h), 422)


def test_nan_and_inf_round_trip_bit_exact_with_msgpack(server: Server) -> None:
    s = server
    h = s.user("alice")
    odd_nan = struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_1234))[0]
    vals = [0.1, math.nan, math.inf, -math.inf, odd_nan, -0.0, 5e-324]
    recs = _rows(len(vals), v=lambda i: vals[i])
    assert s.post(RUN + "/records", content=_pack(recs), headers=h | MSGPACK).status_code == 200
    r = s.get(RUN + "/history?keys=v", headers=h | {"Accept": "application/msgpack"})
    assert r.headers["content-type"] == "application/msgpack"
    got = msgspec.msgpack.decode(r.content)["keys"]["v"]["values"]
    bits = [struct.pack("<d", x) for x in got]
    assert bits == [struct.pack("<d", x) for x in vals]
    # JSON spells non-finite values as strings
    j = s.get(RUN + "/history?keys=v", headers=h).json()["keys"]["v"]["values"]
    assert j[1:4] == ["NaN", "Infinity", "-Infinity"] and j[0] == 0.1
    assert s.get(RUN, headers=h).json()["summary"]["v"] == 5e-324


def test_history_pages_by_step(server: Server) -> None:
    s = server
    h = s.user("alice")
    recs = _rows(25, a=float)
    recs += [dict(r, seq=100 + i, step=100 + 2 * i, d={"b": 1.0}) for i, r in enumerate(_rows(5))]
    s.post(RUN + "/records", content=_pack(recs), headers=h | MSGPACK)
    steps: list[int] = []
    cursor = None
    pages = 0
    while True:
        q = "?keys=a,b&limit=10" + (f"&cursor={cursor}" if cursor else "")
        page = s.get(RUN + "/history" + q, headers=h).json()
        pages += 1
        for k in page["keys"].values():
            steps.extend(k["steps"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and sorted(steps) == [*range(25), *range(100, 110, 2)]
    page = s.get(RUN + "/history?keys=a&step_min=5&step_max=7", headers=h).json()
    assert page["keys"]["a"]["steps"] == [5, 6, 7]
    error(s.get(RUN + "/history?cursor=garbage", headers=h), 422)
    error(s.get("/projects/alice/digits/runs/nope/history", headers=h), 404, "run_not_found")


def test_envelope(server: Server) -> None:
    s = server
    h = s.user("alice")
    vals = [0.0] * 100
    vals[37] = 99.0
    s.post(RUN + "/records", content=_pack(_rows(100, x=lambda i: vals[i])), headers=h | MSGPACK)
    env = s.get(RUN + "/envelope?key=x&buckets=10", headers=h).json()
    assert env["count"] == [10] * 10 and env["bucket_lo"] == list(range(0, 100, 10))
    assert env["max"][3] == 99.0 and max(env["max"][:3] + env["max"][4:]) == 0.0
    packed = s.get(
        RUN + "/envelope?key=x&buckets=10", headers=h | {"Accept": "application/msgpack"}
    )
    assert msgspec.msgpack.decode(packed.content)["max"] == env["max"]
    # a step range: the zoomed view, bucketed over that range only, the spike still in it
    zoom = s.get(RUN + "/envelope?key=x&buckets=5&step_min=30&step_max=49", headers=h).json()
    assert zoom["bucket_lo"] == [30, 34, 38, 42, 46] and zoom["count"] == [4] * 5
    assert zoom["max"] == [0.0, 99.0, 0.0, 0.0, 0.0]
    error(s.get(RUN + "/envelope?key=nope", headers=h), 404)
    error(s.get(RUN + "/envelope?key=x&buckets=0", headers=h), 422, "validation_error")


def test_record_limits(make_server: Any) -> None:
    s = make_server(max_body_bytes=50_000)
    h = s.user("alice")
    big = _pack(_rows(1, x=lambda i: "x" * 60_000))
    msg = error(
        s.post(RUN + "/records", content=big, headers=h | MSGPACK), 413, "payload_too_large"
    )
    assert "50000" in msg
    # a gzip body that inflates past the limit stops at the limit (no zip bomb)
    bomb = gzip.compress(_pack(_rows(1, x=lambda i: "x" * 10_000_000)))
    assert len(bomb) < 50_000
    error(
        s.post(RUN + "/records", content=bomb, headers=h | MSGPACK | {"Content-Encoding": "gzip"}),
        413,
    )

    # chunked (no Content-Length) bodies are bounded too
    def chunks() -> Any:
        for _ in range(10):
            yield b"\x00" * 10_000

    error(s.post(RUN + "/records", content=chunks(), headers=h | MSGPACK), 413)


def test_key_limits(server: Server) -> None:
    s = server
    h = s.user("alice")
    wide = _rows(1, **{f"k{i}": float for i in range(10_001)})
    msg = error(s.post(RUN + "/records", content=_pack(wide), headers=h | MSGPACK), 422)
    assert "10001 keys" in msg
    long_key = "k" * 513
    msg = error(
        s.post(RUN + "/records", content=_pack(_rows(1, **{long_key: float})), headers=h | MSGPACK),
        422,
    )
    assert "kkkk" in msg and "512" in msg
    ok = _rows(1, **{f"k{i}": float for i in range(100)}, **{"k" * 512: float})
    assert s.post(RUN + "/records", content=_pack(ok), headers=h | MSGPACK).status_code == 200
    assert s.store.count_runs("alice", "digits") == 1


MALFORMED: list[dict[str, Any]] = [
    {"t": "h", "seq": 1, "step": "x", "d": {}},
    {"t": "h", "seq": 1, "step": 1.5, "d": {"a": 1}},
    {"t": "h", "seq": 1, "step": 2**64 - 1, "d": {"a": 1}},
    {"t": "h", "seq": 2**64 - 1, "step": 1, "d": {"a": 1}},
    {"t": "h", "seq": 0, "step": 1, "d": {"a": 1}},
    {"t": "h", "seq": True, "step": 1, "d": {"a": 1}},
    {"t": "h", "seq": 1, "step": 1, "d": {"a": [1, 2]}},
    {"t": "h", "seq": 1, "step": 1, "ts": "x", "d": {"a": 1}},
    {"t": "h", "seq": 1, "d": {"a": 1}},
    {"t": "run", "seq": 1, "config": [1]},
    {"t": "run", "seq": 1, "started_at": "yesterday"},
    {"t": "exit", "seq": 1, "code": "x"},
    {"t": "exit", "seq": 1, "code": 2**63},
    {"t": "file", "seq": 1, "path": "a", "sha256": "x", "size": 2**64 - 1},
    {"t": "update", "seq": 1, "tags": "x"},
    {"t": "summary", "seq": 1, "u": {"a": 1}, "del": "x"},
    {"t": "config", "seq": 1, "u": []},
    {"t": "h", "seq": 1, "step": 1, "d": {1: 2.0}},
    {"t": "h", "seq": 1, "step": 1, "d": {"": 2.0}},
    "not a record",
]


def test_malformed_records_are_4xx_never_5xx(server: Server) -> None:
    s = server
    h = s.user("alice")
    for i, rec in enumerate(MALFORMED):
        body = msgspec.msgpack.encode({"records": [rec]})
        r = s.post(f"/projects/alice/p/runs/m{i}/records", content=body, headers=h | MSGPACK)
        assert r.status_code in (400, 422), (rec, r.status_code, r.text)
        assert set(r.json()["error"]) == {"code", "message"}
