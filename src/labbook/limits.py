"""What a record may hold: one set of limits for the SDK, the Store and the server.

``log()``, ``run.config`` and ``run.summary`` check these at the call, on the training thread, so a
value that some backend would refuse is an error where it was logged, naming the key. The Store
checks the same rules when it ingests (on SQLite as on PostgreSQL), and the server before the
Store, so a journal that one backend accepted every other backend accepts too: a local run can be
synced to a server later. A record that still gets refused (a journal written by an older version,
a server whose admin lowered ``max_body_bytes``) is set aside by the sender, never retried forever.

Pure: constants and checks that return what is wrong (or None); callers raise their own error
(``ValueError``/``TypeError`` in the SDK, ``ValidationError`` → 422 in the Store and the server).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from labbook.errors import ValidationError

MiB = 1024 * 1024

MAX_KEY_CHARS = 512
"""A metric, config or summary key has 1 to 512 characters: the width of the ``metric_keys.key``
column, and of ``key`` in the history API. Keys are names shown in charts and tables; 512 leaves
room for deeply nested ``a/b/c`` keys while keeping every index entry small."""

MAX_ROW_KEYS = 10_000
"""Keys in one history row. A row is one record; 10,000 keys is far past what a chart page shows
(wandb advises under 10,000 metrics per *project*) and bounds the work one record can ask for."""

MAX_DEPTH = 32
"""Levels of nesting in a value (dicts and lists inside config, summary and logged values). The
server filters and orders runs by ``config.a.b...`` paths of at most 32 segments (PostgreSQL's
``jsonb_extract_path`` takes at most 100 arguments), so no stored value hides deeper than a query
can reach; and it keeps every recursive encoder far from Python's recursion limit."""

MAX_VALUE_BYTES = 4 * MiB
"""One value: a string (UTF-8 bytes), or a list or dict (its encoded size). wandb advises values
under 1 MB and stores larger ones; 4 MiB takes a long generated text or a sample list while
keeping a run's summary (each key's last value, read by every runs table) reasonable. Larger
data belongs in a file (``run.save``) or a media value (``labbook.Table``, ``labbook.Html``)."""

MAX_BODY_BYTES = 16 * MiB
"""The server's default request body limit (``Settings.max_body_bytes``; ``settings`` is a sibling
of this module, so a test holds the two equal)."""

MAX_RECORD_BYTES = MAX_BODY_BYTES - MiB
"""One record, encoded (msgpack). The sender sends a record larger than its batch size alone, in a
body of its own; 1 MiB below the body limit leaves room for the body's framing, so one record
always fits one request. Several values of ``MAX_VALUE_BYTES`` in one row count against this."""

MAX_NAME_CHARS = 128
"""Entity, project and run ids (``A-Z a-z 0-9 _ . -``): URL path segments and indexed columns."""

MAX_TEXT_CHARS = 256
"""A run's display name, each tag, its group and job type (indexed ``VARCHAR(256)`` columns)."""

MAX_PATH_CHARS = 1024
"""A run file's path, relative to the run (``files.path``)."""

RESERVED_KEYS = frozenset({"_step", "_timestamp", "_runtime"})
"""History keys labbook sets on every row itself."""

_BAD_KEY_CHARS = "\x00-\x1f\x7f-\x9f\ud800-\udfff"
"""What a key must not contain: control characters (C0 ``U+0000-U+001F``, DEL ``U+007F``, C1
``U+0080-U+009F``) and unpaired surrogates. PostgreSQL refuses NUL in text and JSON; the others are
invisible in a chart legend, break the CLI's tab-separated output, and a surrogate is not UTF-8 at
all. Every other Unicode character, spaces and ``/`` included, is allowed."""

_BAD_TEXT_CHARS = "\x00\ud800-\udfff"
"""What a string value (and a run's name, notes, tags) must not contain: NUL, which PostgreSQL
cannot store in text or JSON, and unpaired surrogates, which are not UTF-8. Newlines and tabs are
text and stay."""

SHOWN_CHARS = 60


@cache
def _chars(ranges: str) -> re.Pattern[str]:
    """A pattern for one of the ranges above, compiled when first needed: most keys are
    printable ASCII and never need it, and ``import labbook`` should not pay for it."""
    return re.compile(f"[{ranges}]")


def shorten(text: str, keep: int = SHOWN_CHARS) -> str:
    """``text`` for an error message: whole when short, else its start, ``…`` and its length."""
    if len(text) <= keep + 16:
        return text
    return f"{text[:keep]}…({len(text):,} characters)"


