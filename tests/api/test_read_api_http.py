"""``labbook.Api()`` against a real server (uvicorn on loopback): the same behaviour as over the
local store, with the server deciding who may change what."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import pytest
from click.testing import CliRunner

import labbook
from labbook import Api, Settings
from labbook import records as rk
from labbook.cli.main import cli
from labbook.errors import NotFoundError, PermissionDenied, ProjectNotFound, UsageError
from labbook.store import RunRef, Store

if TYPE_CHECKING:
    from conftest import LiveServer


class Team:
    """alice and bob with keys; the teams ``vision`` (alice member, bob admin) and ``audio``
    (alice viewer, bob admin)."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.keys = {u: server.create_user(u) for u in ("alice", "bob", "eve")}
        with self.store() as store:
            store.create_team("vision", "bob")
            store.set_member("vision", "alice", "member")
            store.create_team("audio", "bob")
            store.set_member("audio", "alice", "viewer")

    def store(self) -> Store:
        return Store.open(self.server.settings.resolved_db_url())

    def api(self, user: str) -> Api:
        return Api(self.settings(user))

    def settings(self, user: str) -> Settings:
        return Settings(base_url=self.server.url, api_key=self.keys[user], capture_console=False)


@pytest.fixture
def team(live_server: LiveServer) -> Team:
    return Team(live_server)


def _ingest(store: Store, ref: RunRef, rows: list[dict[str, Any]], config: Any = None) -> None:
    t0 = time.time()
    recs: list[rk.Record] = [
        {
            "t": rk.RUN,
            "id": ref.id,
            "project": ref.project,
            "entity": ref.entity,
            "name": None,
            "tags": [],
            "notes": None,
            "group": None,
            "job_type": None,
            "config": config or {},
            "started_at": t0,
        }
    ]
    recs += [
        {"t": rk.HISTORY, "step": i, "ts": t0 + i, "rt": i, "d": d} for i, d in enumerate(rows)
    ]
    recs.append({"t": rk.EXIT, "code": 0, "ts": t0 + len(rows), "state": "finished"})
    for seq, r in enumerate(recs, 1):
        r["seq"] = seq
    store.ingest(ref, recs)


