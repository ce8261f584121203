"""Talking to a labbook server: where it is and which key to use (``credentials``), the HTTP
client (the one seam to the network) and the reader that answers like the Store.

Below both the SDK (whose ``HttpSink`` sends through the client) and ``labbook.api`` (which
reads through the reader); it imports only the store's value types, never the SDK.
"""

from __future__ import annotations

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
