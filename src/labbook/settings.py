"""The only reader of the environment.

Everything configurable lives on :class:`Settings` (``LABBOOK_`` prefix). Code below takes a
``Settings`` instance as an argument instead of reading ``os.environ`` itself, so tests build one
with explicit values and nothing depends on import-time globals.
"""

from __future__ import annotations

import getpass
import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Mode = Literal["online", "offline", "disabled"]


class Settings(BaseSettings):
    """labbook's configuration; every field can be set as ``LABBOOK_<FIELD>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="LABBOOK_", extra="ignore")

    dir: Path = Field(default_factory=lambda: Path.home() / ".labbook")
    """Data directory of the local store (database and blobs)."""
    db_url: str | None = None
    """SQLAlchemy URL of the store; defaults to SQLite inside ``dir``."""
    blobs_uri: str | None = None
    """Blob store URI; defaults to ``file://<dir>/blobs``. ``s3://bucket/prefix`` for S3."""
    s3_endpoint_url: str | None = None
    """Endpoint of an S3-compatible service (MinIO, Ceph, R2, ...) for ``s3://`` blob stores;
    unset means AWS S3. Credentials come from boto3's chain (``AWS_*`` variables, profiles)."""
    s3_region: str | None = None
    """Region of the ``s3://`` bucket; unset means boto3's default (``AWS_DEFAULT_REGION``...)."""

    mode: Mode = "online"
    base_url: str | None = None
    """The labbook server (``LABBOOK_BASE_URL``). Set here or stored by ``labbook login``, runs
    go to that server; unset and never logged in, they go to the local store. Run URLs point
    there (``http://127.0.0.1:8080`` when unset)."""
    api_key: str | None = None
    """API key for the server; overrides the key stored by ``labbook login``."""
    config_dir: Path = Field(default_factory=lambda: _config_home() / "labbook")
    """Where ``labbook login`` keeps ``credentials.json`` (``$XDG_CONFIG_HOME/labbook``)."""
    http_timeout: float = 30.0
    """Seconds one HTTP request to the server may take (connecting: at most 10)."""
    http_retry_seconds: float = 10.0
    """How long one client call keeps retrying a down or busy server before it gives up (the
    sender then backs off and tries again; nothing is lost)."""
    project: str | None = None
    entity: str | None = None
    run_dir: Path | None = None
    """Parent of the ``labbook/`` journal folder; defaults to the current directory."""

    flush_interval: float = 0.1
    """Seconds between journal flushes; a SIGKILL loses at most this much."""
    journal_buffer_bytes: int = 64 * 1024 * 1024
    """Bytes of records the journal writer holds in memory while the journal cannot be written
    (a full disk): it retries and writes them all once there is room. Past this bound (give or
    take the records of one flush) it drops new history rows, counted and reported by
    ``finish()`` and ``labbook sync``."""
    finish_timeout: float = 60.0
    """Seconds ``finish()`` waits for the sender before printing the sync command."""
    heartbeat_interval: float = 15.0
    crash_after: float = 300.0
    """A running run whose heartbeat is older than this reads as crashed."""
    sender_batch_bytes: int = 1_000_000

    capture_console: bool = True
    capture_git: bool = True
    capture_requirements: bool = True
    capture_system: bool = True
    system_metrics: bool = True
    """Sample CPU, memory, disk, network and GPUs into ``system/*`` keys while a run is live."""
    system_interval: float = 10.0
    silent: bool = False

    # --- server (``labbook server``)
    host: str = "127.0.0.1"
    port: int = 8080
    auth: bool | None = None
    """Require credentials; default on unless the server binds a loopback address."""
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins allowed by CORS (comma-separated in the environment); empty = CORS off."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest record batch (after gunzip) the server accepts."""
    max_file_bytes: int = 64 * 1024**3
    """Largest run file the server accepts."""
    session_days: float = 14.0
    login_max_failures: int = 10
    """Failed password logins per username and client per minute before 429."""

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, v: object) -> object:
        if isinstance(v, str):
            return [o.strip() for o in v.split(",") if o.strip()]
        return v

    def auth_enabled(self) -> bool:
        if self.auth is not None:
            return self.auth
        return not is_loopback(self.host)

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


def _config_home() -> Path:
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return Path(xdg) if xdg else Path.home() / ".config"


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
