"""The SDK against a real server over HTTP (uvicorn on loopback): log, read back, fail fast at init,
survive a server that is down at init or dies mid-run."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from click.testing import CliRunner

import labbook
from labbook import Api, Settings
from labbook.cli.main import cli
from labbook.client import RemoteReader
from labbook.errors import AuthenticationError, NotFoundError, UsageError

if TYPE_CHECKING:
    from conftest import LiveServer

SPECIALS = [math.nan, math.inf, -math.inf, 0.0, -0.0, 5e-324, 1.7976931348623157e308, 1 / 3]


@pytest.fixture
def online(live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> LiveServer:
    """The SDK pointed at ``live_server`` as alice (by the environment, as a container would)."""
    monkeypatch.setenv("LABBOOK_BASE_URL", live_server.url)
    monkeypatch.setenv("LABBOOK_API_KEY", live_server.create_user("alice"))
    return live_server


def _bits(a: np.ndarray) -> list[int]:
    return np.asarray(a, dtype=np.float64).view(np.int64).tolist()


def test_log_over_http_and_read_back_bit_exact(online: LiveServer, tmp_path: Path) -> None:
    src = tmp_path / "weights.bin"
    src.write_bytes(bytes(range(256)) * 5000)  # > 1 MiB: a streamed upload of several chunks
    s = Settings(sender_batch_bytes=2048)  # many record batches
    run = labbook.init(project="digits", config={"lr": 0.1, "layers": [1, 2]}, settings=s)
    assert run.entity == "alice"  # the key's owner, asked from the server
    assert run.url.startswith(online.url + "/alice/digits/runs/")
    values = [SPECIALS[i % len(SPECIALS)] * (1 + i // len(SPECIALS)) for i in range(300)]
    for i, v in enumerate(values):
        run.log({"loss": v, "epoch": i, "ok": i % 2 == 0, "tag": f"t{i}"})
    run.summary["best"] = 0.25
    run.summary["diverged"] = math.nan
    run.summary["bound"] = -math.inf
    run.save(str(src))
    run.finish()
    # Nothing went to the local store.
    assert not (tmp_path / "data" / "labbook.db").exists()

    with Api() as api:
        assert api.remote
        r = api.run(f"digits/{run.id}")  # default entity: the key's owner
        assert r.state == "finished"
        assert r.config == {"lr": 0.1, "layers": [1, 2]}
        assert r.summary["best"] == 0.25
        # Non-finite summary values come back as floats, not JSON's "NaN" spelling.
        assert math.isnan(r.summary["diverged"]) and r.summary["bound"] == -math.inf
        listed = next(iter(api.runs("digits")))
        assert math.isnan(listed.summary["diverged"])
        keys = {m.key: m for m in r.metric_keys()}
        assert keys["loss"].count == 300
        hist = r.history(keys=["loss", "epoch", "ok", "tag"])
        assert hist["_step"].tolist() == list(range(300))
        assert _bits(hist["loss"].to_numpy()) == _bits(np.array(values))
        assert hist["epoch"].tolist() == list(range(300))
        assert hist["ok"].tolist() == [i % 2 == 0 for i in range(300)]
        assert hist["tag"].tolist() == [f"t{i}" for i in range(300)]
        files = {f.path: f for f in r.files()}
        assert files["weights.bin"].size == src.stat().st_size
        assert "config.yaml" in files
        reader = api.reader
        assert isinstance(reader, RemoteReader)
        assert reader.download(r._info.ref, "weights.bin") == src.read_bytes()
        assert [p.name for p in api.projects("alice")] == ["digits"]


def test_runs_filter_order_and_cursor_pages(online: LiveServer) -> None:
    s = Settings(capture_console=False)
    for lr in (0.3, 0.1, 0.2):
        with labbook.init(project="sweep", config={"lr": lr}, settings=s) as run:
            run.log({"acc": lr * 2})
    with Api() as api:
        runs = api.runs("alice/sweep", order="config.lr", per_page=1)  # 3 pages via the cursor
        assert [r.config["lr"] for r in runs] == [0.1, 0.2, 0.3]
        picked = api.runs("sweep", filters={"config.lr": {"$gt": 0.15}}, order="-config.lr")
        assert [r.config["lr"] for r in picked] == [0.3, 0.2]
        assert len(api.runs("sweep")) == 3


def test_resume_continues_on_the_server(online: LiveServer) -> None:
    s = Settings(capture_console=False)
    with labbook.init(project="p", id="r1", config={"a": 1}, settings=s) as run:
        run.log({"x": 1.0})
        run.log({"x": 2.0})
    with pytest.raises(UsageError, match="already exists"):
        labbook.init(project="p", id="r1", settings=s)
    with labbook.init(project="p", id="r1", resume="allow", settings=s) as run:
        assert run.config["a"] == 1
        assert run.step == 2
        run.log({"x": 3.0})
    with Api() as api:
        h = api.run("alice/p/r1").history()
        assert h["_step"].tolist() == [0, 1, 2]
        assert h["x"].tolist() == [1.0, 2.0, 3.0]


def test_bad_key_fails_at_init_with_a_clear_message(
    online: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LABBOOK_API_KEY", "lb_not-a-key")
    with pytest.raises(AuthenticationError, match=r"rejected the API key.*labbook login"):
        labbook.init(project="p")
    with pytest.raises(AuthenticationError, match="rejected the API key"):
        labbook.init(project="p", entity="alice")
    monkeypatch.delenv("LABBOOK_API_KEY")
    with pytest.raises(AuthenticationError, match="needs an API key"):
        labbook.init(project="p", entity="alice")
    assert labbook.run is None
    assert not (tmp_path / "labbook").exists()  # no run folder left behind


def test_project_the_key_cannot_write_fails_at_init(
    online: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    s = Settings(capture_console=False)
    with labbook.init(project="private", settings=s) as run:  # alice's private project
        run.log({"x": 1})
    monkeypatch.setenv("LABBOOK_API_KEY", online.create_user("bob"))
    s = Settings(capture_console=False)  # settings read the environment when made
    before = sorted((tmp_path / "labbook").iterdir())
    with pytest.raises(NotFoundError, match="cannot log to project alice/private"):
        labbook.init(project="private", entity="alice", settings=s)
    with pytest.raises(NotFoundError, match="nobody/x"):
        labbook.init(project="x", entity="nobody", settings=s)
    assert sorted((tmp_path / "labbook").iterdir()) == before  # no run folder left behind
    with labbook.init(project="mine", settings=s) as run:  # bob's own entity works
        assert run.entity == "bob"


def test_a_viewer_cannot_start_a_run_and_is_told_why(
    online: LiveServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A viewer of a team's project reads it, but a run there fails at init (403 from the
    server) with a message that names the project, not later with data lost."""
    from labbook.errors import PermissionDenied
    from labbook.store import Store

    vera = online.create_user("vera")
    with Store.open(online.settings.resolved_db_url()) as store:
        store.create_team("acme", "alice")
        store.set_member("acme", "vera", "viewer")
    with labbook.init(project="vision", entity="acme", settings=Settings()) as run:
        run.log({"x": 1.0})  # alice, the team's admin, logs there
    monkeypatch.setenv("LABBOOK_API_KEY", vera)
    s = Settings(capture_console=False)
    before = sorted((tmp_path / "labbook").iterdir())
    with pytest.raises(PermissionDenied, match="cannot log to project acme/vision"):
        labbook.init(project="vision", entity="acme", settings=s)
    assert labbook.run is None
    assert sorted((tmp_path / "labbook").iterdir()) == before  # no run folder left behind
    with labbook.Api(s) as api:  # reading is what a viewer may do
        assert [r.summary["x"] for r in api.runs("acme/vision")] == [1.0]


