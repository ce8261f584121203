"""Artifacts through the SDK, as the seeds' scripts call them, on the local store and over HTTP."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner

import labbook
from labbook import Api
from labbook.cli.main import cli
from labbook.errors import ChecksumMismatch, UsageError

if TYPE_CHECKING:
    from conftest import LiveServer


def _files(root: Path, n: int = 5, size: int = 10_000) -> dict[str, bytes]:
    out = {}
    for i in range(n):
        data = os.urandom(size)
        p = root / ("sub" if i % 2 else "") / f"f{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
        out[p.relative_to(root).as_posix()] = data
    return out


def _blob_files(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "blobs").rglob("*") if p.is_file()}


@pytest.fixture(params=["local", "http"])
def where(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test on the local store and against a real server (uvicorn on loopback)."""
    if request.param == "http":
        live: LiveServer = request.getfixturevalue("live_server")
        monkeypatch.setenv("LABBOOK_BASE_URL", live.url)
        monkeypatch.setenv("LABBOOK_API_KEY", live.create_user("alice"))
    yield request.param


def test_seed_calls_then_a_later_run_downloads_byte_identical(where: str, tmp_path: Path) -> None:
    import labbook as wandb

    (tmp_path / "preds.csv").write_text("id,pred,label\n0,3,3\n1,5,8\n")
    (tmp_path / "model.keras").write_bytes(os.urandom(300_000))
    run = wandb.init(project="digits")
    artifact = wandb.Artifact("predictions", type="predictions")
    artifact.add_file(str(tmp_path / "preds.csv"))
    artifact.add_file(str(tmp_path / "model.keras"), name="models/model.keras")
    wandb.log_artifact(artifact)
    assert artifact.wait().version == "v0"
    producer = run.id
    wandb.finish()

    run2 = wandb.init(project="digits", job_type="eval")
    used = run2.use_artifact("predictions:latest")
    root = Path(used.download(tmp_path / "dl"))
    assert (root / "preds.csv").read_bytes() == (tmp_path / "preds.csv").read_bytes()
    assert (root / "models/model.keras").read_bytes() == (tmp_path / "model.keras").read_bytes()
    assert used.logged_by() is not None and used.logged_by().id == producer
    again = used.download(tmp_path / "dl")
    assert used.last_download.kept == 2 and used.last_download.fetched == 0 and again == str(root)
    if where == "http":  # a new root: the cache answers, nothing is fetched again
        used.download(tmp_path / "dl2")
        assert used.last_download.from_cache == 2 and used.last_download.fetched == 0
    wandb.finish()
    with Api() as api:
        v = api.artifact("digits/predictions:v0")
        assert [r.id for r in v.used_by()] == [run2.id]
        r2 = api.run(f"digits/{run2.id}")
        assert [a.name for a in r2.used_artifacts()] == ["predictions:v0"]
        assert [a.name for a in api.run(f"digits/{producer}").logged_artifacts()] == [
            "predictions:v0"
        ]


def test_same_dir_is_one_version_and_a_change_stores_one_blob(tmp_path: Path) -> None:
    files = _files(tmp_path / "data_dir")
    run = labbook.init(project="digits")
    a = labbook.Artifact("digits-data", type="dataset")
    a.add_dir(str(tmp_path / "data_dir"))
    run.log_artifact(a).wait()
    blobs_before = _blob_files(tmp_path / "data")
    b = labbook.Artifact("digits-data", type="dataset")
    b.add_dir(str(tmp_path / "data_dir"))
    run.log_artifact(b, aliases=["again"]).wait()
    assert b.version == "v0" and b.digest == a.digest and "again" in b.aliases
    assert _blob_files(tmp_path / "data") == blobs_before

    (tmp_path / "data_dir" / "f0.bin").write_bytes(b"changed")
    c = labbook.Artifact("digits-data", type="dataset")
    c.add_dir(str(tmp_path / "data_dir"))
    run.log_artifact(c).wait()
    assert c.version == "v1" and c.aliases == ["latest"]
    new = _blob_files(tmp_path / "data") - blobs_before
    assert new == {hashlib.sha256(b"changed").hexdigest()}
    run.finish()
    assert sorted(files) == sorted(e for e in c.manifest.entries)


