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
    for _ in range(2):  # runs of another project do not count
        labbook.init(project="elsewhere", settings=settings).finish()
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
    assert Path(run.dir) == run.journal_dir / "files"
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


def test_save_glob_keeps_the_layout_below_base_path(tmp_path: Path, api: Api) -> None:
    settings = Settings(dir=tmp_path / "data", capture_requirements=False)
    ckpt = tmp_path / "out" / "ckpt"
    (ckpt / "sub").mkdir(parents=True)
    (ckpt / "a.pt").write_bytes(b"a")
    (ckpt / "sub" / "b.pt").write_bytes(b"bb")
    (ckpt / "notes.txt").write_text("not a checkpoint")
    run = labbook.init(project="p", settings=settings)
    saved = run.save(str(ckpt / "**" / "*.pt"), base_path=str(tmp_path / "out"))
    assert saved == ["ckpt/a.pt", "ckpt/sub/b.pt"]
    (ckpt / "a.pt").write_bytes(b"a, trained further")  # saved files are uploaded as they end
    run.finish()
    files = {f.path: f for f in api.run(run.path).files()}
    assert files["ckpt/a.pt"].size == len(b"a, trained further")
    assert files["ckpt/sub/b.pt"].size == 2
    assert not any(p.endswith("notes.txt") for p in files)


def test_finish_exit_code_and_join(settings: Settings, api: Api) -> None:
    failed = labbook.init(project="p", settings=settings)
    failed.finish(exit_code=3)
    info = api.run(failed.path)
    assert (info.state, info.exit_code) == ("failed", 3)
    joined = labbook.init(project="p", settings=settings)
    assert labbook.run is joined
    labbook.join()
    assert labbook.run is None
    info = api.run(joined.path)
    assert (info.state, info.exit_code) == ("finished", 0)
    method = labbook.init(project="p", settings=settings)
    method.join(exit_code=2)
    assert labbook.run is None
    assert api.run(method.path).state == "failed"


def _git_repo(path: Path) -> None:
    import subprocess

    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    (path / "train.py").write_text("print(1)\n")
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    (path / "train.py").write_text("print(2)\n")


# What each capture leaves, as (file names, metadata keys); with it off, only that disappears.
_CAPTURES = {
    "capture_console": ({"output.log"}, set()),
    "capture_git": ({"diff.patch"}, {"git"}),
    "capture_requirements": ({"requirements.txt"}, set()),
    "capture_system": (set(), {"host", "os", "python", "command", "args", "cwd"}),
}


@pytest.mark.parametrize("off", sorted(_CAPTURES))
def test_each_capture_is_switched_by_its_own_setting(
    off: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    _git_repo(repo)
    monkeypatch.chdir(repo)
    results = {}
    for name, flags in (("all", {}), ("one off", {off: False})):
        settings = Settings(dir=tmp_path / "data", **{"capture_requirements": True, **flags})
        run = labbook.init(project="p", settings=settings)
        print("to the console")
        run.finish()
        with Api(settings) as api:
            info = api.run(run.path)
            results[name] = ({f.path for f in info.files()}, set(info.metadata))
    files_gone = results["all"][0] - results["one off"][0]
    meta_gone = results["all"][1] - results["one off"][1]
    want_files, want_meta = _CAPTURES[off]
    assert files_gone == want_files
    assert want_meta <= meta_gone
    for other, (f, m) in _CAPTURES.items():
        if other != off:
            assert f <= results["one off"][0] and m <= results["one off"][1], other
    if off == "capture_system":  # the rest of the metadata is the git capture
        assert results["one off"][1] == {"git"}


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
    _git_repo(repo)
    git = ["git", "-C", str(repo)]
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


def test_heartbeat_keeps_a_quiet_run_running(tmp_path: Path) -> None:
    """A run that logs nothing for longer than ``crash_after`` is alive while its process is."""
    settings = Settings(dir=tmp_path / "data", crash_after=0.6, heartbeat_interval=0.1)
    run = labbook.init(project="p", settings=settings)
    run.log({"a": 1.0})
    with Api(settings) as api:
        for _ in range(4):
            time.sleep(0.5)
            assert api.run(run.path).state == "running"
        run.finish()
        assert api.run(run.path).state == "finished"


def test_default_store_is_under_the_home_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("LABBOOK_DIR")
    settings = Settings()
    assert settings.expanded_dir() == home / ".labbook"
    run = labbook.init(project="p", settings=settings)
    run.log({"a": 1.0})
    run.finish()
    assert (home / ".labbook" / "labbook.db").is_file()
    with Api() as api:  # the default Api reads the same store
        assert api.run(run.path).summary["a"] == 1.0


def test_stale_heartbeat_reads_as_crashed(tmp_path: Path) -> None:
    settings = Settings(dir=tmp_path / "data", crash_after=0.5, heartbeat_interval=3600)
    run = labbook.init(project="p", settings=settings)
    run.log({"a": 1.0})
    time.sleep(1.5)
    with Api(settings) as api:
        assert api.run(run.path).state == "crashed"
        run.finish()
        assert api.run(run.path).state == "finished"


def test_log_code_snapshots_the_source_files(tmp_path: Path, api: Api) -> None:
    settings = Settings(dir=tmp_path / "data", capture_requirements=False)
    src = tmp_path / "proj"
    (src / "pkg").mkdir(parents=True)
    (src / "train.py").write_text("print('v1')\n")
    (src / "pkg" / "model.py").write_text("LAYERS = 2\n")
    (src / "notes.md").write_text("not code")
    for skipped in (".git", "__pycache__", "labbook", "venv"):
        (src / skipped).mkdir()
        (src / skipped / "x.py").write_text("skip me")
    run = labbook.init(project="p", settings=settings)
    saved = run.log_code(src, exclude_fn=lambda p: p.endswith("model.py"))
    assert saved == ["code/train.py"]
    assert run.log_code(src, include_fn=lambda p: p.endswith((".py", ".md"))) == [
        "code/notes.md",
        "code/train.py",
        "code/pkg/model.py",
    ]
    (src / "train.py").write_text("print('edited after')\n")  # the snapshot keeps what ran
    run.finish()
    files = {f.path for f in api.run(run.path).files()}
    assert {"code/train.py", "code/pkg/model.py", "code/notes.md"} <= files
    assert not [f for f in files if "skip" in f or f.startswith(("code/.git", "code/venv"))]
    assert (Path(run.dir) / "code" / "train.py").read_text() == "print('v1')\n"
    with pytest.raises(labbook.UsageError, match="not a directory"):
        labbook.init(project="p", settings=settings).log_code(tmp_path / "missing")


def test_save_code_keeps_the_running_script(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(
        "import labbook\n"
        "run = labbook.init(project='p', save_code=True)\n"
        "run.log({'x': 1.0})\n"
        "run.finish()\n"
        "print(run.path)\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    with Api(Settings(dir=tmp_path / "data")) as api:
        files = {f.path for f in api.run(out.stdout.strip().splitlines()[-1]).files()}
    assert "code/train.py" in files
