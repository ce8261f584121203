"""The CLI over a real local store: runs, run show, history, sync, demo, --version."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import labbook
from labbook import Api, Settings
from labbook.cli.main import cli


@pytest.fixture
def logged(tmp_path: Path) -> labbook.Run:
    run = labbook.init(
        project="cli", config={"lr": 0.1}, name="first", settings=Settings(capture_console=False)
    )
    for i in range(20):
        run.log({"loss": 1.0 / (i + 1), "acc": i / 20})
    run.finish()
    return run


def test_version() -> None:
    out = CliRunner().invoke(cli, ["--version"])
    assert out.exit_code == 0 and labbook.__version__ in out.output


def test_runs_table_lists_runs_with_config_and_summary(logged: labbook.Run) -> None:
    out = CliRunner().invoke(cli, ["runs", "cli"], terminal_width=200)
    assert out.exit_code == 0, out.output
    assert logged.id in out.output and "first" in out.output and "finished" in out.output
    assert "lr=0.1" in out.output and "loss=0.05" in out.output


def test_runs_table_shows_media_by_kind_and_size(tmp_path: Path) -> None:
    run = labbook.init(project="media", settings=Settings(capture_console=False))
    run.log({"preds": labbook.Table(columns=["truth", "guess"], data=[[1, 2], [3, 4], [5, 6]])})
    run.log({"loss": 0.25, "samples": [labbook.Image(np.zeros((2, 2))) for _ in range(3)]})
    run.finish()
    out = CliRunner().invoke(cli, ["runs", "media"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert "preds=<table 3x2>" in out.output and "loss=0.25" in out.output
    assert "samples=<3 x image>" in out.output
    assert "sha256" not in out.output  # not the reference's storage fields


def test_runs_filter_and_bad_filter(logged: labbook.Run) -> None:
    out = CliRunner().invoke(
        cli, ["runs", "cli", "--filter", '{"config.lr": {"$gt": 0.5}}'], terminal_width=200
    )
    assert out.exit_code == 0 and logged.id not in out.output
    bad = CliRunner().invoke(cli, ["runs", "cli", "--filter", "{nope"])
    assert bad.exit_code != 0 and "not JSON" in bad.output


def test_run_show_and_history(logged: labbook.Run) -> None:
    show = CliRunner().invoke(cli, ["run", "show", logged.path], terminal_width=200)
    assert show.exit_code == 0, show.output
    assert (
        "state=finished" in show.output and "loss" in show.output and "config.yaml" in show.output
    )
    hist = CliRunner().invoke(cli, ["history", logged.path, "loss"])
    lines = hist.output.strip().splitlines()
    assert lines[0] == "_step\tloss" and len(lines) == 21 and lines[1] == "0\t1.0"
    assert lines[3] == f"2\t{1.0 / 3!r}"  # full precision, not a rounded display
    env = CliRunner().invoke(cli, ["history", logged.path, "loss", "--buckets", "4"])
    assert env.exit_code == 0 and len(env.output.strip().splitlines()) == 5
    missing = CliRunner().invoke(cli, ["history", logged.path, "nope"])
    assert missing.exit_code != 0


def test_sync_offline_run_and_repeat(tmp_path: Path) -> None:
    run = labbook.init(project="off", mode="offline", settings=Settings(capture_console=False))
    for i in range(10):
        run.log({"x": float(i)})
    run.finish()
    first = CliRunner().invoke(cli, ["sync", str(tmp_path / "labbook")])
    assert first.exit_code == 0, first.output
    assert f"synced {run.path}" in first.output and "finished" in first.output
    again = CliRunner().invoke(cli, ["sync", str(run.journal_dir)])
    assert "0 new records" in again.output
    with Api() as api:
        assert list(api.run(run.path).history()["x"]) == [float(i) for i in range(10)]
    bad = CliRunner().invoke(cli, ["sync", str(tmp_path)])
    assert bad.exit_code != 0


def test_sync_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    run = labbook.init(project="off", mode="offline", settings=Settings(capture_console=False))
    for i in range(3000):
        run.log({"x": float(i)})
    run.finish()
    kb = run.journal_dir.joinpath("run.lbj").stat().st_size / 1000
    # rich draws live progress only on an interactive terminal; these make it treat one as such.
    tty = {"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "COLUMNS": "160"}
    out = CliRunner().invoke(cli, ["sync", str(run.journal_dir)], env=tty)
    assert out.exit_code == 0, out.output
    assert run.journal_dir.name in out.stderr and "━" in out.stderr
    assert f"{kb:.1f}/{kb:.1f} kB" in out.stderr  # the bar reached the journal's size
    assert f"synced {run.path}: 3" in out.stdout


def test_sync_reports_progress_through_the_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from labbook.sdk import sync
    from labbook.sdk.sync import find_run_dirs, sync_run

    monkeypatch.setattr(sync, "LOCAL_SYNC_BATCH_BYTES", 100_000)  # several batches, not one

    run = labbook.init(project="off", mode="offline", settings=Settings(capture_console=False))
    for i in range(20_000):
        run.log({"x": float(i), "y": -float(i)})
    run.finish()
    rd = next(find_run_dirs([run.journal_dir]))
    seen: list[tuple[int, int]] = []
    settings = Settings(sender_batch_bytes=100_000)
    result = sync_run(rd, settings, progress=lambda done, total: seen.append((done, total)))
    size = rd.journal.stat().st_size
    assert result.sent == result.last_seq > 20_000
    assert len(seen) > 2 and {t for _, t in seen} == {size}
    offsets = [d for d, _ in seen]
    assert offsets == sorted(offsets) and offsets[-1] == size


@pytest.mark.slow
def test_demo_logs_the_digits_experiment_and_prints_it() -> None:
    pytest.importorskip("keras")
    out = CliRunner().invoke(cli, ["demo", "--epochs", "1"], terminal_width=200)
    assert out.exit_code == 0, out.output
    with Api() as api:
        runs = list(api.runs("digits"))
        assert len(runs) == 5
        assert all(r.state == "finished" for r in runs)
        cfgs = [r.config for r in runs]
        assert {c["batch_size"] for c in cfgs} == {32, 64}
        assert {c["filters"] for c in cfgs} == {16, 32}
        assert {c["optimizer"] for c in cfgs} == {"adam", "sgd"}
        assert {c["activation"] for c in cfgs} == {"relu", "tanh"}
        assert all(0.0 <= r.summary["val_accuracy"] <= 1.0 for r in runs)
    assert "Logged 5 runs" in out.output


def test_spirals_fallback_logs_runs() -> None:
    from labbook.cli.demo import CONFIGS, run_spirals

    configs = [dict(c, epochs=3) for c in CONFIGS[:2]]
    paths = run_spirals(Settings(capture_console=False), configs)
    with Api() as api:
        runs = [api.run(p) for p in paths]
    assert all(r.state == "finished" for r in runs)
    assert [r.config["batch_size"] for r in runs] == [64, 16]
    assert all(len(r.history()) == 3 for r in runs)
