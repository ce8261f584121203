"""The only reader of the environment.

Everything configurable lives on :class:`Settings` (``LABBOOK_`` prefix). Code below takes a
``Settings`` instance as an argument instead of reading ``os.environ`` itself, so tests build one
with explicit values and nothing depends on import-time globals.

Why a plain dataclass and not pydantic-settings: ``init()`` builds one on the training thread,
and pydantic-settings with pydantic costs ~0.13 s of CPU to import, more than the whole rest of
``init``. The rules are few and written out here: a field passed to ``Settings(...)`` wins, else
its ``LABBOOK_<FIELD>`` variable, else the default; values are parsed by the field's kind, and a
malformed one is a :class:`~labbook.errors.UsageError` naming the variable. A blank variable is
unset (``LABBOOK_API_KEY=`` in a Docker env file).
"""

from __future__ import annotations

import dataclasses
import getpass
import ipaddress
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from labbook.errors import UsageError

Mode = Literal["online", "offline", "disabled"]
MODES: tuple[str, ...] = ("online", "offline", "disabled")
PREFIX = "LABBOOK_"

_TRUE = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "off", "n", "f"})


def _config_home() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg) if xdg else Path.home() / ".config"


def _cache_home() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg else Path.home() / ".cache"


# ----- parsers: (what the value came from, the value) -> the field's value ------------------------


