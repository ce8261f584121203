"""What makes an artifact version what it is: its entries, their canonical digest, its names.

Shared by the SDK (which computes a version's digest before uploading anything, so logging
identical content twice is known at once), the Store (which recomputes it: the server never
trusts a client's digest) and the server's routes. Pure: no I/O, nothing heavy imported.

A version's identity is the SHA-256 of the canonical JSON of its entries sorted by path,
``[[path, digest, size, ref], ...]`` with compact separators and no ASCII escaping: the same
files under the same names are the same version, whatever order they were added in and whatever
the artifact's description or metadata say (those describe a version, they do not make one).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from labbook.errors import ValidationError
from labbook.limits import MAX_NAME_CHARS, normalize_path

NAME_RE = re.compile(rf"^[A-Za-z0-9_.-]{{1,{MAX_NAME_CHARS}}}$")
VERSION_RE = re.compile(r"^v(0|[1-9][0-9]{0,8})$")
LATEST = "latest"
MAX_ENTRIES = 1_000_000
"""Entries of one version: a manifest of a million files is ~100 MB of JSON, past which a
dataset belongs in references (``add_reference``) rather than in copies."""
MAX_DIGEST_CHARS = 256
"""An entry's digest: a SHA-256, or a reference's checksum or ETag (S3's multipart ETags and
HTTP ETags are longer than a hash, but not by much)."""
MAX_REF_CHARS = 2048


def check_name(kind: str, value: object) -> str:
    """``value`` when it is a valid artifact (or type, or registered model) name; 422 otherwise."""
    if not isinstance(value, str) or not NAME_RE.match(value) or value in (".", ".."):
        raise ValidationError(
            f"invalid {kind} {value!r}: use 1-{MAX_NAME_CHARS} of A-Z a-z 0-9 _ . -"
        )
    return value


def check_alias(alias: object) -> str:
    """An alias someone may set: a name, but not ``vN`` (a version) and not ``latest`` (which
    always follows the newest version, so setting it by hand would make it lie)."""
    a = check_name("alias", alias)
    if VERSION_RE.match(a):
        raise ValidationError(f"invalid alias {a!r}: 'vN' names a version")
    if a == LATEST:
        raise ValidationError("invalid alias 'latest': it always follows the newest version")
    return a


def check_aliases(aliases: Iterable[object] | None) -> list[str]:
    """Aliases as given, checked, duplicates and ``latest`` dropped (wandb passes ``latest``
    explicitly and means the default), order kept."""
    out: list[str] = []
    for a in aliases or ():
        if a == LATEST:
            continue
        a = check_alias(a)
        if a not in out:
            out.append(a)
    return out


def version_index(ref: str) -> int | None:
    """The index of ``vN``, or None when ``ref`` is an alias."""
    m = VERSION_RE.match(ref)
    return int(m.group(1)) if m else None


@dataclass(frozen=True)
class Entry:
    """One file of a version: a blob (``digest`` is its SHA-256) or a reference (``ref`` is a
    URI whose content is not copied; ``digest`` is its checksum or ETag at logging time)."""

    path: str
    digest: str
    size: int
    ref: str | None = None

    def as_list(self) -> list[object]:
        return [self.path, self.digest, self.size, self.ref]

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "digest": self.digest, "size": self.size, "ref": self.ref}


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_entry(path: object, digest: object, size: object, ref: object = None) -> Entry:
    """An entry with a normalised path; ValidationError naming the entry otherwise."""
    if not isinstance(path, str):
        raise ValidationError(f"invalid artifact entry path {path!r}")
    clean = normalize_path(path)
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValidationError(f"artifact entry {clean!r}: size must be an integer >= 0")
    if ref is None:
        if not isinstance(digest, str) or not _SHA256.match(digest):
            raise ValidationError(f"artifact entry {clean!r}: digest must be a SHA-256 hex digest")
    else:
        if not isinstance(ref, str) or not ref or len(ref) > MAX_REF_CHARS:
            raise ValidationError(f"artifact entry {clean!r}: invalid reference URI")
        scheme = ref.split("://", 1)[0].lower() if "://" in ref else ""
        if scheme not in ("s3", "file", "http", "https", "gs"):
            raise ValidationError(
                f"artifact entry {clean!r}: references take s3://, gs://, file:// or http(s):// "
                f"URIs, not {ref!r}"
            )
        if not isinstance(digest, str) or not digest or len(digest) > MAX_DIGEST_CHARS:
            raise ValidationError(f"artifact entry {clean!r}: invalid reference digest")
    return Entry(clean, digest, size, ref)


def sorted_entries(entries: Iterable[Entry]) -> list[Entry]:
    """Entries by path; ValidationError when two have the same path."""
    out = sorted(entries, key=lambda e: e.path)
    for a, b in itertools.pairwise(out):
        if a.path == b.path:
            raise ValidationError(f"artifact entry {a.path!r} appears twice")
    if len(out) > MAX_ENTRIES:
        raise ValidationError(f"an artifact version holds at most {MAX_ENTRIES:,} entries")
    return out


def manifest_digest(entries: Iterable[Entry]) -> str:
    """The version's identity (see the module docstring)."""
    canon = json.dumps(
        [e.as_list() for e in sorted_entries(entries)], separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canon.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ArtifactPath:
    """``[[entity/]project/]name[:ref]`` split; the parts not given are None (ref: ``latest``)."""

    entity: str | None
    project: str | None
    name: str
    ref: str

    def __str__(self) -> str:
        head = "/".join(p for p in (self.entity, self.project) if p)
        return f"{head + '/' if head else ''}{self.name}:{self.ref}"


def parse_artifact_path(path: object) -> ArtifactPath:
    """wandb's artifact names: ``name``, ``name:alias``, ``name:v3``, ``project/name:alias``,
    ``entity/project/name:alias``."""
    if not isinstance(path, str) or not path.strip():
        raise ValidationError(f"invalid artifact name {path!r}: expected 'name:alias'")
    head, _, ref = path.strip().rpartition(":") if ":" in path else (path.strip(), "", "")
    ref = ref or LATEST
    parts = head.split("/")
    if len(parts) > 3:
        raise ValidationError(
            f"invalid artifact name {path!r}: expected 'name:alias', 'project/name:alias' or "
            "'entity/project/name:alias'"
        )
    name = check_name("artifact name", parts[-1])
    project = check_name("project", parts[-2]) if len(parts) >= 2 else None
    entity = check_name("entity", parts[-3]) if len(parts) == 3 else None
    if ref != LATEST and version_index(ref) is None:
        check_name("alias", ref)
    return ArtifactPath(entity, project, name, ref)
