"""Runs logged over HTTP the way the SDK's HttpSink sends them (msgpack record batches)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from lbserver import Server

T0 = 1_700_000_000.0
MSGPACK = {"Content-Type": "application/msgpack"}


def log_run(
    s: Server,
    headers: Mapping[str, str],
    path: str,
    *,
    config: Mapping[str, Any] | None = None,
    rows: Sequence[Mapping[str, Any]] = (),
    summary: Mapping[str, Any] | None = None,
    meta: Mapping[str, Any] | None = None,
    name: str | None = None,
    tags: Sequence[str] = (),
    started_at: float = T0,
    state: str | None = "finished",
    step0: int = 0,
    dt: float = 1.0,
) -> None:
    """Create ``/projects/{e}/{p}/runs/{id}`` (``path``) and send its journal: the header, one
    history row a step (``dt`` seconds apart), a summary, metadata and its exit (``state`` None
    leaves it running)."""
    parts = path.strip("/").split("/")
    entity, project, run_id = parts[1], parts[2], parts[4]
    recs: list[dict[str, Any]] = [
        {
            "t": "run",
            "id": run_id,
            "project": project,
            "entity": entity,
            "name": name or run_id,
            "tags": list(tags),
            "notes": None,
            "group": None,
            "job_type": None,
            "config": dict(config or {}),
            "started_at": started_at,
        }
    ]
    for i, d in enumerate(rows):
        step = step0 + i
        ts = started_at + dt * (step + 1)
        recs.append({"t": "h", "step": step, "ts": ts, "rt": ts - started_at, "d": dict(d)})
    if summary:
        recs.append({"t": "summary", "u": dict(summary)})
    if meta:
        recs.append({"t": "meta", "m": dict(meta)})
    if state is not None:
        end = started_at + dt * (step0 + len(rows) + 1)
        recs.append(
            {"t": "exit", "code": 0 if state == "finished" else 1, "ts": end, "state": state}
        )
    last = s.put(path, headers=headers).json()["last_seq"]
    for i, r in enumerate(recs, last + 1):
        r["seq"] = i
    body = msgspec.msgpack.encode({"records": recs})
    resp = s.post(path + "/records", content=body, headers=dict(headers) | MSGPACK)
    assert resp.status_code == 200, resp.text
