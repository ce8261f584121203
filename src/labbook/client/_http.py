"""The one seam to the network: an ``httpx.Client`` wrapped with auth, error mapping and retries.

Errors come back as ``{"error": {"code", "message"}}`` and are raised as the ``labbook.errors``
class that ``code`` names, so a caller sees the same exception the server raised. Connection
failures, timeouts, 5xx and 429 are retried with exponential backoff and full jitter
(``Retry-After`` honoured) within a per-call time budget; past it the call raises
:class:`ServerUnavailable` (or the server's error) and the caller decides: the sender backs off
and retries, ``init`` keeps journaling.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import json
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx
import msgspec

from labbook.errors import (
    AuthenticationError,
    BlobsMissing,
    LabbookError,
    NotFoundError,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    SinkError,
    UsageError,
    error_class,
)
from labbook.settings import Settings

if TYPE_CHECKING:
    from labbook.store import RunRef

API_PREFIX = "/api/v1"
MSGPACK = "application/msgpack"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 300.0

_msgpack_decoder = msgspec.msgpack.Decoder()


def run_path(ref: RunRef) -> str:
    """A run's resource path under ``/api/v1`` (the one place that spells it for clients)."""
    return f"/projects/{quote(ref.entity, safe='')}/{quote(ref.project, safe='')}/runs/" + quote(
        ref.id, safe=""
    )


class ServerUnavailable(SinkError):
    """The server could not be reached, timed out or kept failing (5xx/429) within the budget."""

    code = "server_unavailable"
    status = 503


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.2,
    cap: float = 5.0,
    retry_after: float | None = None,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0-based).

    Full jitter: uniform in ``[0, min(cap, base * 2**attempt))``. A server's ``Retry-After`` is a
    floor (never retry earlier than it asked), capped at :data:`MAX_RETRY_AFTER`.
    """
    ceiling = min(cap, base * (2 ** min(attempt, 30)))
    delay = ceiling * rand()
    if retry_after is not None:
        delay = max(delay, min(max(retry_after, 0.0), MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or malformed."""
    if value is None:
        return None
    value = value.strip()
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        secs = when.timestamp() - (time.time() if now is None else now)
    if secs != secs:  # NaN
        return None
    return max(0.0, secs)


def decode_body(resp: httpx.Response) -> Any:
    """A response body as Python values: msgpack when the server sent msgpack, else JSON."""
    if not resp.content:
        return None
    ctype = resp.headers.get("content-type", "")
    if ctype.startswith(MSGPACK):
        return _msgpack_decoder.decode(resp.content)
    return json.loads(resp.content)


def _error_from(resp: httpx.Response, base_url: str) -> LabbookError:
    code: str | None = None
    message = ""
    try:
        body = decode_body(resp)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = str(body["error"].get("code") or "")
        message = str(body["error"].get("message") or "")
    elif isinstance(body, dict) and "detail" in body:
        message = str(body["detail"])
    cls: type[LabbookError] = error_class(code) if code else LabbookError
    if cls is LabbookError:
        status = resp.status_code
        cls = {
            401: AuthenticationError,
            403: PermissionDenied,
            404: NotFoundError,
            413: PayloadTooLarge,
            429: RateLimited,
        }.get(status, ServerUnavailable if status >= 500 else UsageError)
    message = (
        message or f"{resp.request.method} {resp.request.url.path} answered {resp.status_code}"
    )
    try:
        err = cls(message)
    except TypeError:
        err = LabbookError(message)
    err.status = resp.status_code  # what this server said, whatever the class's default
    if isinstance(err, BlobsMissing) and isinstance(body, dict):
        missing = body["error"].get("missing")
        err.missing = [str(m) for m in missing] if isinstance(missing, list) else []
    if isinstance(err, RateLimited):
        ra = parse_retry_after(resp.headers.get("retry-after"))
        if ra is not None:
            err.retry_after = int(ra)
    return err


