"""``labbook.init`` and the process's active run.

wandb's API has one active run per process (``wandb.run``, ``wandb.log``); this module is where
that single piece of process state lives, so nothing else needs globals.
"""

from __future__ import annotations

import atexit
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from labbook.data.values import check_text, clean_mapping
from labbook.errors import UsageError
from labbook.limits import MAX_TEXT_CHARS
from labbook.sdk.config import Config, config_input
from labbook.sdk.launch import check_name, start_run
from labbook.sdk.run import Run
from labbook.settings import Settings


class DisabledRun:
    """What ``mode="disabled"`` returns: every call works, nothing is written anywhere."""

    def __init__(self, config: dict[str, Any], name: str | None, project: str) -> None:
        self.id = "disabled"
        self.name = name or "disabled"
        self.project = project
        self.entity = "disabled"
        self.config = Config(config)
        self.summary: dict[str, Any] = {}
        self.tags: tuple[str, ...] = ()
        self.notes: str | None = None
        self.dir = ""
        self.url = ""
        self.path = ""
        self.offline = True
        self.step = 0

    def log(self, data: Any, step: int | None = None, commit: bool | None = None, **_: Any) -> None:
        return None

    def save(self, *args: Any, **kwargs: Any) -> list[str]:
        return []

    def define_metric(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def log_code(self, *args: Any, **kwargs: Any) -> list[str]:
        return []

    def finish(self, exit_code: int | None = None, quiet: bool | None = None) -> None:
        _SESSION.clear(self)

    join = finish

    def __enter__(self) -> DisabledRun:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.finish()


class _Session:
    """The active run, plus the hooks that finish it when the interpreter exits."""

    def __init__(self) -> None:
        self.run: Run | DisabledRun | None = None
        self.lock = threading.RLock()
        self._hooked = False
        self._failed = False

    def set(self, run: Run | DisabledRun) -> None:
        with self.lock:
            self.run = run
            if not self._hooked:
                self._hooked = True
                atexit.register(self._atexit)
                previous = sys.excepthook

                def hook(
                    et: type[BaseException], e: BaseException, tb: TracebackType | None
                ) -> None:
                    self._failed = True
                    previous(et, e, tb)

                sys.excepthook = hook

    def clear(self, run: Any) -> None:
        with self.lock:
            if self.run is run:
                self.run = None

    def _atexit(self) -> None:
        run = self.run
        if run is not None:
            run.finish(exit_code=1 if self._failed else 0)


_SESSION = _Session()


def active_run() -> Run | DisabledRun | None:
    return _SESSION.run


def init(
    project: str | None = None,
    entity: str | None = None,
    config: Any = None,
    name: str | None = None,
    tags: Sequence[str] | None = None,
    notes: str | None = None,
    group: str | None = None,
    job_type: str | None = None,
    mode: str | None = None,
    dir: str | Path | None = None,
    id: str | None = None,
    resume: bool | str | None = None,
    reinit: bool | None = None,
    settings: Settings | None = None,
    save_code: bool | None = None,
    config_exclude_keys: Sequence[str] | None = None,
    config_include_keys: Sequence[str] | None = None,
    allow_val_change: bool | None = None,
    **_ignored: Any,
) -> Run | DisabledRun:
    """Start a run (wandb's signature). A run still active in this process is finished first.

    ``save_code=True`` copies the script being run into the run's ``code/`` folder;
    ``config_include_keys`` / ``config_exclude_keys`` filter ``config`` (e.g. a whole
    ``argparse.Namespace``) before it is stored; ``allow_val_change=True`` lets the script
    change config values it already set.
    """
    base = settings or Settings()
    overrides: dict[str, Any] = {}
    if mode is not None:
        if mode not in ("online", "offline", "disabled"):
            raise UsageError(f"mode must be 'online', 'offline' or 'disabled', not {mode!r}")
        overrides["mode"] = mode
    if dir is not None:
        overrides["run_dir"] = Path(dir)
    s = base.replace(**overrides) if overrides else base
    project = check_name("project", project or s.project or "uncategorized")
    if config_exclude_keys is not None and config_include_keys is not None:
        raise UsageError("pass config_include_keys or config_exclude_keys, not both")
    cfg = clean_mapping("config", config_input(config))
    # Checked before anything is created: the run header would be refused by every store.
    for what, value, limit in (
        ("name", name, MAX_TEXT_CHARS),
        ("group", group, MAX_TEXT_CHARS),
        ("job type", job_type, MAX_TEXT_CHARS),
        ("notes", notes, None),
        *(("tag", t, MAX_TEXT_CHARS) for t in tags or ()),
    ):
        if value is not None:
            check_text(what, str(value), limit)
    if config_include_keys is not None:
        include = set(config_include_keys)
        cfg = {k: v for k, v in cfg.items() if k in include}
    if config_exclude_keys is not None:
        exclude = set(config_exclude_keys)
        cfg = {k: v for k, v in cfg.items() if k not in exclude}

    with _SESSION.lock:
        if _SESSION.run is not None:
            _SESSION.run.finish()
        if s.mode == "disabled":
            disabled = DisabledRun(cfg, name, project)
            _SESSION.set(disabled)
            return disabled
        run = start_run(
            s,
            project,
            entity,
            cfg,
            name,
            tags,
            notes,
            group,
            job_type,
            id,
            resume,
            on_finish=_SESSION.clear,
        )
        _SESSION.set(run)
        if allow_val_change:
            run.config.allow_val_changes()
        if save_code:
            _save_program(run)
        return run


def _save_program(run: Run) -> None:
    """The running script, into ``code/`` (nothing to save in a notebook or ``python -c``)."""
    program = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if program is None or not program.is_file():
        return
    run._copy_code(program, Path(program.name))


def finish_active(exit_code: int | None = None) -> None:
    run = _SESSION.run
    if run is not None:
        run.finish(exit_code)
