"""What a run records about its surroundings at ``labbook.init``.

Three independent probes, run on a thread of their own (``sdk/launch.py``): the machine and
command line (``system_metadata``), the source tree (``git_state``) and the Python environment
(``requirements``); the console tee is ``sdk/console.py``. They must never make a training
script fail: a probe that cannot answer returns less, not an error,
because losing one metadata field is always cheaper than losing the user's run.
"""

from __future__ import annotations

import getpass
import os
import platform
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["GitState", "git_state", "requirements", "system_metadata"]

GIT_TIMEOUT_S = 5.0
UNTRACKED_MAX_BYTES = 1024 * 1024
# Bounds the work on a tree full of untracked files (a forgotten data folder, say).
UNTRACKED_MAX_FILES = 500


# --------------------------------------------------------------------------- system metadata


def _memory_total() -> int:
    import psutil  # imported lazily: only this probe needs it, and it may be missing

    return int(psutil.virtual_memory().total)


def _program() -> str:
    # Resolved so that a run started as ``python train.py`` can be traced to the file later.
    argv0 = sys.argv[0] if sys.argv else ""
    return str(Path(argv0).resolve()) if argv0 and Path(argv0).is_file() else argv0


def _command() -> str:
    # orig_argv keeps interpreter flags such as ``-m pkg`` that sys.argv has already consumed.
    return shlex.join(getattr(sys, "orig_argv", None) or [sys.executable, *sys.argv])


def system_metadata() -> dict[str, Any]:
    """Describe the host and the command line; a probe that fails is left out rather than raised."""
    probes: dict[str, Callable[[], Any]] = {
        "host": socket.gethostname,
        "os": platform.platform,
        "python": platform.python_version,
        "executable": lambda: sys.executable,
        "program": _program,
        "args": lambda: [str(a) for a in sys.argv[1:]],
        "command": _command,
        "cwd": os.getcwd,
        "pid": os.getpid,
        "user": getpass.getuser,
        "cpu_count": os.cpu_count,
        "memory_total": _memory_total,
    }
    meta: dict[str, Any] = {}
    for key, probe in probes.items():
        try:
            value = probe()
        except Exception:
            continue
        if value is not None:
            meta[key] = value
    return meta


# --------------------------------------------------------------------------- git


@dataclass(frozen=True)
class GitState:
    """The source tree a run came from, enough to check it out again and re-apply local edits."""

    commit: str
    branch: str | None
    remote: str | None
    dirty: bool
    diff: str
    root: str

    def to_dict(self) -> dict[str, Any]:
        """Without the diff: it is stored as its own file (diff.patch), not in run metadata."""
        data = asdict(self)
        del data["diff"]
        return data


class _GitError(Exception):
    pass


