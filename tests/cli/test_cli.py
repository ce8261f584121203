"""The CLI over a real local store: runs, run show, history, sync, demo, --version."""

from __future__ import annotations

import ast
import re
import shlex
import warnings
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


def test_runs_table_lists_runs_with_their_main_metrics(logged: labbook.Run) -> None:
    out = CliRunner().invoke(cli, ["runs", "cli"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    header, _rule, row = out.output.splitlines()[1:4]
    assert header.split() == ["id", "name", "state", "runtime", "acc", "loss"]
    assert row.split()[:3] == [logged.id, "first", "finished"]
    assert row.split()[-2:] == ["0.95", "0.05"]


def _sweep(n: int = 4, extra_metrics: int = 40) -> list[str]:
    """Runs as a sweep leaves them: two varied hyper-parameters, many summary keys."""
    paths = []
    s = Settings(capture_console=False)
    for i in range(n):
        cfg = {"lr": [0.1, 0.01][i % 2], "batch_size": 32 * (i + 1), "epochs": 3, "seed": 0}
        with labbook.init(project="sweep", config=cfg, name=f"run-{i}", settings=s) as run:
            for epoch in range(3):
                metrics = {f"layer_{j}/grad_norm": float(j) for j in range(extra_metrics)}
                metrics |= {"epoch": epoch, "loss": 1.0 / (i + epoch + 1), "val_loss": 0.5 + i}
                metrics |= {"val_accuracy": 0.1 * i, "_internal": 1.0, "system/gpu": 3.0}
                run.log(metrics)
            run.summary["preds"] = labbook.Table(columns=["a"], data=[[1]])
        paths.append(run.path)
    return paths


def test_runs_table_is_one_line_per_run_with_varied_config_and_main_metrics() -> None:
    _sweep()
    out = CliRunner().invoke(cli, ["runs", "sweep"], env={"COLUMNS": "100"})
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "root/sweep: 4 runs"
    header = lines[1].split()
    # The varied config (not epochs/seed, which every run shares) and the main metrics,
    # held-out ones first; never counters, _* bookkeeping, system/* samples or media.
    assert header[:6] == ["id", "name", "state", "runtime", "lr", "batch_size"]
    assert header[6:8] == ["val_accuracy", "val_loss"]
    for absent in ("epochs", "seed", "epoch", "_internal", "system/gpu", "preds"):
        assert absent not in header
    rows = lines[3:7]
    assert [r.split()[1] for r in rows] == ["run-3", "run-2", "run-1", "run-0"]
    assert all(len(line) <= 100 for line in lines[:7])
    assert "Not shown:" in out.output and "layer_" in out.output and "--columns" in out.output
    assert len(lines) <= 10  # not a hundred lines per run


def test_runs_columns_option_picks_the_columns() -> None:
    _sweep(2)
    out = CliRunner().invoke(
        cli, ["runs", "sweep", "--columns", "name,config.lr,summary.loss,tags"]
    )
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[1].split() == ["name", "lr", "loss", "tags"]
    assert lines[3].split() == ["run-1", "0.01", "0.25"]
    bad = CliRunner().invoke(cli, ["runs", "sweep", "--columns", "name,config.lrr"])
    assert bad.exit_code != 0
    assert "no run listed in root/sweep has config.lrr; did you mean config.lr?" in str(
        bad.exception
    )
    odd = CliRunner().invoke(cli, ["runs", "sweep", "--columns", "colour"])
    assert "unknown column 'colour'" in str(odd.exception)


def test_runs_table_shows_media_by_kind_and_size(tmp_path: Path) -> None:
    run = labbook.init(project="media", settings=Settings(capture_console=False))
    run.log({"preds": labbook.Table(columns=["truth", "guess"], data=[[1, 2], [3, 4], [5, 6]])})
    run.log({"loss": 0.25, "samples": [labbook.Image(np.zeros((2, 2))) for _ in range(3)]})
    run.finish()
    out = CliRunner().invoke(
        cli, ["runs", "media", "--columns", "summary.preds,summary.loss,summary.samples"]
    )
    assert out.exit_code == 0, out.output
    assert out.output.splitlines()[3].split() == ["<table", "3x2>", "0.25", "<3", "x", "image>"]
    assert "sha256" not in out.output  # not the reference's storage fields


def test_runs_filter_and_bad_filter(logged: labbook.Run) -> None:
    out = CliRunner().invoke(
        cli, ["runs", "cli", "--filter", '{"config.lr": {"$gt": 0.5}}'], terminal_width=200
    )
    assert out.exit_code == 0 and logged.id not in out.output
    assert out.output.strip() == "No runs in root/cli match the filter."
    bad = CliRunner().invoke(cli, ["runs", "cli", "--filter", "{nope"])
    assert bad.exit_code != 0 and "not JSON" in bad.output


def test_filter_or_order_on_a_key_no_run_has_says_so(logged: labbook.Run) -> None:
    out = CliRunner().invoke(cli, ["runs", "cli", "--filter", '{"config.lrr": {"$gt": 0.01}}'])
    assert out.exit_code == 1
    assert out.output.startswith(
        "Error: no run in root/cli has config.lrr; did you mean config.lr?"
    )
    order = CliRunner().invoke(cli, ["runs", "cli", "--order", "-summary.los"])
    assert order.exit_code == 0, order.output
    assert "labbook: no run in root/cli has summary.los; did you mean summary.loss?" in order.stderr
    assert logged.id in order.stdout  # the runs are still listed, in the default order
    metric = CliRunner().invoke(cli, ["runs", "cli", "--order", "metrics.los.min"])
    assert "no run in root/cli has metrics.los.min; did you mean metrics.loss.min?" in (
        metric.stderr
    )
    fine = CliRunner().invoke(cli, ["runs", "cli", "--order", "-summary.loss", "--filter", "{}"])
    assert fine.exit_code == 0 and fine.stderr == ""


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
    out = CliRunner().invoke(cli, ["demo", "--epochs", "1", "--no-ui"], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    with Api() as api:
        runs = list(api.runs("digits"))
        assert all(r.state == "finished" for r in runs)
        assert len(runs) == 5 and {r.job_type for r in runs} == {"train"}
        (evaluation,) = list(api.runs("digits-eval"))
        assert evaluation.job_type == "evaluate" and evaluation.state == "finished"
        assert [a.type for a in evaluation.used_artifacts()] == ["predictions"]
        kinds = {a.type: a for a in api.artifacts("digits")}
        assert set(kinds) == {"dataset", "model", "predictions"}
        assert len(kinds["dataset"].used_by()) == 5  # one version of the data for every run
        cfgs = [r.config for r in runs]
        assert {c["batch_size"] for c in cfgs} == {32, 64}
        assert {c["filters"] for c in cfgs} == {16, 32}
        assert {c["optimizer"] for c in cfgs} == {"adam", "sgd"}
        assert {c["activation"] for c in cfgs} == {"relu", "tanh"}
        assert all(0.0 <= r.summary["val_accuracy"] <= 1.0 for r in runs)
    assert "Logged 6 runs" in out.output
    # The compact table: a line per run with what differs and the main metrics.
    table = out.output.split("Logged 6 runs:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    header = table[1].split()
    for key in ("batch_size", "filters", "optimizer", "learning_rate", "activation"):
        assert key in header, header
    assert "val_accuracy" in header and "epochs" not in header
    assert len(table) <= 9, table
    # The README's examples use keys these runs have: no "no run has" note, runs found.
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    call = re.search(r"api\.runs\(\"digits\", filters=(\{.*?\}), order=\"(.*?)\"\)", readme)
    assert call is not None
    with warnings.catch_warnings(), Api() as api:
        warnings.simplefilter("error")
        found = api.runs("digits", filters=ast.literal_eval(call[1]), order=call[2])
        assert len(found) >= 1
    cmd = re.search(r"^labbook runs digits (.*)$", readme, re.MULTILINE)
    assert cmd is not None
    listed = CliRunner().invoke(cli, ["runs", "digits", *shlex.split(cmd[1])])
    assert listed.exit_code == 0 and listed.stderr == "", listed.output
    assert "digits: 1 run" in listed.stdout  # the one sgd run of the five


def test_spirals_fallback_logs_runs() -> None:
    from labbook.cli.demo import CONFIGS, run_spirals

    configs = [dict(c, epochs=3) for c in CONFIGS[:2]]
    paths = run_spirals(Settings(capture_console=False), configs)
    with Api() as api:
        runs = [api.run(p) for p in paths]
    assert all(r.state == "finished" for r in runs)
    assert [r.config["batch_size"] for r in runs] == [64, 16]
    assert all(len(r.history()) == 4 for r in runs)  # 3 epochs, then the evaluation's row


def _long_run(n: int) -> str:
    from labbook import records as rk
    from labbook.store import RunRef, Store

    ref = RunRef("root", "long", "r1")
    values = np.random.default_rng(0).standard_normal(n)
    with Store.open(Settings().resolved_db_url()) as store:
        header = {"t": rk.RUN, "seq": 1, "id": "r1", "project": "long", "entity": "root"}
        header |= {"name": None, "tags": [], "notes": None, "group": None, "job_type": None}
        store.ingest(ref, [header | {"config": {}, "started_at": 1e9}])
        rows = [
            {"t": rk.HISTORY, "seq": i + 2, "step": i, "ts": 1e9 + i, "rt": i, "d": {"x": v}}
            for i, v in enumerate(values.tolist())
        ]
        store.ingest(ref, rows)
    return "root/long/r1"


def test_history_of_a_long_series_is_every_point_and_stops_quietly_at_a_closed_pipe() -> None:
    import subprocess
    import sys

    path = _long_run(100_000)
    cmd = [sys.executable, "-m", "labbook.cli.main", "history", path, "x"]
    full = subprocess.run(cmd, capture_output=True, text=True, check=True)
    lines = full.stdout.splitlines()
    assert len(lines) == 100_001 and lines[0] == "_step\tx"
    with labbook.Api() as api:
        want = api.run(path).history()["x"].tolist()
    got = [line.split("\t") for line in lines[1:]]
    assert [int(s) for s, _ in got] == list(range(100_000))
    assert [float(v) for _, v in got] == want  # every float exactly
    # `labbook history ... | head -1`: the reader leaves; no traceback, exit 0.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"_step\tx\n"
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0, err
    assert err == b""
