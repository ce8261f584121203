"""The sender sets aside the records a sink refuses and stores every other one, in seq order.

Journals here are written the way a labbook without limits (or a hand-made tool) wrote them:
straight to the journal writer, past ``log()``'s checks, so they hold records that the Store or the
server refuses. The stores, the server and the journals are real.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner

from databases import database
from labbook import records
from labbook.blobs import open_blobstore
from labbook.cli.main import cli
from labbook.errors import AuthenticationError, SinkError
from labbook.sdk.journal import JournalWriter, RunDir, read_records
from labbook.sdk.sender import REJECTED_NAME, Sender
from labbook.sdk.sinks import LocalSink
from labbook.sdk.sync import SyncFailed, sync_run
from labbook.settings import Settings
from labbook.store import RunRef, Store

if TYPE_CHECKING:
    from conftest import LiveServer

MiB = 1 << 20
REF = RunRef("alice", "poison", "r1")


def _header(config: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "t": records.RUN,
        "id": REF.id,
        "project": REF.project,
        "entity": REF.entity,
        "name": "old-run",
        "tags": [],
        "notes": None,
        "group": None,
        "job_type": None,
        "config": config or {"lr": 0.1},
        "started_at": time.time(),
    }


def _row(step: int, d: dict[str, Any]) -> dict[str, Any]:
    return {"t": records.HISTORY, "step": step, "ts": time.time(), "rt": 0.0, "d": d}


def _old_journal(path: Path, recs: list[dict[str, Any]], per_flush: int = 1000) -> RunDir:
    """A finished run's journal holding ``recs`` after its header (seq 1), unchecked."""
    path.mkdir(parents=True)
    (path / "files").mkdir()
    w = JournalWriter(path / "run.lbj", flush_interval=0.01)
    for i, rec in enumerate([_header(), *recs]):
        w.put(rec)
        if i % per_flush == per_flush - 1:  # several frames, so batches split between them
            deadline = time.monotonic() + 5
            while w.last_seq < i + 1 and time.monotonic() < deadline:
                time.sleep(0.005)
    w.close()
    return RunDir(path)


POISON: dict[int, dict[str, Any]] = {
    0: {"k" * 10_000: 1.0},  # the first row
    40: {"acc\x00top1": 1.0},  # two in a row
    41: {"text": "x" * (17 * MiB)},
    70: {"note": "nul\x00inside"},
    99: {"loss\n": 1.0},  # the last row
}


def _poisoned_rows() -> list[dict[str, Any]]:
    recs = [_row(i, POISON.get(i, {"loss": float(i)})) for i in range(100)]
    recs.insert(60, {"t": records.CONFIG, "u": {"bad\x00key": 1}})
    recs.insert(61, {"t": records.CONFIG, "u": {"later": 1}})
    recs.insert(62, {"t": records.UPDATE, "tags": ["t" * 300]})
    recs.insert(63, {"t": records.SUMMARY, "u": {"best": 0.01}})
    recs.append({"t": records.EXIT, "code": 0, "ts": time.time(), "state": "finished"})
    return recs


def _bad_seqs(run_dir: RunDir) -> list[int]:
    """Seqs of the records a store must refuse (what the journal holds at those places)."""
    bad = []
    for _, seq, rec in read_records(run_dir.journal):
        d = rec.get("d") or rec.get("u") or {}
        if (rec["t"] == records.HISTORY and "loss" not in d) or "bad\x00key" in d:
            bad.append(seq)
        if rec["t"] == records.UPDATE:
            bad.append(seq)
    return bad


