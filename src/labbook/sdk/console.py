"""The console tee: what the script prints, kept in the run's ``output.log``.

Started on the training thread by ``init`` (output from the first line on belongs to the run), so
this module imports only what teeing needs; the other captures live in ``capture.py`` and run on
a thread of their own.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO, cast

__all__ = ["ConsoleCapture"]


def _collapse(line: str) -> str:
    """Keep what a terminal would show for one line: the text after the last carriage return."""
    line = line.rstrip("\r")  # a trailing \r (CRLF, or a bar that just rewound) ends nothing
    return line[line.rfind("\r") + 1 :]


def _trim_partial(pending: str) -> str:
    # Same rule applied early, so a bar that updates for hours without a newline stays small.
    cut = pending.rstrip("\r").rfind("\r")
    return pending[cut + 1 :] if cut >= 0 else pending


_MAX_PENDING = 64 * 1024


class _Tee:
    """Stands in for sys.stdout/sys.stderr: writes go to the original first, then to the log.

    Everything else is the original's, so libraries that probe the stream (tqdm, rich, click)
    see the terminal they would have seen. It deliberately is not an io.IOBase: IOBase closes
    itself on garbage collection, which here would close the user's terminal stream.
    """

    def __init__(self, original: TextIO, capture: ConsoleCapture, key: str) -> None:
        self._original = original
        self._capture = capture
        self._key = key
        self._live = True

    def write(self, text: str) -> int:
        written = self._original.write(text)
        if self._live and text and isinstance(text, str):
            self._capture._record(self._key, text)
        return written

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._original.flush()

    def isatty(self) -> bool:
        return self._original.isatty()

    def fileno(self) -> int:
        return self._original.fileno()

    def writable(self) -> bool:
        return self._original.writable()

    @property
    def encoding(self) -> str:
        return self._original.encoding

    @property
    def errors(self) -> str | None:
        return self._original.errors

    @property
    def buffer(self) -> Any:
        return self._original.buffer

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "_original":
            raise AttributeError(name)
        return getattr(self._original, name)

    def __repr__(self) -> str:
        return f"<labbook tee of {self._original!r}>"


class ConsoleCapture:
    """Tee the Python-level stdout/stderr into ``path`` (output.log) without changing the terminal.

    Only sys.stdout/sys.stderr are wrapped, never file descriptors: output of C extensions and
    child processes is not captured, but nothing can deadlock on a pipe and ``stop`` is exact.
    """

    def __init__(self, path: Path, *, flush_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self._lock = threading.RLock()  # re-entrant: a signal handler may print mid-record
        self._file: TextIO | None = None
        self._pending: dict[str, str] = {"out": "", "err": ""}
        self._last_flush = 0.0
        self._warned = False
        self._orig_out: TextIO | None = None
        self._orig_err: TextIO | None = None
        self._tee_out: _Tee | None = None
        self._tee_err: _Tee | None = None

    @property
    def active(self) -> bool:
        return self._file is not None

    def start(self) -> ConsoleCapture:
        """Begin teeing; a second call while active does nothing. Raises OSError if unopenable."""
        with self._lock:
            if self._file is not None:
                return self
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = cast(
                TextIO,
                open(self.path, "a", encoding="utf-8", errors="replace", newline="\n"),  # noqa: SIM115
            )
            self._pending = {"out": "", "err": ""}
            self._last_flush = time.monotonic()
            self._orig_out, self._orig_err = sys.stdout, sys.stderr
            if sys.stdout is not None:
                self._tee_out = _Tee(sys.stdout, self, "out")
                sys.stdout = cast(TextIO, self._tee_out)
            if sys.stderr is not None:
                self._tee_err = _Tee(sys.stderr, self, "err")
                sys.stderr = cast(TextIO, self._tee_err)
            return self

    def stop(self) -> None:
        """Stop teeing and close the log; safe to call twice.

        The originals come back only where our tee is still installed: if something replaced
        sys.stdout after us, its object stays, and our tee inside it just passes writes through.
        """
        with self._lock:
            if self._file is None:
                return
            for tee in (self._tee_out, self._tee_err):
                if tee is not None:
                    tee._live = False
            if self._tee_out is not None and sys.stdout is self._tee_out:
                sys.stdout = cast(TextIO, self._orig_out)
            if self._tee_err is not None and sys.stderr is self._tee_err:
                sys.stderr = cast(TextIO, self._orig_err)
            self._tee_out = self._tee_err = None
            file, self._file = self._file, None
            try:
                tail = "".join(_collapse(p) + "\n" for p in self._pending.values() if p)
                if tail:
                    file.write(tail)
                file.close()
            except Exception as exc:
                self._warn(exc)
                with contextlib.suppress(Exception):
                    file.close()
            self._pending = {"out": "", "err": ""}

    def flush(self) -> None:
        """Push buffered log text to disk now, e.g. before uploading output.log mid-run."""
        with self._lock:
            if self._file is not None:
                try:
                    self._file.flush()
                except Exception as exc:
                    self._warn(exc)
                self._last_flush = time.monotonic()

    def __enter__(self) -> ConsoleCapture:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _record(self, key: str, text: str) -> None:
        with self._lock:
            file = self._file
            if file is None:
                return
            try:
                pending = self._pending[key] + text
                if "\n" in pending:
                    *lines, pending = pending.split("\n")
                    file.write("".join(_collapse(line) + "\n" for line in lines))
                pending = _trim_partial(pending)
                if len(pending) > _MAX_PENDING:
                    file.write(pending)
                    pending = ""
                self._pending[key] = pending
                now = time.monotonic()
                if now - self._last_flush >= self.flush_interval:
                    self._last_flush = now
                    file.flush()
            except Exception as exc:
                self._pending[key] = ""
                self._warn(exc)

    def _warn(self, exc: BaseException) -> None:
        if self._warned:
            return
        self._warned = True
        stream = self._orig_err if self._orig_err is not None else sys.__stderr__
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.write(f"labbook: cannot write console log {self.path}: {exc}\n")
                stream.flush()
