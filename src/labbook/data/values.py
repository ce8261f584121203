"""Turning what users pass to ``log``/``config``/``summary`` into journal-encodable values.

Errors are raised on the training thread and name the offending key, so a bad value is found where
it was logged, not later in a background thread. The limits checked here (``labbook.limits``) are
the ones every Store and server enforces, so a value ``log()`` accepted is never refused later.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

from labbook import limits
from labbook.limits import MAX_KEY_CHARS, MAX_RECORD_BYTES, MAX_ROW_KEYS, RESERVED_KEYS, shorten

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
_STR_FAST = limits.MAX_VALUE_BYTES // 4
"""Strings up to this many characters are under the value limit whatever their encoding."""


class HistoryValue(Protocol):
    """A value that stores itself in a history row by reference (images, tables, plots...).

    ``_to_history(key, step)`` returns the small dict the row keeps and the files the run must
    keep, as ``(path relative to the run's files folder, sha256 hex, bytes)``. It runs on the
    training thread and must do no I/O; the journal writer writes the files.
    """

    def _to_history(
        self, key: str, step: int
    ) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]: ...


MAX_MEDIA_ITEMS = 108
"""At most this many media values in one logged list (wandb's limit for a list of images)."""


class MediaList:
    """Several media values of one kind under one key: ``log({"examples": [Image(...), ...]})``.

    wandb scripts log sample predictions this way. The row keeps
    ``{"_type": "list", "items_type": "image", "items": [<each item's reference>, ...]}`` and
    every item's files are kept like those of a single value. Beyond :data:`MAX_MEDIA_ITEMS`
    the rest is left out with a warning, as wandb does, rather than failing the training step.
    """

    def __init__(self, key: str, items: list[Any] | tuple[Any, ...]) -> None:
        kinds = {type(v) for v in items}
        if len(kinds) != 1 or getattr(next(iter(kinds)), "_to_history", None) is None:
            names = sorted(k.__name__ for k in kinds)
            raise TypeError(
                f"cannot log key {shorten(key)!r}: a list must hold media of one kind "
                f"(e.g. only labbook.Image), got {', '.join(names)}"
            )
        if len(items) > MAX_MEDIA_ITEMS:
            warnings.warn(
                f"labbook: key {shorten(key)!r} holds {len(items)} media values; only the first "
                f"{MAX_MEDIA_ITEMS} are kept",
                stacklevel=4,
            )
            items = items[:MAX_MEDIA_ITEMS]
        self.items = list(items)

    def _to_history(
        self, key: str, step: int
    ) -> tuple[dict[str, Any], list[tuple[str, str, bytes]]]:
        refs: list[dict[str, Any]] = []
        files: list[tuple[str, str, bytes]] = []
        for item in self.items:
            ref, item_files = item._to_history(key, step)
            refs.append(ref)
            files.extend(item_files)
        return {"_type": "list", "items_type": refs[0].get("_type"), "items": refs}, files


def _bad(key: str, value: Any, hint: str = "") -> TypeError:
    what = type(value).__name__
    mod = type(value).__module__
    if mod not in ("builtins", ""):
        what = f"{mod}.{what}"
    return TypeError(f"cannot log key {shorten(key)!r}: unsupported value of type {what}{hint}")


def _numpy() -> Any:
    """numpy, if this process imported it; None otherwise.

    A value can only be a numpy object once numpy is imported, so a script that never uses it
    does not pay its import (~0.1 s) for ``init``/``log`` to recognise its types.
    """
    return sys.modules.get("numpy")


def scalar(key: str, value: Any) -> Any:
    """A python float/int/bool/str/None for a value that is not one already, or TypeError."""
    if value is None:
        return None
    numpy = _numpy()
    if numpy is not None and isinstance(value, numpy.generic):
        if isinstance(value, numpy.bool_):
            return bool(value)
        if isinstance(value, numpy.integer):
            return _int(key, int(value))
        if isinstance(value, numpy.floating):
            return float(value)
        if isinstance(value, numpy.str_):
            return text(key, str(value))
        raise _bad(key, value)
    if numpy is not None and isinstance(value, numpy.ndarray):
        if value.ndim == 0:
            return scalar(key, value[()])
        raise _bad(key, value, f" with shape {value.shape}; log a scalar (or a labbook.Histogram)")
    if type(value).__module__.startswith("torch") and hasattr(value, "dim"):
        if value.dim() == 0:
            return scalar(key, value.item())
        raise _bad(key, value, f" with shape {tuple(value.shape)}; log a scalar")
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return _int(key, int(value))
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return text(key, str(value))
    raise _bad(key, value)


def text(key: str, value: str) -> str:
    """``value`` when a store can keep it as a string value (``limits.string_problem``)."""
    problem = limits.string_problem(value)
    if problem is not None:
        raise ValueError(f"cannot log key {shorten(key)!r}: {problem}")
    return value


def _int(key: str, value: int) -> int:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise TypeError(f"cannot log key {shorten(key)!r}: integer {value} does not fit in 64 bits")


def flatten_into(
    row: dict[str, Any],
    data: Mapping[Any, Any],
    prefix: str,
    refs: list[str] | None = None,
    known: set[str] | None = None,
) -> int:
    """Add ``data`` to ``row`` with nested mappings flattened to ``a/b`` keys.

    The common case (str keys seen before, python scalar values) costs one set lookup and one
    type check per item; anything else goes through :func:`new_key` and :func:`scalar`. A
    :class:`HistoryValue` (an object with ``_to_history``) is put in the row as is and its key
    appended to ``refs``, for the caller to resolve once it knows the row's step; without
    ``refs`` such values are refused.

    ``known``: the keys already checked against ``labbook.limits`` (a run keeps one set for all
    its rows, so each distinct key is checked once); without it every key is checked.

    Returns the bytes the row's strings and lists take (their part of the encoded record; the
    caller adds the keys and fixed-size values and measures exactly only when that could pass
    ``MAX_RECORD_BYTES``).
    """
    if known is None:
        known = set()
    size = 0
    for k, v in data.items():
        key = prefix + (k if type(k) is str else _key_str(k)) if prefix else k
        if key not in known:
            key = new_key(key, known)
        tv = type(v)
        if tv is float or tv is bool:
            row[key] = v
        elif tv is str:
            # NUL and size: the only limits a string value can break (surrogates: non-ASCII only).
            if "\x00" in v or len(v) > _STR_FAST or not v.isascii():
                text(key, v)
                size += len(v) if v.isascii() else len(v.encode())
            else:
                size += len(v)
            row[key] = v
        elif tv is int:
            row[key] = v if INT64_MIN <= v <= INT64_MAX else _int(key, v)
        elif isinstance(v, Mapping):  # ``key`` passed the limits: nesting stays shallow
            size += flatten_into(row, v, key + "/", refs, known)
        elif getattr(tv, "_to_history", None) is not None:
            if refs is None:
                raise _bad(key, v, "; media values can only be logged with log()")
            row[key] = v
            refs.append(key)
        elif (tv is list or tv is tuple) and v and getattr(type(v[0]), "_to_history", None):
            if refs is None:
                raise _bad(key, v, "; media values can only be logged with log()")
            row[key] = MediaList(key, v)
            refs.append(key)
        else:
            value = _loggable(key, v)
            if refs is not None and getattr(type(value), "_to_history", None) is not None:
                refs.append(key)
            elif type(value) is list:
                size += _list_size(key, value)
            elif type(value) is str:
                size += len(value) if value.isascii() else len(value.encode())
            row[key] = value
    return size


def _list_size(key: str, value: list[Any]) -> int:
    """The encoded size of a logged list, checked against ``MAX_VALUE_BYTES`` and ``MAX_DEPTH``
    (its strings were checked as they were converted)."""
    found = limits.nested_problem(value, 2)
    if found is not None:
        raise ValueError(f"cannot log key {shorten(key)!r}{shorten(found[0])}: {found[1]}")
    n = _encoded_size(value)
    if n > limits.MAX_VALUE_BYTES:
        raise ValueError(f"cannot log key {shorten(key)!r}: {limits.value_too_large('a list', n)}")
    return n


HISTOGRAM_ABOVE = 32
"""A numeric array with more elements than this is logged as a 32-bin histogram (wandb's rule)."""


def _loggable(key: str, value: Any, nested: int = 0) -> Any:
    """A scalar, a list, or (for a large numeric array) a ``labbook.Histogram``.

    As in wandb: a numpy array or torch tensor of one element is that element; one of at most
    :data:`HISTOGRAM_ABOVE` elements is stored as a (nested) list, a larger numeric one as a
    histogram of its values. Lists and tuples are stored as lists of plain values (an array
    inside a list stays a list: a histogram is a value of its own). ``nested``: how many lists
    this value is inside.
    """
    numpy = _numpy()
    if numpy is not None and isinstance(value, numpy.generic):  # numpy scalars: common here
        return scalar(key, value)
    if isinstance(value, list | tuple):
        if nested >= limits.MAX_DEPTH:
            raise ValueError(
                f"cannot log key {shorten(key)!r}: values nest at most {limits.MAX_DEPTH} levels"
            )
        return [
            v
            if _is_plain(v)
            else _loggable(f"{key}[{i}]", v, nested + 1)
            if type(v) is not str
            else _item_text(key, i, v)
            for i, v in enumerate(value)
        ]
    arr: np.ndarray | None = None
    if numpy is not None and isinstance(value, numpy.ndarray) and value.ndim > 0:
        arr = value
    elif type(value).__module__.startswith("torch") and hasattr(value, "dim") and value.dim() > 0:
        t = value.detach().cpu()
        arr = (t.float() if t.is_floating_point() else t).numpy()
    if arr is None:
        return scalar(key, value)
    if arr.size == 1:
        return scalar(key, arr.reshape(())[()])
    if arr.dtype.kind not in "biufU":
        raise _bad(key, value, f" with dtype {arr.dtype}; log numbers or text")
    if arr.size > HISTOGRAM_ABOVE and arr.dtype.kind != "U" and not nested:
        from labbook.data.media import Histogram  # media builds on this module

        return Histogram(arr, num_bins=32)
    return _loggable(key, arr.tolist(), nested + 1)


def _encoded_size(value: Any) -> int:
    """Bytes ``value`` takes in a record (msgpack, as the journal and the sinks encode it).
    Only large or list values are measured, so msgspec is imported here, when first needed."""
    import msgspec

    return len(msgspec.msgpack.encode(value))


def _item_text(key: str, i: int, value: str) -> str:
    problem = limits.string_problem(value)
    if problem is not None:
        raise ValueError(f"cannot log key {shorten(key)!r}[{i}]: {problem}")
    return value


def _is_plain(v: Any) -> bool:
    """A value a list keeps as it is (a string is plain but still checked: NUL, size)."""
    t = type(v)
    return t is float or t is bool or v is None or (t is int and INT64_MIN <= v <= INT64_MAX)


MAX_KNOWN_KEYS = 100_000
"""A run remembers at most this many checked keys (then starts over): memory stays bounded for
scripts that log a new key every step, which then pay the full check for each."""


def _key_str(k: Any) -> str:
    if isinstance(k, str):
        return str(k)
    raise TypeError(f"log() keys must be strings, got {k!r} ({type(k).__name__})")


def new_key(key: Any, known: set[str]) -> str:
    """``key`` (a str) after the key limits, added to ``known``; ValueError/TypeError naming it.

    Scripts log the same few keys every step, so :func:`flatten_into` pays this once per
    distinct key and a set lookup per key afterwards.
    """
    if type(key) is not str:
        key = _key_str(key)
        if key in known:
            return key
    problem = limits.key_problem(key)
    if problem is not None:
        raise ValueError(f"cannot log key {shorten(key)!r}: {problem}")
    if key in RESERVED_KEYS:
        raise ValueError(f"log() key {key!r} is reserved; labbook sets it on every row")
    if len(known) >= MAX_KNOWN_KEYS:
        known.clear()
    known.add(key)
    return key


ROW_KEY_BYTES = 4 * MAX_KEY_CHARS + 16
"""The most a row's key and fixed-size value take, encoded: 512 characters of 4 UTF-8 bytes, a
string header and a float. ``strings_bytes + len(row) * ROW_KEY_BYTES`` bounds a row's size, so
a row within ``MAX_RECORD_BYTES`` by that bound (every row of scalars under ~7,600 keys) is never
measured; and as ``MAX_ROW_KEYS * ROW_KEY_BYTES`` is past it, a row with too many keys always is."""


def check_row_size(row: Mapping[str, Any], strings_bytes: int) -> None:
    """ValueError when the row has more than ``MAX_ROW_KEYS`` keys or, encoded, is larger than
    ``MAX_RECORD_BYTES``.

    ``strings_bytes`` is what :func:`flatten_into` counted; a row that is surely small is never
    encoded here (see :data:`ROW_KEY_BYTES`).
    """
    if strings_bytes + len(row) * ROW_KEY_BYTES <= MAX_RECORD_BYTES:
        return
    if len(row) > MAX_ROW_KEYS:
        raise ValueError(
            f"log() got {len(row):,} keys in one row; at most {MAX_ROW_KEYS:,} "
            f"(first: {shorten(next(iter(row)))!r})"
        )
    n = _encoded_size(row) + 64  # + the row's step, time and kind
    if n > MAX_RECORD_BYTES:
        biggest = max(row, key=lambda k: _encoded_size(row[k]))
        raise ValueError(
            f"log() row of {n / limits.MiB:.1f} MiB is larger than the "
            f"{MAX_RECORD_BYTES // limits.MiB} MiB one row may hold (the largest value is "
            f"{shorten(biggest)!r}); log large values as files (run.save) or a labbook.Table"
        )


def clean_mapping(what: str, values: Mapping[Any, Any]) -> dict[str, Any]:
    """A config or summary write as it will be stored, checked against ``labbook.limits``.

    Keys at every level follow the key rule, strings the value rule, nesting ``MAX_DEPTH``; a
    list or dict value encodes to at most ``MAX_VALUE_BYTES`` and the whole write to at most
    ``MAX_RECORD_BYTES``. Config and summary writes are rare, so measuring is affordable here.
    """
    out: dict[str, Any] = {}
    for k, v in values.items():
        key = str(k)
        problem = limits.key_problem(key)
        if problem is not None:
            raise ValueError(f"{what} key {shorten(key)!r}: {problem}")
        value = plain(key, v)
        if type(value) is list or type(value) is dict:
            n = _encoded_size(value)
            if n > limits.MAX_VALUE_BYTES:
                raise ValueError(
                    f"{what} key {shorten(key)!r}: {limits.value_too_large('a value', n)}"
                )
        out[key] = value
    if len(out) > 1:
        n = _encoded_size(out)
        if n > MAX_RECORD_BYTES:
            raise ValueError(
                f"{what} write of {n / limits.MiB:.1f} MiB is larger than the "
                f"{MAX_RECORD_BYTES // limits.MiB} MiB one record may hold; write it in parts"
            )
    return out


def plain(key: str, value: Any, depth: int = 2) -> Any:
    """A msgpack-encodable copy of a config/summary value (nested dicts and lists allowed).

    ``depth``: the nesting level of ``value`` (a top-level config value is at level 2, below the
    config itself), checked against ``limits.MAX_DEPTH``; nested keys and strings are checked
    against the key and string rules, so a stored config can always be queried.
    """
    if value is None or type(value) in (bool, float):
        return value
    if type(value) is str:
        return _plain_text(key, value)
    if type(value) is int:
        return _int(key, value)
    if depth > limits.MAX_DEPTH and isinstance(value, Mapping | list | tuple | set | frozenset):
        raise ValueError(
            f"cannot store key {shorten(key)!r}: values nest at most {limits.MAX_DEPTH} levels deep"
        )
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            sk = str(k)
            problem = limits.key_problem(sk)
            if problem is not None:
                raise ValueError(f"cannot store key {shorten(f'{key}.{sk}')!r}: {problem}")
            out[sk] = plain(f"{key}.{sk}", v, depth + 1)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [plain(f"{key}[{i}]", v, depth + 1) for i, v in enumerate(items)]
    numpy = _numpy()
    if numpy is not None and isinstance(value, numpy.ndarray) and value.ndim > 0:
        return plain(key, value.tolist(), depth)
    try:
        return scalar(key, value)
    except TypeError:
        pass
    # Config commonly holds enums, paths and classes; keep their readable form, like wandb.
    if hasattr(value, "value") and type(value).__class__.__name__ == "EnumType":
        return plain(key, value.value, depth)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return _plain_text(key, str(value))


def check_text(what: str, value: str, limit: int | None = limits.MAX_TEXT_CHARS) -> str:
    """``value`` when a run's ``what`` (name, tag, group, job type; notes: ``limit=None``) may
    hold it, else ValueError: the same rule the Store applies to the run's columns."""
    problem = limits.text_problem(value, limit)
    if problem is not None:
        raise ValueError(f"run {what} {shorten(value)!r} is refused: {problem}")
    return value


def _plain_text(key: str, value: str) -> str:
    problem = limits.string_problem(value)
    if problem is not None:
        raise ValueError(f"cannot store key {shorten(key)!r}: {problem}")
    return value