def _git_env(index_file: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # No credential prompt may ever block a training script; no optional index refresh may write
    # the user's index behind their back.
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_LITERAL_PATHSPECS"] = "1"
    if index_file is not None:
        env["GIT_INDEX_FILE"] = index_file
    return env


def _git(
    cwd: Path, *args: str, ok_codes: tuple[int, ...] = (0,), index_file: str | None = None
) -> tuple[int, bytes]:
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=_git_env(index_file),
            timeout=GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise _GitError(str(exc)) from exc
    if proc.returncode not in ok_codes:
        raise _GitError(f"git {args[0]} exited {proc.returncode}")
    return proc.returncode, proc.stdout


def _text(out: bytes) -> str:
    return out.decode("utf-8", errors="replace").strip()


def strip_credentials(url: str) -> str:
    """Drop secrets from a remote URL, since metadata is visible to everyone who can see the run.

    A password, or any user name on http(s) (where the "user" is usually a token), is removed;
    ``ssh://git@host`` and ``git@host:org/repo`` keep their user, which is not a secret.
    """
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url
    if ":" in userinfo or parts.scheme.lower() in ("http", "https"):
        return urlunsplit(parts._replace(netloc=host))
    return url


def _prefixes(root: Path, exclude: Sequence[Path]) -> tuple[str, ...]:
    """Repo-relative ``dir/`` prefixes of ``exclude`` (labbook's own run folders in the repo).

    Filtered in Python: pathspec magic is off (GIT_LITERAL_PATHSPECS) so file names are literal.
    """
    out = []
    for p in exclude:
        try:
            out.append(Path(p).resolve().relative_to(root).as_posix().rstrip("/") + "/")
        except ValueError:
            continue
    return tuple(out)


def _untracked_text_files(root: Path, exclude: Sequence[Path] = ()) -> list[str]:
    _, out = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    skip = _prefixes(root, exclude)
    picked: list[str] = []
    for raw in out.split(b"\0"):
        if not raw:
            continue
        name = os.fsdecode(raw)
        if skip and name.startswith(skip):
            continue
        path = root / name
        try:
            if path.is_symlink() or not path.is_file():
                continue
            if path.stat().st_size >= UNTRACKED_MAX_BYTES:
                continue
            with path.open("rb") as fh:
                if b"\0" in fh.read(8192):
                    continue  # binary: a patch of it would be useless noise
        except OSError:
            continue
        picked.append(name)
        if len(picked) >= UNTRACKED_MAX_FILES:
            break
    return picked


def _diff(root: Path, exclude: Sequence[Path] = ()) -> str:
    """``git diff HEAD`` plus untracked text files as new-file hunks.

    Untracked files are marked intent-to-add in a *copy* of the index (GIT_INDEX_FILE), so one
    diff shows them while the user's staging area stays byte-for-byte untouched. Copying the
    real index rather than reading HEAD's tree keeps git's stat cache, so large repos stay fast.
    """
    diff_args = [
        "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "core.quotePath=off",
        "diff", "HEAD", "--no-color", "--no-ext-diff", "--no-textconv", "--no-relative",
        "--src-prefix=a/", "--dst-prefix=b/",
    ]  # fmt: skip
    untracked = _untracked_text_files(root, exclude)
    if not untracked:
        return _git(root, *diff_args)[1].decode("utf-8", errors="replace")
    with tempfile.TemporaryDirectory(prefix="labbook-git-") as tmp:
        index = str(Path(tmp) / "index")
        # Relative to root on old gits, absolute on new ones (and with GIT_INDEX_FILE set).
        real_index = root / _text(_git(root, "rev-parse", "--git-path", "index")[1])
        if real_index.is_file():
            shutil.copyfile(real_index, index)
        else:
            _git(root, "read-tree", "HEAD", index_file=index)
        for start in range(0, len(untracked), 100):
            _git(root, "add", "--intent-to-add", "--", *untracked[start : start + 100],
                 index_file=index)  # fmt: skip
        return _git(root, *diff_args, index_file=index)[1].decode("utf-8", errors="replace")


def _in_a_repo(start: Path) -> bool:
    """Whether git could find a repository from ``start``: a ``.git`` in it or a parent (or
    ``GIT_DIR`` set). Asked first because spawning git to learn there is none (a container, a
    notebook in a home folder, a temp dir) costs a fork of the whole training process."""
    if os.environ.get("GIT_DIR"):
        return True
    return any((folder / ".git").exists() for folder in (start, *start.parents))


def git_state(path: str | Path, exclude: Sequence[Path] = ()) -> GitState | None:
    """Snapshot the repository containing ``path``; None when there is none or git misbehaves.

    ``exclude``: folders left out of the diff and the dirty check — labbook's own journal folder
    when the script runs inside the repo (its files change while git reads them).
    """
    try:
        start = Path(path).resolve()
        if not start.is_dir():
            start = start.parent
        if not start.is_dir() or not _in_a_repo(start):
            return None
        root = Path(_text(_git(start, "rev-parse", "--show-toplevel")[1]))
        commit = _text(_git(root, "rev-parse", "--verify", "HEAD")[1])
        code, out = _git(root, "symbolic-ref", "--short", "-q", "HEAD", ok_codes=(0, 1))
        branch = _text(out) if code == 0 else None  # 1: detached HEAD
        code, out = _git(root, "config", "--get", "remote.origin.url", ok_codes=(0, 1))
        remote = strip_credentials(_text(out)) if code == 0 and out.strip() else None
        _, status = _git(root, "status", "--porcelain", "--untracked-files=normal", "-z")
        skip = _prefixes(root, exclude)
        changed = [
            e
            for e in status.split(b"\0")
            if e and not os.fsdecode(e[3:]).startswith(skip or ("\0",))
        ]
        return GitState(
            commit=commit,
            branch=branch or None,
            remote=remote,
            dirty=bool(changed),
            diff=_diff(root, exclude),
            root=str(root),
        )
    except Exception:
        return None


# --------------------------------------------------------------------------- requirements


def requirements(path: list[str] | None = None) -> str:
    """``pip freeze``-like lines, read from the installed distributions' metadata files, so no
    subprocess, pip or ``importlib.metadata`` import is needed.

    ``importlib.metadata`` finds the same files, but importing it (zipfile, email, csv: ~15 ms)
    and building its objects costs more than reading two header lines of each file: this runs
    at every ``init``, beside the training loop. When a distribution is installed twice on
    sys.path, the first one wins, as it does on import. ``path`` is where to look (default:
    ``sys.path``); zip archives on it are not searched.
    """
    seen: dict[str, str] = {}
    for entry in sys.path if path is None else path:
        folder = entry or "."
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                meta = os.path.join(folder, name, "METADATA")
            elif name.endswith(".egg-info"):
                meta = os.path.join(folder, name)
                if os.path.isdir(meta):
                    meta = os.path.join(meta, "PKG-INFO")
            else:
                continue
            dist, version = _name_version(meta)
            if not dist or not version:
                continue
            key = re.sub(r"[-_.]+", "-", dist).lower()
            seen.setdefault(key, f"{dist}=={version}")
    lines = sorted(seen.values(), key=lambda line: (line.lower(), line))
    return "".join(line + "\n" for line in lines)


def _name_version(meta: str) -> tuple[str | None, str | None]:
    """Name and version from a metadata file's header block.

    The whole file (long description included) through the email parser costs ~1 ms per
    package, a third of a second in a typical ML environment. The two fields are header lines
    near the top, so reading stops on the line after both; a folded Name or Version (unusual)
    goes through the header parser.
    """
    name = version = None
    last = ""
    folded = False
    try:
        with open(meta, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.rstrip("\r\n")
                if not line:
                    break  # the end of the headers
                if line[0] in " \t":  # a folded continuation of the header named ``last``
                    folded = folded or last in ("Name", "Version")
                    continue
                if name is not None and version is not None:
                    break  # both read, and neither continues on this line
                last, _, value = line.partition(":")
                if last == "Name" and name is None:
                    name = value.strip()
                elif last == "Version" and version is None:
                    version = value.strip()
    except OSError:
        return None, None
    if name and version and not folded:
        return name, version
    from email.parser import HeaderParser

    with open(meta, encoding="utf-8", errors="replace") as f:
        headers = HeaderParser().parse(f, headersonly=True)
    return headers.get("Name"), headers.get("Version")
