from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labbook.sdk import capture, console
from labbook.sdk.capture import git_state, requirements, system_metadata
from labbook.sdk.console import ConsoleCapture

HAS_GIT = subprocess.run(["git", "--version"], capture_output=True).returncode == 0
needs_git = pytest.mark.skipif(not HAS_GIT, reason="git not installed")


# --------------------------------------------------------------------------- system metadata


def test_system_metadata_fields_and_json() -> None:
    meta = system_metadata()
    assert json.loads(json.dumps(meta)) == meta
    assert meta["pid"] == os.getpid()
    assert meta["cwd"] == os.getcwd()
    assert meta["executable"] == sys.executable
    assert meta["args"] == sys.argv[1:]
    assert meta["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(meta["memory_total"], int) and meta["memory_total"] > 0
    assert meta["cpu_count"] == os.cpu_count()
    assert meta["host"] and meta["os"] and meta["user"]
    assert shlex.split(meta["command"]) == sys.orig_argv
    assert meta["program"]  # its resolution is checked with a controlled argv below
    assert "started_at" not in meta


def test_system_metadata_omits_failing_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom() -> str:
        raise KeyError("no user")

    monkeypatch.setattr(capture.getpass, "getuser", boom)
    meta = system_metadata()
    assert "user" not in meta
    assert meta["pid"] == os.getpid()


def test_program_and_command_quote_odd_args(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    script = tmp_path / "train me.py"
    script.write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["train me.py", "--lr", "0.1 0.2"])
    monkeypatch.setattr(sys, "orig_argv", ["python", "train me.py", "--lr", "0.1 0.2"])
    meta = system_metadata()
    assert meta["program"] == str(script.resolve())
    assert meta["args"] == ["--lr", "0.1 0.2"]
    assert meta["command"] == "python 'train me.py' --lr '0.1 0.2'"


# --------------------------------------------------------------------------- git


def git(cwd: Path, *args: str) -> str:
    # Optional locks off: the test's own `git status` must not refresh the index it inspects.
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    git(root, "config", "commit.gpgsign", "false")
    (root / "train.py").write_text("lr = 0.1\n")
    (root / "keep.txt").write_text("unchanged\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    return root


def index_digest(root: Path) -> str:
    return hashlib.sha256((root / ".git" / "index").read_bytes()).hexdigest()


@needs_git
def test_git_state_clean(repo: Path) -> None:
    state = git_state(repo / "train.py")  # a file inside the repo is accepted too
    assert state is not None
    assert state.commit == git(repo, "rev-parse", "HEAD").strip()
    assert len(state.commit) == 40
    assert state.branch == "main"
    assert state.remote is None
    assert state.dirty is False
    assert state.diff == ""
    assert Path(state.root) == repo.resolve()
    assert "diff" not in state.to_dict()
    assert state.to_dict()["commit"] == state.commit


@needs_git
def test_git_state_dirty_diff_includes_untracked_and_keeps_index(repo: Path) -> None:
    (repo / "train.py").write_text("lr = 0.2\n")
    (repo / "notes.md").write_text("new idea\n")
    (repo / "blob.bin").write_bytes(b"\x00\x01binary")
    (repo / "big.txt").write_text("x" * (1024 * 1024 + 10))
    (repo / "staged.txt").write_text("staged\n")
    git(repo, "add", "staged.txt")
    (repo / ".gitignore").write_text("ignored.log\n")
    (repo / "ignored.log").write_text("secret noise\n")
    os.utime(repo / "keep.txt", (1, 1))  # stale stat info: a refreshing git would rewrite the index
    status_before = git(repo, "status", "--porcelain")
    cached_before = git(repo, "diff", "--cached", "--name-only")
    digest_before = index_digest(repo)

    state = git_state(repo)

    assert index_digest(repo) == digest_before
    assert git(repo, "status", "--porcelain") == status_before
    assert git(repo, "diff", "--cached", "--name-only") == cached_before == "staged.txt\n"
    assert state is not None
    assert state.dirty is True
    assert "-lr = 0.1" in state.diff and "+lr = 0.2" in state.diff
    assert "diff --git a/notes.md b/notes.md" in state.diff
    assert "new file mode" in state.diff and "+new idea" in state.diff
    assert "+staged" in state.diff
    assert "+ignored.log" in state.diff  # the untracked .gitignore itself
    for absent in ("blob.bin", "big.txt", "secret noise", "keep.txt"):
        assert absent not in state.diff
    # The patch applies to a clean checkout of the commit and recreates the working tree.
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    subprocess.run(["git", "apply"], cwd=clone, input=state.diff, text=True, check=True)
    assert (clone / "notes.md").read_text() == "new idea\n"
    assert (clone / "train.py").read_text() == "lr = 0.2\n"


@needs_git
def test_git_state_untracked_only_is_dirty(repo: Path) -> None:
    (repo / "sub").mkdir()
    (repo / "sub" / "new file.py").write_text("print(1)\n")
    state = git_state(repo / "sub")
    assert state is not None
    assert state.dirty is True
    assert "+print(1)" in state.diff
    assert Path(state.root) == repo.resolve()
    assert git(repo, "status", "--porcelain") == "?? sub/\n"


@needs_git
def test_git_state_detached_head(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", "--detach", head)
    state = git_state(repo)
    assert state is not None
    assert state.branch is None
    assert state.commit == head


@needs_git
@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://alice:s3cret@github.com/a/b.git", "https://github.com/a/b.git"),
        ("https://ghp_token@github.com/a/b.git", "https://github.com/a/b.git"),
        ("ssh://git:pw@host:2222/a/b.git", "ssh://host:2222/a/b.git"),
        ("ssh://git@host/a/b.git", "ssh://git@host/a/b.git"),
        ("git@github.com:a/b.git", "git@github.com:a/b.git"),
    ],
)
def test_git_state_remote_credentials_stripped(repo: Path, url: str, expected: str) -> None:
    git(repo, "remote", "add", "origin", url)
    state = git_state(repo)
    assert state is not None
    assert state.remote == expected
    assert "s3cret" not in json.dumps(state.to_dict())


def test_git_state_outside_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    assert git_state(tmp_path) is None
    assert git_state(tmp_path / "does-not-exist") is None


def test_git_is_not_spawned_outside_a_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork of the training process to learn there is no repository is avoidable CPU."""
    import subprocess

    spawned: list[object] = []

    def no_spawn(*args: object, **kwargs: object) -> None:
        spawned.append(args)  # git_state swallows exceptions: record, don't raise
        raise OSError("no spawning here")

    monkeypatch.delenv("GIT_DIR", raising=False)
    monkeypatch.setattr(subprocess, "run", no_spawn)
    assert git_state(tmp_path) is None
    assert spawned == []


@needs_git
def test_git_state_from_a_subfolder_of_the_repo(repo: Path) -> None:
    sub = repo / "src" / "deep"
    sub.mkdir(parents=True)
    state = git_state(sub)
    assert state is not None and Path(state.root) == repo.resolve()


@needs_git
def test_git_state_none_without_git_binary(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo))  # no git executable there
    assert git_state(repo) is None


@needs_git
def test_git_state_none_on_timeout(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(*args: Any, **kwargs: Any) -> Any:
        assert kwargs["timeout"] == capture.GIT_TIMEOUT_S
        assert kwargs["stdin"] is subprocess.DEVNULL
        raise subprocess.TimeoutExpired(args[0], kwargs["timeout"])

    monkeypatch.setattr(subprocess, "run", hang)
    assert git_state(repo) is None


# --------------------------------------------------------------------------- requirements


def test_requirements_lists_installed_versions() -> None:
    text = requirements()
    lines = text.splitlines()
    assert f"numpy=={importlib.metadata.version('numpy')}" in lines
    assert f"pytest=={importlib.metadata.version('pytest')}" in lines
    assert lines == sorted(lines, key=str.lower)
    names = [line.split("==")[0].lower().replace("_", "-") for line in lines]
    assert len(names) == len(set(names))
    assert all("==" in line for line in lines)
    assert text.endswith("\n")


def _dist_info(root: Path, folder: str, metadata: str, filename: str = "METADATA") -> None:
    d = root / folder
    d.mkdir(parents=True)
    (d / filename).write_text(metadata)


def test_requirements_dedupes_first_wins(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    _dist_info(first, "zeta-1.dist-info", "Metadata-Version: 2.1\nName: Zeta\nVersion: 1\n")
    _dist_info(first, "alpha_pkg-2.dist-info", "Name: alpha_pkg\nVersion: 2\n\nName: body\n")
    _dist_info(second, "Alpha_Pkg-3.dist-info", "Name: Alpha-Pkg\nVersion: 3\n")
    _dist_info(second, "broken-4.dist-info", "Summary: no name here\n")
    assert requirements([str(first), str(second)]) == "alpha_pkg==2\nZeta==1\n"


def test_requirements_reads_egg_info_and_crlf_headers(tmp_path: Path) -> None:
    _dist_info(tmp_path, "old.egg-info", "Name: old\r\nVersion: 0.9\r\n\r\nbody", "PKG-INFO")
    assert requirements([str(tmp_path)]) == "old==0.9\n"


def test_requirements_agree_with_importlib_metadata() -> None:
    """The header shortcut gives what the full metadata parser gives, for every installed
    distribution (the first of each name, as on import)."""
    expected: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        key = re.sub(r"[-_.]+", "-", name).lower()
        expected.setdefault(key, f"{name}=={dist.version}")
    assert requirements().splitlines() == sorted(expected.values(), key=lambda x: (x.lower(), x))


# --------------------------------------------------------------------------- console


class FakeTerminal(io.StringIO):
    """Stands in for the real terminal stream, with the probes tqdm and rich use."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self.fd = fd
        self.custom = "proxied"

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


@contextlib.contextmanager
def fake_terminals() -> Iterator[tuple[FakeTerminal, FakeTerminal]]:
    """Swap in fake terminals inside the test body, where pytest's own capture cannot undo it."""
    saved = sys.stdout, sys.stderr
    out, err = FakeTerminal(101), FakeTerminal(102)
    sys.stdout, sys.stderr = out, err
    try:
        yield out, err
    finally:
        sys.stdout, sys.stderr = saved


def test_console_tees_stdout_and_stderr(tmp_path: Path) -> None:
    with fake_terminals() as (out, err):
        log = tmp_path / "logs" / "output.log"
        log.parent.mkdir()
        log.write_text("earlier\n")
        with ConsoleCapture(log) as cap:
            assert cap.active
            print("hello", 42)
            sys.stderr.write("warning: careful\n")
            print("no newline", end="")
        assert out.getvalue() == "hello 42\nno newline"
        assert err.getvalue() == "warning: careful\n"
        assert log.read_text() == "earlier\nhello 42\nwarning: careful\nno newline\n"
        assert sys.stdout is out and sys.stderr is err


def test_console_carriage_returns_collapse(tmp_path: Path) -> None:
    writes = [f"\rtrain: {i:3d}%|{'#' * (i // 10)}|" for i in range(101)]  # what tqdm writes
    writes += ["\n", "\rbar 1/2", "\r", "\rbar 2/2\r\n"]  # CRLF ends a line like \n
    with fake_terminals() as (out, err):
        log = tmp_path / "output.log"
        with ConsoleCapture(log):
            for text in writes:
                sys.stderr.write(text)
            print("epoch done")
            sys.stderr.write("\rlast 9")
            sys.stderr.write("\rlast 10")  # unterminated at stop: final state still kept
        assert log.read_text() == "train: 100%|##########|\nbar 2/2\nepoch done\nlast 10\n"
        assert err.getvalue() == "".join(writes) + "\rlast 9\rlast 10"  # terminal: every update
        assert out.getvalue() == "epoch done\n"


def test_console_pending_partial_stays_small(tmp_path: Path) -> None:
    with fake_terminals(), ConsoleCapture(tmp_path / "output.log") as cap:
        for i in range(5000):
            sys.stderr.write(f"\rstep {i}")
        assert cap._pending["err"] == "step 4999"


def test_console_proxies_stream_attributes(tmp_path: Path) -> None:
    with fake_terminals() as (out, _), ConsoleCapture(tmp_path / "output.log"):
        tee: Any = sys.stdout
        assert tee is not out
        assert tee.isatty() is True
        assert tee.fileno() == 101 and sys.stderr.fileno() == 102
        assert tee.encoding == "utf-8"
        assert tee.errors == out.errors
        assert tee.writable() is True
        assert tee.custom == "proxied"
        assert tee.getvalue() == ""
        with pytest.raises(AttributeError):
            _ = tee.buffer  # StringIO has none; the proxy must not invent one
        tee.writelines(["a\n", "b\n"])
        tee.flush()
        assert out.getvalue() == "a\nb\n"


def test_console_proxies_real_stream_buffer(tmp_path: Path) -> None:
    real = io.TextIOWrapper(io.BytesIO(), encoding="latin-1", errors="strict")
    saved = sys.stdout
    sys.stdout = real
    try:
        with ConsoleCapture(tmp_path / "output.log"):
            assert sys.stdout.buffer is real.buffer
            assert sys.stdout.encoding == "latin-1"
            assert sys.stdout.errors == "strict"
    finally:
        sys.stdout = saved


def test_console_start_stop_idempotent(tmp_path: Path) -> None:
    with fake_terminals() as (out, _):
        log = tmp_path / "output.log"
        cap = ConsoleCapture(log)
        cap.start()
        tee = sys.stdout
        cap.start()
        assert sys.stdout is tee  # not wrapped twice
        print("once")
        cap.stop()
        cap.stop()
        assert sys.stdout is out
        assert not cap.active
        print("after")
        assert log.read_text() == "once\n"
        assert out.getvalue() == "once\nafter\n"


def test_console_stop_leaves_foreign_replacement(tmp_path: Path) -> None:
    with fake_terminals() as (out, err):
        log = tmp_path / "output.log"
        cap = ConsoleCapture(log).start()
        ours = sys.stdout
        theirs = io.StringIO()
        sys.stdout = theirs  # e.g. a notebook or another tool took over after us
        cap.stop()
        assert sys.stdout is theirs  # theirs is kept
        assert sys.stderr is err  # ours is restored where still current
        ours.write("late write\n")  # the orphaned tee passes through but no longer records
        assert out.getvalue() == "late write\n"
        assert log.read_text() == ""


def test_console_nested_captures(tmp_path: Path) -> None:
    with fake_terminals() as (out, _):
        outer = ConsoleCapture(tmp_path / "outer.log").start()
        print("one")
        inner = ConsoleCapture(tmp_path / "inner.log").start()
        print("two")
        inner.stop()
        print("three")
        outer.stop()
        assert sys.stdout is out
        assert out.getvalue() == "one\ntwo\nthree\n"
        assert (tmp_path / "outer.log").read_text() == "one\ntwo\nthree\n"
        assert (tmp_path / "inner.log").read_text() == "two\n"


def test_console_restart_does_not_duplicate(tmp_path: Path) -> None:
    with fake_terminals():
        log = tmp_path / "output.log"
        cap = ConsoleCapture(log).start()
        wrapper = sys.stdout
        sys.stdout = io.TextIOWrapper(io.BytesIO())  # someone wraps us...
        cap.stop()
        sys.stdout = wrapper  # ...and hands our old tee back
        with cap:
            print("x")
        assert log.read_text() == "x\n"


class BrokenFile(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_console_file_error_never_breaks_print(tmp_path: Path) -> None:
    with fake_terminals() as (out, err):
        cap = ConsoleCapture(tmp_path / "output.log").start()
        assert cap._file is not None
        cap._file.close()
        cap._file = BrokenFile()
        print("first")
        print("second")
        sys.stderr.write("third\n")
        cap.stop()
        assert out.getvalue() == "first\nsecond\n"
        assert err.getvalue().count("No space left on device") == 1
        assert err.getvalue().endswith("third\n")


def test_console_flushes_by_time(tmp_path: Path) -> None:
    with fake_terminals():
        log = tmp_path / "output.log"
        cap = ConsoleCapture(log, flush_interval=3600).start()
        try:
            print("buffered")
            assert log.read_text() == ""  # not flushed per write
            cap.flush_interval = 0
            print("now")
            assert log.read_text() == "buffered\nnow\n"
        finally:
            cap.stop()


def test_console_threads_do_not_lose_lines(tmp_path: Path) -> None:
    import threading

    log = tmp_path / "output.log"

    def work(n: int) -> None:
        for i in range(5000):
            sys.stdout.write(f"t{n}-{i}\n")  # one write per line: print() is two writes

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible to expose races
    try:
        with fake_terminals(), ConsoleCapture(log):
            threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        sys.setswitchinterval(switch)
    lines = log.read_text().splitlines()
    assert sorted(lines) == sorted(f"t{n}-{i}" for n in range(8) for i in range(5000))


TQDM_SCRIPT = textwrap.dedent(
    """
    import importlib.util
    import sys
    from pathlib import Path

    from tqdm import tqdm

    # Loaded by path: the test is about console.py, not about importing all of labbook.
    spec = importlib.util.spec_from_file_location("capture_under_test", sys.argv[2])
    capture = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(capture)

    with capture.ConsoleCapture(Path(sys.argv[1])):
        print("start")
        for _ in tqdm(range(200), desc="train", mininterval=0, miniters=1, ascii=True):
            pass
        print("done")
        for _ in tqdm(range(3), desc="eval", mininterval=0, ascii=True):
            pass
    """
)


@pytest.mark.slow
def test_console_real_tqdm_keeps_final_bar_only(tmp_path: Path) -> None:
    pytest.importorskip("tqdm")
    log = tmp_path / "output.log"
    proc = subprocess.run(
        [sys.executable, "-c", TQDM_SCRIPT, str(log), console.__file__],
        capture_output=True,  # bytes: text mode would turn every \r into \n
        timeout=60,
        check=True,
    )
    assert proc.stderr.count(b"\r") > 100  # the terminal still got every refresh
    lines = log.read_text().splitlines()
    assert len(lines) == 4, lines
    assert lines[0] == "start"
    assert lines[1].startswith("train: 100%") and "200/200" in lines[1]
    assert lines[2] == "done"
    assert lines[3].startswith("eval: 100%") and "3/3" in lines[3]
    assert "\r" not in log.read_text()


def test_console_rich_console_prints(tmp_path: Path) -> None:
    with fake_terminals():
        rich_console = pytest.importorskip("rich.console")
        log = tmp_path / "output.log"
        with ConsoleCapture(log):
            console = rich_console.Console(force_terminal=False, color_system=None)
            console.print("[bold]loss[/bold] 0.5")
        assert log.read_text() == "loss 0.5\n"


def test_git_state_leaves_out_excluded_folders(tmp_path: Path) -> None:
    import subprocess as sp

    from labbook.sdk.capture import git_state

    repo = tmp_path / "excl"
    repo.mkdir()
    g = ["git", "-C", str(repo), "-c", "user.email=t@t", "-c", "user.name=t"]
    sp.run([*g, "init", "-q"], check=True)
    (repo / "train.py").write_text("a = 1\n")
    sp.run([*g, "add", "."], check=True)
    sp.run([*g, "commit", "-qm", "init"], check=True)
    runs = repo / "labbook" / "run-1"
    runs.mkdir(parents=True)
    (runs / "acked.json").write_text("{}\n")
    clean = git_state(repo, exclude=[repo / "labbook"])
    assert clean is not None and clean.dirty is False and clean.diff == ""
    unfiltered = git_state(repo)
    assert (
        unfiltered is not None
        and unfiltered.dirty
        and "labbook/run-1/acked.json" in unfiltered.diff
    )
    (repo / "train.py").write_text("a = 2\n")
    changed = git_state(repo, exclude=[repo / "labbook"])
    assert changed is not None and changed.dirty and "+a = 2" in changed.diff
    assert "labbook/" not in changed.diff
