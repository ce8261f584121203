"""File downloads for the dashboard: Content-Type by name, byte ranges, 64 KiB previews, sandbox."""

from __future__ import annotations

import pytest
from lbserver import Server, error

from labbook.server.routes.files import PREVIEW_BYTES, byte_range, content_type

RUN = "/projects/alice/digits/runs/r1"


@pytest.fixture
def files(server: Server) -> tuple[Server, dict[str, str]]:
    s = server
    h = s.user("alice")
    s.put(RUN, headers=h)
    return s, h


def _put(s: Server, h: dict[str, str], path: str, data: bytes) -> None:
    r = s.put(f"{RUN}/files/{path}", content=data, headers=h)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("path", "ctype", "disposition"),
    [
        ("output.log", "text/plain; charset=utf-8", "inline"),
        ("logs/train.txt", "text/plain; charset=utf-8", "inline"),
        ("code/train.py", "text/plain; charset=utf-8", "inline"),
        ("config.yaml", "text/plain; charset=utf-8", "inline"),
        ("requirements", "text/plain; charset=utf-8", "inline"),
        ("diff.patch", "text/plain; charset=utf-8", "inline"),
        ("metrics.csv", "text/csv; charset=utf-8", "inline"),
        ("notes.md", "text/markdown; charset=utf-8", "inline"),
        ("report.html", "text/html; charset=utf-8", "inline"),
        ("wandb-summary.json", "application/json", "inline"),
        ("media/images/cm_3.png", "image/png", "inline"),
        ("photo.JPG", "image/jpeg", "inline"),
        ("chart.svg", "image/svg+xml", "inline"),
        ("model-best.keras", "application/octet-stream", "attachment"),
        ("weights.bin", "application/octet-stream", "attachment"),
        ("archive.zip", "application/zip", "attachment"),
    ],
)
def test_content_type_from_the_name(
    files: tuple[Server, dict[str, str]], path: str, ctype: str, disposition: str
) -> None:
    s, h = files
    _put(s, h, path, b"data")
    r = s.get(f"{RUN}/files/{path}", headers=h)
    assert r.status_code == 200 and r.content == b"data"
    assert r.headers["content-type"] == ctype
    name = path.rsplit("/", 1)[-1]
    assert r.headers["content-disposition"] == f"{disposition}; filename*=UTF-8''{name}"
    # uploaded files never run as the dashboard's origin
    assert r.headers["content-security-policy"].startswith("sandbox")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["accept-ranges"] == "bytes"
    assert r.headers["content-length"] == "4"
    d = s.get(f"{RUN}/files/{path}?download=1", headers=h)
    assert d.headers["content-disposition"].startswith("attachment;")


def test_byte_ranges(files: tuple[Server, dict[str, str]]) -> None:
    s, h = files
    data = bytes(range(256)) * 5000  # 1.28 MB: two blob chunks
    _put(s, h, "output.log", data)
    url = f"{RUN}/files/output.log"
    size = len(data)
    cases = {
        "bytes=0-99": (0, 99),
        "bytes=100-": (100, size - 1),
        "bytes=-10": (size - 10, size - 1),
        "bytes=-5000000": (0, size - 1),
        f"bytes={size - 3}-{size + 100}": (size - 3, size - 1),
        "bytes=1048570-1048590": (1048570, 1048590),  # across a 1 MiB chunk edge
    }
    for header, (a, b) in cases.items():
        r = s.get(url, headers=h | {"Range": header})
        assert r.status_code == 206, (header, r.text[:200])
        assert r.content == data[a : b + 1], header
        assert r.headers["content-range"] == f"bytes {a}-{b}/{size}"
        assert r.headers["content-length"] == str(b - a + 1)
    for bad in (f"bytes={size}-", "bytes=5-2", "bytes=-0", "bytes=abc", "bytes=0-1,5-6", "bytes=-"):
        r = s.get(url, headers=h | {"Range": bad})
        assert "range" in error(r, 416, "range_not_satisfiable").lower()
        assert r.headers["content-range"] == f"bytes */{size}"
    assert s.get(url, headers=h | {"Range": "lines=1-2"}).status_code == 200  # another unit
    etag = s.get(url, headers=h).headers["etag"]
    r = s.get(url, headers=h | {"Range": "bytes=0-9", "If-Range": etag})
    assert r.status_code == 206 and r.content == data[:10]
    r = s.get(url, headers=h | {"Range": "bytes=0-9", "If-Range": '"old"'})
    assert r.status_code == 200 and r.content == data  # a changed file: the whole of it
    _put(s, h, "empty.txt", b"")
    r = s.get(f"{RUN}/files/empty.txt", headers=h | {"Range": "bytes=0-"})
    error(r, 416)


def test_preview(files: tuple[Server, dict[str, str]]) -> None:
    s, h = files
    small = b"epoch 1 loss 0.5\n" * 10
    _put(s, h, "small.log", small)
    r = s.get(f"{RUN}/files/small.log?preview=1", headers=h)
    assert r.status_code == 200 and r.content == small
    assert r.headers["x-labbook-truncated"] == "false"
    big = ("é" * 40_000).encode() + b"tail"  # 2-byte characters across the 64 KiB cut
    _put(s, h, "big.log", big)
    r = s.get(f"{RUN}/files/big.log?preview=1", headers=h)
    assert r.headers["x-labbook-truncated"] == "true"
    assert len(r.content) <= PREVIEW_BYTES and len(r.content) >= PREVIEW_BYTES - 3
    assert r.content.decode("utf-8") == "é" * (PREVIEW_BYTES // 2)  # cut at a character edge
    assert r.headers["content-length"] == str(len(r.content))
    blob = bytes(range(256)) * 1000
    _put(s, h, "w.bin", blob)
    r = s.get(f"{RUN}/files/w.bin?preview=1", headers=h)
    assert r.content == blob[:PREVIEW_BYTES] and r.headers["x-labbook-truncated"] == "true"
    r = s.get(f"{RUN}/files/w.bin?preview=1", headers=h | {"Range": f"bytes={len(blob) - 100}-"})
    assert r.status_code == 200 and r.content == blob[-100:]
    assert r.headers["x-labbook-truncated"] == "false"  # the preview reached the end


def test_preview_permissions(files: tuple[Server, dict[str, str]]) -> None:
    s, h = files
    _put(s, h, "a.log", b"x")
    error(s.get(f"{RUN}/files/a.log?preview=1", headers=s.user("bob")), 404)
    error(s.get(f"{RUN}/files/a.log?preview=1"), 404)
    error(s.get(f"{RUN}/files/none.log?preview=1", headers=h), 404)


def test_helpers() -> None:
    assert content_type("a/b/LICENSE") == "text/plain; charset=utf-8"
    assert content_type("x.tar.gz") == "application/x-tar"
    assert content_type("noext") == "application/octet-stream"
    assert byte_range(None, 10) is None and byte_range("items=1-2", 10) is None
    assert byte_range("bytes = 2 - 4", 10) == (2, 4)