def test_server_down_at_init_journals_then_sync_uploads_once(
    server_factory: Callable[..., LiveServer],
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    srv = server_factory()  # not started: nothing listens on its port
    key = srv.create_user("alice")
    monkeypatch.setenv("LABBOOK_BASE_URL", srv.url)
    monkeypatch.setenv("LABBOOK_API_KEY", key)
    s = Settings(finish_timeout=1.5, capture_console=False)
    t0 = time.monotonic()
    run = labbook.init(project="p", entity="alice", settings=s)
    assert time.monotonic() - t0 < 5
    for i in range(50):
        run.log({"loss": SPECIALS[i % len(SPECIALS)]})
    t0 = time.monotonic()
    run.finish()
    assert time.monotonic() - t0 < s.finish_timeout + 3
    err = capfd.readouterr().err
    assert "cannot reach the server" in err
    assert f"labbook sync {run.journal_dir}" in err

    srv.start()
    runner = CliRunner()
    out = runner.invoke(cli, ["sync", str(run.journal_dir)], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    assert "finished" in out.output
    again = runner.invoke(cli, ["sync", str(run.journal_dir)], catch_exceptions=False)
    assert again.exit_code == 0 and "0 new records" in again.output
    with Api() as api:
        r = api.run(f"alice/p/{run.id}")
        assert r.state == "finished"
        h = r.history(["loss"])
        assert h["_step"].tolist() == list(range(50))  # nothing duplicated, nothing lost
        expected = [SPECIALS[i % len(SPECIALS)] for i in range(50)]
        assert _bits(h["loss"].to_numpy()) == _bits(np.array(expected))


def test_resume_needs_the_server(
    server_factory: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv = server_factory()
    monkeypatch.setenv("LABBOOK_BASE_URL", srv.url)
    monkeypatch.setenv("LABBOOK_API_KEY", "whatever")
    with pytest.raises(UsageError, match="needs the server"):
        labbook.init(project="p", entity="alice", id="r1", resume="allow")


def test_server_killed_mid_run_and_restarted_loses_and_duplicates_nothing(
    online: LiveServer,
) -> None:
    s = Settings(finish_timeout=25, capture_console=False)
    run = labbook.init(project="p", settings=s)
    expected: list[float] = []

    def log_for(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            v = SPECIALS[len(expected) % len(SPECIALS)] + len(expected)
            run.log({"v": v})
            expected.append(v)
            time.sleep(0.002)

    sender: Any = run._sender  # type: ignore[attr-defined]
    log_for(0.6)
    online.stop()  # the server dies mid-run
    deadline = time.monotonic() + 20
    while sender.last_error is None and time.monotonic() < deadline:
        log_for(0.2)  # keep logging until the sender has felt the server's absence
    assert sender.last_error is not None
    online.start()  # back on the same port
    log_for(0.4)
    t0 = time.monotonic()
    run.finish()
    assert time.monotonic() - t0 < 20
    assert sender.acked_seq >= len(expected)
    with Api() as api:
        r = api.run(f"alice/p/{run.id}")
        assert r.state == "finished"
        h = r.history(["v"])
        assert h["_step"].tolist() == list(range(len(expected)))
        assert _bits(h["v"].to_numpy()) == _bits(np.array(expected))


def test_define_metric_summaries_reach_the_server(online: LiveServer) -> None:
    with labbook.init(project="p", settings=Settings(capture_console=False)) as run:
        run.define_metric("val/*", summary="min,mean")
        for v in (3.0, 1.0, 2.0):
            run.log({"val/loss": v})
    with labbook.Api() as api:
        assert api.remote
        assert api.run(run.path).summary["val/loss"] == {"min": 1.0, "mean": 2.0}
        assert api.run(run.path).metadata["metric_definitions"] == [
            {"name": "val/*", "summary": ["min", "mean"]}
        ]