def test_download_fails_loudly_on_a_corrupt_blob(tmp_path: Path) -> None:
    (tmp_path / "w.bin").write_bytes(b"weights" * 1000)
    run = labbook.init(project="digits")
    art = labbook.Artifact("cnn", type="model")
    art.add_file(str(tmp_path / "w.bin"))
    run.log_artifact(art).wait()
    sha = hashlib.sha256(b"weights" * 1000).hexdigest()
    blob = next(p for p in (tmp_path / "data" / "blobs").rglob(sha))
    blob.chmod(0o644)
    blob.write_bytes(b"weightz" * 1000)
    used = run.use_artifact("cnn:latest")
    with pytest.raises(ChecksumMismatch, match=r"w\.bin.*corrupt"):
        used.download(tmp_path / "dl")
    assert not (tmp_path / "dl" / "w.bin").exists()
    assert [p.name for p in (tmp_path / "dl").iterdir()] == []  # no partial file left
    run.finish()


def test_objects_new_files_references_aliases_and_registry(where: str, tmp_path: Path) -> None:
    ref_file = tmp_path / "big.csv"
    ref_file.write_text("x\n1\n")
    run = labbook.init(project="digits")
    art = labbook.Artifact("evaluation", type="model", metadata={"acc": 0.97})
    table = labbook.Table(columns=["id", "pred"], data=[[0, 3], [1, 5]])
    art.add(table, "predictions")
    with art.new_file("notes/readme.md") as f:
        f.write("# digits\n")
    art.add_reference(ref_file.as_uri(), name="external/big.csv")
    with pytest.raises(UsageError, match="not a labbook Table"):
        art.add(object(), "x")
    run.log_artifact(art, aliases=["best"])
    with pytest.raises(UsageError, match="no longer change"):
        art.add_file(str(ref_file))
    art.wait()
    assert art.manifest.entries["external/big.csv"].ref == ref_file.resolve().as_uri()
    link = run.link_model(art, "registry/digits-cnn", aliases=["staging"])
    assert link.version == "v0" and "staging" in link.aliases
    run.finish()

    with Api() as api:
        got = api.artifact("digits/evaluation:best")
        assert got.metadata == {"acc": 0.97}
        assert got.get("predictions") == table
        root = Path(got.download(tmp_path / "dl"))
        assert (root / "notes/readme.md").read_text() == "# digits\n"
        assert not (root / "external/big.csv").exists()  # a reference is not copied
        assert got.last_download.references == 1
        got.aliases.append("production")
        got.save()
        assert api.artifact("digits/evaluation:production").version == "v0"
        assert [a.name for a in api.artifacts("digits", type="model")] == ["evaluation:v0"]
        assert api.model("digits-cnn:staging").qualified_name == got.qualified_name
        graph = got.lineage()
        assert {n["kind"] for n in graph["nodes"]} == {"artifact", "run"}


def test_offline_run_keeps_artifacts_and_sync_uploads_them(tmp_path: Path) -> None:
    model = tmp_path / "model.bin"
    model.write_bytes(b"v1" * 5000)
    run = labbook.init(project="digits", mode="offline")
    art = labbook.Artifact("cnn", type="model")
    art.add_file(str(model))
    run.log_artifact(art, aliases=["best"])
    run_dir = run.journal_dir
    run.finish()
    model.write_bytes(b"overwritten after logging")  # what was logged is kept in the run dir
    assert (run_dir / "artifacts" / "pending").is_dir()
    result = CliRunner().invoke(cli, ["sync", str(run_dir)])
    assert result.exit_code == 0, result.output
    assert "1 artifact operation" in result.output
    with Api() as api:
        v = api.artifact("digits/cnn:best")
        assert Path(v.file(tmp_path / "dl")).read_bytes() == b"v1" * 5000
        assert v.logged_by() is not None and v.logged_by().id == run.id
    assert list((run_dir / "artifacts" / "pending").glob("*.json")) == []


