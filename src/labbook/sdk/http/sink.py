"""``HttpSink``: the sender's destination when a server is configured.

``PUT .../runs/{r}`` creates or resumes the run (and says which seq the server holds);
``POST .../records`` takes gzip-compressed msgpack batches of at most ~1 MB, idempotent by seq;
a ``file`` record's bytes go first, streamed, with ``PUT .../files/{path}``.
"""

from __future__ import annotations

import gzip
import struct
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from labbook import records
from labbook.client import MSGPACK, Client, decode_body, run_path
from labbook.errors import ConflictError, LabbookError, RecordsRefused, UsageError
from labbook.store import RunRef

MAX_BATCH_BYTES = 1_000_000
REFUSED_STATUSES = frozenset({400, 413, 422})
"""Answers to ``POST .../records`` that are about the records sent: a body the server cannot
decode (400), one larger than it takes (413), a record past a limit or a value the database
refuses (422). Not 401/403/404 (credentials, access: the run is fine, retry once they are fixed),
408/429/5xx (retried by the client)."""
UPLOAD_CHUNK = 1 << 20
CALL_BUDGET = 3.0
"""Seconds one sink call retries a failing server; then the sender's own backoff takes over, so
``finish`` and the error it reports stay current."""


def _array_header(n: int) -> bytes:
    if n < 16:
        return bytes([0x90 | n])
    if n < 1 << 16:
        return b"\xdc" + struct.pack(">H", n)
    return b"\xdd" + struct.pack(">I", n)


_RECORDS_MAP = b"\x81\xa7records"  # msgpack {"records": ...}


def record_bodies(
    batch: Sequence[records.AnyRecord], limit: int = MAX_BATCH_BYTES
) -> Iterator[bytes]:
    """msgpack ``{"records": [...]}`` bodies of at most ``limit`` bytes (a larger record alone)."""
    encoded = [records.encode(rec) for rec in batch]
    start = 0
    while start < len(encoded):
        size = 0
        end = start
        while end < len(encoded) and (end == start or size + len(encoded[end]) <= limit):
            size += len(encoded[end])
            end += 1
        yield _RECORDS_MAP + _array_header(end - start) + b"".join(encoded[start:end])
        start = end


class HttpSink:
    """One run on one server. Raises on failure; the sender catches, backs off and retries."""

    def __init__(
        self,
        client: Client,
        ref: RunRef,
        files_dir: Path,
        *,
        max_batch_bytes: int = MAX_BATCH_BYTES,
        expect_new: bool = False,
        budget: float = CALL_BUDGET,
    ) -> None:
        self.client = client
        self.ref = ref
        self.files_dir = files_dir
        self.max_batch_bytes = max_batch_bytes
        self.budget = budget
        self.expect_new = expect_new
        """Set when the run started without the server: a run the server already holds is then
        someone else's, and sending into it would silently drop records."""
        self.run_info: dict[str, Any] | None = None
        self.resumed = False
        self._last_seq: int | None = None
        self._uploaded: set[tuple[str, str]] = set()
        self._path = run_path(ref)

    def open(self, *, budget: float | None = None) -> int:
        """``PUT`` the run (create or resume); returns the seq the server holds."""
        body = decode_body(
            self.client.request(
                "PUT", self._path, json_body={}, budget=self.budget if budget is None else budget
            )
        )
        if not isinstance(body, dict):
            raise LabbookError(f"unexpected answer to PUT {self._path}: {body!r}")
        last = int(body.get("last_seq") or 0)
        if self.expect_new and last > 0:
            raise ConflictError(
                f"run {self.ref} already exists on {self.client.base_url} (it holds seq {last}); "
                "this run was started while the server was down and was taken for a new one. "
                "Its records stay in the journal."
            )
        self.expect_new = False
        run = body.get("run")
        self.run_info = run if isinstance(run, dict) else None
        self.resumed = bool(body.get("resumed"))
        self._last_seq = last
        return last

    def last_seq(self) -> int:
        if self._last_seq is None:
            return self.open()
        return self._last_seq

    def send(self, batch: Sequence[records.AnyRecord]) -> int:
        if self._last_seq is None:
            self.open()
        for rec in batch:
            if type(rec) is dict and rec.get("t") == records.FILE:
                self._upload(rec)
        last = self._last_seq or 0
        for body in record_bodies(batch, self.max_batch_bytes):
            packed = gzip.compress(body, compresslevel=1)
            try:
                resp = self.client.request(
                    "POST",
                    self._path + "/records",
                    content=packed,
                    headers={"Content-Type": MSGPACK, "Content-Encoding": "gzip"},
                    budget=self.budget,
                )
            except UsageError as exc:
                if exc.status in REFUSED_STATUSES:
                    self._last_seq = last  # bodies before this one were stored
                    raise RecordsRefused(exc.message) from exc
                raise
            answer = decode_body(resp)
            if isinstance(answer, dict) and "last_seq" in answer:
                last = max(last, int(answer["last_seq"]))
        self._last_seq = last
        return last

    def _upload(self, rec: records.Record) -> None:
        rel = str(rec["path"])
        key = (rel, str(rec.get("sha256")))
        if key in self._uploaded:
            return
        path = self.files_dir / rel
        if not path.is_file():
            # Deleted since it was recorded: the record still names it, there is nothing to send.
            return

        def chunks() -> Iterator[bytes]:
            with open(path, "rb") as f:
                while chunk := f.read(UPLOAD_CHUNK):
                    yield chunk

        try:
            resp = self.client.request(
                "PUT",
                f"{self._path}/files/{quote(rel, safe='/')}",
                content=chunks,
                headers={"Content-Type": "application/octet-stream"},
                budget=self.budget,
            )
        except UsageError as exc:
            # Refused for good (a bad name, too large): retrying would hold up every record
            # behind it. The record still goes; the file's content is missing on the server.
            print(f"labbook: the server refused file {rel!r}: {exc.message}", file=sys.__stderr__)
            self._uploaded.add(key)
            return
        with_hash = decode_body(resp) if resp.content else None
        if isinstance(with_hash, dict) and isinstance(with_hash.get("sha256"), str):
            # The file may have changed since it was recorded; the server hashed what it got.
            rec["sha256"] = with_hash["sha256"]
            self._uploaded.add((rel, rec["sha256"]))
        self._uploaded.add(key)

    def close(self) -> None:
        self.client.close()
