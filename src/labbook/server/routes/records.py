"""``POST .../records``: the SDK's HttpSink uploads journal records here (idempotent by seq)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from labbook import limits
from labbook import records as rk
from labbook.errors import ValidationError
from labbook.limits import MAX_ROW_KEYS, shorten
from labbook.records import gc_paused
from labbook.server.auth import require_project
from labbook.server.deps import Entity, PrincipalDep, Project, RunId, SettingsDep, StoreDep
from labbook.server.schemas import LastSeqOut
from labbook.server.wire import decode_body, read_body
from labbook.store import RunRef

router = APIRouter(tags=["runs"])
MAX_SEQ = 2**63 - 1

_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/msgpack": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["records"],
                    "properties": {"records": {"type": "array", "items": {"type": "object"}}},
                }
            },
        },
    }
}


def check_records(payload: Any) -> list[rk.Record]:
    """The batch's records after the shape and key limits every record must meet (422 naming the
    problem; ``labbook.limits``). The Store checks the rest (values, other kinds) as it ingests."""
    if not isinstance(payload, dict) or not isinstance(payload.get("records"), list):
        raise ValidationError("the body must be an object with a 'records' list")
    recs: list[rk.Record] = payload["records"]
    ok_keys: Any = None  # the key set of the last checked row: most rows repeat it
    for r in recs:
        if type(r) is not dict:
            raise ValidationError("every record must be an object")
        seq = r.get("seq")
        if type(seq) is not int or not 1 <= seq <= MAX_SEQ:
            raise ValidationError(f"record has no valid seq (a positive 64-bit integer): {seq!r}")
        if r.get("t") != rk.HISTORY:
            continue
        d = r.get("d")
        if type(d) is not dict:
            raise ValidationError(f"record seq {seq}: history 'd' must be an object")
        keys = d.keys()
        if keys == ok_keys:
            continue
        if len(d) > MAX_ROW_KEYS:
            raise ValidationError(
                f"record seq {seq} has {len(d)} keys; at most {MAX_ROW_KEYS} per row"
            )
        for k in keys:
            problem = limits.key_problem(k) if type(k) is str else "keys must be strings"
            if problem is not None:
                raise ValidationError(f"record seq {seq}: key {shorten(str(k))!r}: {problem}")
        ok_keys = keys
    return recs


def _decode(body: bytes, content_type: str) -> list[rk.Record]:
    # A batch is ~100k small dicts; the cyclic GC would re-scan them over and over while they
    # are built (several times the decode cost). None of them can form a cycle.
    with gc_paused():
        return check_records(decode_body(body, content_type))


@router.post(
    "/projects/{entity}/{project}/runs/{run}/records",
    response_model=LastSeqOut,
    openapi_extra=_BODY_DOC,
)
async def post_records(
    entity: Entity,
    project: Project,
    run: RunId,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    principal: PrincipalDep,
) -> LastSeqOut:
    """A batch of journal records, msgpack (the SDK) or JSON; gzip accepted."""
    await run_in_threadpool(require_project, store, principal, entity, project, "write")
    body = await read_body(request, settings.max_body_bytes)
    # Decoding a 10k-row batch is tens of ms of CPU: off the event loop, so other requests go on.
    records = await run_in_threadpool(_decode, body, request.headers.get("content-type", ""))
    try:
        last = await run_in_threadpool(store.ingest, RunRef(entity, project, run), records)
    except OverflowError as e:  # SQLite's driver raises it unwrapped for out-of-range integers
        raise ValidationError(f"a number in the batch is out of range: {e}") from None
    return LastSeqOut(last_seq=last)
