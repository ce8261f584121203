"""Runs-table filters, ordering and pagination."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Iterator
from typing import Any

import pytest

from databases import Database
from labbook.errors import ValidationError
from labbook.store import RunRef, Store

RUNS: dict[str, dict[str, Any]] = {
    # id: run fields, config, summary/history, state
    "a": {
        "name": "alpha",
        "tags": ["base", "gpu"],
        "group": "g1",
        "job_type": "train",
        "config": {"lr": 9, "opt": {"name": "adam", "beta": 0.9}, "flag": True, "s": "x"},
        "loss": [3.0, 1.0, 2.0],
        "exit": "finished",
    },
    "b": {
        "name": "bravo",
        "tags": ["gpu"],
        "group": "g1",
        "job_type": "eval",
        "config": {"lr": 10, "opt": {"name": "sgd"}, "flag": False, "s": "10"},
        "loss": [5.0, 4.0],
        "exit": "failed",
    },
    "c": {
        "name": "charlie",
        "tags": [],
        "group": "g2",
        "job_type": "train",
        "config": {"lr": 100.5, "opt": {"name": "adam"}, "s": 9},
        "loss": [math.nan, 0.5],
        "exit": None,
    },
    "d": {
        "name": "delta",
        "tags": ["base"],
        "group": None,
        "job_type": None,
        "config": {"lr": "auto", "flag": None},
        "loss": None,
        "exit": None,
    },
    "e": {
        "name": "echo",
        "tags": ["cpu"],
        "group": "g2",
        "job_type": "train",
        "config": {"lr": math.inf},
        "loss": [7.0],
        "exit": "crashed",
    },
}


@pytest.fixture(scope="module")
def runs(module_store_db: Database, new_journal: Any) -> Iterator[Store]:
    """Five runs of one project (and one elsewhere), shared by the module's read-only tests."""
    store = module_store_db.open()
    for i, (rid, spec) in enumerate(RUNS.items()):
        j = new_journal()
        j.t0 = 1_700_000_000.0 + i * 100  # created_at: a < b < c < d < e
        recs = [
            j.run(
                id=rid,
                name=spec["name"],
                tags=spec["tags"],
                group=spec["group"],
                job_type=spec["job_type"],
                config=spec["config"],
            )
        ]
        for step, v in enumerate(spec["loss"] or []):
            recs.append(j.h(step, {"loss": v, "epoch": step}))
        if rid == "c":
            recs.append(j.summary({"note": "hi", "best": {"acc": 0.9}}))
        if spec["exit"]:
            recs.append(j.exit(state=spec["exit"], code=0 if spec["exit"] == "finished" else 1))
        store.ingest(RunRef("alice", "digits", rid), recs)
    other = new_journal()
    store.ingest(RunRef("alice", "other", "z"), [other.run(id="z", config={"lr": 9})])
    yield store
    store.close()


def ids(store: Store, filters: Any = None, order: Any = None, **kw: Any) -> list[str]:
    return [
        r.ref.id for r in store.list_runs("alice", "digits", filters=filters, order=order, **kw)
    ]


def sids(store: Store, filters: Any) -> list[str]:
    return sorted(ids(store, filters))


def test_default_order_is_newest_first(runs: Store) -> None:
    assert ids(runs) == ["e", "d", "c", "b", "a"]
    assert ids(runs, order="created_at") == ["a", "b", "c", "d", "e"]
    assert ids(runs, order="+created_at") == ["a", "b", "c", "d", "e"]


