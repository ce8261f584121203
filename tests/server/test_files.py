"""Run files streamed through the content-addressed BlobStore; path normalisation."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from lbserver import Server, error

from labbook.errors import ValidationError
from labbook.limits import normalize_path

RUN = "/projects/alice/digits/runs/r1"


def _blobs(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_upload_download_dedup(server: Server) -> None:
    s = server
    h = s.user("alice")
    s.put(RUN, headers=h)
    data = bytes(range(256)) * 5000  # > one 1 MiB chunk? no: 1.28 MB, several chunks
    r = s.put(RUN + "/files/model/best.keras", content=data, headers=h)
    assert r.status_code == 200, r.text
    sha = hashlib.sha256(data).hexdigest()
    assert r.json()["sha256"] == sha and r.json()["size"] == len(data)
    r2 = s.put(RUN + "/files/copy.bin", content=data, headers=h)
    assert r2.json()["sha256"] == sha
    assert len(_blobs(s.blobs_root)) == 1  # same content, one blob
    got = s.get(RUN + "/files/model/best.keras", headers=h)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "application/octet-stream"
    listed = s.get(RUN + "/files", headers=h).json()
    assert [(f["path"], f["size"]) for f in listed] == [
        ("copy.bin", len(data)),
        ("model/best.keras", len(data)),
    ]
    # replacing a file's content re-points the row
    s.put(RUN + "/files/copy.bin", content=b"new", headers=h)
    assert s.get(RUN + "/files/copy.bin", headers=h).content == b"new"
    assert len(_blobs(s.blobs_root)) == 2

    # streamed in chunks (a generator body has no Content-Length)
    def gen() -> Any:
        for i in range(5):
            yield bytes([i]) * 100_000

    r = s.put(RUN + "/files/streamed.bin", content=gen(), headers=h)
    assert r.json()["size"] == 500_000
    error(s.get(RUN + "/files/missing.txt", headers=h), 404)
    error(s.put("/projects/alice/digits/runs/nope/files/a.txt", content=b"x", headers=h), 404)
    error(s.put(RUN + "/files/a.txt", content=b"x", headers=s.user("bob")), 404)


@pytest.mark.parametrize(
    "raw",
    [
        "%2e%2e/%2e%2e/etc/passwd",
        "a/%2E%2E/%2E%2E/b",
        "a/%2e%2e",
        "%2Fetc%2Fpasswd",
        "a%5C..%5Cb",
        "a%00b",
        "C:%5Cwindows",
        "C:/windows",
        "a/%01/b",
    ],
)
def test_path_traversal_rejected(server: Server, raw: str) -> None:
    s = server
    h = s.user("alice")
    s.put(RUN, headers=h)
    url = "/api/v1" + RUN + "/files/" + raw
    resp = s.client.put(url, content=b"x", headers=h)
    error(resp, 422, "validation_error")
    error(s.client.get(url, headers=h), 422)
    assert s.get(RUN + "/files", headers=h).json() == []


@pytest.mark.parametrize(
    "bad", ["../x", "a/../../x", "/etc/passwd", "a\\b", "a\x00b", "", "./", "C:x", "a/\x01"]
)
def test_normalize_path_rejects(bad: str) -> None:
    with pytest.raises(ValidationError):
        normalize_path(bad)


def test_paths_are_normalised(server: Server) -> None:
    s = server
    h = s.user("alice")
    s.put(RUN, headers=h)
    assert (
        s.client.put("/api/v1" + RUN + "/files/a/./b//c.txt", content=b"1", headers=h).json()[
            "path"
        ]
        == "a/b/c.txt"
    )
    assert s.get(RUN + "/files/a/b/c.txt", headers=h).content == b"1"


def test_file_size_limit(make_server: Any) -> None:
    s = make_server(max_file_bytes=1000)
    h = s.user("alice")
    s.put(RUN, headers=h)
    error(s.put(RUN + "/files/big.bin", content=b"x" * 1001, headers=h), 413)
    assert s.put(RUN + "/files/ok.bin", content=b"x" * 1000, headers=h).status_code == 200
    assert [f["path"] for f in s.get(RUN + "/files", headers=h).json()] == ["ok.bin"]