class Client:
    """Talks to one labbook server with one API key; thread-safe, keeps connections alive."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        retry_seconds: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        from labbook.client.credentials import normalize_host

        self.base_url = normalize_host(base_url)
        self.api_key = api_key
        self.retry_seconds = retry_seconds
        self._owns_http = http is None
        self._http = http or httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
            # Loading the CA bundle costs ~0.1 s at every start. A plain-HTTP server never
            # needs it: requests go only to base_url and redirects are not followed, so no TLS
            # connection can happen. An https:// server gets the usual verified context.
            verify=self.base_url.startswith("https://"),
        )
        self._sleep = sleep
        self._not_before = 0.0  # monotonic time a Retry-After asked us to wait for
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, http: httpx.Client | None = None) -> Client:
        """A client for the configured server (settings, then the credentials file)."""
        from labbook.client.credentials import server_settings

        s = server_settings(settings)
        if s.base_url is None:
            raise UsageError(
                "no labbook server configured: run `labbook login --host URL` or set "
                "LABBOOK_BASE_URL"
            )
        return cls(
            s.base_url,
            s.api_key,
            http=http,
            timeout=s.http_timeout,
            retry_seconds=s.http_retry_seconds,
        )

    def url(self, path: str) -> str:
        return f"{self.base_url}{API_PREFIX}{path}"

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        content: bytes | Callable[[], Iterable[bytes]] | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
        budget: float | None = None,
    ) -> httpx.Response:
        """Send one request, retrying transient failures for at most ``budget`` seconds.

        ``content`` may be a callable returning an iterable of chunks (a streamed upload): it is
        called again for each attempt. 4xx answers other than 408/429 are raised at once.
        """
        budget = self.retry_seconds if budget is None else budget
        deadline = time.monotonic() + budget
        hdrs = {"Accept": f"{MSGPACK}, application/json"}
        if self.api_key:
            hdrs["Authorization"] = f"Bearer {self.api_key}"
        if json_body is not None:
            hdrs["Content-Type"] = "application/json"
        if headers:
            hdrs.update(headers)
        body_json = (
            json.dumps(json_body, allow_nan=False).encode() if json_body is not None else None
        )
        attempt = 0
        while True:
            wait = self._not_before - time.monotonic()
            if wait > 0:
                if not retry or time.monotonic() + wait > deadline:
                    raise RateLimited(
                        f"{self.base_url} asked to wait {wait:.1f}s before the next request",
                        retry_after=int(wait) + 1,
                    )
                self._sleep(wait)
            data: Any = body_json if body_json is not None else content
            if callable(data):
                data = data()
            error: LabbookError
            retry_after: float | None = None
            try:
                resp = self._http.request(
                    method, self.url(path), params=params, content=data, headers=hdrs
                )
            except httpx.TransportError as exc:
                error = ServerUnavailable(
                    f"cannot reach the labbook server at {self.base_url}: "
                    f"{type(exc).__name__}: {exc}".rstrip(": ")
                )
            else:
                if resp.status_code < 400:
                    return resp
                error = _error_from(resp, self.base_url)
                if resp.status_code not in RETRY_STATUSES:
                    raise error
                retry_after = parse_retry_after(resp.headers.get("retry-after"))
                if retry_after is not None:
                    with self._lock:
                        self._not_before = max(
                            self._not_before,
                            time.monotonic() + min(retry_after, MAX_RETRY_AFTER),
                        )
            delay = backoff_delay(attempt, retry_after=retry_after)
            if not retry or time.monotonic() + delay > deadline:
                raise error
            self._sleep(delay)
            attempt += 1

    @contextlib.contextmanager
    def stream(
        self, method: str, path: str, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[httpx.Response]:
        """A response whose body is read as it arrives (a file download), once, without retries:
        a download that failed half-way is the caller's to repeat. Errors are raised as in
        :meth:`request`."""
        hdrs = {}
        if self.api_key:
            hdrs["Authorization"] = f"Bearer {self.api_key}"
        try:
            with self._http.stream(method, self.url(path), params=params, headers=hdrs) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise _error_from(resp, self.base_url)
                yield resp
        except httpx.TransportError as exc:
            raise ServerUnavailable(
                f"cannot reach the labbook server at {self.base_url}: {type(exc).__name__}: {exc}"
            ) from None

    def get(self, path: str, **kw: Any) -> Any:
        """GET and decode the body."""
        return decode_body(self.request("GET", path, **kw))

    def viewer(self, *, budget: float | None = None) -> dict[str, Any]:
        """``GET /viewer``: who the key belongs to (raises AuthenticationError when rejected)."""
        body = self.get("/viewer", budget=budget)
        if not isinstance(body, dict):
            raise LabbookError(f"{self.base_url} answered /viewer with {body!r}")
        return body
