"""One error hierarchy for the SDK, the Store and (later) the server.

Every subclass carries a stable machine-readable ``code`` and the HTTP ``status`` the server
answers with, so that the server can map an exception to ``{"error": {"code", "message"}}`` and
the client can map the answer back to the same class.
"""

from __future__ import annotations


class LabbookError(Exception):
    """Base of every error labbook raises on purpose."""

    code: str = "error"
    status: int = 500

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message or (self.__class__.__doc__ or self.code).strip()

    def details(self) -> dict[str, object]:
        """Fields the wire error carries besides code and message (none by default)."""
        return {}

    def to_dict(self) -> dict[str, dict[str, object]]:
        return {"error": {"code": self.code, "message": self.message, **self.details()}}


class UsageError(LabbookError, ValueError):
    """The caller passed something labbook cannot accept."""

    code = "bad_request"
    status = 400


class ValidationError(UsageError):
    """A value failed validation (a name, a filter, a path)."""

    code = "validation_error"
    status = 422


class RecordsRefused(ValidationError):
    """The destination refused records of a batch for good (a limit, a value it cannot store).

    Raised by the SDK's sinks, only for the records they were given: the run, the credentials
    and the connection were fine, so sending the same batch again would fail forever. The
    sender isolates the refused records, sets them aside and stores the others.
    """

    code = "records_refused"


class ConfigValueChangeError(UsageError):
    """A config key already holds a different value; pass allow_val_change=True to change it."""

    code = "config_value_change"
    status = 409


class NotFoundError(LabbookError, LookupError):
    """The thing asked for does not exist (or is not visible to the caller)."""

    code = "not_found"
    status = 404


class ProjectNotFound(NotFoundError):
    """No such project."""

    code = "project_not_found"


class RunNotFound(NotFoundError):
    """No such run."""

    code = "run_not_found"


class ConflictError(LabbookError):
    """The request conflicts with what is stored."""

    code = "conflict"
    status = 409


class BlobsMissing(ConflictError):
    """An artifact version names blobs the store does not hold yet; upload them, then commit."""

    code = "blobs_missing"

    def __init__(self, message: str = "", missing: list[str] | None = None) -> None:
        super().__init__(message)
        self.missing = list(missing or [])

    def details(self) -> dict[str, object]:
        return {"missing": self.missing}


class ChecksumMismatch(LabbookError):
    """Bytes read back do not hash to what the manifest says: a corrupt or changed file."""

    code = "checksum_mismatch"
    status = 422


class JournalError(LabbookError):
    """A run journal is missing or unreadable."""

    code = "journal_error"
    status = 400


class SinkError(LabbookError):
    """A sink could not accept a batch; the sender retries, the journal keeps the records."""

    code = "sink_error"
    status = 503


class StorageFull(LabbookError):
    """The store has no room left (a full disk or quota); this call stored nothing."""

    code = "storage_full"
    status = 507


class AuthenticationError(LabbookError):
    """Missing or invalid credentials (an API key or a session)."""

    code = "unauthenticated"
    status = 401


class PermissionDenied(LabbookError):
    """The caller can see this but lacks the role needed to change it."""

    code = "forbidden"
    status = 403


class PayloadTooLarge(UsageError):
    """The request body is larger than the server accepts."""

    code = "payload_too_large"
    status = 413


class RangeNotSatisfiable(UsageError):
    """The requested byte range is malformed or lies outside the file."""

    code = "range_not_satisfiable"
    status = 416

    def __init__(self, message: str = "", size: int | None = None) -> None:
        super().__init__(message)
        self.size = size


class RateLimited(LabbookError):
    """Too many attempts; wait before trying again."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str = "", retry_after: int = 60) -> None:
        super().__init__(message)
        self.retry_after = retry_after


_BY_CODE: dict[str, type[LabbookError]] = {}


def _register(cls: type[LabbookError]) -> None:
    _BY_CODE[cls.code] = cls
    for sub in cls.__subclasses__():
        _register(sub)


def error_class(code: str) -> type[LabbookError]:
    """The error class for a wire ``code`` (the base class for unknown codes)."""
    if not _BY_CODE:
        _register(LabbookError)
    return _BY_CODE.get(code, LabbookError)
