"""``RemoteReader``: the read methods the ``Api`` uses on the Store, answered by a server.

It returns the Store's own dataclasses (``RunInfo``, ``KeySeries``, ...), so the ``Api`` does not
care where a run lives. History is asked for as msgpack: float64 values, NaN and ±Inf exact.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from typing import Any, Protocol
from urllib.parse import quote

import numpy as np

from labbook.client._http import Client, decode_body, run_path
from labbook.errors import LabbookError, NotFoundError, ValidationError
from labbook.store import (
    Envelope,
    FileInfo,
    KeySeries,
    MetricKeyInfo,
    ProjectInfo,
    RunInfo,
    RunRef,
    jsoncodec,
)

MAX_PAGE = 1000
BINARY_PAGE = 1_000_000  # history steps a page in the binary form (the server's maximum)
LIST_PAGE = 100_000  # ... and in lists


class BytesWriter(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _time(v: Any) -> dt.datetime | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.datetime):
        t = v
    elif isinstance(v, int | float):
        return dt.datetime.fromtimestamp(float(v), dt.UTC)
    else:
        t = dt.datetime.fromisoformat(str(v).replace("Z", "+00:00"))
    return t if t.tzinfo is not None else t.replace(tzinfo=dt.UTC)


def _req_time(v: Any) -> dt.datetime:
    t = _time(v)
    if t is None:
        raise LabbookError(f"the server sent no time where one is required ({v!r})")
    return t


def _float_back(v: Any) -> Any:
    """JSON's spelling of non-finite floats, back as floats (msgpack answers need none of this)."""
    if isinstance(v, str) and v in ("NaN", "Infinity", "-Infinity"):
        return float(v.replace("Infinity", "inf"))
    return v


def run_info(d: dict[str, Any], ref: RunRef | None = None) -> RunInfo:
    """A wire RunInfo (``entity``, ``project``, ``id`` plus the Store's fields) as the dataclass."""
    if ref is None:
        ref = RunRef(str(d["entity"]), str(d["project"]), str(d["id"]))
    return RunInfo(
        ref=ref,
        name=d.get("name"),
        state=str(d.get("state", "running")),
        exit_code=d.get("exit_code"),
        config=dict(d.get("config") or {}),
        summary=dict(d.get("summary") or {}),
        tags=list(d.get("tags") or []),
        notes=d.get("notes"),
        group=d.get("group"),
        job_type=d.get("job_type"),
        metadata=dict(d.get("metadata") or {}),
        created_at=_req_time(d.get("created_at")),
        started_at=_time(d.get("started_at")),
        finished_at=_time(d.get("finished_at")),
        heartbeat_at=_time(d.get("heartbeat_at")),
        last_seq=int(d.get("last_seq") or 0),
    )


def _project(p: dict[str, Any]) -> ProjectInfo:
    return ProjectInfo(
        entity=p["entity"],
        name=p["name"],
        created_at=_req_time(p.get("created_at")),
        run_count=int(p.get("run_count") or 0),
        last_run_at=_time(p.get("last_run_at")),
        visibility=p.get("visibility", "private"),
    )


def _array(values: list[Any]) -> np.ndarray:
    """Values as the Store would type them: float64, int64 or bool when uniform, else objects."""
    kinds = {type(v) for v in values}
    if kinds == {float}:
        return np.array(values, dtype=np.float64)
    if kinds == {bool}:
        return np.array(values, dtype=bool)
    if kinds == {int} and all(-(2**63) <= v < 2**63 for v in values):
        return np.array(values, dtype=np.int64)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


