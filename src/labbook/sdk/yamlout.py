"""The run's ``config.yaml``, written without PyYAML.

A run writes one YAML file, at ``finish()``, from a config that is already plain JSON-like data
(str keys; None, bool, int, float, str, lists and mappings: what ``Config`` stores). Importing
PyYAML for that costs ~10 ms of CPU (its resolver compiles a dozen regular expressions), a
noticeable part of what a short run costs in all; this emitter costs microseconds. Every
string is double-quoted, so no value can be read back as another type (``"yes"``, ``"1e3"``,
``"null"``), and what PyYAML's ``safe_load`` reads back equals what was written (tested with
``yaml.safe_load`` on hostile keys and values).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["dump"]

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./")
_SPECIAL = frozenset(
    {"y", "n", "yes", "no", "on", "off", "true", "false", "null", "nan", "inf", "~", ""}
)
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def dump(data: Mapping[str, Any]) -> str:
    """``data`` as a block-style YAML document (keys in sorted order, as ``yaml.safe_dump``)."""
    if not data:
        return "{}\n"
    lines: list[str] = []
    _block(data, 0, lines)
    return "\n".join(lines) + "\n"


def _block(data: Mapping[str, Any], indent: int, lines: list[str]) -> None:
    pad = " " * indent
    for key in sorted(data, key=str):
        value = data[key]
        head = f"{pad}{_key(str(key))}:"
        if isinstance(value, Mapping) and value:
            lines.append(head)
            _block(value, indent + 2, lines)
        else:
            lines.append(f"{head} {_flow(value)}")


def _key(key: str) -> str:
    """Plain when it cannot be misread (an identifier-like word that is not a YAML 1.1 keyword
    nor a number), else quoted."""
    if (
        _PLAIN.issuperset(key)
        and key.lower() not in _SPECIAL
        and (key[0].isalpha() or key[0] == "_")
    ):
        return key
    return _quote(key)


def _flow(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, Mapping):
        pairs = sorted(value.items(), key=_by_key)
        items = ", ".join(f"{_quote(str(k))}: {_flow(v)}" for k, v in pairs)
        return "{" + items + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _quote(str(value))


def _by_key(item: tuple[Any, Any]) -> str:
    return str(item[0])


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:  # YAML 1.1 reads "1e-05" as a string: it needs the dot
        text = f"{mantissa}.0e{exponent}"
    return text


def _quote(text: str) -> str:
    """A double-quoted scalar: printable characters as they are, the rest escaped (YAML allows
    neither C0/C1 controls nor surrogates unescaped, and folds its line breaks into spaces)."""
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return f'"{text}"'
    out = ['"']
    for ch in text:
        o = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch in "\u2028\u2029\ufeff":  # line breaks to YAML 1.1, and a byte-order mark
            out.append(f"\\u{o:04x}")
        elif 0x20 <= o < 0x7F or 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD or o >= 0x10000:
            out.append(ch)
        elif o <= 0xFF:
            out.append(f"\\x{o:02x}")
        else:
            out.append(f"\\u{o:04x}")
    out.append('"')
    return "".join(out)
