"""Chart envelopes of many runs x keys in one request (the dashboard's panels).

Answers with an ``ETag`` from the project's version and the request, like the runs table, so a
chart that polls a live run with ``If-None-Match`` costs one aggregate until something changed;
``step_min=<last step + 1>`` then asks only for the new steps.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from labbook.errors import ValidationError
from labbook.limits import MAX_KEY_CHARS
from labbook.server.auth import require_project
from labbook.server.deps import Entity, PrincipalDep, Project, StoreDep
from labbook.server.routes.table import MSGPACK_OR_304
from labbook.server.schemas.envelopes import EnvelopesOut
from labbook.server.wire import (
    array_json,
    check_name,
    etag_of,
    not_modified,
    parse_filters,
    respond_tagged,
    split_list,
    wants_msgpack,
)
from labbook.store.charts import DEFAULT_RUNS, MAX_KEYS, MAX_RUNS, SeriesEnvelope

router = APIRouter(tags=["charts"])
I64 = 2**63
Step = Annotated[int | None, Query(ge=-I64, lt=I64)]


def _series(s: SeriesEnvelope, exact: bool) -> dict[str, Any]:
    env = s.envelope

    def floats(a: Any) -> list[Any]:
        return a.tolist() if exact else array_json(a)

    return {
        "run": s.run,
        "key": s.key,
        "step_min": int(env.step_min),
        "step_max": int(env.step_max),
        "buckets": int(env.buckets),
        "bucket_lo": env.bucket_lo.tolist(),
        "first_step": env.first_step.tolist(),
        "last_step": env.last_step.tolist(),
        "first": floats(env.first),
        "last": floats(env.last),
        "min": floats(env.min),
        "max": floats(env.max),
        "count": env.count.tolist(),
        "first_time": floats(s.first_time),
        "last_time": floats(s.last_time),
        "rt_first": floats(s.rt_first),
        "rt_last": floats(s.rt_last),
    }


@router.get(
    "/projects/{entity}/{project}/envelopes", response_model=EnvelopesOut, responses=MSGPACK_OR_304
)
def envelopes(
    request: Request,
    entity: Entity,
    project: Project,
    store: StoreDep,
    principal: PrincipalDep,
    keys: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_KEYS * (MAX_KEY_CHARS + 1),
            description=f"comma-separated metric keys (at most {MAX_KEYS})",
        ),
    ],
    runs: Annotated[
        str | None,
        Query(description=f"comma-separated run ids (at most {MAX_RUNS}); else filters/order"),
    ] = None,
    filters: Annotated[str | None, Query(description="JSON filter (store vocabulary)")] = None,
    order: Annotated[
        str | None, Query(description="comma-separated fields, '-' prefix descending")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_RUNS, description="the first N runs of filters/order")
    ] = DEFAULT_RUNS,
    buckets: Annotated[int, Query(ge=1, le=100_000)] = 1000,
    step_min: Step = None,
    step_max: Step = None,
) -> Response:
    """Envelopes (per-bucket first/last/min/max/count and times) of runs x keys."""
    wanted = split_list(keys, "keys", MAX_KEYS)
    if not wanted:
        raise ValidationError("keys: name at least one metric key")
    run_ids = split_list(runs, "runs", MAX_RUNS) or None if runs is not None else None
    if runs is not None and not run_ids:
        raise ValidationError("runs: name at least one run id (or leave runs out)")
    for r in run_ids or ():
        try:
            check_name("run id", r)
        except ValidationError as e:
            raise ValidationError(f"runs: {e.message}") from None
    flt = parse_filters(filters)
    order_by = split_list(order, "order", 16) or None
    require_project(store, principal, entity, project, "read")
    exact = wants_msgpack(request)
    params = [wanted, run_ids, flt, order_by, limit, buckets, step_min, step_max, exact]
    etag = etag_of("envelopes", store.table_version(entity, project), params)
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    series, total = store.run_envelopes(
        entity,
        project,
        wanted,
        run_ids=run_ids,
        filters=flt,
        order=order_by,
        limit=limit,
        buckets=buckets,
        step_min=step_min,
        step_max=step_max,
    )
    body = {"series": [_series(s, exact) for s in series], "runs_total": total}
    return respond_tagged(request, body, etag, prepared=True)