class RemoteReader:
    """Read access to one server, shaped like the Store's read methods."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def _paged(
        self, path: str, params: dict[str, Any], warnings: list[str] | None = None
    ) -> Iterator[Any]:
        cursor: str | None = None
        while True:
            q = dict(params)
            if cursor:
                q["cursor"] = cursor
            body = self.client.get(path, params=q)
            if isinstance(body, list):  # an unpaged list
                yield from body
                return
            if warnings is not None:
                warnings.extend(str(w) for w in body.get("warnings") or [])
            yield from body.get("items") or []
            cursor = body.get("next_cursor")
            if not cursor:
                return

    def projects(self, entity: str | None = None) -> list[ProjectInfo]:
        params: dict[str, Any] = {"limit": MAX_PAGE}
        if entity is not None:
            params["entity"] = entity
        return [_project(p) for p in self._paged("/projects", params)]

    def count_runs(self, entity: str, project: str) -> int:
        body = self.client.get(f"/projects/{quote(entity, safe='')}/{quote(project, safe='')}")
        return int(body.get("run_count") or 0)

    def run_pages(
        self,
        entity: str,
        project: str,
        *,
        filters: dict[str, Any] | None = None,
        order: str | Sequence[str] | None = None,
        per_page: int = 100,
        warnings: list[str] | None = None,
    ) -> Iterator[RunInfo]:
        """Every matching run, fetched ``per_page`` at a time through the server's cursor.

        The server's notes on the query (a field no run has) are appended to ``warnings``.
        """
        params: dict[str, Any] = {"limit": max(1, min(per_page, MAX_PAGE))}
        if filters:
            params["filters"] = json.dumps(filters)
        if order:
            params["order"] = order if isinstance(order, str) else ",".join(order)
        path = f"/projects/{quote(entity, safe='')}/{quote(project, safe='')}/runs"
        for d in self._paged(path, params, warnings):
            yield run_info(d, None)

    def project(self, entity: str, name: str) -> ProjectInfo | None:
        """One project, None when it does not exist or the caller cannot see it."""
        try:
            p = self.client.get(f"/projects/{quote(entity, safe='')}/{quote(name, safe='')}")
        except NotFoundError:
            return None
        return _project(p)

    def get_run(self, ref: RunRef) -> RunInfo:
        return run_info(self.client.get(run_path(ref)), ref)

    def update_run(self, ref: RunRef, **fields: Any) -> RunInfo:
        """``PATCH`` the run's attributes (``name``, ``tags``, ``notes``, ``config``, ``group``,
        ``job_type``; None leaves one as it is). Non-finite floats in the config travel in the
        store's tagged form, so they are stored as floats rather than refused by JSON."""
        body = {k: v for k, v in fields.items() if v is not None}
        if "config" in body:
            body["config"] = jsoncodec.tag(body["config"])
        resp = self.client.request("PATCH", run_path(ref), json_body=body)
        return run_info(decode_body(resp), ref)

    def delete_run(self, ref: RunRef) -> None:
        self.client.request("DELETE", run_path(ref))

    def metric_keys(self, ref: RunRef) -> list[MetricKeyInfo]:
        body = self.client.get(run_path(ref) + "/metrics")
        items = body.get("items", body.get("keys")) if isinstance(body, dict) else body
        out = []
        for m in items or []:
            dtype = str(m.get("dtype") or "float")
            numeric = dtype in ("float", "int", "bool")
            out.append(
                MetricKeyInfo(
                    key=m["key"],
                    dtype=dtype,
                    last=_float_back(m.get("last")) if numeric else m.get("last"),
                    min=_float_back(m.get("min")),
                    max=_float_back(m.get("max")),
                    count=int(m.get("count") or 0),
                    last_step=None if m.get("last_step") is None else int(m["last_step"]),
                )
            )
        return out

    def history(
        self,
        ref: RunRef,
        keys: Sequence[str] | None = None,
        *,
        step_min: int | None = None,
        step_max: int | None = None,
    ) -> dict[str, KeySeries]:
        """Every point of the asked keys, gathered across the server's step pages.

        Asked for in the binary form (raw little-endian arrays in msgpack, ``format=binary``): a
        page of a million points decodes with ``np.frombuffer`` instead of a Python float each. A
        server that predates it answers lists, which are read as before.
        """
        params: dict[str, Any] = {"limit": BINARY_PAGE, "format": "binary"}
        if isinstance(keys, str):
            keys = [keys]
        if keys is not None:
            if not keys:
                return {}
            params["keys"] = ",".join(keys)
        if step_min is not None:
            params["step_min"] = step_min
        if step_max is not None:
            params["step_max"] = step_max
        parts: dict[str, list[KeySeries]] = {}  # a key's pages, in step order
        cursor: str | None = None
        path = run_path(ref) + "/history"
        while True:
            q = dict(params)
            if cursor:
                q["cursor"] = cursor
            try:
                body = self.client.get(path, params=q)
            except ValidationError:
                if "format" not in params:
                    raise
                # A server before the binary form refuses its page size: ask as before.
                params.pop("format")
                params["limit"] = LIST_PAGE
                continue
            for key, s in (body.get("keys") or {}).items():
                parts.setdefault(key, []).append(_page_series(s))
            cursor = body.get("next_cursor")
            if not cursor:
                break
        out: dict[str, KeySeries] = {}
        for key in sorted(parts):
            out[key] = _concat(parts.pop(key))  # each key's pages are freed once joined
        return out

    def history_envelope(
        self,
        ref: RunRef,
        key: str,
        buckets: int = 1000,
        *,
        step_min: int | None = None,
        step_max: int | None = None,
    ) -> Envelope:
        """The chart query: per-bucket first/last/min/max/count (exact floats via msgpack)."""
        params: dict[str, Any] = {"key": key, "buckets": buckets}
        if step_min is not None:
            params["step_min"] = step_min
        if step_max is not None:
            params["step_max"] = step_max
        b = self.client.get(run_path(ref) + "/envelope", params=params)
        n = int(b["step_max"]) - int(b["step_min"]) + 1
        return Envelope(
            step_min=int(b["step_min"]),
            step_max=int(b["step_max"]),
            buckets=int(b["buckets"]),
            bucket_width=n / int(b["buckets"]) if int(b["buckets"]) else 0.0,
            bucket_lo=np.array(b["bucket_lo"], dtype=np.int64),
            first_step=np.array(b["first_step"], dtype=np.int64),
            last_step=np.array(b["last_step"], dtype=np.int64),
            first=np.array([_nan_if_none(v) for v in b["first"]], dtype=np.float64),
            last=np.array([_nan_if_none(v) for v in b["last"]], dtype=np.float64),
            min=np.array([_nan_if_none(v) for v in b["min"]], dtype=np.float64),
            max=np.array([_nan_if_none(v) for v in b["max"]], dtype=np.float64),
            count=np.array(b["count"], dtype=np.int64),
        )

    def files(self, ref: RunRef) -> list[FileInfo]:
        body = self.client.get(run_path(ref) + "/files")
        items = body.get("items") if isinstance(body, dict) else body
        return [
            FileInfo(
                path=f["path"],
                sha256=f["sha256"],
                size=int(f["size"]),
                updated_at=_req_time(f.get("updated_at")),
            )
            for f in items or []
        ]

    def download(self, ref: RunRef, path: str) -> bytes:
        resp = self.client.request("GET", f"{run_path(ref)}/files/{quote(path, safe='/')}")
        return resp.content

    def download_to(self, ref: RunRef, path: str, out: BytesWriter) -> int:
        """Stream a run file into ``out``; returns the bytes written."""
        written = 0
        with self.client.stream("GET", f"{run_path(ref)}/files/{quote(path, safe='/')}") as resp:
            for chunk in resp.iter_bytes(1 << 20):
                out.write(chunk)
                written += len(chunk)
        return written