@pytest.fixture
def wire(live_server: LiveServer) -> Iterator[list[tuple[str, str]]]:
    """(path, query) of every request the server answers."""
    seen: list[tuple[str, str]] = []

    def wrap(app: Any) -> Any:
        async def watch(scope: Any, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
            if scope["type"] == "http":
                seen.append((scope["path"], scope["query_string"].decode()))
            await app(scope, receive, send)

        return watch

    live_server.stop()
    live_server.wrap = wrap
    live_server.start()
    yield seen


def test_history_comes_as_binary_arrays_bit_exact(team: Team, wire: list[tuple[str, str]]) -> None:
    n = 150_000  # more steps than a page of lists holds (100,000)
    rng = np.random.default_rng(3)
    loss = rng.standard_normal(n)
    loss[[5, 6, 7, 8]] = [math.nan, math.inf, -math.inf, -0.0]
    rows = [{"loss": v} for v in loss.tolist()]
    for i in range(0, n, 1000):
        rows[i] |= {"epoch": i // 1000, "ok": i % 2000 == 0, "tag": f"t{i}"}
    with team.store() as store:
        _ingest(store, RunRef("alice", "long", "r1"), rows)
    wire.clear()
    with team.api("alice") as api:
        frame = api.run("alice/long/r1").history()
    calls = [q for path, q in wire if path.endswith("/history")]
    assert len(calls) == 1 and "format=binary" in calls[0]  # one request, not 2+ pages of lists
    assert frame["_step"].tolist() == list(range(n))
    assert frame["loss"].to_numpy().view(np.int64).tolist() == loss.view(np.int64).tolist()
    sparse = frame.iloc[::1000]
    assert sparse["epoch"].tolist() == list(range(n // 1000))
    assert sparse["ok"].tolist() == [i % 2 == 0 for i in range(n // 1000)]
    assert sparse["tag"].tolist() == [f"t{i}" for i in range(0, n, 1000)]
    assert frame["epoch"].isna().sum() == n - n // 1000
    out = CliRunner().invoke(
        cli, ["history", "alice/long/r1", "loss"], env=_env(team, "alice"), catch_exceptions=False
    )
    lines = out.output.splitlines()
    assert len(lines) == n + 1 and lines[6:10] == ["5\tnan", "6\tinf", "7\t-inf", "8\t-0.0"]
    assert lines[1] == f"0\t{float(loss[0])!r}"


def test_binary_history_wire_format(team: Team) -> None:
    import httpx

    with team.store() as store:
        _ingest(store, RunRef("alice", "p", "r"), [{"x": 1.5, "n": 2, "s": "a"}, {"x": 2.5}])
    url = f"{team.server.url}/api/v1/projects/alice/p/runs/r/history"
    auth = {"Authorization": f"Bearer {team.keys['alice']}"}
    body = msgspec.msgpack.decode(
        httpx.get(
            url, params={"format": "binary"}, headers=auth | {"Accept": "application/msgpack"}
        ).content
    )
    x = body["keys"]["x"]
    assert x["dtype"] == "float"
    assert np.frombuffer(x["steps"], "<i8").tolist() == [0, 1]
    assert np.frombuffer(x["values"], "<f8").tolist() == [1.5, 2.5]
    assert len(np.frombuffer(x["times"], "<f8")) == 2
    assert body["keys"]["n"]["dtype"] == "int"
    assert body["keys"]["s"] == {
        "dtype": "object",
        "steps": np.array([0], "<i8").tobytes(),
        "values": ["a"],
        "times": body["keys"]["s"]["times"],
    }
    refused = httpx.get(url, params={"format": "binary"}, headers=auth)  # JSON cannot carry bytes
    assert refused.status_code == 422 and "msgpack" in refused.json()["error"]["message"]
    big = httpx.get(url, params={"limit": 1_000_000}, headers=auth)
    assert big.status_code == 422


def test_a_bare_project_is_found_among_the_callers_entities(team: Team) -> None:
    with team.store() as store:
        _ingest(store, RunRef("vision", "digits", "v1"), [{"loss": 1.0}])
        _ingest(store, RunRef("eve", "digits", "e1"), [{"loss": 2.0}])  # not alice's
        store.ensure_project("eve", "digits", "public")
    with team.api("alice") as api:
        assert [r.path for r in api.runs("digits")] == [["vision", "digits", "v1"]]
        assert api.run("digits/v1").entity == "vision"
    out = CliRunner().invoke(cli, ["runs", "digits"], env=_env(team, "alice"))
    assert out.exit_code == 0, out.output
    assert out.output.startswith("vision/digits: 1 run") and "v1" in out.output
    with team.store() as store:
        _ingest(store, RunRef("audio", "digits", "a1"), [{"loss": 3.0}])
    with team.api("alice") as api, pytest.raises(UsageError) as ambiguous:
        api.runs("digits")
    assert "audio/digits, vision/digits" in str(ambiguous.value)
    with team.api("alice") as api, pytest.raises(ProjectNotFound) as missing:
        api.runs("nope")
    assert "any of your entities (alice, audio, vision)" in str(missing.value)
    with team.api("eve") as api:  # eve's own project wins over nothing else
        assert [r.id for r in api.runs("digits")] == ["e1"]


def _env(team: Team, user: str) -> dict[str, str]:
    return {"LABBOOK_BASE_URL": team.server.url, "LABBOOK_API_KEY": team.keys[user]}


def test_files_update_and_delete_over_http(team: Team, tmp_path: Path) -> None:
    weights = tmp_path / "weights.bin"
    weights.write_bytes(np.arange(50_000, dtype=np.int32).tobytes())
    runs = []
    for lr in (0.1, 0.2):
        with labbook.init(
            entity="vision", project="digits", config={"lr": lr}, settings=team.settings("alice")
        ) as run:
            run.save(str(weights), base_path=str(tmp_path))
            run.log({"loss": lr})
        runs.append(run)
    with team.api("alice") as api:
        stored = api.run(runs[0].path)
        assert {f.name for f in stored.files()} >= {"weights.bin", "config.yaml"}
        f = stored.file("weights.bin")
        assert f.size == 200_000
        f.download(root=str(tmp_path / "got")).close()
        assert (tmp_path / "got" / "weights.bin").read_bytes() == weights.read_bytes()
        stored.name = "renamed"
        stored.tags = ["best"]
        stored.notes = "kept"
        stored.config["lr"] = 0.15
        stored.config["bad"] = math.inf
        stored.update()
    with team.api("bob") as api:  # another member sees the change
        again = api.run(runs[0].path)
        assert (again.name, again.tags, again.notes) == ("renamed", ["best"], "kept")
        assert again.config["lr"] == 0.15 and again.config["bad"] == math.inf
    # an outsider: the private project does not exist for her
    with team.api("eve") as api, pytest.raises(NotFoundError):
        api.run(runs[1].path)
    with team.api("alice") as api:
        api.run(runs[1].path).delete()
        assert [r.id for r in api.runs("vision/digits")] == [runs[0].id]
        with pytest.raises(NotFoundError):
            api.run(runs[1].path)


def test_a_viewer_can_read_but_not_change_or_delete(team: Team) -> None:
    with team.store() as store:
        _ingest(store, RunRef("audio", "songs", "s1"), [{"loss": 1.0}], config={"lr": 0.1})
    with team.api("alice") as api:  # alice is a viewer of audio
        run = api.run("audio/songs/s1")
        run.config["lr"] = 0.5
        with pytest.raises(PermissionDenied, match="member"):
            run.update()
        with pytest.raises(PermissionDenied, match="member"):
            run.delete()
    with team.api("bob") as api:
        assert api.run("audio/songs/s1").config == {"lr": 0.1}


def test_the_server_says_when_a_filter_key_exists_in_no_run(team: Team) -> None:
    with team.store() as store:
        _ingest(store, RunRef("alice", "digits", "r1"), [{"loss": 1.0}], config={"lr": 0.1})
    with (
        team.api("alice") as api,
        pytest.warns(UserWarning, match=r"no run in alice/digits has config\.lrr; did you mean"),
    ):
        assert list(api.runs("digits", filters={"config.lrr": 0.1})) == []
    with team.api("alice") as api, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(api.runs("digits", filters={"config.lr": 0.1})) == 1
    out = CliRunner().invoke(
        cli, ["runs", "digits", "--order", "-summary.los"], env=_env(team, "alice")
    )
    assert out.exit_code == 0, out.output
    assert "no run in alice/digits has summary.los; did you mean summary.loss?" in out.stderr