def _rejected(run_dir: RunDir) -> list[dict[str, Any]]:
    path = run_dir.path / REJECTED_NAME
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _assert_stored_except_refused(store: Store, run_dir: RunDir) -> None:
    run = store.get_run(REF)
    assert run.state == "finished"
    assert run.config == {"lr": 0.1, "later": 1}
    assert run.summary["best"] == 0.01
    assert run.tags == []
    loss = store.history(REF, ["loss"])["loss"]
    good = [i for i in range(100) if i not in POISON]
    assert loss.steps.tolist() == good and loss.values.tolist() == [float(i) for i in good]
    rejected = _rejected(run_dir)
    assert [r["seq"] for r in rejected] == _bad_seqs(run_dir)
    by_seq = {r["seq"]: r for r in rejected}
    first = by_seq[2]  # seq 1 is the header, seq 2 the first row
    assert first["t"] == "h" and first["key"] == "k" * 60 + "…(10,000 characters)"
    assert "512" in first["reason"] and len(first["reason"]) < 600
    assert all(r["reason"] and r["t"] in ("h", "config", "update") for r in rejected)
    assert {r["key"] for r in rejected} >= {"acc\x00top1", "text", "note", "loss\n", "bad\x00key"}


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with database(request.param, tmp_path) as db:
        s = db.open()
        yield s
        s.close()


def _local_sink(store: Store, run_dir: RunDir, tmp_path: Path) -> LocalSink:
    return LocalSink(store, open_blobstore((tmp_path / "blobs").as_uri()), REF, run_dir.files)


@pytest.mark.parametrize("per_flush", [1000, 7])
def test_sync_sets_refused_records_aside_and_stores_the_rest_in_order(
    store: Store, tmp_path: Path, per_flush: int
) -> None:
    run_dir = _old_journal(tmp_path / "run", _poisoned_rows(), per_flush)
    settings = Settings(dir=tmp_path / "data")
    result = sync_run(run_dir, settings, sink=_local_sink(store, run_dir, tmp_path))
    assert result.state == "finished" and result.rejected == len(_bad_seqs(run_dir))
    assert result.last_seq == max(seq for _, seq, _ in read_records(run_dir.journal))
    _assert_stored_except_refused(store, run_dir)
    # Again: nothing new to send, nothing refused twice, the file is not appended to.
    again = sync_run(run_dir, settings, sink=_local_sink(store, run_dir, tmp_path))
    assert (again.sent, again.rejected, again.rejected_total) == (0, 0, result.rejected)
    assert len(_rejected(run_dir)) == result.rejected


class _Flaky:
    """A real sink whose destination goes down once, on the ``fail_on``-th call."""

    def __init__(self, sink: LocalSink, fail_on: int) -> None:
        self.sink = sink
        self.calls = 0
        self.fail_on = fail_on

    def last_seq(self) -> int:
        return self.sink.last_seq()

    def send(self, batch: Sequence[records.AnyRecord]) -> int:
        self.calls += 1
        if self.calls == self.fail_on:
            raise SinkError("the store is down")
        return self.sink.send(batch)

    def close(self) -> None:
        self.sink.close()


@pytest.mark.parametrize("fail_on", [2, 5, 9])
def test_a_sink_going_down_while_refused_records_are_isolated_loses_nothing(
    store: Store, tmp_path: Path, fail_on: int
) -> None:
    """Down is not refused: the sender raises (and its loop retries later); the retry goes on
    from where isolation stopped, with no record stored twice or set aside twice."""
    run_dir = _old_journal(tmp_path / "run", _poisoned_rows())
    sink = _Flaky(_local_sink(store, run_dir, tmp_path), fail_on)
    sender = Sender(run_dir, sink, batch_bytes=8 * MiB, warn_rejected=False)
    try:
        with pytest.raises(SinkError):
            sender.send_available()
        sender.send_available()
    finally:
        sender.close_journal()
    assert sender.acked_seq == max(seq for _, seq, _ in read_records(run_dir.journal))
    _assert_stored_except_refused(store, run_dir)


