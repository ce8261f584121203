"""JSON for the store's JSON columns, keeping NaN and ±Inf.

Strict JSON has no NaN or Infinity, and PostgreSQL's JSON/JSONB types reject the ``NaN`` tokens that
Python's ``json`` module writes by default. Logged values are often NaN (a diverged loss) and a
summary or config must round-trip them, so non-finite floats are written in a tagged form,
``{"$float": "nan" | "inf" | "-inf"}``, which every database stores as an ordinary object and
:func:`loads` turns back into a float. The cost is one reserved shape: a user dict that is exactly
``{"$float": "nan"}`` (or inf/-inf) reads back as a float.

The engine is given :func:`dumps`/:func:`loads` as its ``json_serializer``/``json_deserializer``, so
the tagging is invisible to the rest of the store.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

import numpy as np

TAG = "$float"
_TO_TAG = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _tag_float(x: float) -> Any:
    if math.isfinite(x):
        return x
    if math.isnan(x):
        return {TAG: "nan"}
    return {TAG: "inf" if x > 0 else "-inf"}


def _default(obj: Any) -> Any:
    """Values an in-process caller may hand over without going through the journal's encoder."""
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, _dt.datetime | _dt.date):
        return obj.isoformat()
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    raise TypeError(f"value of type {type(obj).__name__} is not JSON serializable")


def tag(obj: Any) -> Any:
    """A copy of ``obj`` with every non-finite float replaced by its tagged form."""
    if isinstance(obj, float):
        return _tag_float(obj)
    if isinstance(obj, dict):
        return {str(k): tag(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [tag(v) for v in obj]
    if isinstance(obj, np.generic | np.ndarray | set | frozenset):
        return tag(_default(obj))
    return obj


def untag(obj: Any) -> Any:
    """Inverse of :func:`tag` on an already-decoded value."""
    if isinstance(obj, dict):
        if len(obj) == 1 and TAG in obj:
            v = obj[TAG]
            if isinstance(v, str) and v in _TO_TAG:
                return _TO_TAG[v]
        return {k: untag(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [untag(v) for v in obj]
    return obj


def dumps(obj: Any) -> str:
    # The common case has no non-finite float; only when json refuses one do we pay for a walk.
    try:
        return json.dumps(obj, allow_nan=False, ensure_ascii=False, default=_default)
    except ValueError:
        return json.dumps(tag(obj), allow_nan=False, ensure_ascii=False, default=_default)


def _hook(d: dict[str, Any]) -> Any:
    if len(d) == 1 and TAG in d:
        v = d[TAG]
        if isinstance(v, str) and v in _TO_TAG:
            return _TO_TAG[v]
    return d


_TAG_TEXT = f'"{TAG}"'


def loads(s: str | bytes) -> Any:
    # The hook runs in Python for every object decoded and doubles the cost of reading a page of
    # runs' summaries; a document without the tag has nothing for it to do.
    text = s.decode() if isinstance(s, bytes) else s
    if _TAG_TEXT not in text:
        return json.loads(text)
    return json.loads(text, object_hook=_hook)