def test_cli_put_get_ls_and_cache_cleanup(where: str, tmp_path: Path) -> None:
    _files(tmp_path / "ds", n=3)
    runner = CliRunner()
    put = ["artifact", "put", str(tmp_path / "ds"), "--project", "digits", "--name", "ds"]
    r = runner.invoke(cli, [*put, "--alias", "raw"])
    assert r.exit_code == 0, r.output
    assert ":v0 (new, latest, raw)" in r.output and "sent 3 of 3 blobs" in r.output
    r = runner.invoke(cli, put)
    assert "unchanged" in r.output and "sent 0 of 3 blobs" in r.output
    r = runner.invoke(cli, ["artifact", "ls", "digits"])
    assert r.exit_code == 0 and "ds" in r.output and "dataset" in r.output
    r = runner.invoke(cli, ["artifact", "get", "digits/ds:raw", "--root", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out" / "f0.bin").read_bytes() == (tmp_path / "ds" / "f0.bin").read_bytes()
    r = runner.invoke(cli, ["artifact", "cache", "cleanup", "--max-size", "0"])
    assert r.exit_code == 0 and "holds 0 files" in r.output
    if where == "http":
        assert "removed 3 files" in r.output


def test_blobs_on_s3_and_s3_references(
    moto_endpoint: str, s3_uri: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:  # fmt: skip
    import boto3

    monkeypatch.setenv("LABBOOK_BLOBS_URI", s3_uri)
    monkeypatch.setenv("LABBOOK_S3_ENDPOINT_URL", moto_endpoint)
    s3 = boto3.session.Session().client("s3", endpoint_url=moto_endpoint)
    s3.put_object(Bucket=s3_bucket, Key="refs/raw/a.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=s3_bucket, Key="refs/raw/b.csv", Body=b"c\n3\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # past one part: the multipart path
    small = tmp_path / "small.txt"
    small.write_text("small")
    run = labbook.init(project="digits")
    art = labbook.Artifact("mixed", type="dataset")
    art.add_file(str(big))
    art.add_file(str(small))
    art.add_reference(f"s3://{s3_bucket}/refs/raw", name="raw")
    run.log_artifact(art).wait()
    entries = art.manifest.entries
    assert entries["raw/a.csv"].ref == f"s3://{s3_bucket}/refs/raw/a.csv"
    assert entries["raw/a.csv"].digest.strip('"') and entries["raw/b.csv"].size == 4
    used = run.use_artifact("mixed:latest")
    root = Path(used.download(tmp_path / "dl"))
    assert (root / "big.bin").read_bytes() == big.read_bytes()
    assert (root / "small.txt").read_text() == "small"
    assert used.last_download.fetched == 2 and used.last_download.references == 2
    used.download(tmp_path / "dl2")  # from the cache this time: S3 is not local
    assert used.last_download.from_cache == 2 and used.last_download.fetched == 0
    run.finish()


def test_http_reference_records_a_hash_when_the_server_sends_no_etag(tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "labels.txt").write_bytes(b"0\n1\n2\n")
    handler = functools.partial(
        http.server.SimpleHTTPRequestHandler, directory=str(tmp_path / "site")
    )
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/labels.txt"
        art = labbook.Artifact("remote", type="dataset")
        (entry,) = art.add_reference(url)
        assert entry.path == "labels.txt" and entry.ref == url and entry.size == 6
        assert entry.digest == hashlib.sha256(b"0\n1\n2\n").hexdigest()
    finally:
        httpd.shutdown()
        httpd.server_close()