@pytest.mark.parametrize(
    ("filters", "want"),
    [
        ({"config.lr": 9}, ["a"]),
        ({"config.lr": {"$gt": 9}}, ["b", "c", "e"]),  # numbers as numbers: 10 > 9, inf too
        ({"config.lr": {"$gte": 9, "$lt": 100}}, ["a", "b"]),
        ({"config.lr": {"$lte": 10}}, ["a", "b"]),
        ({"config.lr": {"$ne": 9}}, ["b", "c", "d", "e"]),  # $ne matches other types too
        ({"config.lr": "auto"}, ["d"]),
        ({"config.lr": {"$in": [10, "auto"]}}, ["b", "d"]),
        ({"config.lr": {"$nin": [10, "auto"]}}, ["a", "c", "e"]),
        ({"config.lr": {"$gt": "a"}}, ["d"]),  # strings compare with strings only
        ({"config.s": {"$gt": 5}}, ["c"]),  # "10" is a string, not a number
        ({"config.s": "10"}, ["b"]),
        ({"config.opt.name": "adam"}, ["a", "c"]),
        ({"config.opt.beta": {"$exists": True}}, ["a"]),
        ({"config.opt": {"$exists": False}}, ["d", "e"]),
        ({"config.flag": True}, ["a"]),
        ({"config.flag": False}, ["b"]),
        ({"config.flag": None}, ["c", "d", "e"]),  # null or missing
        ({"config.flag": {"$exists": True}}, ["a", "b", "d"]),
        ({"config.flag": {"$ne": None}}, ["a", "b"]),
        ({"summary.loss": {"$lt": 2.5}}, ["a", "c"]),
        ({"summary_metrics.loss": {"$lt": 2.0}}, ["c"]),
        ({"summary.loss": {"$exists": False}}, ["d"]),
        ({"summary.note": "hi"}, ["c"]),
        ({"summary.best.acc": {"$gte": 0.9}}, ["c"]),
        ({"metrics.loss.min": {"$lt": 1.5}}, ["a", "c"]),  # NaN ignored: c's min is 0.5
        ({"metrics.loss.max": {"$gte": 5}}, ["b", "e"]),
        ({"metrics.loss.last": 2.0}, ["a"]),
        ({"metrics.loss.count": {"$gte": 2}}, ["a", "b", "c"]),
        ({"metrics.epoch.last_step": 2}, ["a"]),
        ({"metrics.loss.min": {"$exists": False}}, ["d"]),
        ({"tags": "gpu"}, ["a", "b"]),
        ({"tags": {"$in": ["cpu", "base"]}}, ["a", "d", "e"]),
        ({"tags": {"$nin": ["gpu"]}}, ["c", "d", "e"]),
        ({"tags": {"$ne": "base"}}, ["b", "c", "e"]),
        ({"tags": {"$exists": False}}, ["c"]),
        ({"name": "bravo"}, ["b"]),
        ({"display_name": {"$in": ["alpha", "echo"]}}, ["a", "e"]),
        ({"name": {"$gt": "c"}}, ["c", "d", "e"]),
        ({"group": "g2"}, ["c", "e"]),
        ({"group": None}, ["d"]),
        ({"group": {"$ne": "g1"}}, ["c", "d", "e"]),
        ({"job_type": "train"}, ["a", "c", "e"]),
        ({"id": "b"}, ["b"]),
        ({"state": "finished"}, ["a"]),
        ({"state": {"$in": ["failed", "crashed"]}}, ["b", "e"]),
        ({"state": "running"}, ["c", "d"]),
        ({"created_at": {"$gt": 1_700_000_150}}, ["c", "d", "e"]),
        ({"created_at": {"$lt": "2023-11-14T22:15:01Z"}}, ["a", "b"]),
        ({"created_at": {"$lte": dt.datetime.fromtimestamp(1_700_000_100, dt.UTC)}}, ["a", "b"]),
        ({"$or": [{"config.lr": 9}, {"tags": "cpu"}]}, ["a", "e"]),
        (
            {"$and": [{"group": "g1"}, {"$or": [{"job_type": "eval"}, {"config.flag": True}]}]},
            ["a", "b"],
        ),
        ({"group": "g1", "job_type": "train"}, ["a"]),
        ({}, ["a", "b", "c", "d", "e"]),
    ],
)
def test_filters(runs: Store, filters: dict[str, Any], want: list[str]) -> None:
    assert sids(runs, filters) == want


def test_state_filter_uses_heartbeat(module_store_db: Database, runs: Store) -> None:
    time.sleep(0.25)
    hasty = module_store_db.bare(crash_after=0.2)
    try:
        assert sorted(
            r.ref.id for r in hasty.list_runs("alice", "digits", filters={"state": "crashed"})
        ) == ["c", "d", "e"]
        assert hasty.list_runs("alice", "digits", filters={"state": "running"}) == []
        got = [(r.ref.id, r.state) for r in hasty.list_runs("alice", "digits", order="state")]
        assert got == [
            ("c", "crashed"),
            ("d", "crashed"),
            ("e", "crashed"),
            ("b", "failed"),
            ("a", "finished"),
        ]
    finally:
        hasty.close()


