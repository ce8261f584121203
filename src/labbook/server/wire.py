"""Encoding of request and response bodies: JSON with non-finite floats as strings, msgpack,
bounded (gzip) body reading, opaque cursors and the validation of names and file paths."""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import numpy as np
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from labbook.errors import PayloadTooLarge, UsageError, ValidationError
from labbook.limits import MAX_NAME_CHARS

MSGPACK = "application/msgpack"
NAME_RE = re.compile(rf"^[A-Za-z0-9_.-]{{1,{MAX_NAME_CHARS}}}$")

_json = msgspec.json.Encoder()
_msgpack = msgspec.msgpack.Encoder()


def _float(x: float) -> Any:
    if math.isfinite(x):
        return x
    return "NaN" if math.isnan(x) else ("Infinity" if x > 0 else "-Infinity")


def jsonable(obj: Any) -> Any:
    """``obj`` with non-finite floats as "NaN"/"Infinity"/"-Infinity" (the API's JSON rule)."""
    if isinstance(obj, float):
        return _float(obj)
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return array_json(obj)
    return obj


def array_json(a: np.ndarray) -> list[Any]:
    """A numpy array as a JSON-able list, non-finite floats spelled as strings."""
    if a.dtype.kind == "f":
        finite = np.isfinite(a)
        out = a.tolist()
        if not bool(finite.all()):
            for i in np.flatnonzero(~finite).tolist():
                out[i] = _float(out[i])
        return out
    return jsonable(a.tolist())


class LabbookJSONResponse(JSONResponse):
    """JSON that keeps NaN and ±Inf (as strings) instead of failing on them."""

    def render(self, content: Any) -> bytes:
        return _json.encode(jsonable(content))


class PreparedJSONResponse(JSONResponse):
    """JSON of content that is already JSON-able (non-finite floats spelled out by the caller,
    e.g. column by column), encoded without another walk over every value."""

    def render(self, content: Any) -> bytes:
        return _json.encode(content)


def wants_msgpack(request: Request) -> bool:
    return MSGPACK in request.headers.get("accept", "")


def respond(request: Request, content: Any) -> Response:
    """msgpack (exact float64) when the client accepts it, else JSON."""
    if wants_msgpack(request):
        return Response(_msgpack.encode(content), media_type=MSGPACK)
    return LabbookJSONResponse(content)


# --------------------------------------------------------------------------------- request bodies
async def read_body(request: Request, limit: int) -> bytes:
    """The request body, gunzipped when ``Content-Encoding: gzip``; 413 past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise UsageError(f"unsupported Content-Encoding {encoding!r}: use gzip or none")
    gz = encoding == "gzip"
    if not gz and declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body is larger than {limit} bytes")
    return await _bounded(request.stream(), limit, gz)


async def _bounded(chunks: AsyncIterator[bytes], limit: int, gz: bool) -> bytes:
    out = bytearray()
    raw = 0
    d = zlib.decompressobj(wbits=31) if gz else None
    too_big = PayloadTooLarge(f"request body is larger than {limit} bytes")
    async for chunk in chunks:
        raw += len(chunk)
        if d is None:
            out += chunk
        else:
            try:
                # max_length bounds the output of each step: a zip bomb stops at the limit.
                data = d.decompress(chunk, limit + 1 - len(out))
                while d.unconsumed_tail and len(out) + len(data) <= limit:
                    out += data
                    data = d.decompress(d.unconsumed_tail, limit + 1 - len(out))
            except zlib.error as e:
                raise UsageError(f"request body is not valid gzip: {e}") from None
            out += data
        if len(out) > limit or raw > limit * 1024:
            raise too_big
    if d is not None and not d.eof and raw:
        raise UsageError("request body is truncated gzip")
    return bytes(out)


def decode_body(body: bytes, content_type: str) -> Any:
    """A msgpack or JSON body (JSON non-finite float strings are left as strings)."""
    try:
        if MSGPACK in content_type or "application/x-msgpack" in content_type:
            return msgspec.msgpack.decode(body)
        return msgspec.json.decode(body)
    except msgspec.DecodeError as e:
        raise UsageError(f"request body could not be decoded: {e}") from None


# ------------------------------------------------------------------------------------ cursors
def encode_cursor(n: int) -> str:
    return base64.urlsafe_b64encode(f"o:{n}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The offset in an opaque cursor (0 without one); 422 for a cursor we did not hand out."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if raw.startswith("o:") and raw[2:].isdigit() and len(raw) < 24:
            return int(raw[2:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise ValidationError("invalid cursor")


# ------------------------------------------------------------------------------ names and paths
def check_name(kind: str, value: str) -> str:
    if not NAME_RE.match(value) or value in (".", ".."):
        raise ValidationError(f"invalid {kind} name: use 1-{MAX_NAME_CHARS} of A-Z a-z 0-9 _ . -")
    return value


# ------------------------------------------------------------------------------ query parameters
def parse_filters(filters: str | None) -> dict[str, Any] | None:
    """The ``filters`` query parameter: a JSON object in the store's vocabulary, or None."""
    if not filters:
        return None
    try:
        flt = msgspec.json.decode(filters)
    except msgspec.DecodeError:
        raise ValidationError("filters must be a JSON object") from None
    if not isinstance(flt, dict):
        raise ValidationError("filters must be a JSON object")
    return flt


def split_list(value: str | None, what: str, most: int) -> list[str]:
    """A comma-separated query parameter as a list (empty items dropped, order and duplicates
    kept out); 422 naming ``what`` past ``most`` items."""
    if not value:
        return []
    items = list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))
    if len(items) > most:
        raise ValidationError(f"{what}: at most {most} items, got {len(items)}")
    return items


# ---------------------------------------------------------------------------- conditional GETs
def etag_of(*parts: Any) -> str:
    """A strong ETag over ``parts`` (anything msgpack encodes): the answer's version and the
    request's parameters, so equal tags mean equal bodies."""
    digest = hashlib.blake2b(_msgpack.encode(list(parts)), digest_size=16).hexdigest()
    return f'"{digest}"'


def not_modified(request: Request, etag: str) -> Response | None:
    """A 304 when the request's ``If-None-Match`` holds ``etag`` (or ``*``), else None."""
    header = request.headers.get("if-none-match")
    if not header:
        return None
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    if etag in tags or "*" in tags:
        return Response(status_code=304, headers=cache_headers(etag))
    return None


def cache_headers(etag: str) -> dict[str, str]:
    """Headers of an answer that may be revalidated: browsers ask again every time (no-cache)
    with the ETag, and JSON and msgpack answers of one URL are kept apart (Vary: Accept)."""
    return {"ETag": etag, "Cache-Control": "no-cache", "Vary": "Accept"}


def respond_tagged(
    request: Request, content: Any, etag: str, *, prepared: bool = False
) -> Response:
    """``respond`` with the conditional-GET headers of ``etag``; ``prepared``: the content is
    JSON-able as it is (see :class:`PreparedJSONResponse`)."""
    if prepared and not wants_msgpack(request):
        resp: Response = PreparedJSONResponse(content)
    else:
        resp = respond(request, content)
    resp.headers.update(cache_headers(etag))
    return resp