def _char_problem(m: re.Match[str]) -> str:
    c = m.group()
    if c == "\x00":
        return f"a NUL character (U+0000) at position {m.start()}: PostgreSQL cannot store it"
    if "\ud800" <= c <= "\udfff":
        return f"an unpaired surrogate (U+{ord(c):04X}) at position {m.start()}: not valid UTF-8"
    return f"the control character U+{ord(c):04X} at position {m.start()}"


def key_problem(key: str) -> str | None:
    """Why ``key`` (a str) cannot be a key, or None (:data:`MAX_KEY_CHARS`, ``_BAD_KEY_CHARS``)."""
    if not key:
        return "a key must not be empty"
    if len(key) > MAX_KEY_CHARS:
        return f"a key has at most {MAX_KEY_CHARS} characters"
    if key.isascii() and key.isprintable():  # no control character: the common case
        return None
    m = _chars(_BAD_KEY_CHARS).search(key)
    if m is not None:
        return f"a key must not contain {_char_problem(m)}"
    return None


def string_problem(s: str) -> str | None:
    """Why the string value ``s`` cannot be stored, or None (see :data:`MAX_VALUE_BYTES`)."""
    if "\x00" in s or not s.isascii():
        m = _chars(_BAD_TEXT_CHARS).search(s)
        if m is not None:
            return f"the string contains {_char_problem(m)}"
    if len(s) > MAX_VALUE_BYTES // 4:  # ASCII-only strings are as long in bytes as in chars
        n = len(s) if s.isascii() else len(s.encode("utf-8"))
        if n > MAX_VALUE_BYTES:
            return value_too_large("a string", n)
    return None


def value_too_large(what: str, n: int) -> str:
    return (
        f"{what} of {n / MiB:.1f} MiB is larger than the {MAX_VALUE_BYTES // MiB} MiB a value "
        "may hold; save large data as a file (run.save) or a labbook.Table"
    )


def text_problem(value: str, limit: int | None) -> str | None:
    """Why a run's name, tag, group, job type (``limit`` characters) or notes (no limit) is
    refused, or None."""
    if limit is not None and len(value) > limit:
        return f"it has {len(value):,} characters; at most {limit}"
    m = _chars(_BAD_TEXT_CHARS).search(value)
    if m is not None:
        return f"it contains {_char_problem(m)}"
    return None


def nested_problem(value: Any, depth: int = 1) -> tuple[str, str] | None:
    """The first problem in a stored value (config, summary, a logged list or media reference):
    ``(where, what)`` with ``where`` the path below the value (``.a[3]``), or None.

    Checks keys (:func:`key_problem`), strings (:func:`string_problem`) and nesting
    (:data:`MAX_DEPTH`). Sizes of lists and dicts are the encoder's business (the SDK measures
    the encoded record; the server's body limit bounds what arrives).
    """
    t = type(value)
    if t is str:
        p = string_problem(value)
        return ("", p) if p else None
    if t is dict:
        if depth > MAX_DEPTH:
            return "", f"values nest at most {MAX_DEPTH} levels deep"
        for k, v in value.items():
            if type(k) is not str:
                return "", f"keys must be strings, got {type(k).__name__}"
            p = key_problem(k)
            if p is not None:
                return f".{shorten(k)}", p
            if type(v) is not float and type(v) is not int:
                found = nested_problem(v, depth + 1)
                if found is not None:
                    return f".{k}{found[0]}", found[1]
        return None
    if t is list or t is tuple:
        if depth > MAX_DEPTH:
            return "", f"values nest at most {MAX_DEPTH} levels deep"
        for i, v in enumerate(value):
            if type(v) is not float and type(v) is not int:
                found = nested_problem(v, depth + 1)
                if found is not None:
                    return f"[{i}]{found[0]}", found[1]
    return None


_DRIVE = re.compile(r"^[A-Za-z]:")


def normalize_path(path: str) -> str:
    """A run or artifact file path as stored: relative, ``/``-separated, no ``..``; else 422."""
    if not path or "\x00" in path or "\\" in path:
        raise ValidationError("invalid file path: empty, or contains NUL or a backslash")
    if path.startswith("/") or _DRIVE.match(path):
        raise ValidationError("invalid file path: must be relative")
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        raise ValidationError("invalid file path: '..' is not allowed")
    if any(ord(c) < 32 for c in path):
        raise ValidationError("invalid file path: contains a control character")
    clean = "/".join(parts)
    if len(clean) > MAX_PATH_CHARS:
        raise ValidationError(f"invalid file path: longer than {MAX_PATH_CHARS} characters")
    return clean
