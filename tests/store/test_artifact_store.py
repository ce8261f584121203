"""Artifact versions, aliases, lineage and the registry at the Store, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import pytest

from labbook.errors import BlobsMissing, ConflictError, NotFoundError, ValidationError
from labbook.manifests import Entry, manifest_digest
from labbook.store import RunRef, Store

E, P = "alice", "digits"


def blob(text: str) -> Entry:
    data = text.encode()
    return Entry(f"{text}.txt", hashlib.sha256(data).hexdigest(), len(data))


def held(store: Store, *entries: Entry, project: str = P) -> list[Entry]:
    store.add_project_blobs(E, project, [(e.digest, e.size) for e in entries])
    return list(entries)


def test_commit_needs_every_blob_and_stores_nothing_before(store: Store) -> None:
    a, b = blob("a"), blob("b")
    held(store, a)
    with pytest.raises(BlobsMissing) as err:
        store.commit_artifact(E, P, "data", "dataset", [a, b])
    assert err.value.missing == [b.digest]
    assert store.artifact_collections(E, P) == []
    held(store, b)
    v, created = store.commit_artifact(E, P, "data", "dataset", [b, a])
    assert created and v.version == "v0" and v.aliases == ["latest"]
    assert v.digest == manifest_digest([a, b]) and v.size == 2 and v.file_count == 2
    assert [e.path for e in store.artifact_manifest(v.id)] == ["a.txt", "b.txt"]


def test_identical_content_is_one_version_and_moves_aliases(store: Store) -> None:
    a, b = held(store, blob("a"), blob("b"))
    v0, _ = store.commit_artifact(E, P, "data", "dataset", [a], aliases=["best"])
    v1, created = store.commit_artifact(E, P, "data", "dataset", [a, b])
    assert created and v1.index == 1 and v1.aliases == ["latest"]
    again, created = store.commit_artifact(E, P, "data", "dataset", [a], aliases=["best", "prod"])
    assert not created and again.id == v0.id
    assert again.aliases == ["best", "prod"]  # not latest: v1 is newer
    v1b, _ = store.commit_artifact(E, P, "data", "dataset", [b, a], aliases=["best"])
    assert v1b.id == v1.id and v1b.aliases == ["latest", "best"]
    assert store.artifact_version(E, P, "data", "best").id == v1.id  # moved: unique per collection
    assert store.artifact_version(E, P, "data", "prod").id == v0.id
    assert store.artifact_version(E, P, "data", "latest").id == v1.id
    assert store.artifact_version(E, P, "data", "v0").id == v0.id
    with pytest.raises(NotFoundError):
        store.artifact_version(E, P, "data", "v7")


def test_names_types_and_aliases_are_checked(store: Store) -> None:
    (a,) = held(store, blob("a"))
    store.commit_artifact(E, P, "model", "model", [a])
    with pytest.raises(ConflictError, match="type 'model'"):
        store.commit_artifact(E, P, "model", "dataset", [a])
    with pytest.raises(ValidationError, match="names a version"):
        store.commit_artifact(E, P, "model", "model", [a], aliases=["v3"])
    with pytest.raises(ValidationError, match="artifact name"):
        store.commit_artifact(E, P, "bad name", "model", [a])
    with pytest.raises(ValidationError, match="appears twice"):
        store.commit_artifact(E, P, "model", "model", [a, a])


def test_references_need_no_blob(store: Store) -> None:
    ref = Entry("remote/x.bin", '"etag-1"', 10, "s3://bucket/x.bin")
    v, _ = store.commit_artifact(E, P, "remote", "dataset", [ref])
    assert store.artifact_manifest(v.id) == [ref]


def test_blobs_count_per_project(store: Store) -> None:
    (a,) = held(store, blob("secret"))
    assert store.missing_blobs(E, P, [a.digest]) == []
    assert store.missing_blobs(E, "other", [a.digest]) == [a.digest]
    with pytest.raises(BlobsMissing):
        store.commit_artifact(E, "other", "stolen", "dataset", [a])


def test_usage_lineage_and_deletion(store: Store) -> None:
    prep, train, evaluate = (RunRef(E, P, r) for r in ("prep", "train", "eval"))
    for r in (prep, train, evaluate):
        store.ensure_run(r)
    d, m, p = held(store, blob("data"), blob("model"), blob("preds"))
    data, _ = store.commit_artifact(E, P, "digits", "dataset", [d], run_id="prep")
    store.use_artifact(train, data.id)
    store.use_artifact(train, data.id)  # idempotent
    model, _ = store.commit_artifact(E, P, "cnn", "model", [m], run_id="train")
    preds, _ = store.commit_artifact(E, P, "preds", "predictions", [p], run_id="train")
    store.use_artifact(evaluate, preds.id)
    assert model.logged_by is not None and model.logged_by.id == "train"

    logged, used = store.run_artifacts(train)
    assert [v.name for v in logged] == ["cnn", "preds"] and [v.name for v in used] == ["digits"]
    assert [r.id for r in store.artifact_users(data.id)] == ["train"]

    g = store.run_lineage(train, depth=3)
    ids = {n["id"] for n in g.nodes}
    assert ids == {
        "run:alice/digits/train",
        "run:alice/digits/prep",
        "run:alice/digits/eval",
        "artifact:alice/digits/digits:v0",
        "artifact:alice/digits/cnn:v0",
        "artifact:alice/digits/preds:v0",
    }
    edges = {(e["source"], e["target"]) for e in g.edges}
    assert ("artifact:alice/digits/digits:v0", "run:alice/digits/train") in edges
    assert ("run:alice/digits/train", "artifact:alice/digits/preds:v0") in edges
    assert ("artifact:alice/digits/preds:v0", "run:alice/digits/eval") in edges
    assert ("run:alice/digits/prep", "artifact:alice/digits/digits:v0") in edges

    up = store.version_lineage(preds, depth=1, direction="upstream")
    assert {n["id"] for n in up.nodes} == {
        "artifact:alice/digits/preds:v0",
        "run:alice/digits/train",
    }
    hidden = store.run_lineage(train, readable=lambda e, p: False)
    assert [n["id"] for n in hidden.nodes] == ["run:alice/digits/train"] and hidden.edges == []
    with pytest.raises(ValidationError):
        store.run_lineage(train, depth=11)

    store.delete_run(train)  # the versions it logged stay, their producer unknown now
    assert store.artifact_version(E, P, "cnn", "latest").logged_by is None
    store.delete_artifact_version(store.artifact_version(E, P, "digits", "v0"))
    assert sorted(c.name for c in store.artifact_collections(E, P)) == ["cnn", "preds"]
    assert store.run_artifacts(prep) == ([], [])


def test_registry_links_versions_under_its_own_aliases(store: Store) -> None:
    a, b = held(store, blob("m0"), blob("m1"))
    m0, _ = store.commit_artifact(E, P, "cnn", "model", [a])
    m1, _ = store.commit_artifact(E, P, "cnn", "model", [b])
    l0, created = store.link_model(E, "digits-cnn", m0.id, aliases=["production"])
    assert created and l0.version == "v0" and l0.aliases == ["latest", "production"]
    store.link_model(E, "digits-cnn", m1.id, aliases=["staging"])
    again, created = store.link_model(E, "digits-cnn", m0.id, aliases=["staging"])
    assert not created and again.index == 0 and again.aliases == ["production", "staging"]
    assert store.registry_link(E, "digits-cnn", "production").artifact.id == m0.id
    assert store.registry_link(E, "digits-cnn", "latest").artifact.id == m1.id
    info, links = store.registered_model(E, "digits-cnn")
    assert info.version_count == 2 and info.aliases["production"] == "v0"
    assert [x.version for x in links] == ["v1", "v0"]
    moved = store.update_registry_link(E, "digits-cnn", "v1", ["production"])
    assert moved.aliases == ["latest", "production"]
    assert store.registry_link(E, "digits-cnn", "production").index == 1
    assert [m.name for m in store.registered_models(E)] == ["digits-cnn"]
    with pytest.raises(NotFoundError):
        store.registry_link(E, "nope", "latest")
