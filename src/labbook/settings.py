"""The only reader of the environment.

Everything configurable lives on :class:`Settings` (``LABBOOK_`` prefix). Code below takes a
``Settings`` instance as an argument instead of reading ``os.environ`` itself, so tests build one
with explicit values and nothing depends on import-time globals.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    base_url: str = "http://127.0.0.1:8080"
    """Where the dashboard (and, with the server, the API) lives; run URLs point there."""
    api_key: str | None = None
    project: str | None = None
    entity: str | None = None
    run_dir: Path | None = None
    """Parent of the ``labbook/`` journal folder; defaults to the current directory."""

    flush_interval: float = 0.1
    """Seconds between journal flushes; a SIGKILL loses at most this much."""
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
    silent: bool = False

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