@pytest.mark.parametrize(
    ("order", "want"),
    [
        ("config.lr", ["a", "b", "c", "e", "d"]),  # numbers (inf last of them), then strings
        ("-config.lr", ["e", "c", "b", "a", "d"]),
        ("summary.loss", ["c", "a", "b", "e", "d"]),  # missing last either way
        ("-summary.loss", ["e", "b", "a", "c", "d"]),
        ("metrics.loss.min", ["c", "a", "b", "e", "d"]),
        ("-metrics.loss.count", ["a", "b", "c", "e", "d"]),
        ("name", ["a", "b", "c", "d", "e"]),
        ("-name", ["e", "d", "c", "b", "a"]),
        (["group", "-created_at"], ["b", "a", "e", "c", "d"]),
        (["job_type", "name"], ["b", "a", "c", "e", "d"]),
        ("state", ["e", "b", "a", "c", "d"]),  # crashed, failed, finished, running x2
        ("config.opt.name", ["a", "c", "b", "d", "e"]),
    ],
)
def test_order(runs: Store, order: Any, want: list[str]) -> None:
    assert ids(runs, order=order) == want


def test_ties_break_on_id(store: Store, new_journal: Any) -> None:
    for rid in ("r3", "r1", "r2"):
        j = new_journal()
        store.ingest(RunRef("alice", "digits", rid), [j.run(id=rid, config={"same": 1})])
    assert ids(store, order="config.same") == ["r1", "r2", "r3"]
    assert ids(store, order="-config.same") == ["r1", "r2", "r3"]


def test_pagination(runs: Store) -> None:
    pages = [ids(runs, order="name", limit=2, offset=o) for o in (0, 2, 4, 6)]
    assert pages == [["a", "b"], ["c", "d"], ["e"], []]
    assert ids(runs, filters={"tags": "gpu"}, order="-name", limit=1, offset=1) == ["a"]


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"filters": {"colour": 1}}, "colour"),
        ({"filters": {"config.lr": {"$regex": "x"}}}, "$regex"),
        ({"filters": {"$nor": []}}, "$nor"),
        ({"filters": {"$or": {"a": 1}}}, "$or"),
        ({"filters": {"config.": 1}}, "config."),
        ({"filters": {"metrics.loss.median": 1}}, "metrics.loss.median"),
        ({"filters": {"metrics.loss": 1}}, "metrics.loss"),
        ({"filters": {"config.lr": {"$gt": None}}}, "config.lr"),
        ({"filters": {"config.lr": {"$gt": True}}}, "config.lr"),
        ({"filters": {"config.lr": {"$in": 3}}}, "config.lr"),
        ({"filters": {"config.lr": [1, 2]}}, "config.lr"),
        ({"filters": {"config.lr": {"a": 1}}}, "config.lr"),
        ({"filters": {"name": 3}}, "name"),
        ({"filters": {"created_at": {"$gt": "yesterday"}}}, "created_at"),
        ({"filters": {"tags": {"$gt": "a"}}}, "tags"),
        ({"filters": {"state": {"$exists": "yes"}}}, "state"),
        ({"filters": "state=finished"}, "filters"),
        ({"order": "nonsense"}, "nonsense"),
        ({"order": ["-name", "tags"]}, "tags"),
        ({"order": "-"}, "'-'"),
        ({"filters": {"config.x" + ".x" * 40: 1}}, "deeper than the 32"),
        ({"filters": {"config." + ".".join("k" * 100): 1}}, "100 levels deep"),
        ({"order": "-summary." + ".".join("k" * 99)}, "'summary.k.k."),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
    ],
)
def test_bad_queries_name_the_problem(runs: Store, kwargs: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValidationError) as e:
        runs.list_runs("alice", "digits", **kwargs)
    assert needle in str(e.value)


def test_run_info_fields(runs: Store) -> None:
    (c,) = runs.list_runs("alice", "digits", filters={"id": "c"})
    assert c.ref == RunRef("alice", "digits", "c")
    assert (c.name, c.group, c.job_type, c.tags, c.state) == (
        "charlie",
        "g2",
        "train",
        [],
        "running",
    )
    assert c.config == {"lr": 100.5, "opt": {"name": "adam"}, "s": 9}
    assert c.summary == {"loss": 0.5, "epoch": 1, "note": "hi", "best": {"acc": 0.9}}
    assert c.created_at == dt.datetime.fromtimestamp(1_700_000_200, dt.UTC)
    assert c.heartbeat_at is not None and c.heartbeat_at.tzinfo is not None
    assert runs.get_run(c.ref) == c
