"""The SDK's write side over HTTP: the run sink (the read side and the client live in
``labbook.client``)."""

from __future__ import annotations

from labbook.sdk.http.sink import HttpSink

__all__ = ["HttpSink"]
