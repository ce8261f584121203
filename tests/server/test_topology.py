"""The team deployment without Docker: server processes over one PostgreSQL and one S3 bucket.

The same topology as docker-compose.yml (replicas behind a load balancer, PostgreSQL, S3), run as
real processes: two `labbook server` replicas (one with two uvicorn workers), moto's S3 server,
and training scripts in child processes logging with an API key from the environment.
"""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import numpy as np
import pytest

from databases import postgres_database
from s3server import free_port

PG = os.environ.get("LABBOOK_TEST_POSTGRES_URL")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not PG, reason="needs LABBOOK_TEST_POSTGRES_URL (CI sets it)"),
]
API = "/api/v1"


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A database of its own: the replicas run migrations there like a fresh deployment (in the
    default ``labbook`` schema)."""
    with postgres_database() as url:
        yield url


class Replica:
    def __init__(self, env: dict[str, str], db: str, blobs: str, workers: int, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [
            sys.executable,
            "-m",
            "labbook.cli.main",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db",
            db,
            "--blobs",
            blobs,
            "--workers",
            str(workers),
        ]
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Replica:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.args, env=self.env, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + API + "/openapi.json", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise AssertionError(f"replica did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, open requests cut off mid-flight."""
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _cli(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "labbook.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def deployment(
    pg_database: str, s3_uri: str, moto_endpoint: str, tmp_path: Path
) -> Iterator[tuple[Replica, Replica, dict[str, str]]]:
    env = {
        **os.environ,
        "LABBOOK_AUTH": "true",
        "LABBOOK_S3_ENDPOINT_URL": moto_endpoint,
        "LABBOOK_DIR": str(tmp_path / "server-data"),
    }
    _cli(env, "users", "create", "alice", "--db", pg_database)
    _cli(env, "users", "create", "bob", "--db", pg_database)
    keys = {
        "alice": _cli(env, "keys", "create", "alice", "--db", pg_database).splitlines()[-1],
        "bob": _cli(env, "keys", "create", "bob", "--db", pg_database).splitlines()[-1],
    }
    a = Replica(env, pg_database, s3_uri, 1, tmp_path / "replica-a.log")
    b = Replica(env, pg_database, s3_uri, 2, tmp_path / "replica-b.log")
    try:
        a.start()
        b.start()
        yield a, b, keys
    finally:
        a.stop()
        b.stop()


def _post(url: str, key: str, records: list[dict[str, object]]) -> httpx.Response:
    body = gzip.compress(msgspec.msgpack.encode({"records": records}))
    return httpx.post(
        url,
        content=body,
        timeout=30,
        headers={
            "Authorization": f"Bearer {key}",
            "Content-Type": "application/msgpack",
            "Content-Encoding": "gzip",
        },
    )


def test_two_replicas_store_every_point_once(
    deployment: tuple[Replica, Replica, dict[str, str]],
) -> None:
    a, b, keys = deployment
    auth = {"Authorization": f"Bearer {keys['alice']}"}
    run = f"{API}/projects/alice/shared/runs/r1"
    assert httpx.put(a.url + run, headers=auth, json={}, timeout=30).status_code in (200, 201)
    rng = np.random.default_rng(3)
    values = rng.standard_normal((3000, 4))
    values[::97, 1] = np.nan
    records: list[dict[str, object]] = [
        {
            "t": "run",
            "seq": 1,
            "id": "r1",
            "project": "shared",
            "entity": "alice",
            "name": "x",
            "tags": [],
            "notes": None,
            "group": None,
            "job_type": None,
            "config": {"lr": 0.1},
            "started_at": time.time(),
        },
    ]
    for i, row in enumerate(values.tolist()):
        records.append(
            {
                "t": "h",
                "seq": i + 2,
                "step": i,
                "ts": time.time(),
                "rt": 0.0,
                "d": {f"k{j}": v for j, v in enumerate(row)},
            }
        )
    records.append(
        {"t": "exit", "seq": len(records) + 1, "code": 0, "ts": time.time(), "state": "finished"}
    )
    batches = [records[i : i + 250] for i in range(0, len(records), 250)]
    last = 0
    for i, batch in enumerate(batches):
        target = a if i % 2 == 0 else b
        r = _post(target.url + run + "/records", keys["alice"], batch)
        assert r.status_code == 200, r.text
        last = r.json()["last_seq"]
        if i % 3 == 0:  # a retry that reached the other replica: acknowledged, not stored twice
            other = b if target is a else a
            again = _post(other.url + run + "/records", keys["alice"], batch)
            assert again.status_code == 200 and again.json()["last_seq"] == last
    # Overlapping re-send of everything to both replicas changes nothing.
    for target in (a, b):
        assert (
            _post(target.url + run + "/records", keys["alice"], records).json()["last_seq"] == last
        )
    assert last == len(records)

    for target in (a, b):
        got = httpx.get(
            target.url + run + "/history",
            headers={**auth, "Accept": "application/msgpack"},
            params={"limit": 100_000},
            timeout=30,
        )
        assert got.status_code == 200
        body = msgspec.msgpack.decode(got.content)
        for j in range(4):
            s = body["keys"][f"k{j}"]
            assert s["steps"] == list(range(3000))
            assert np.array_equal(
                np.array(s["values"], dtype=np.float64), values[:, j], equal_nan=True
            )
        metrics = httpx.get(target.url + run + "/metrics", headers=auth, timeout=30).json()
        assert {m["key"]: m["count"] for m in metrics} == {f"k{j}": 3000 for j in range(4)}
        info = httpx.get(target.url + run, headers=auth, timeout=30).json()
        assert info["state"] == "finished" and info["last_seq"] == last

    # One blob store behind both: a file uploaded through A downloads through B.
    data = os.urandom(300_000)
    up = httpx.put(a.url + run + "/files/model/weights.bin", headers=auth, content=data, timeout=30)
    assert up.status_code in (200, 201), up.text
    down = httpx.get(b.url + run + "/files/model/weights.bin", headers=auth, timeout=30)
    assert down.status_code == 200 and down.content == data