def test_the_sender_warns_once_and_finish_can_wait_past_refused_records(
    store: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    run_dir = _old_journal(tmp_path / "run", _poisoned_rows(), per_flush=7)
    sender = Sender(run_dir, _local_sink(store, run_dir, tmp_path), batch_bytes=4096)
    last = max(seq for _, seq, _ in read_records(run_dir.journal))
    sender.start()
    try:
        assert sender.finish(last, timeout=60)  # before: blocked at the first row, forever
    finally:
        sender.close()
    err = capfd.readouterr().err
    assert err.count("was refused") == 1
    assert "record seq 2 (h, key '" + "k" * 60 + "…(10,000 characters)')" in err
    assert str(run_dir.path / REJECTED_NAME) in err
    assert sender.rejected == len(_bad_seqs(run_dir))
    _assert_stored_except_refused(store, run_dir)


# ----- over HTTP: the server refuses with 413 (body too large) and 422 (a limit, a value)


@pytest.fixture
def small_body_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A server whose admin lowered the body limit to 2 MiB (a 3 MiB string passes log())."""
    return server_factory(max_body_bytes=2 * MiB).start()


def test_sync_over_http_isolates_413_and_422_and_keeps_going(
    small_body_server: LiveServer, tmp_path: Path
) -> None:
    rows = [_row(i, {"loss": float(i)}) for i in range(50)]
    rows[10] = _row(10, {"text": "y" * (3 * MiB)})  # fits every limit but this server's body
    rows[20] = _row(20, {"k" * 600: 1.0})
    rows[30] = _row(30, {"acc\x00top1": 1.0})
    rows.append({"t": records.EXIT, "code": 0, "ts": time.time(), "state": "finished"})
    run_dir = _old_journal(tmp_path / "run", rows)
    key = small_body_server.create_user("alice")
    settings = Settings(dir=tmp_path / "data", base_url=small_body_server.url, api_key=key)
    result = sync_run(run_dir, settings)
    assert result.rejected == 3 and result.state == "finished"
    rejected = _rejected(run_dir)
    assert [(r["seq"], r["key"]) for r in rejected] == [
        (12, "text"),
        (22, "k" * 60 + "…(600 characters)"),
        (32, "acc\x00top1"),
    ]
    assert "larger than" in rejected[0]["reason"]
    assert "512" in rejected[1]["reason"] and "NUL" in rejected[2]["reason"]
    with Store.open(small_body_server.settings.resolved_db_url()) as store:
        run = store.get_run(REF)
        assert run.state == "finished"
        steps = store.history(REF, ["loss"])["loss"].steps.tolist()
    assert steps == [i for i in range(50) if i not in (10, 20, 30)]


def test_auth_failures_are_retried_not_set_aside(live_server: LiveServer, tmp_path: Path) -> None:
    """401 says nothing about the records: nothing is set aside, everything stays to send."""
    run_dir = _old_journal(tmp_path / "run", [_row(0, {"loss": 1.0})])
    live_server.create_user("alice")
    settings = Settings(dir=tmp_path / "data", base_url=live_server.url, api_key="lb_" + "x" * 48)
    with pytest.raises(SyncFailed) as failed:
        sync_run(run_dir, settings)
    assert isinstance(failed.value.__cause__, AuthenticationError)
    assert not (run_dir.path / REJECTED_NAME).exists()
    assert run_dir.read_acked()[0] == 0


def test_labbook_sync_reports_refused_records(tmp_path: Path) -> None:
    """Refused records are not stored, so sync says so (and exits 1, as for any record it could
    not store) every time; it stores everything else, once."""
    run_dir = _old_journal(tmp_path / "run", _poisoned_rows())
    runner = CliRunner()
    first = runner.invoke(cli, ["--dir", str(tmp_path / "data"), "sync", str(run_dir.path)])
    n = len(_bad_seqs(run_dir))
    assert first.exit_code == 1, first.output
    assert "finished" in first.output
    assert f"{n} record(s) refused by the destination ({n} by this sync)" in first.output
    assert str(run_dir.path / REJECTED_NAME) in first.output
    assert "k" * 100 not in first.output  # no 10 KB key on the terminal
    again = runner.invoke(cli, ["--dir", str(tmp_path / "data"), "sync", str(run_dir.path)])
    assert again.exit_code == 1, again.output
    assert "0 new records" in again.output
    assert f"{n} record(s) refused by the destination (0 by this sync)" in again.output
