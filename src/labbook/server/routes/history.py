"""History at full fidelity (paged by step) and the chart envelope; msgpack on request."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request, Response

from labbook.errors import ValidationError
from labbook.limits import MAX_KEY_CHARS
from labbook.server.auth import require_project
from labbook.server.deps import Entity, PrincipalDep, Project, RunId, StoreDep
from labbook.server.schemas import EnvelopeOut, HistoryOut
from labbook.server.wire import array_json, respond, wants_msgpack
from labbook.store import KeySeries, RunRef

router = APIRouter(tags=["history"])
RUN = "/projects/{entity}/{project}/runs/{run}"
I64 = 2**63
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/msgpack": {"schema": {"type": "string", "format": "binary"}}}}
}


def _step_cursor(step: int) -> str:
    return base64.urlsafe_b64encode(f"s:{step}".encode()).decode().rstrip("=")


def _from_step_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("s:") and len(raw) < 24:
            return int(raw[2:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValidationError("invalid cursor")


def _values(a: np.ndarray, exact: bool) -> list[Any]:
    if exact:
        return a.tolist()
    return array_json(a)


def _columns(s: KeySeries) -> dict[str, Any]:
    """One key's series as raw little-endian arrays (``format=binary``): no per-point encoding.

    Values that are not numbers (text, media references) stay a list, with dtype "object".
    """
    kind = s.values.dtype.kind
    dtype = {"f": "float", "i": "int", "u": "int", "b": "bool"}.get(kind, "object")
    if dtype == "object":
        values: Any = s.values.tolist()
    else:
        values = np.ascontiguousarray(s.values, dtype=BINARY_DTYPES[dtype]).tobytes()
    return {
        "dtype": dtype,
        "steps": np.ascontiguousarray(s.steps, dtype="<i8").tobytes(),
        "values": values,
        "times": np.ascontiguousarray(s.times, dtype="<f8").tobytes(),
    }


BINARY_DTYPES = {"float": "<f8", "int": "<i8", "bool": "|b1"}
PAGE = 100_000
BINARY_PAGE = 1_000_000
Step = Annotated[int | None, Query(ge=-I64, lt=I64)]


@router.get(RUN + "/history", response_model=HistoryOut, responses=_RESPONSES)
def history(
    entity: Entity,
    project: Project,
    run: RunId,
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
    keys: Annotated[str | None, Query(description="comma-separated; all keys when omitted")] = None,
    step_min: Step = None,
    step_max: Step = None,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=BINARY_PAGE,
            description=f"steps per page (at most {PAGE:,}; {BINARY_PAGE:,} with format=binary)",
        ),
    ] = 10_000,
    cursor: str | None = None,
    fmt: Annotated[
        Literal["lists", "binary"],
        Query(alias="format", description="binary: arrays as raw little-endian bytes (msgpack)"),
    ] = "lists",
) -> Response:
    """Every point of the asked keys in ``[step_min, step_max]``, ``limit`` steps a page."""
    binary = fmt == "binary"
    exact = wants_msgpack(request)
    if binary and not exact:
        raise ValidationError("format=binary needs 'Accept: application/msgpack'")
    if limit > (BINARY_PAGE if binary else PAGE):
        raise ValidationError(f"limit is at most {PAGE:,} steps a page ({BINARY_PAGE:,} binary)")
    require_project(store, principal, entity, project, "read")
    wanted = [k for k in keys.split(",") if k] if keys else None
    lo = _from_step_cursor(cursor) if cursor else step_min
    series, next_step = store.history_page(
        RunRef(entity, project, run), wanted, limit=limit, step_min=lo, step_max=step_max
    )
    if binary:
        body = {k: _columns(s) for k, s in series.items()}
    else:
        body = {
            k: {
                "steps": s.steps.tolist(),
                "values": _values(s.values, exact),
                "times": _values(s.times, exact),
            }
            for k, s in series.items()
        }
    out = {
        "keys": body,
        "next_cursor": None if next_step is None else _step_cursor(next_step),
    }
    return respond(request, out)


@router.get(RUN + "/envelope", response_model=EnvelopeOut, responses=_RESPONSES)
def envelope(
    entity: Entity,
    project: Project,
    run: RunId,
    request: Request,
    store: StoreDep,
    principal: PrincipalDep,
    key: Annotated[str, Query(min_length=1, max_length=MAX_KEY_CHARS)],
    buckets: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    step_min: Step = None,
    step_max: Step = None,
) -> Response:
    """Per-bucket first/last/min/max/count of a numeric key (the chart query)."""
    require_project(store, principal, entity, project, "read")
    env = store.history_envelope(
        RunRef(entity, project, run), key, buckets, step_min=step_min, step_max=step_max
    )
    exact = wants_msgpack(request)
    out = {
        "step_min": int(env.step_min),
        "step_max": int(env.step_max),
        "buckets": int(env.buckets),
        "bucket_lo": env.bucket_lo.tolist(),
        "first_step": env.first_step.tolist(),
        "last_step": env.last_step.tolist(),
        "first": _values(env.first, exact),
        "last": _values(env.last, exact),
        "min": _values(env.min, exact),
        "max": _values(env.max, exact),
        "count": env.count.tolist(),
    }
    return respond(request, out)