def _nan_if_none(t: Any) -> float:
    return float("nan") if t is None else float(t)


_BINARY_DTYPES = {"float": np.dtype("<f8"), "int": np.dtype("<i8"), "bool": np.dtype("?")}


def _page_series(s: dict[str, Any]) -> KeySeries:
    """One key of one history page, in the binary form (bytes) or as lists."""
    steps, values, times = s.get("steps") or b"", s.get("values"), s.get("times") or b""
    if isinstance(steps, bytes):
        dtype = _BINARY_DTYPES.get(str(s.get("dtype")))
        vals = (
            np.frombuffer(values, dtype=dtype)
            if dtype is not None and isinstance(values, bytes)
            else _array(list(values or []))
        )
        return KeySeries(np.frombuffer(steps, dtype="<i8"), vals, np.frombuffer(times, dtype="<f8"))
    return KeySeries(
        np.array(steps, dtype=np.int64),
        _array(list(values or [])),
        np.array([_nan_if_none(t) for t in times], dtype=np.float64),
    )


def _concat(pages: list[KeySeries]) -> KeySeries:
    """A key's pages as one series; a typed key whose pages disagree becomes float, else
    object (what the Store does for a key whose blocks disagree).

    Joined one array at a time, each page's bytes let go once copied: the peak is the pages
    plus one joined array, not the pages plus all three. ``pages`` is emptied.
    """
    kept = [p for p in pages if len(p.steps)] or pages[:1]
    pages.clear()
    if len(kept) == 1:
        return kept[0]
    kinds = {p.values.dtype for p in kept}
    cast: Any = None
    if len(kinds) > 1:
        cast = np.float64 if all(k.kind in "fiub" for k in kinds) else object
    steps_l = [p.steps for p in kept]
    values_l = [p.values if cast is None else p.values.astype(cast) for p in kept]
    times_l = [p.times for p in kept]
    kept.clear()
    steps = np.concatenate(steps_l)
    steps_l.clear()
    values = np.concatenate(values_l)
    values_l.clear()
    times = np.concatenate(times_l)
    return KeySeries(steps, values, times)
