"""Talking to a labbook server: where it is and which key to use (``credentials``), the HTTP
client (the one seam to the network) and the reader that answers like the Store.

Below both the SDK (whose ``HttpSink`` sends through the client) and ``labbook.api`` (which
reads through the reader); it imports only the store's value types, never the SDK.

The names below load on first use: ``labbook.client.credentials`` is read by every training
process and every ``labbook`` command, and most of them never talk HTTP, so importing it must not
import httpx (and the reader's numpy and store types) with it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labbook.client._http import (
        MSGPACK,
        Client,
        ServerUnavailable,
        backoff_delay,
        decode_body,
        parse_retry_after,
        run_path,
    )
    from labbook.client._reader import RemoteReader

_WHERE = {
    "MSGPACK": "_http",
    "Client": "_http",
    "ServerUnavailable": "_http",
    "backoff_delay": "_http",
    "decode_body": "_http",
    "parse_retry_after": "_http",
    "run_path": "_http",
    "RemoteReader": "_reader",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'labbook.client' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"labbook.client.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "MSGPACK",
    "Client",
    "RemoteReader",
    "ServerUnavailable",
    "backoff_delay",
    "decode_body",
    "parse_retry_after",
    "run_path",
]
