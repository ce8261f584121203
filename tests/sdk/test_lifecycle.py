"""init/finish semantics: names, context manager, modes, files, captured metadata, resume."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

import labbook
from labbook import Api, Settings
from labbook.sdk.journal import read_records
from labbook.sdk.sync import find_run_dirs, sync_run


def test_generated_names_count_runs_in_the_project(settings: Settings, api: Api) -> None:
    names = []
    for _ in range(3):
        run = labbook.init(project="named", settings=settings)
        names.append(run.name)
        run.finish()
    assert [re.fullmatch(r"[a-z]+-[a-z]+-(\d+)", n).group(1) for n in names] == ["1", "2", "3"]  # type: ignore[union-attr]
    other = labbook.init(project="other", name="mine", settings=settings)
    other.finish()
    assert api.run(other.path).name == "mine"


def test_run_attributes_are_stored(settings: Settings, api: Api) -> None:
    run = labbook.init(
        project="p",
        entity="team",
        tags=["a", "b"],
        notes="first try",
        group="g1",
        job_type="train",
        settings=settings,
    )
    assert run.path == f"team/p/{run.id}" and run.url.endswith(f"/team/p/runs/{run.id}")
    run.tags = (*run.tags, "c")
    run.finish()
    stored = api.run(run.path)
    assert stored.tags == ["a", "b", "c"]
    assert (stored.notes, stored.group, stored.job_type) == ("first try", "g1", "train")
    assert stored.state == "finished" and stored.exit_code == 0


def test_context_manager_finishes_and_marks_failure(settings: Settings, api: Api) -> None:
    with labbook.init(project="p", settings=settings) as ok:
        ok.log({"a": 1.0})
    assert labbook.run is None
    assert api.run(ok.path).state == "finished"
    with (
        pytest.raises(RuntimeError, match="boom"),
        labbook.init(project="p", settings=settings) as bad,
    ):
        bad.log({"a": 1.0})
        raise RuntimeError("boom")
    failed = api.run(bad.path)
    assert failed.state == "failed" and failed.exit_code == 1


def test_second_init_finishes_the_first(settings: Settings, api: Api) -> None:
    first = labbook.init(project="p", settings=settings)
    first.log({"a": 1.0})
    second = labbook.init(project="p", settings=settings)
    assert labbook.run is second
    assert api.run(first.path).state == "finished"
    second.finish()


def test_disabled_mode_writes_nothing(tmp_path: Path, settings: Settings) -> None:
    run = labbook.init(project="p", mode="disabled", config={"a": 1}, settings=settings)
    run.log({"x": 1.0})
    run.summary["y"] = 2
    assert run.config.a == 1
    run.finish()
    assert not (tmp_path / "labbook").exists()
    assert not (tmp_path / "data").exists()


def test_offline_run_is_journal_only_until_synced(
    tmp_path: Path, settings: Settings, api: Api
) -> None:
    run = labbook.init(project="off", mode="offline", settings=settings)
    for i in range(100):
        run.log({"x": float(i)})
    run.finish()
    assert run.journal_dir.name.startswith("offline-run-")
    assert not (tmp_path / "data").exists()
    result = sync_run(next(find_run_dirs([run.journal_dir])), settings)
    assert result.state == "finished"
    assert list(api.run(run.path).history()["x"]) == [float(i) for i in range(100)]
    again = sync_run(next(find_run_dirs([run.journal_dir])), settings)
    assert again.sent == 0 and again.last_seq == result.last_seq


def test_run_layout_files_and_captured_metadata(tmp_path: Path, api: Api) -> None:
    settings = Settings(dir=tmp_path / "data", capture_requirements=True)
    run = labbook.init(project="p", settings=settings)
    print("hello from the training script")
    (Path(run.dir) / "notes.txt").write_text("written into run.dir")
    model = tmp_path / "model.bin"
    model.write_bytes(b"\x00weights")
    assert run.save(str(model)) == ["model.bin"]
    run.finish()
    root = tmp_path / "labbook"
    assert (root / "latest-run").resolve() == run.journal_dir
    assert re.fullmatch(rf"run-\d{{8}}_\d{{6}}-{run.id}", run.journal_dir.name)
    files = {f.path: f for f in api.run(run.path).files()}
    for name in (
        "config.yaml",
        "summary.json",
        "metadata.json",
        "output.log",
        "requirements.txt",
        "notes.txt",
        "model.bin",
    ):
        assert name in files, name
    assert "hello from the training script" in (Path(run.dir) / "output.log").read_text()
    assert "numpy==" in (Path(run.dir) / "requirements.txt").read_text()
    meta = api.run(run.path).metadata
    assert meta["python"] and meta["host"] and "os" in meta
    assert json.loads((Path(run.dir) / "metadata.json").read_text())["host"] == meta["host"]


def test_each_capture_can_be_turned_off(tmp_path: Path, api: Api) -> None:
    settings = Settings(
        dir=tmp_path / "data",
        capture_console=False,
        capture_git=False,
        capture_requirements=False,
        capture_system=False,
    )
    run = labbook.init(project="p", settings=settings)
    print("not captured")
    run.finish()
    names = {f.path for f in api.run(run.path).files()}
    assert names == {"config.yaml", "summary.json"}
    assert api.run(run.path).metadata == {}


def test_git_commit_and_diff_are_captured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings, api: Api
) -> None:
    import subprocess

    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (repo / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (repo / "train.py").write_text("print(2)\n")
    monkeypatch.chdir(repo)
    run = labbook.init(project="p", settings=settings)
    run.finish()
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert api.run(run.path).metadata["git"]["commit"] == head
    patch = (Path(run.dir) / "diff.patch").read_text()
    assert "+print(2)" in patch
    # The run's own folder (inside the repo here) is not part of the captured change.
    assert "labbook/" not in patch


def test_resume_continues_steps_config_and_seq(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", id="resume01", config={"lr": 0.1}, settings=settings)
    for i in range(5):
        run.log({"x": float(i)})
    run.finish()
    with pytest.raises(labbook.UsageError, match="resume"):
        labbook.init(project="p", id="resume01", settings=settings)
    with pytest.raises(labbook.UsageError, match="does not exist"):
        labbook.init(project="p", id="nosuchrun", resume="must", settings=settings)
    prev_last = api.run(run.path).last_seq
    again = labbook.init(project="p", id="resume01", resume="allow", settings=settings)
    assert again.config.lr == 0.1 and again.summary["x"] == 4.0 and again.step == 5
    again.log({"x": 5.0})
    again.finish()
    first_seq = next(s for _, s, _ in read_records(again.journal_dir / "run.lbj"))
    assert first_seq == prev_last + 1  # continued, not restarted at 1
    h = api.run(run.path).history()
    assert list(h["_step"]) == list(range(6)) and list(h["x"]) == [float(i) for i in range(6)]


def test_stale_heartbeat_reads_as_crashed(tmp_path: Path) -> None:
    settings = Settings(dir=tmp_path / "data", crash_after=0.5, heartbeat_interval=3600)
    run = labbook.init(project="p", settings=settings)
    run.log({"a": 1.0})
    time.sleep(1.5)
    with Api(settings) as api:
        assert api.run(run.path).state == "crashed"
        run.finish()
        assert api.run(run.path).state == "finished"
