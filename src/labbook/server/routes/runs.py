"""Runs: list (filter/order), create or resume, read (conditional), patch, delete (one or many),
heartbeat, metric keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel

from labbook.errors import NotFoundError, ValidationError
from labbook.server.auth import HIDDEN, require_project
from labbook.server.deps import Entity, PrincipalDep, Project, RunId, StoreDep
from labbook.server.schemas import (
    MetricOut,
    RunOut,
    RunPage,
    RunPatchIn,
    RunUpsertIn,
    RunUpsertOut,
)
from labbook.server.schemas.table import BulkDeleteOut
from labbook.server.wire import (
    check_name,
    decode_cursor,
    encode_cursor,
    etag_of,
    not_modified,
    parse_filters,
    respond,
    respond_tagged,
    split_list,
    wants_msgpack,
)
from labbook.store import RunRef

router = APIRouter(tags=["runs"])


def _answer(request: Request, model: BaseModel) -> Response:
    """The model as JSON, or as msgpack when asked: JSON cannot carry NaN/±Inf in a summary or
    config exactly (it spells them as strings), msgpack keeps the float64. Encoded here, not by
    FastAPI: its JSON mode writes a NaN in a config as null."""
    return respond(request, model.model_dump())


RUN = "/projects/{entity}/{project}/runs/{run}"


@router.get("/projects/{entity}/{project}/runs", response_model=RunPage)
def list_runs(
    request: Request,
    entity: Entity,
    project: Project,
    store: StoreDep,
    principal: PrincipalDep,
    filters: Annotated[str | None, Query(description="JSON filter (store vocabulary)")] = None,
    order: Annotated[str | None, Query(description="field, '-' prefix descending")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    cursor: str | None = None,
) -> RunPage | Response:
    if require_project(store, principal, entity, project, "read") is None:
        raise NotFoundError(HIDDEN)  # pragma: no cover - read never passes for a missing one
    flt = parse_filters(filters)
    offset = decode_cursor(cursor)
    found = store.list_runs(
        entity, project, filters=flt, order=order or None, limit=limit + 1, offset=offset
    )
    more = len(found) > limit
    page = RunPage(
        items=[RunOut.of(r) for r in found[:limit]],
        next_cursor=encode_cursor(offset + limit) if more else None,
        warnings=store.absent_fields(entity, project, filters=flt, order=order or None)
        if offset == 0
        else [],
    )
    return _answer(request, page)


@router.put(RUN, response_model=RunUpsertOut)
def put_run(
    request: Request,
    entity: Entity,
    project: Project,
    run: RunId,
    store: StoreDep,
    principal: PrincipalDep,
    body: Annotated[RunUpsertIn | None, Body()] = None,
) -> RunUpsertOut | Response:
    """Create the run (and its project, private) or resume it; optional name/tags/notes."""
    require_project(store, principal, entity, project, "write")
    ref = RunRef(entity, project, run)
    info, existed = store.ensure_run(ref)
    if body is not None and (body.name, body.tags, body.notes) != (None, None, None):
        info = store.update_run(ref, name=body.name, tags=body.tags, notes=body.notes)
    out = RunUpsertOut(run=RunOut.of(info), last_seq=info.last_seq, resumed=existed)
    return _answer(request, out)


@router.get(RUN, response_model=RunOut, responses={304: {"description": "not modified"}})
def get_run(
    request: Request,
    entity: Entity,
    project: Project,
    run: RunId,
    store: StoreDep,
    principal: PrincipalDep,
) -> Response:
    """The run; ``ETag`` over its content, so ``If-None-Match`` polling answers 304 until the
    run changes (its state turning crashed included)."""
    require_project(store, principal, entity, project, "read")
    body = RunOut.of(store.get_run(RunRef(entity, project, run))).model_dump()
    etag = etag_of("run", wants_msgpack(request), body)
    return not_modified(request, etag) or respond_tagged(request, body, etag)


@router.patch(RUN, response_model=RunOut)
def patch_run(
    request: Request,
    entity: Entity,
    project: Project,
    run: RunId,
    body: RunPatchIn,
    store: StoreDep,
    principal: PrincipalDep,
) -> RunOut | Response:
    require_project(store, principal, entity, project, "write")
    ref = RunRef(entity, project, run)
    out = RunOut.of(
        store.update_run(
            ref,
            name=body.name,
            tags=body.tags,
            notes=body.notes,
            state=body.state,
            config=body.config,
            group=body.group,
            job_type=body.job_type,
        )
    )
    return _answer(request, out)


@router.delete(RUN, status_code=204)
def delete_run(
    entity: Entity, project: Project, run: RunId, store: StoreDep, principal: PrincipalDep
) -> Response:
    """Delete the run with its history and file records (members; 404 to outsiders)."""
    require_project(store, principal, entity, project, "write")
    store.delete_run(RunRef(entity, project, run))
    return Response(status_code=204)


MAX_DELETE = 1000


@router.delete("/projects/{entity}/{project}/runs", response_model=BulkDeleteOut)
def delete_runs(
    entity: Entity,
    project: Project,
    store: StoreDep,
    principal: PrincipalDep,
    ids: Annotated[str, Query(description=f"comma-separated run ids, at most {MAX_DELETE}")],
) -> BulkDeleteOut:
    """Delete several runs in one transaction, each as the single delete does (members)."""
    wanted = split_list(ids, "ids", MAX_DELETE)
    if not wanted:
        raise ValidationError("ids: name at least one run id")
    for i in wanted:
        try:
            check_name("run id", i)
        except ValidationError as e:
            raise ValidationError(f"ids: {e.message}") from None
    require_project(store, principal, entity, project, "write")
    deleted, missing = store.delete_runs(entity, project, wanted)
    return BulkDeleteOut(deleted=deleted, missing=missing)


@router.post(RUN + "/heartbeat", status_code=204)
def heartbeat(
    entity: Entity, project: Project, run: RunId, store: StoreDep, principal: PrincipalDep
) -> Response:
    require_project(store, principal, entity, project, "write")
    store.touch_run(RunRef(entity, project, run))
    return Response(status_code=204)


@router.get(RUN + "/metrics", response_model=list[MetricOut])
def metrics(
    entity: Entity, project: Project, run: RunId, store: StoreDep, principal: PrincipalDep
) -> list[MetricOut]:
    require_project(store, principal, entity, project, "read")
    return [MetricOut.of(m) for m in store.metric_keys(RunRef(entity, project, run))]
