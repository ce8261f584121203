"""Reference entries: files an artifact names by URI without copying them.

What is recorded is what lets a later reader tell whether the referenced bytes are still the
ones that were logged: a SHA-256 for ``file://`` (read here once), the object's ETag for
``s3://`` (S3 computes it; reading a large dataset just to name it would defeat the point of a
reference), and for ``http(s)://`` the server's ETag, or a SHA-256 of the body when it sends
none. A URI that names a folder or an S3 prefix adds one entry per file under it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

from labbook.blobs import sha256_file
from labbook.errors import NotFoundError, UsageError

MAX_OBJECTS = 100_000
Resolved = tuple[str, str, int, str]  # (entry path, digest, size, uri)


def resolve_reference(uri: str, name: str | None, checksum: bool = True) -> list[Resolved]:
    if not isinstance(uri, str) or "://" not in uri:
        raise UsageError(f"add_reference({uri!r}): expected a file://, s3:// or http(s):// URI")
    scheme = uri.split("://", 1)[0].lower()
    if scheme == "file":
        return _file(uri, name, checksum)
    if scheme == "s3":
        return _s3(uri, name)
    if scheme in ("http", "https"):
        return [_http(uri, name)]
    raise UsageError(f"add_reference({uri!r}): references take file://, s3:// or http(s)://")


def _under(name: str | None, rel: str) -> str:
    return f"{name.rstrip('/')}/{rel}" if name else rel


def _file(uri: str, name: str | None, checksum: bool) -> list[Resolved]:
    path = Path(unquote(urlparse(uri).path))
    if path.is_file():
        digest, size = sha256_file(path) if checksum else (_uri_digest(uri), path.stat().st_size)
        return [(name or path.name, digest, size, path.resolve().as_uri())]
    if path.is_dir():
        out = []
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            rel = p.relative_to(path).as_posix()
            digest, size = (
                sha256_file(p) if checksum else (_uri_digest(p.as_uri()), p.stat().st_size)
            )
            out.append((_under(name, rel), digest, size, p.resolve().as_uri()))
        return out
    raise NotFoundError(f"add_reference: {str(path)!r} does not exist")


def _uri_digest(uri: str) -> str:
    return hashlib.sha256(uri.encode()).hexdigest()


def _s3(uri: str, name: str | None) -> list[Resolved]:
    from labbook.blobs import S3BlobStore
    from labbook.blobs._s3 import parse_s3_uri
    from labbook.settings import Settings

    bucket, key = parse_s3_uri(uri)
    s = Settings()
    client = S3BlobStore._make_client(s.s3_endpoint_url, s.s3_region)
    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except Exception:
        head = None
    if head is not None and key:
        path = name or PurePosixPath(key).name
        return [(path, head["ETag"], int(head["ContentLength"]), uri)]
    prefix = key.rstrip("/") + "/" if key else ""
    out: list[Resolved] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            rel = obj["Key"][len(prefix) :]
            if not rel or rel.endswith("/"):
                continue
            out.append(
                (_under(name, rel), obj["ETag"], int(obj["Size"]), f"s3://{bucket}/{obj['Key']}")
            )
            if len(out) > MAX_OBJECTS:
                raise UsageError(f"add_reference({uri!r}): more than {MAX_OBJECTS:,} objects")
    if not out:
        raise NotFoundError(f"add_reference: nothing at {uri}")
    return out


def _http(uri: str, name: str | None) -> Resolved:
    import httpx

    path = name or PurePosixPath(urlparse(uri).path).name or "index"
    with httpx.Client(follow_redirects=True, timeout=30.0) as http:
        head = http.head(uri)
        if head.status_code < 400 and head.headers.get("etag"):
            return (path, head.headers["etag"], int(head.headers.get("content-length", 0)), uri)
        h = hashlib.sha256()
        size = 0
        with http.stream("GET", uri) as resp:
            if resp.status_code >= 400:
                raise NotFoundError(f"add_reference: {uri} answered {resp.status_code}")
            for chunk in resp.iter_bytes():
                h.update(chunk)
                size += len(chunk)
        return (path, h.hexdigest(), size, uri)
