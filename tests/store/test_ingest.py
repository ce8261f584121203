"""The write path's rules: idempotency by seq, run creation, and every record kind."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Any

import numpy as np
import pytest

from databases import Database
from labbook.errors import ProjectNotFound, RunNotFound, ValidationError
from labbook.store import RunRef, Store


def snapshot(store: Store, ref: RunRef) -> dict[str, Any]:
    """Everything a re-sent batch must leave unchanged (heartbeat aside)."""
    info = store.get_run(ref)
    run = {k: v for k, v in vars(info).items() if k not in ("heartbeat_at",)}
    run["summary"] = repr(sorted(info.summary.items()))  # repr: NaN == NaN
    hist = {
        k: (s.steps.tolist(), repr(s.values.tolist()), s.values.dtype.str, s.times.tolist())
        for k, s in store.history(ref).items()
    }
    files = [(f.path, f.sha256, f.size) for f in store.files(ref)]
    return {"run": run, "keys": repr(store.metric_keys(ref)), "history": hist, "files": files}


def batch(journal: Any, n: int = 50) -> list[dict[str, Any]]:
    recs = [journal.run(config={"lr": 0.1})]
    recs += journal.rows(n, loss=lambda i: 1.0 / (i + 1), acc=lambda i: i, txt=lambda i: f"t{i}")
    recs.append(journal.summary({"best": 3}))
    recs.append(journal.file("model.h5", "ab" * 32, 10))
    return recs


def test_same_batch_twice_changes_nothing(
    store: Store, ref: RunRef, journal: Any, blocks: Any
) -> None:
    recs = batch(journal)
    assert store.ingest(ref, recs) == len(recs)
    before, nblocks = snapshot(store, ref), blocks(store, ref)
    assert store.ingest(ref, recs) == len(recs)
    assert snapshot(store, ref) == before
    assert blocks(store, ref) == nblocks
    assert store.history(ref)["loss"].steps.tolist() == list(range(50))


def test_overlapping_batches_equal_one_batch(store: Store, journal: Any, new_journal: Any) -> None:
    recs = batch(journal, 100)
    a, b = RunRef("alice", "digits", "a"), RunRef("alice", "digits", "b")
    store.ingest(a, recs)
    store.ingest(b, recs[:60])
    store.ingest(b, recs[40:80])
    store.ingest(b, recs[70:])
    store.ingest(b, recs[10:30])  # entirely old
    sa, sb = snapshot(store, a), snapshot(store, b)
    sa["run"].pop("ref"), sb["run"].pop("ref")
    sa["run"].pop("created_at"), sb["run"].pop("created_at")
    assert sa == sb
    assert store.last_seq(b) == len(recs)


def test_unsorted_and_duplicated_seqs_in_one_batch(store: Store, ref: RunRef, journal: Any) -> None:
    recs = [journal.run(), *journal.rows(10, x=float)]
    shuffled = [recs[i] for i in (3, 0, 1, 2, 5, 4, 9, 10, 7, 6, 8)] + [recs[4], recs[2]]
    assert store.ingest(ref, shuffled) == 11
    s = store.history(ref)["x"]
    assert s.steps.tolist() == list(range(10))
    assert s.values.tolist() == [float(i) for i in range(10)]
    assert store.metric_keys(ref)[0].count == 10


def test_last_seq(store: Store, ref: RunRef, journal: Any) -> None:
    assert store.last_seq(ref) == 0
    assert store.ingest(ref, []) == 0
    with pytest.raises(RunNotFound):
        store.get_run(ref)  # an empty batch creates nothing
    recs = batch(journal, 5)
    assert store.ingest(ref, recs[:3]) == 3
    assert store.last_seq(ref) == 3
    assert store.ingest(ref, []) == 3
    assert store.ingest(ref, recs[1:2]) == 3
    assert store.get_run(ref).last_seq == 3


def test_run_created_mid_journal_then_filled(store: Store, ref: RunRef, new_journal: Any) -> None:
    j = new_journal(start=500)
    store.ingest(ref, j.rows(3, loss=float))
    info = store.get_run(ref)
    assert (info.name, info.state, info.config, info.tags, info.last_seq) == (
        None,
        "running",
        {},
        [],
        502,
    )
    assert info.summary == {"loss": 2.0}
    assert store.count_runs("alice", "digits") == 1
    store.ingest(
        ref,
        [j.run(name="resumed", tags=["x"], config={"a": 1}, job_type="eval", group="g", notes="n")],
    )
    info = store.get_run(ref)
    assert (info.name, info.tags, info.config, info.job_type, info.group, info.notes) == (
        "resumed",
        ["x"],
        {"a": 1},
        "eval",
        "g",
        "n",
    )
    assert info.summary == {"loss": 2.0}
    assert info.started_at == dt.datetime.fromtimestamp(j.t0, dt.UTC)
    # A run synced after the fact sorts by when it started, not when it arrived.
    assert info.created_at == info.started_at


def test_summary_rules(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(
        ref,
        [
            journal.run(),
            journal.h(0, {"loss": 1.0, "acc": 0.1}),
            journal.summary({"loss": 0.5, "best": 7}),  # explicit write
            journal.h(1, {"acc": 0.2}),  # does not touch loss
        ],
    )
    assert store.get_run(ref).summary == {"loss": 0.5, "acc": 0.2, "best": 7}
    store.ingest(ref, [journal.h(2, {"loss": 0.9})])  # logging loss again overrides the write
    assert store.get_run(ref).summary == {"loss": 0.9, "acc": 0.2, "best": 7}
    store.ingest(ref, [journal.summary(delete=["best", "nope"]), journal.h(3, {"acc": math.nan})])
    s = store.get_run(ref).summary
    assert set(s) == {"loss", "acc"} and math.isnan(s["acc"])
    # Mixed in one batch, order by seq decides; a later row may log the deleted key again.
    store.ingest(
        ref,
        [
            journal.summary({"x": 1}, delete=["loss"]),
            journal.h(4, {"x": 2}),
            journal.summary({"y": math.inf}),
            journal.h(5, {"loss": "nan?"}),
        ],
    )
    assert store.get_run(ref).summary == {
        "acc": pytest.approx(math.nan, nan_ok=True),
        "x": 2,
        "y": math.inf,
        "loss": "nan?",
    }


def test_summary_keeps_logged_types(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(
        ref,
        [
            journal.h(
                0,
                {
                    "i": 3,
                    "f": 2.5,
                    "b": True,
                    "s": "x",
                    "n": None,
                    "o": {"_type": "image", "path": "a.png"},
                },
            )
        ],
    )
    s = store.get_run(ref).summary
    assert s == {
        "i": 3,
        "f": 2.5,
        "b": True,
        "s": "x",
        "n": None,
        "o": {"_type": "image", "path": "a.png"},
    }
    assert type(s["i"]) is int and type(s["b"]) is bool


def test_config_meta_update_file(store: Store, ref: RunRef, journal: Any) -> None:
    store.ingest(
        ref,
        [
            journal.run(config={"lr": 0.1, "opt": {"name": "adam", "beta": 0.9}}, tags=["a"]),
            journal.config({"opt": {"name": "sgd"}, "epochs": 3}),
            journal.meta({"host": "h1", "python": "3.11"}),
            journal.meta({"host": "h2", "git": {"commit": "abc"}}),
            journal.update(name="renamed", tags=["b", "c"], notes="hello"),
            journal.file("a/model.h5", "1" * 64, 5),
            journal.file("b.txt", "2" * 64, 6),
        ],
    )
    info = store.get_run(ref)
    assert info.config == {"lr": 0.1, "opt": {"name": "sgd"}, "epochs": 3}  # top-level update
    assert info.metadata == {"host": "h2", "python": "3.11", "git": {"commit": "abc"}}
    assert (info.name, info.tags, info.notes) == ("renamed", ["b", "c"], "hello")
    store.ingest(ref, [journal.file("a/model.h5", "3" * 64, 7), journal.update(group="grp")])
    got = [(f.path, f.sha256, f.size) for f in store.files(ref)]
    assert got == [("a/model.h5", "3" * 64, 7), ("b.txt", "2" * 64, 6)]
    assert all(f.updated_at.tzinfo is not None for f in store.files(ref))
    info = store.get_run(ref)
    assert (info.group, info.name) == ("grp", "renamed")
    # Tag filters follow updates.
    assert [r.ref.id for r in store.list_runs("alice", "digits", filters={"tags": "b"})] == ["run1"]
    assert store.list_runs("alice", "digits", filters={"tags": "a"}) == []


def test_resumed_run_record_merges_config_and_reopens(
    store: Store, ref: RunRef, journal: Any
) -> None:
    store.ingest(ref, [journal.run(config={"a": 1, "b": 2}), journal.exit(code=0)])
    first = store.get_run(ref)
    assert (first.state, first.exit_code) == ("finished", 0)
    store.ingest(ref, [journal.run(config={"b": 3}, resumed=True, started_at=journal.t0 + 50)])
    info = store.get_run(ref)
    assert info.config == {"a": 1, "b": 3}
    assert (info.state, info.exit_code, info.finished_at) == ("running", None, None)
    assert info.started_at == first.started_at  # a resume keeps when the run began
    # A fresh (non-resumed) run header replaces the config.
    store.ingest(ref, [journal.run(config={"z": 0})])
    assert store.get_run(ref).config == {"z": 0}


def test_exit_states(store: Store, journal: Any, new_journal: Any) -> None:
    for state, code in (("finished", 0), ("failed", 1), ("crashed", 137)):
        r = RunRef("alice", "digits", state)
        j = new_journal()
        store.ingest(
            r, [j.run(), j.h(0, {"x": 1.0}), j.exit(code=code, state=state, ts=1_700_000_123.5)]
        )
        info = store.get_run(r)
        assert (info.state, info.exit_code) == (state, code)
        assert info.finished_at == dt.datetime.fromtimestamp(1_700_000_123.5, dt.UTC)
    with pytest.raises(ValidationError, match="exit state"):
        store.ingest(RunRef("alice", "digits", "bad"), [new_journal().exit(state="weird")])


def test_stale_heartbeat_reads_crashed(
    store_db: Database, ref: RunRef, journal: Any, new_journal: Any
) -> None:
    patient = store_db.open(crash_after=3600)
    hasty = store_db.open(crash_after=1.0)  # short, but longer than a loaded machine's pauses
    try:
        patient.ingest(ref, [journal.run()])
        done = RunRef("alice", "digits", "done")
        j = new_journal()
        patient.ingest(done, [j.run(), j.exit()])
        time.sleep(1.1)
        assert patient.get_run(ref).state == "running"
        assert hasty.get_run(ref).state == "crashed"
        assert hasty.get_run(done).state == "finished"

        def ids(s: Store, f: dict[str, Any]) -> list[str]:
            return sorted(r.ref.id for r in s.list_runs("alice", "digits", filters=f))

        assert ids(hasty, {"state": "crashed"}) == ["run1"]
        assert ids(hasty, {"state": "running"}) == []
        assert ids(patient, {"state": "running"}) == ["run1"]
        assert ids(patient, {"state": {"$in": ["crashed", "finished"]}}) == ["done"]
        # Any record (a heartbeat) brings it back to life.
        hb_before = hasty.get_run(ref).heartbeat_at
        hasty.ingest(ref, [journal.hb()])
        info = hasty.get_run(ref)
        assert info.state == "running" and info.heartbeat_at > hb_before
    finally:
        patient.close()
        hasty.close()


def test_nonfinite_values_in_json_columns(store: Store, ref: RunRef, journal: Any) -> None:
    cfg = {
        "nan": math.nan,
        "inf": math.inf,
        "ninf": -math.inf,
        "nested": {"l": [1, math.nan, {"x": -math.inf}]},
        "s": "NaN",
        "big": 2**62,
    }
    store.ingest(
        ref,
        [
            journal.run(config=cfg),
            journal.summary({"best": math.nan}),
            journal.meta({"m": [math.inf]}),
        ],
    )
    info = store.get_run(ref)
    c = info.config
    assert math.isnan(c["nan"]) and c["inf"] == math.inf and c["ninf"] == -math.inf
    assert math.isnan(c["nested"]["l"][1]) and c["nested"]["l"][2] == {"x": -math.inf}
    assert c["s"] == "NaN" and c["big"] == 2**62 and c["nested"]["l"][0] == 1
    assert math.isnan(info.summary["best"]) and info.metadata == {"m": [math.inf]}


@pytest.mark.parametrize(
    "bad",
    [
        [{"t": "h", "step": 0, "ts": 0.0, "d": {}}],  # no seq
        [{"t": "h", "seq": 0, "step": 0, "ts": 0.0, "d": {}}],  # seq < 1
        [{"t": "h", "seq": "1", "step": 0, "ts": 0.0, "d": {}}],  # seq not int
        [{"t": "h", "seq": 1, "step": 0, "ts": 0.0, "d": [1]}],  # d not an object
        [{"t": "h", "seq": 1, "step": 1.5, "ts": 0.0, "d": {"x": 1}}],  # fractional step
        [{"t": "config", "seq": 1, "u": 3}],
        [{"t": "file", "seq": 1, "path": "a"}],  # no sha256/size
        ["not a record"],
        [{"t": "h", "seq": 1, "step": 0, "ts": 0.0, "d": {"k" * 513: 1.0}}],
        [{"t": "update", "seq": 1, "name": "n" * 257}],
        [{"t": "exit", "seq": 1, "code": "zero", "state": "finished"}],
        [{"t": "exit", "seq": 1, "code": 0, "ts": "noon", "state": "finished"}],
        [{"t": "summary", "seq": 1, "u": {}, "del": "abc"}],
        [{"t": "run", "seq": 1, "started_at": "yesterday"}],
        [{"t": "update", "seq": 1, "tags": ["ok", ""]}],
        [{"t": "file", "seq": 1, "path": "p", "sha256": "a" * 65, "size": 1}],
    ],
)
def test_bad_records_raise_and_store_nothing(store: Store, ref: RunRef, bad: list[Any]) -> None:
    with pytest.raises(ValidationError):
        store.ingest(ref, bad)
    with pytest.raises(RunNotFound):
        store.get_run(ref)  # the transaction was rolled back, run creation included


def test_nul_characters_are_refused_cleanly_on_every_database(store: Store, ref: RunRef) -> None:
    """PostgreSQL cannot hold U+0000 in text or JSONB; SQLite could, but then a local run could
    never be synced to a server: the same limits everywhere (``labbook.limits``)."""
    recs = [{"t": "summary", "seq": 1, "u": {"nul": "a\u0000b"}}]
    with pytest.raises(ValidationError, match=r"record seq 1 .*u\.nul: .*NUL character"):
        store.ingest(ref, recs)
    assert store.last_seq(ref) == 0


def test_unknown_record_kinds_only_advance_seq(store: Store, ref: RunRef) -> None:
    assert store.ingest(ref, [{"t": "future-kind", "seq": 1, "x": 1}]) == 1
    assert store.get_run(ref).summary == {}


def test_projects_and_counts(store: Store, new_journal: Any) -> None:
    for ent, proj, rid in (
        ("alice", "digits", "a"),
        ("alice", "digits", "b"),
        ("alice", "cifar", "c"),
        ("bob", "digits", "d"),
    ):
        j = new_journal()
        store.ingest(RunRef(ent, proj, rid), [j.h(0, {"x": 1})])
        time.sleep(0.002)
    assert store.count_runs("alice", "digits") == 2
    assert store.count_runs("alice", "nope") == 0
    allp = store.projects()
    assert [(p.entity, p.name, p.run_count) for p in allp] == [
        ("bob", "digits", 1),
        ("alice", "cifar", 1),
        ("alice", "digits", 2),
    ]
    assert all(p.last_run_at is not None and p.last_run_at.tzinfo for p in allp)
    assert allp[2].last_run_at >= allp[2].created_at - dt.timedelta(seconds=1)
    assert [p.name for p in store.projects("alice")] == ["cifar", "digits"]
    assert store.projects("carol") == []


def test_not_found(store: Store, ref: RunRef) -> None:
    with pytest.raises(RunNotFound):
        store.get_run(ref)
    for call in (store.metric_keys, store.files, store.history):
        with pytest.raises(RunNotFound):
            call(ref)
    with pytest.raises(ProjectNotFound):
        store.list_runs("alice", "digits")


def test_runref_parse() -> None:
    assert RunRef.parse("e/p/id", "me") == RunRef("e", "p", "id")
    assert RunRef.parse("p/id", "me") == RunRef("me", "p", "id")
    assert RunRef.parse("e/p/runs/id", "me") == RunRef("e", "p", "id")
    assert str(RunRef("e", "p", "id")) == "e/p/id"
    for bad in ("id", "a/b/c/d", "e//id", "", "e/p/x/id", "e/p/" + "x" * 129):
        with pytest.raises(ValidationError):
            RunRef.parse(bad, "me")


def test_two_runs_are_independent(store: Store, new_journal: Any) -> None:
    a, b = RunRef("alice", "digits", "a"), RunRef("alice", "digits", "b")
    ja, jb = new_journal(), new_journal()
    store.ingest(a, ja.rows(5, x=float))
    store.ingest(b, jb.rows(3, x=lambda i: -float(i), y=int))
    assert store.history(a)["x"].values.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert set(store.history(b)) == {"x", "y"}
    assert np.array_equal(store.history(b)["x"].values, [0.0, -1.0, -2.0])


def test_mixed_batch_equals_record_by_record(make_store: Any, journal: Any) -> None:
    """A batch mixing history and system rows with other records (a run's first batch, a
    replayed journal) takes the columnar path; the outcome is that of applying each record on
    its own."""
    ref_a, ref_b = RunRef("alice", "digits", "batched"), RunRef("alice", "digits", "single")

    def sys_row(step: int, cpu: float) -> dict[str, Any]:
        return journal._rec("sys", step=step, ts=journal.t0 + step, d={"system/cpu": cpu})

    recs = [
        journal.run(),
        journal.config({"lr": 0.1}),
        *journal.rows(50, loss=lambda i: 1.0 / (i + 1), acc=lambda i: i / 100),
        sys_row(0, 12.5),
        journal.meta({"host": "h"}),
        journal.hb(),
        *journal.rows(30, start=50, loss=lambda i: float(i), text=lambda i: f"t{i}"),
        sys_row(1, 99.0),
        journal.h(80, {"acc": math.nan}),
        journal.exit(),
    ]
    store = make_store()
    store.ingest(ref_a, [dict(r) for r in recs])
    for r in recs:
        store.ingest(ref_b, [dict(r)])
    a, b = store.get_run(ref_a), store.get_run(ref_b)
    assert a.summary.keys() == b.summary.keys() == {"loss", "acc", "text"}
    assert a.summary["loss"] == 79.0 and a.summary["text"] == "t79"
    assert math.isnan(a.summary["acc"]) and math.isnan(b.summary["acc"])
    assert (
        (a.config, a.metadata, a.state)
        == (b.config, b.metadata, b.state)
        == (
            {"lr": 0.1},
            {"host": "h"},
            "finished",
        )
    )
    ha, hb = store.history(ref_a), store.history(ref_b)
    assert set(ha) == set(hb) == {"loss", "acc", "text", "system/cpu"}
    for key in ha:
        assert ha[key].steps.tolist() == hb[key].steps.tolist(), key
        np.testing.assert_array_equal(ha[key].values, hb[key].values)
    assert ha["system/cpu"].values.tolist() == [12.5, 99.0]
    assert len(ha["loss"].steps) == 80


def _as_rows(recs: list[dict[str, Any]]) -> list[Any]:
    """The same records with the history rows as the structs ``log()`` makes."""
    from labbook.records import HistoryRow

    out: list[Any] = []
    for r in recs:
        if r["t"] == "h":
            row = HistoryRow(r["step"], r["ts"], r["rt"], dict(r["d"]))
            row.seq = r["seq"]
            out.append(row)
        else:
            out.append(dict(r))
    return out


@pytest.mark.parametrize("shape", ["rows only", "with other records", "with summary writes"])
def test_rows_as_structs_store_exactly_what_their_dicts_store(
    store: Store, new_journal: Any, shape: str
) -> None:
    """The local sink hands over ``HistoryRow`` structs (no dict per row); every path of the
    write (bulk rows, rows among other records, rows ordered against summary writes) stores the
    same as for the dict form, and re-sending either form changes nothing."""
    made = new_journal()
    recs = [made.run(config={"lr": 0.1})]
    for i in range(300):
        recs.append(made.h(i, {"loss": 1.0 / (i + 1), "acc": i, "flag": i % 2 == 0}))
        if shape == "with summary writes" and i % 50 == 0:
            recs.append(made.summary({"best": i}))
        if shape != "rows only" and i == 150:
            recs.append(made.config({"epochs": 3}))
    first = recs[:1] if shape != "rows only" else []
    rest = recs[1:] if shape != "rows only" else [r for r in recs if r["t"] == "h"]
    a, b = RunRef("alice", "digits", "a"), RunRef("alice", "digits", "b")
    store.ingest(a, first + rest)
    if first:
        store.ingest(b, first)
    for i in range(0, len(rest), 97):  # several batches, each mixing what it happens to hold
        store.ingest(b, _as_rows(rest[i : i + 97]))
    store.ingest(b, _as_rows(rest[:120]))  # re-sent: ignored
    sa, sb = snapshot(store, a), snapshot(store, b)
    for s in (sa, sb):
        s["run"].pop("ref"), s["run"].pop("created_at")
    assert sb == sa
