"""DELETE .../runs?ids=: several runs in one transaction, members only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from lbserver import Server, error
from seed import log_run

from labbook.store.schema import history_blocks, metric_keys, run_tags, runs

P = "/projects/alice/digits"


def _count(s: Server, table: sa.Table) -> int:
    with s.store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_bulk_delete(any_server: Server) -> None:
    s = any_server
    h = s.user("alice")
    for i in range(5):
        log_run(s, h, f"{P}/runs/r{i}", rows=[{"loss": 1.0}] * 3, tags=["a"])
    log_run(s, h, "/projects/alice/other/runs/r0", rows=[{"loss": 1.0}])
    r = s.delete(f"{P}/runs?ids=r3,nope,r1,r3", headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"deleted": ["r3", "r1"], "missing": ["nope"]}
    left = s.get(f"{P}/columns?select=name&order=name", headers=h).json()["ids"]
    assert left == ["r0", "r2", "r4"]
    error(s.get(f"{P}/runs/r1", headers=h), 404, "run_not_found")
    # history, keys and tags went with the runs; the other project's run is untouched
    assert _count(s, runs) == 4 and _count(s, run_tags) == 3
    assert _count(s, metric_keys) == 4 and _count(s, history_blocks) == 4
    assert s.delete(f"{P}/runs?ids=r1", headers=h).json() == {"deleted": [], "missing": ["r1"]}
    assert s.get("/projects/alice/other/runs/r0", headers=h).status_code == 200


def test_bulk_delete_permissions(server: Server) -> None:
    s = server
    h = s.user("alice")
    viewer, member = s.user("viewer"), s.user("member")
    s.team("lab", "alice", viewer="viewer", member="member")
    for i in range(3):
        log_run(s, h, f"/projects/lab/p/runs/r{i}")
    error(s.delete("/projects/lab/p/runs?ids=r0", headers=viewer), 403, "forbidden")
    error(s.delete("/projects/lab/p/runs?ids=r0", headers=s.user("bob")), 404)
    error(s.delete("/projects/lab/p/runs?ids=r0"), 404)
    r = s.delete("/projects/lab/p/runs?ids=r0,r1", headers=member)
    assert r.json() == {"deleted": ["r0", "r1"], "missing": []}
    s.put("/projects/lab/p", json={"visibility": "public"}, headers=h)
    error(s.delete("/projects/lab/p/runs?ids=r2"), 401, "unauthenticated")
    error(s.delete("/projects/lab/nope/runs?ids=r2", headers=member), 404)


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", "ids"),
        ("?ids=", "ids"),
        ("?ids=,,", "ids"),
        ("?ids=a%2Fb", "ids"),
        ("?ids=..", "ids"),
        ("?ids=" + ",".join(f"r{i}" for i in range(1001)), "ids"),
    ],
)
def test_bad_ids_are_422(server: Server, query: str, names: str) -> None:
    s = server
    h = s.user("alice")
    log_run(s, h, f"{P}/runs/r0")
    assert names in error(s.delete(f"{P}/runs{query}", headers=h), 422, "validation_error")
    assert s.get(f"{P}/runs/r0", headers=h).status_code == 200
