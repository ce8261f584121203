"""The lineage graph: runs and artifact versions joined by ``artifact_usage``, walked breadth
first from one node.

Edges point the way data flows (a version -> the run that used it, a run -> the version it
logged). ``both`` walks upstream and downstream separately from the root rather than every edge
from every node: a dataset used by a thousand runs is one hop from each, and walking "both" from
each of them would pull in every sibling's outputs, which is not this root's lineage. Nodes in
projects the caller may not read are not walked through and not shown.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import Connection, select

from labbook.errors import ValidationError
from labbook.store.artifacts import LOGGED, USED, _chunks, load_versions, versions_select
from labbook.store.models import LineageGraph, RunRef, VersionInfo
from labbook.store.schema import artifact_usage, artifact_versions, projects, runs

MAX_DEPTH = 10
MAX_NODES = 500
DIRECTIONS = ("upstream", "downstream", "both")

Node = tuple[str, int]  # ("run", run pk) | ("artifact", version id)
Readable = Callable[[str, str], bool]


def run_node_id(entity: str, project: str, run_id: str) -> str:
    return f"run:{entity}/{project}/{run_id}"


def version_node_id(v: VersionInfo) -> str:
    return f"artifact:{v.entity}/{v.project}/{v.name}:v{v.index}"


class LineageMixin:
    _read: Callable[[], AbstractContextManager[Connection]]
    _run_pk: Callable[[Connection, RunRef], int]

    def run_lineage(
        self, ref: RunRef, depth: int = 3, direction: str = "both", readable: Readable | None = None
    ) -> LineageGraph:
        with self._read() as conn:
            return _walk(conn, ("run", self._run_pk(conn, ref)), depth, direction, readable)

    def version_lineage(
        self,
        version: VersionInfo,
        depth: int = 3,
        direction: str = "both",
        readable: Readable | None = None,
    ) -> LineageGraph:
        with self._read() as conn:
            return _walk(conn, ("artifact", version.id), depth, direction, readable)


def _neighbours(conn: Connection, frontier: Sequence[Node], up: bool) -> list[tuple[Node, Node]]:
    """Edges ``(source, target)`` one hop from the frontier, in the walk's direction."""
    run_pks = [n for k, n in frontier if k == "run"]
    vids = [n for k, n in frontier if k == "artifact"]
    u = artifact_usage.c
    found: list[tuple[Node, Node]] = []
    # upstream of a run: what it used; downstream of a run: what it logged
    for part in _chunks(run_pks):
        kind = USED if up else LOGGED
        for pk, vid in conn.execute(
            select(u.run_pk, u.version_id).where(u.run_pk.in_(part), u.kind == kind)
        ):
            r, a = ("run", int(pk)), ("artifact", int(vid))
            found.append((a, r) if up else (r, a))
    # upstream of a version: the run that logged it; downstream: the runs that used it
    for part in _chunks(vids):
        kind = LOGGED if up else USED
        for pk, vid in conn.execute(
            select(u.run_pk, u.version_id).where(u.version_id.in_(part), u.kind == kind)
        ):
            r, a = ("run", int(pk)), ("artifact", int(vid))
            found.append((r, a) if up else (a, r))
    return found


def _describe(
    conn: Connection, nodes: Sequence[Node]
) -> dict[Node, tuple[tuple[str, str], dict[str, Any]]]:
    """Each node's project and its wire form."""
    out: dict[Node, tuple[tuple[str, str], dict[str, Any]]] = {}
    pks = [n for k, n in nodes if k == "run"]
    for part in _chunks(pks):
        q = (
            select(
                runs.c.pk,
                projects.c.entity,
                projects.c.name,
                runs.c.run_id,
                runs.c.name.label("rn"),
                runs.c.state,
            )
            .select_from(runs.join(projects, projects.c.id == runs.c.project_id))
            .where(runs.c.pk.in_(part))
        )
        for pk, e, p, rid, name, state in conn.execute(q):
            out[("run", int(pk))] = (
                (e, p),
                {
                    "id": run_node_id(e, p, rid),
                    "kind": "run",
                    "entity": e,
                    "project": p,
                    "run_id": rid,
                    "name": name,
                    "state": state,
                },
            )
    vids = [n for k, n in nodes if k == "artifact"]
    for part in _chunks(vids):
        rows = conn.execute(versions_select().where(artifact_versions.c.id.in_(part))).all()
        for v in load_versions(conn, rows):
            out[("artifact", v.id)] = (
                (v.entity, v.project),
                {
                    "id": version_node_id(v),
                    "kind": "artifact",
                    "entity": v.entity,
                    "project": v.project,
                    "name": v.name,
                    "type": v.type,
                    "version": v.version,
                    "index": v.index,
                    "digest": v.digest,
                    "aliases": v.aliases,
                },
            )
    return out


def _walk(
    conn: Connection, root: Node, depth: int, direction: str, readable: Readable | None
) -> LineageGraph:
    if not 1 <= depth <= MAX_DEPTH:
        raise ValidationError(f"depth must be 1-{MAX_DEPTH}")
    if direction not in DIRECTIONS:
        raise ValidationError(f"direction must be one of {', '.join(DIRECTIONS)}")
    info = _describe(conn, [root])
    seen: dict[Node, dict[str, Any]] = {root: info[root][1]}
    edges: set[tuple[Node, Node]] = set()
    truncated = False
    for up in (True, False):
        if direction == ("downstream" if up else "upstream"):
            continue
        frontier = [root]
        for _ in range(depth):
            if not frontier:
                break
            hops = _neighbours(conn, frontier, up)
            new = sorted({n for e in hops for n in e if n not in seen})
            described = _describe(conn, new)
            nxt = []
            for n in new:
                if n not in described:
                    continue
                (e, p), wire = described[n]
                if readable is not None and not readable(e, p):
                    continue
                if len(seen) >= MAX_NODES:
                    truncated = True
                    break
                seen[n] = wire
                nxt.append(n)
            edges.update((a, b) for a, b in hops if a in seen and b in seen)
            frontier = nxt
    return LineageGraph(
        root=seen[root]["id"],
        nodes=list(seen.values()),
        edges=[{"source": seen[a]["id"], "target": seen[b]["id"]} for a, b in sorted(edges)],
        truncated=truncated,
    )
