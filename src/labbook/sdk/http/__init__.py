"""The SDK's HTTP side: the client (the one seam to the network), the run sink and the reader."""

from __future__ import annotations

from labbook.sdk.http.client import (
    Client,
    ServerUnavailable,
    backoff_delay,
    decode_body,
    parse_retry_after,
)
from labbook.sdk.http.reader import RemoteReader
from labbook.sdk.http.sink import HttpSink

__all__ = [
    "Client",
    "HttpSink",
    "RemoteReader",
    "ServerUnavailable",
    "backoff_delay",
    "decode_body",
    "parse_retry_after",
]