def _bool(src: str, v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
        return v.strip().lower() in _TRUE
    if isinstance(v, int) and v in (0, 1):
        return bool(v)
    raise UsageError(f"{src}={v!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def _opt_bool(src: str, v: Any) -> bool | None:
    return None if v is None or (isinstance(v, str) and not v.strip()) else _bool(src, v)


def _float(src: str, v: Any) -> float:
    if isinstance(v, bool):
        raise UsageError(f"{src}={v!r} is not a number")
    try:
        return float(v)
    except (TypeError, ValueError):
        raise UsageError(f"{src}={v!r} is not a number") from None


def _int(src: str, v: Any) -> int:
    if isinstance(v, int) and not isinstance(v, bool):
        return v
    try:
        return int(str(v).strip())
    except ValueError:
        raise UsageError(f"{src}={v!r} is not an integer") from None


def _str(src: str, v: Any) -> str:
    if not isinstance(v, str):
        raise UsageError(f"{src}={v!r} is not a string")
    return v


def _opt_str(src: str, v: Any) -> str | None:
    return None if v is None else _str(src, v)


def _path(src: str, v: Any) -> Path:
    if isinstance(v, Path):
        return v
    if isinstance(v, str | os.PathLike):
        return Path(v)
    raise UsageError(f"{src}={v!r} is not a path")


def _opt_path(src: str, v: Any) -> Path | None:
    return None if v is None or v == "" else _path(src, v)


def _mode(src: str, v: Any) -> str:
    if v not in MODES:
        raise UsageError(f"{src}={v!r}: mode must be 'online', 'offline' or 'disabled'")
    return str(v)


def _str_list(src: str, v: Any) -> list[str]:
    """A list, or a comma-separated string (the environment's spelling)."""
    if isinstance(v, str):
        return [part.strip() for part in v.split(",") if part.strip()]
    if isinstance(v, list | tuple) and all(isinstance(x, str) for x in v):
        return list(v)
    raise UsageError(f"{src}={v!r} is not a list of strings")


_UNSET: Any = object()


def _f(parse: Callable[[str, Any], Any], default: Any = None, factory: Any = None) -> Any:
    """A field whose value, when not passed, comes from ``LABBOOK_<NAME>`` or the default."""
    return field(default=_UNSET, metadata={"parse": parse, "default": default, "factory": factory})


@dataclass(kw_only=True, eq=True)
class Settings:
    """labbook's configuration; every field can be set as ``LABBOOK_<FIELD>`` in the environment."""

    dir: Path = _f(_path, factory=lambda: Path.home() / ".labbook")
    """Data directory of the local store (database and blobs)."""
    db_url: str | None = _f(_opt_str)
    """SQLAlchemy URL of the store; defaults to SQLite inside ``dir``."""
    db_schema: str = _f(_str, "labbook")
    """PostgreSQL schema of every labbook table (created when missing), so an application can
    share the database; SQLite ignores it. Tables an older labbook made in ``public`` are moved
    in on the first start."""
    blobs_uri: str | None = _f(_opt_str)
    """Blob store URI; defaults to ``file://<dir>/blobs``. ``s3://bucket/prefix`` for S3."""
    s3_endpoint_url: str | None = _f(_opt_str)
    """Endpoint of an S3-compatible service (MinIO, Ceph, R2, ...) for ``s3://`` blob stores;
    unset means AWS S3. Credentials come from boto3's chain (``AWS_*`` variables, profiles)."""
    s3_region: str | None = _f(_opt_str)
    """Region of the ``s3://`` bucket; unset means boto3's default (``AWS_DEFAULT_REGION``...)."""

    mode: Mode = _f(_mode, "online")
    base_url: str | None = _f(_opt_str)
    """The labbook server (``LABBOOK_BASE_URL``). Set here or stored by ``labbook login``, runs
    go to that server; unset and never logged in, they go to the local store. Run URLs point
    there (``http://127.0.0.1:<port>``, what ``labbook ui`` serves, when unset)."""
    api_key: str | None = _f(_opt_str)
    """API key for the server; overrides the key stored by ``labbook login``."""
    config_dir: Path = _f(_path, factory=lambda: _config_home() / "labbook")
    """Where ``labbook login`` keeps ``credentials.json`` (``$XDG_CONFIG_HOME/labbook``)."""
    cache_dir: Path = _f(_path, factory=lambda: _cache_home() / "labbook")
    """Where downloaded artifact files are kept by their SHA-256 (``$XDG_CACHE_HOME/labbook``),
    so a file any artifact shares is fetched once; ``labbook artifact cache cleanup`` bounds it."""
    http_timeout: float = _f(_float, 30.0)
    """Seconds one HTTP request to the server may take (connecting: at most 10)."""
    http_retry_seconds: float = _f(_float, 10.0)
    """How long one client call keeps retrying a down or busy server before it gives up (the
    sender then backs off and tries again; nothing is lost)."""
    project: str | None = _f(_opt_str)
    entity: str | None = _f(_opt_str)
    run_dir: Path | None = _f(_opt_path)
    """Parent of the ``labbook/`` journal folder; defaults to the current directory."""

    flush_interval: float = _f(_float, 0.1)
    """Seconds between journal flushes; a SIGKILL loses at most this much."""
    journal_buffer_bytes: int = _f(_int, 64 * 1024 * 1024)
    """Bytes of records the journal writer holds in memory while the journal cannot be written
    (a full disk): it retries and writes them all once there is room. Past this bound (give or
    take the records of one flush) it drops new history rows, counted and reported by
    ``finish()`` and ``labbook sync``."""
    finish_timeout: float = _f(_float, 60.0)
    """Seconds ``finish()`` waits for the sender before printing the sync command."""
    heartbeat_interval: float = _f(_float, 15.0)
    crash_after: float = _f(_float, 300.0)
    """A running run whose heartbeat is older than this reads as crashed."""
    sender_batch_bytes: int = _f(_int, 1_000_000)

    capture_console: bool = _f(_bool, True)
    capture_git: bool = _f(_bool, True)
    capture_requirements: bool = _f(_bool, True)
    capture_system: bool = _f(_bool, True)
    system_metrics: bool = _f(_bool, True)
    """Sample CPU, memory, disk, network and GPUs into ``system/*`` keys while a run is live."""
    system_interval: float = _f(_float, 10.0)
    silent: bool = _f(_bool, False)
    """No lines from ``init`` and ``finish`` (warnings about lost data are still printed)."""

    # --- server (``labbook server``)
    host: str = _f(_str, "127.0.0.1")
    port: int = _f(_int, 8080)
    """Port of ``labbook server`` and ``labbook ui``; local runs' URLs name it."""
    auth: bool | None = _f(_opt_bool)
    """Require credentials. Unset: on for a non-loopback bind, and on loopback as soon as the
    database holds a user with a password or an API key (``labbook.server.auth.AuthMode``);
    ``false`` is refused on a non-loopback address."""
    cors_origins: list[str] = _f(_str_list, factory=list)
    """Origins allowed by CORS (comma-separated in the environment); empty = CORS off."""
    max_body_bytes: int = _f(_int, 16 * 1024 * 1024)
    """Largest record batch (after gunzip) the server accepts."""
    max_file_bytes: int = _f(_int, 64 * 1024**3)
    """Largest run file the server accepts."""
    session_days: float = _f(_float, 14.0)
    login_max_failures: int = _f(_int, 10)
    """Failed password logins per username and client per minute before 429."""
    web_dir: Path | None = _f(_opt_path)
    """The dashboard's build (``index.html`` and ``assets/``) that the server serves at ``/``;
    unset: the one shipped in the package (``labbook/server/webapp``)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            parse = f.metadata["parse"]
            value = getattr(self, f.name)
            if value is _UNSET:
                var = PREFIX + f.name.upper()
                raw = os.environ.get(var, "")
                if raw.strip():  # set and not blank (``VAR=`` in an env file means unset)
                    value = parse(var, raw)
                else:
                    factory = f.metadata["factory"]
                    value = factory() if factory is not None else f.metadata["default"]
            else:  # passed in code: parsed like the environment's (``dir="/x"`` is a Path)
                value = parse(f.name, value)
            setattr(self, f.name, value)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (the rest, environment included, as they are here)."""
        return dataclasses.replace(self, **changes)

    def resolved_db_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.expanded_dir() / 'labbook.db'}"

    def resolved_blobs_uri(self) -> str:
        if self.blobs_uri:
            return self.blobs_uri
        return (self.expanded_dir() / "blobs").as_uri()

    def expanded_dir(self) -> Path:
        return Path(self.dir).expanduser()


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def local_entity() -> str:
    """The entity of runs in a local store: the OS user's name (``USER``/``LOGNAME``...), made a
    valid name; ``local`` when there is none."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        return "local"
    clean = re.sub(r"[^A-Za-z0-9_.-]", "-", user)[:128]
    return clean or "local"