CHILD = textwrap.dedent(
    """
    import sys, time
    import labbook
    n = int(sys.argv[1])
    run = labbook.init(project="vision", id=sys.argv[2], config={"lr": 0.01})
    print(run.entity, flush=True)
    for i in range(n):
        run.log({"loss": 1.0 / (i + 1), "i": i})
        time.sleep(float(sys.argv[3]))
    run.finish()
    print("done", flush=True)
    """
)


def _child(env: dict[str, str], url: str, key: str, *args: str) -> subprocess.Popen[str]:
    child_env = {
        **env,
        "LABBOOK_BASE_URL": url,
        "LABBOOK_API_KEY": key,
        "LABBOOK_CAPTURE_REQUIREMENTS": "false",
        "LABBOOK_FINISH_TIMEOUT": "60",
    }
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, *args],
        env=child_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_run_from_another_process_permissions_and_server_kill(
    deployment: tuple[Replica, Replica, dict[str, str]], tmp_path: Path
) -> None:
    a, b, keys = deployment
    env = {**os.environ, "LABBOOK_DIR": str(tmp_path / "client")}
    # A training script in its own process, logging through replica A with alice's key (env only).
    child = _child(env, a.url, keys["alice"], "400", "first01", "0.002")
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out.split() == ["alice", "done"]
    path = f"{API}/projects/alice/vision/runs"
    owner = {"Authorization": f"Bearer {keys['alice']}"}
    outsider = {"Authorization": f"Bearer {keys['bob']}"}
    runs = httpx.get(b.url + path, headers=owner, timeout=30).json()["items"]
    assert [r["state"] for r in runs] == ["finished"]
    run_id = "first01"
    # Private by default: 404 (not 403) for anonymous and for a user outside the project.
    for headers in ({}, outsider):
        r = httpx.get(b.url + f"{path}/{run_id}", headers=headers, timeout=30)
        assert r.status_code == 404 and "vision" not in r.text
    # Made public by its owner: anyone reads it, an outsider still cannot write.
    pub = httpx.put(
        a.url + f"{API}/projects/alice/vision",
        headers=owner,
        json={"visibility": "public"},
        timeout=30,
    )
    assert pub.status_code == 200, pub.text
    for headers in ({}, outsider):
        r = httpx.get(b.url + f"{path}/{run_id}/metrics", headers=headers, timeout=30)
        assert r.status_code == 200
        keys_seen = {m["key"] for m in r.json() if not m["key"].startswith("system/")}
        assert keys_seen == {"loss", "i"}
    assert (
        httpx.patch(
            a.url + f"{path}/{run_id}", headers=outsider, json={"notes": "x"}, timeout=30
        ).status_code
        == 403
    )

    # SIGKILL replica A while a script logs through it; restart it on the same port.
    child = _child(env, a.url, keys["alice"], "600", "killed1", "0.005")
    assert child.stdout is not None
    # Kill only once the run is started (the child prints its entity after init): a server
    # down during init is another case (the entity falls back to the local user).
    assert child.stdout.readline().strip() == "alice"
    time.sleep(0.5)
    a.kill()
    time.sleep(1.0)
    a.start()
    out, err = child.communicate(timeout=180)
    assert child.returncode == 0, err
    assert out.split() == ["done"]
    got = httpx.get(b.url + f"{path}/killed1/metrics", headers=owner, timeout=30)
    assert got.status_code == 200, (got.text, out, err, a.log.read_text()[-3000:])
    metrics = got.json()
    counts = {m["key"]: m["count"] for m in metrics if not m["key"].startswith("system/")}
    assert counts == {"loss": 600, "i": 600}, (err, a.log.read_text()[-3000:])
    hist = httpx.get(
        b.url + f"{path}/killed1/history",
        headers={**owner, "Accept": "application/msgpack"},
        params={"keys": "i", "limit": 100_000},
        timeout=30,
    )
    body = msgspec.msgpack.decode(hist.content)
    assert body["keys"]["i"]["values"] == list(range(600))
