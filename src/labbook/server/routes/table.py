"""The dashboard's project-wide reads: the keys of a project's runs and its runs table in columns.

The table answers with an ``ETag`` made from the project's version (``Store.table_version``, one
aggregate) and the request, so a client polling with ``If-None-Match`` gets a 304 for the price
of that aggregate until some run changes.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from labbook.server.auth import require_project
from labbook.server.deps import Entity, PrincipalDep, Project, StoreDep
from labbook.server.schemas.table import (
    ColumnsOut,
    ConfigKeyOut,
    ImportanceOut,
    KeysOut,
    MetricKeyOut,
    ParamImportanceOut,
    SummaryKeyOut,
)
from labbook.server.wire import (
    etag_of,
    jsonable,
    not_modified,
    parse_filters,
    respond_tagged,
    split_list,
    wants_msgpack,
)
from labbook.store.table import DEFAULT_COLUMNS, MAX_COLUMNS, MAX_PARAMS, MAX_TABLE_RUNS

router = APIRouter(tags=["table"])
PROJECT = "/projects/{entity}/{project}"
MSGPACK_OR_304: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/msgpack": {"schema": {"type": "string", "format": "binary"}}}},
    304: {"description": "not modified (If-None-Match holds the current ETag)"},
}


@router.get(PROJECT + "/keys", response_model=KeysOut)
def keys(entity: Entity, project: Project, store: StoreDep, principal: PrincipalDep) -> KeysOut:
    """Config paths, summary keys and metric keys of the project's runs (column pickers; the
    config keys that vary are those with ``distinct > 1``)."""
    require_project(store, principal, entity, project, "read")
    found = store.project_keys(entity, project)
    return KeysOut(
        config=[ConfigKeyOut.of(k) for k in found.config],
        summary=[SummaryKeyOut.of(k) for k in found.summary],
        metrics=[MetricKeyOut(key=k.key, runs=k.runs) for k in found.metrics],
    )


def _json_column(values: list[Any]) -> list[Any]:
    """A column as the API's JSON writes it; most columns hold no non-finite float or nested
    value and go out as they are (a walk of 10,000 values per column costs more than the query)."""
    for v in values:
        t = type(v)
        if (t is float and (v != v or v in (float("inf"), float("-inf")))) or t in (dict, list):
            return list(jsonable(values))
    return values


@router.get(PROJECT + "/columns", response_model=ColumnsOut, responses=MSGPACK_OR_304)
def columns(
    request: Request,
    entity: Entity,
    project: Project,
    store: StoreDep,
    principal: PrincipalDep,
    select: Annotated[
        str | None,
        Query(
            description="comma-separated fields: run attributes (name, state, created_at, "
            "runtime, tags, user, ...), config.<path>, summary.<path>, "
            f"metrics.<key>.<last|min|max|count|last_step>; default {','.join(DEFAULT_COLUMNS)}"
        ),
    ] = None,
    filters: Annotated[str | None, Query(description="JSON filter (store vocabulary)")] = None,
    order: Annotated[
        str | None, Query(description="comma-separated fields, '-' prefix descending")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_TABLE_RUNS)] = MAX_TABLE_RUNS,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> Response:
    """The runs table in one request, column by column; ``ETag``/``If-None-Match`` → 304."""
    fields = split_list(select, "select", MAX_COLUMNS) or list(DEFAULT_COLUMNS)
    flt = parse_filters(filters)
    order_by = split_list(order, "order", 16) or None
    require_project(store, principal, entity, project, "read")
    exact = wants_msgpack(request)
    params = [fields, flt, order_by, limit, offset, exact]
    etag = etag_of("columns", store.table_version(entity, project), params)
    cached = not_modified(request, etag)
    if cached is not None:
        return cached
    table = store.runs_table(
        entity, project, fields, filters=flt, order=order_by, limit=limit, offset=offset
    )
    cols = table.columns if exact else {k: _json_column(v) for k, v in table.columns.items()}
    body = {"total": table.total, "ids": table.ids, "columns": cols, "warnings": table.warnings}
    return respond_tagged(request, body, etag, prepared=True)


@router.get(PROJECT + "/importance", response_model=ImportanceOut)
def importance(
    entity: Entity,
    project: Project,
    store: StoreDep,
    principal: PrincipalDep,
    metric: Annotated[
        str,
        Query(
            min_length=1,
            max_length=2048,
            description="a table field, e.g. summary.val_accuracy or metrics.loss.min",
        ),
    ],
    params: Annotated[
        str | None,
        Query(description="comma-separated config paths; default: the config keys that vary"),
    ] = None,
    filters: Annotated[str | None, Query(description="JSON filter (store vocabulary)")] = None,
) -> ImportanceOut:
    """Correlation and random-forest importance of config keys for a metric (server-side,
    numpy), most important first."""
    wanted = split_list(params, "params", MAX_PARAMS) or None
    flt = parse_filters(filters)
    require_project(store, principal, entity, project, "read")
    n, ranked = store.param_importance(entity, project, metric, wanted, filters=flt)
    return ImportanceOut(
        metric=metric,
        runs=n,
        params=[
            ParamImportanceOut(
                key=r.key,
                type=r.kind,  # type: ignore[arg-type]
                correlation=r.correlation,
                importance=r.importance,
            )
            for r in ranked
        ],
    )
