"""Turning what users pass to ``log``/``config``/``summary`` into journal-encodable values.

Errors are raised on the training thread and name the offending key, so a bad value is found where
it was logged, not later in a background thread.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
RESERVED_KEYS = frozenset({"_step", "_timestamp", "_runtime"})


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
                f"cannot log key {key!r}: a list must hold media of one kind "
                f"(e.g. only labbook.Image), got {', '.join(names)}"
            )
        if len(items) > MAX_MEDIA_ITEMS:
            warnings.warn(
                f"labbook: key {key!r} holds {len(items)} media values; only the first "
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
    return TypeError(f"cannot log key {key!r}: unsupported value of type {what}{hint}")


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
            return str(value)
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
        return str(value)
    raise _bad(key, value)


def _int(key: str, value: int) -> int:
    if INT64_MIN <= value <= INT64_MAX:
        return value
    raise TypeError(f"cannot log key {key!r}: integer {value} does not fit in 64 bits")


def flatten_into(
    row: dict[str, Any],
    data: Mapping[Any, Any],
    prefix: str,
    refs: list[str] | None = None,
) -> None:
    """Add ``data`` to ``row`` with nested mappings flattened to ``a/b`` keys.

    The common case (str keys, python scalar values) costs one type check per item; anything else
    goes through :func:`scalar`. A :class:`HistoryValue` (an object with ``_to_history``) is put
    in the row as is and its key appended to ``refs``, for the caller to resolve once it knows the
    row's step; without ``refs`` such values are refused.
    """
    for k, v in data.items():
        if type(k) is not str:
            if not isinstance(k, str):
                raise TypeError(f"log() keys must be strings, got {k!r} ({type(k).__name__})")
            k = str(k)
        key = prefix + k if prefix else k
        tv = type(v)
        if tv is float or tv is str or tv is bool:
            row[key] = v
        elif tv is int:
            row[key] = v if INT64_MIN <= v <= INT64_MAX else _int(key, v)
        elif isinstance(v, Mapping):
            flatten_into(row, v, key + "/", refs)
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
            row[key] = value


HISTOGRAM_ABOVE = 32
"""A numeric array with more elements than this is logged as a 32-bin histogram (wandb's rule)."""


def _loggable(key: str, value: Any, nested: bool = False) -> Any:
    """A scalar, a list, or (for a large numeric array) a ``labbook.Histogram``.

    As in wandb: a numpy array or torch tensor of one element is that element; one of at most
    :data:`HISTOGRAM_ABOVE` elements is stored as a (nested) list, a larger numeric one as a
    histogram of its values. Lists and tuples are stored as lists of plain values (an array
    inside a list stays a list: a histogram is a value of its own).
    """
    numpy = _numpy()
    if numpy is not None and isinstance(value, numpy.generic):  # numpy scalars: common here
        return scalar(key, value)
    if isinstance(value, list | tuple):
        return [
            v if _is_plain(v) else _loggable(f"{key}[{i}]", v, True) for i, v in enumerate(value)
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
        from labbook.sdk.media import Histogram  # media builds on this module

        return Histogram(arr, num_bins=32)
    return _loggable(key, arr.tolist(), True)


def _is_plain(v: Any) -> bool:
    t = type(v)
    return (
        t is float
        or t is str
        or t is bool
        or v is None
        or (t is int and INT64_MIN <= v <= INT64_MAX)
    )


def check_keys(row: Mapping[str, Any]) -> None:
    if "" in row:
        raise ValueError("log() keys must not be empty")
    if "_step" in row or "_timestamp" in row or "_runtime" in row:
        bad = sorted(RESERVED_KEYS.intersection(row))
        raise ValueError(f"log() key {bad[0]!r} is reserved; labbook sets it on every row")


def plain(key: str, value: Any) -> Any:
    """A msgpack-encodable copy of a config/summary value (nested dicts and lists allowed)."""
    if value is None or type(value) in (str, bool, float):
        return value
    if type(value) is int:
        return _int(key, value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out[str(k)] = plain(f"{key}.{k}", v)
        return out
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [plain(f"{key}[{i}]", v) for i, v in enumerate(items)]
    numpy = _numpy()
    if numpy is not None and isinstance(value, numpy.ndarray) and value.ndim > 0:
        return plain(key, value.tolist())
    try:
        return scalar(key, value)
    except TypeError:
        pass
    # Config commonly holds enums, paths and classes; keep their readable form, like wandb.
    if hasattr(value, "value") and type(value).__class__.__name__ == "EnumType":
        return plain(key, value.value)
    if isinstance(value, type):
        return f"{value.__module__}.{value.__qualname__}"
    return str(value)
