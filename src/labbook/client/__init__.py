"""Talking to a labbook server: where it is and which key to use (``credentials``), the HTTP
client (the one seam to the network) and the reader that answers like the Store.

Below both the SDK (whose ``HttpSink`` sends through the client) and ``labbook.api`` (which
reads through the reader); it imports only the store's value types, never the SDK.

The names load on first use: ``credentials`` is read on every ``init``, and httpx (~0.1 s to
import) is only needed once a server is configured.
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


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
