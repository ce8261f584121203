"""Artifacts over REST: resumable commits, files, aliases, lineage, the registry, permissions."""

from __future__ import annotations

import hashlib
from typing import Any

from lbserver import Server, error

PROJ = "/projects/acme/vision"
ART = PROJ + "/artifacts"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


FILES = {"model.txt": b"weights " * 100, "labels/classes.txt": b"cat\ndog\n"}


def _entries(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [{"path": p, "digest": _sha(b), "size": len(b)} for p, b in files.items()]


def _setup(s: Server) -> dict[str, dict[str, str]]:
    h = {"owner": s.user("olga"), "viewer": s.user("vera"), "outsider": s.user("otto")}
    s.team("acme", "olga", vera="viewer")
    for run in ("train", "eval"):
        assert s.put(f"{PROJ}/runs/{run}", headers=h["owner"]).status_code == 200
    return h


def _log(s: Server, who: dict[str, str], name: str, files: dict[str, bytes], **body: Any) -> Any:
    """Commit the way the SDK does: ask, upload what is missing, commit again."""
    payload = {"type": "model", "entries": _entries(files), **body}
    first = s.post(f"{ART}/{name}/versions", json=payload, headers=who)
    if first.status_code == 409:
        by_sha = {_sha(b): b for b in files.values()}
        for sha in first.json()["error"]["missing"]:
            assert s.put(f"{PROJ}/blobs/{sha}", content=by_sha[sha], headers=who).status_code == 200
        first = s.post(f"{ART}/{name}/versions", json=payload, headers=who)
    return first


def test_commit_resumes_and_identical_content_is_one_version(any_server: Server) -> None:
    s = any_server
    h = _setup(s)["owner"]
    payload = {"type": "model", "entries": _entries(FILES), "run": "train"}
    r = s.post(f"{ART}/cnn/versions", json=payload, headers=h)
    assert r.status_code == 409 and r.json()["error"]["code"] == "blobs_missing"
    missing = r.json()["error"]["missing"]
    assert sorted(missing) == sorted(_sha(b) for b in FILES.values())
    # "killed" after one blob: nothing is visible, and only the other one is asked for again
    first = FILES["model.txt"]
    assert s.put(f"{PROJ}/blobs/{_sha(first)}", content=first, headers=h).status_code == 200
    assert s.get(ART, headers=h).json() == []
    r = s.post(f"{ART}/cnn/versions", json=payload, headers=h)
    assert r.json()["error"]["missing"] == [_sha(FILES["labels/classes.txt"])]
    v0 = _log(s, h, "cnn", FILES, run="train")
    assert v0.status_code == 201, v0.text
    body = v0.json()
    assert body["version"] == "v0" and body["aliases"] == ["latest"]
    assert body["logged_by"]["id"] == "train" and body["file_count"] == 2
    again = _log(s, h, "cnn", FILES, aliases=["best"])
    assert again.status_code == 200 and again.json()["digest"] == body["digest"]
    assert again.json()["aliases"] == ["latest", "best"]
    v1 = _log(s, h, "cnn", {**FILES, "model.txt": b"better weights"})
    assert v1.status_code == 201 and v1.json()["version"] == "v1"


def test_blob_upload_is_verified(server: Server) -> None:
    h = _setup(server)["owner"]
    r = server.put(f"{PROJ}/blobs/{_sha(b'abc')}", content=b"abd", headers=h)
    assert "hashes to" in error(r, 422, "validation_error")
    error(server.put(f"{PROJ}/blobs/nothex", content=b"abc", headers=h), 400)


def test_version_reads_files_aliases_and_delete(server: Server) -> None:
    s = server
    h = _setup(s)["owner"]
    _log(s, h, "cnn", FILES, description="first")
    coll = s.get(f"{ART}/cnn", headers=h).json()
    assert coll["version_count"] == 1 and coll["latest"]["version"] == "v0"
    assert [c["name"] for c in s.get(ART + "?type=model", headers=h).json()] == ["cnn"]
    assert s.get(ART + "?type=dataset", headers=h).json() == []
    man = s.get(f"{ART}/cnn/v0/manifest", headers=h).json()
    assert [e["path"] for e in man["entries"]] == ["labels/classes.txt", "model.txt"]
    f = s.get(f"{ART}/cnn/latest/files/labels/classes.txt", headers=h)
    assert f.status_code == 200 and f.content == b"cat\ndog\n"
    assert f.headers["content-security-policy"].startswith("sandbox")
    p = s.get(f"{ART}/cnn/v0/files/model.txt?preview=1", headers={**h, "Range": "bytes=0-6"})
    assert p.content == b"weights"
    error(s.get(f"{ART}/cnn/v0/files/nope.txt", headers=h), 404)
    r = s.patch(f"{ART}/cnn/v0", json={"aliases": ["production"]}, headers=h)
    assert r.json()["aliases"] == ["latest", "production"]
    assert s.get(f"{ART}/cnn/production", headers=h).json()["version"] == "v0"
    error(s.patch(f"{ART}/cnn/v0", json={"aliases": ["v2"]}, headers=h), 422)
    assert s.delete(f"{ART}/cnn/v0", headers=h).status_code == 204
    error(s.get(f"{ART}/cnn", headers=h), 404)


def test_usage_and_lineage(server: Server) -> None:
    s = server
    h = _setup(s)["owner"]
    _log(s, h, "digits", {"x.npy": b"data"}, type="dataset")
    used = {"entity": "acme", "project": "vision", "name": "digits", "ref": "latest"}
    r = s.post(f"{PROJ}/runs/train/artifacts/used", json=used, headers=h)
    assert r.status_code == 201 and r.json()["name"] == "digits"
    _log(s, h, "preds", {"p.csv": b"1,2"}, type="predictions", run="train")
    s.post(f"{PROJ}/runs/eval/artifacts/used", json={**used, "name": "preds"}, headers=h)
    arts = s.get(f"{PROJ}/runs/train/artifacts", headers=h).json()
    assert [v["name"] for v in arts["logged"]] == ["preds"]
    assert [v["name"] for v in arts["used"]] == ["digits"]
    g = s.get(f"{ART}/digits/v0/lineage?depth=3&direction=downstream", headers=h).json()
    assert g["root"] == "artifact:acme/vision/digits:v0"
    assert {(e["source"], e["target"]) for e in g["edges"]} == {
        ("artifact:acme/vision/digits:v0", "run:acme/vision/train"),
        ("run:acme/vision/train", "artifact:acme/vision/preds:v0"),
        ("artifact:acme/vision/preds:v0", "run:acme/vision/eval"),
    }
    g = s.get(f"{PROJ}/runs/eval/lineage?direction=upstream&depth=1", headers=h).json()
    assert {n["id"] for n in g["nodes"]} == {
        "run:acme/vision/eval",
        "artifact:acme/vision/preds:v0",
    }
    error(s.get(f"{PROJ}/runs/eval/lineage?depth=0", headers=h), 422)
    users = s.get(f"{ART}/preds/v0", headers=h).json()["used_by"]
    assert [u["id"] for u in users] == ["eval"]


def test_permissions_are_the_projects(server: Server) -> None:
    s = server
    h = _setup(s)
    _log(s, h["owner"], "cnn", FILES)
    for who in (None, h["outsider"]):
        for path in (ART, f"{ART}/cnn", f"{ART}/cnn/v0", f"{ART}/cnn/v0/manifest",
                     f"{ART}/cnn/v0/files/model.txt", f"{ART}/cnn/v0/lineage"):  # fmt: skip
            msg = error(s.get(path, headers=who), 404)
            assert "vision" not in msg
        sha = _sha(b"x")
        error(s.put(f"{PROJ}/blobs/{sha}", content=b"x", headers=who), 404)
    assert s.get(f"{ART}/cnn/v0", headers=h["viewer"]).status_code == 200
    error(s.patch(f"{ART}/cnn/v0", json={"aliases": ["x"]}, headers=h["viewer"]), 403)
    error(s.put(f"{PROJ}/blobs/{_sha(b'x')}", content=b"x", headers=h["viewer"]), 403)
    # a blob another project holds cannot be named into one's own version without its bytes
    s.put("/projects/otto/mine/runs/r", headers=h["outsider"])
    stolen = {"type": "model", "entries": _entries({"m.txt": FILES["model.txt"]})}
    r = s.post("/projects/otto/mine/artifacts/x/versions", json=stolen, headers=h["outsider"])
    assert r.status_code == 409 and r.json()["error"]["missing"]


def test_registry(server: Server) -> None:
    s = server
    h = _setup(s)
    _log(s, h["owner"], "cnn", FILES)
    _log(s, h["owner"], "data", {"d": b"d"}, type="dataset")
    art = {"entity": "acme", "project": "vision", "name": "cnn", "ref": "v0"}
    r = s.post("/registry/acme/digits/versions", json={"artifact": art, "aliases": ["staging"]},
               headers=h["owner"])  # fmt: skip
    assert r.status_code == 201 and r.json()["version"] == "v0"
    assert r.json()["artifact"]["name"] == "cnn"
    r = s.post("/registry/acme/digits/versions", json={"artifact": art, "aliases": ["production"]},
               headers=h["owner"])  # fmt: skip
    assert r.status_code == 200 and r.json()["aliases"] == ["latest", "production", "staging"]
    bad = {"artifact": {**art, "name": "data"}}
    assert "type 'model'" in error(s.post("/registry/acme/digits/versions", json=bad,
                                          headers=h["owner"]), 422)  # fmt: skip
    models = s.get("/registry/acme", headers=h["viewer"]).json()
    assert models[0]["name"] == "digits" and models[0]["aliases"]["production"] == "v0"
    assert s.get("/registry/acme/digits/production", headers=h["viewer"]).json()["index"] == 0
    detail = s.get("/registry/acme/digits", headers=h["owner"]).json()
    assert [v["version"] for v in detail["versions"]] == ["v0"]
    r = s.patch("/registry/acme/digits/v0", json={"aliases": ["prod"]}, headers=h["owner"])
    assert r.json()["aliases"] == ["latest", "prod"]
    error(s.get("/registry/acme", headers=h["outsider"]), 404)
    error(s.patch("/registry/acme/digits/v0", json={"aliases": []}, headers=h["viewer"]), 403)
