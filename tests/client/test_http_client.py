"""The HTTP client's pieces: backoff, Retry-After, error mapping, batch bodies, sink guards."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import pytest

from labbook import records
from labbook.client import Client, ServerUnavailable, backoff_delay, parse_retry_after
from labbook.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    RateLimited,
    RunNotFound,
    ValidationError,
)
from labbook.sdk.http import HttpSink
from labbook.sdk.http.sink import record_bodies
from labbook.store import RunRef, Store

if TYPE_CHECKING:
    from conftest import LiveServer


# ----------------------------------------------------------------------------- pure functions
def test_backoff_is_exponential_with_full_jitter_and_a_cap() -> None:
    assert backoff_delay(0, rand=lambda: 0.999) == pytest.approx(0.2 * 0.999)
    assert backoff_delay(3, rand=lambda: 0.5) == pytest.approx(0.2 * 8 * 0.5)
    assert backoff_delay(50, rand=lambda: 0.999) == pytest.approx(5.0 * 0.999)  # capped
    assert backoff_delay(4, rand=lambda: 0.0) == 0.0  # full jitter reaches zero
    draws = [backoff_delay(2) for _ in range(500)]
    assert 0 <= min(draws) < 0.1 and 0.7 < max(draws) < 0.8  # uniform in [0, 0.8)


def test_retry_after_is_a_floor_and_bounded() -> None:
    assert backoff_delay(0, retry_after=7, rand=lambda: 0.5) == 7
    assert backoff_delay(20, retry_after=1, rand=lambda: 0.9) == pytest.approx(4.5)
    assert backoff_delay(0, retry_after=10**6, rand=lambda: 0.5) == 300.0


def test_parse_retry_after() -> None:
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1.5)


def test_record_bodies_split_at_the_limit_and_keep_every_record() -> None:
    batch = [{"t": "h", "seq": i, "step": i, "d": {"x": "y" * 300}} for i in range(1, 101)]
    big = {"t": "h", "seq": 101, "step": 101, "d": {"x": "z" * 5000}}
    bodies = list(record_bodies([*batch, big], limit=2000))
    assert len(bodies) > 10
    got = []
    for b in bodies:
        recs = msgspec.msgpack.decode(b)["records"]
        assert len(b) <= 2000 or len(recs) == 1  # only a lone oversized record goes over
        got.extend(recs)
    assert got == [*batch, big]
    many = [{"t": "hb", "seq": i, "ts": 1.0} for i in range(70_000)]  # array32 header
    (one,) = record_bodies(many, limit=10**9)
    assert msgspec.msgpack.decode(one)["records"] == many


# ---------------------------------------------------------------------- against a real server
def test_error_codes_map_back_to_the_same_classes(live_server: LiveServer) -> None:
    key = live_server.create_user("alice")
    with Client(live_server.url, key) as c:
        assert c.viewer()["name"] == "alice"
        with pytest.raises(NotFoundError) as nf:
            c.get("/projects/alice/p/runs/nope")
        assert nf.value.status == 404
        c.request("PUT", "/projects/alice/p", json_body={})
        with pytest.raises(RunNotFound):
            c.get("/projects/alice/p/runs/nope")
        with pytest.raises(ValidationError):
            c.get("/projects/alice/p/runs", params={"filters": "not json"})
    with Client(live_server.url, "lb_wrong") as c, pytest.raises(AuthenticationError):
        c.viewer()
    with Client(live_server.url, None) as c, pytest.raises(AuthenticationError):
        c.viewer()


def test_429_retry_after_is_honoured(server_factory: Callable[..., LiveServer]) -> None:
    srv = server_factory(login_max_failures=1).start()
    srv.create_user("alice")
    waits: list[float] = []

    class Stop(Exception):
        pass

    def sleep(s: float) -> None:
        waits.append(s)
        raise Stop

    body = {"username": "alice", "password": "wrong"}
    with Client(srv.url, None, retry_seconds=1000, sleep=sleep) as c:
        with pytest.raises(AuthenticationError):  # a 401 is final: not retried
            c.request("POST", "/session", json_body=body)
        assert waits == []
        with pytest.raises(Stop):  # the 429: wait as long as the server said before retrying
            c.request("POST", "/session", json_body=body)
        assert len(waits) == 1 and 55 <= waits[0] <= 61
    with Client(srv.url, None, retry_seconds=2) as c:
        t0 = time.monotonic()
        with pytest.raises(RateLimited) as exc:  # the wait is longer than the budget: give up
            c.request("POST", "/session", json_body=body)
        assert exc.value.retry_after >= 55
        # ... and do not knock again before the time is up, whatever the route.
        with pytest.raises(RateLimited):
            c.viewer()
        assert time.monotonic() - t0 < 1.5


def test_a_down_server_is_retried_within_the_budget_then_unavailable(
    server_factory: Callable[..., LiveServer],
) -> None:
    down = server_factory()  # never started: its port refuses connections
    waits: list[float] = []
    c = Client(down.url, "k", retry_seconds=1.0, sleep=waits.append)
    with c:
        with pytest.raises(ServerUnavailable, match="cannot reach"):
            c.viewer()
        assert len(waits) >= 3  # instant refusals, retried with (fake) waits
        n = len(waits)
        with pytest.raises(ServerUnavailable):
            c.request("GET", "/viewer", retry=False)
        assert len(waits) == n


def test_sink_refuses_a_run_it_took_for_new(live_server: LiveServer, tmp_path: Path) -> None:
    key = live_server.create_user("alice")
    ref = RunRef("alice", "p", "r1")
    hdr = {"t": records.RUN, "id": "r1", "project": "p", "entity": "alice", "name": "a",
           "tags": [], "notes": None, "group": None, "job_type": None, "config": {},
           "started_at": time.time(), "seq": 1}  # fmt: skip
    first = HttpSink(Client(live_server.url, key), ref, tmp_path)
    assert first.last_seq() == 0
    assert first.send([hdr, {"t": records.HEARTBEAT, "ts": 1.0, "seq": 2}]) == 2
    assert first.send([hdr]) == 2  # idempotent by seq
    first.close()
    late = HttpSink(Client(live_server.url, key), ref, tmp_path, expect_new=True)
    with pytest.raises(ConflictError, match="already exists"):
        late.send([hdr])
    late.close()


def test_sink_uploads_files_and_skips_one_the_server_refuses(
    live_server: LiveServer, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from labbook.blobs import sha256_file

    key = live_server.create_user("alice")
    ref = RunRef("alice", "p", "r1")
    (tmp_path / "ok.txt").write_text("hello")
    (tmp_path / "bad\\name").write_text("refused")
    sink = HttpSink(Client(live_server.url, key), ref, tmp_path)
    hdr = {"t": records.RUN, "id": "r1", "project": "p", "entity": "alice", "name": "a",
           "tags": [], "notes": None, "group": None, "job_type": None, "config": {},
           "started_at": time.time(), "seq": 1}  # fmt: skip
    sha, size = sha256_file(tmp_path / "ok.txt")
    bad_sha, bad_size = sha256_file(tmp_path / "bad\\name")
    batch = [
        hdr,
        {"t": records.FILE, "path": "bad\\name", "sha256": bad_sha, "size": bad_size, "seq": 2},
        {"t": records.FILE, "path": "ok.txt", "sha256": sha, "size": size, "seq": 3},
    ]
    assert sink.send(batch) == 3  # the refused file did not hold up what follows
    assert "refused file 'bad\\\\name'" in capfd.readouterr().err
    got = sink.client.request("GET", "/projects/alice/p/runs/r1/files/ok.txt")
    assert got.content == b"hello"
    sink.close()


class _Wire:
    """ASGI middleware in front of the real app: records each request's TCP connection (the
    client's address and port), headers and body, and can answer 503 to the first record posts."""

    def __init__(self, app: Any, fail_records: int = 0) -> None:
        self.app = app
        self.fail_records = fail_records
        self.seen: list[dict[str, Any]] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry: dict[str, Any] = {
            "method": scope["method"],
            "path": scope["path"],
            "client": tuple(scope["client"]),
            "headers": {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            "body": b"",
        }
        self.seen.append(entry)
        if scope["path"].endswith("/records") and self.fail_records > 0:
            self.fail_records -= 1
            entry["status"] = 503
            while (await receive()).get("more_body"):
                pass
            await send({"type": "http.response.start", "status": 503, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return

        async def recording_receive() -> Any:
            msg = await receive()
            if msg["type"] == "http.request":
                entry["body"] += msg.get("body", b"")
            return msg

        await self.app(scope, recording_receive, send)


def test_sink_wire_gzip_batches_of_1mb_one_connection_and_5xx_retried(
    server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    import gzip

    from labbook.sdk.http.sink import MAX_BATCH_BYTES

    wire: _Wire | None = None

    def wrap(app: Any) -> _Wire:
        nonlocal wire
        wire = _Wire(app, fail_records=1)
        return wire

    srv = server_factory()
    srv.wrap = wrap
    srv.start()
    key = srv.create_user("alice")
    assert wire is not None
    ref = RunRef("alice", "p", "r1")
    hdr = {"t": records.RUN, "id": "r1", "project": "p", "entity": "alice", "name": "a",
           "tags": [], "notes": None, "group": None, "job_type": None, "config": {},
           "started_at": time.time(), "seq": 1}  # fmt: skip
    rows = [
        {"t": "h", "seq": i, "step": i - 2, "ts": 1.0, "rt": 0.0, "d": {"s": f"{i:08d}" * 40}}
        for i in range(2, 10_002)
    ]  # ~3.5 MB of msgpack
    waits: list[float] = []
    sink = HttpSink(Client(srv.url, key, sleep=waits.append), ref, tmp_path)
    assert sink.last_seq() == 0
    assert sink.send([hdr, *rows]) == 10_001
    sink.close()

    posts = [e for e in wire.seen if e["path"].endswith("/records")]
    assert posts[0].get("status") == 503 and len(waits) == 1  # a 503 is retried after a wait
    accepted = posts[1:]
    assert len(accepted) >= 4  # ~3.5 MB went as several bodies of at most ~1 MB
    for e in accepted:
        assert e["headers"]["content-encoding"] == "gzip"
        assert len(gzip.decompress(e["body"])) <= MAX_BATCH_BYTES
    assert MAX_BATCH_BYTES == 1_000_000
    # keep-alive: every request of the sink went over one TCP connection
    assert len({e["client"] for e in wire.seen}) == 1
    with Store.open(srv.settings.resolved_db_url()) as store:
        h = store.history(ref, ["s"])["s"]
        assert h.steps.tolist() == list(range(10_000))  # each stored once
