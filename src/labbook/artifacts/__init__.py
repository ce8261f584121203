"""Artifacts: versioned datasets, models and predictions with their lineage, and the model
registry, over the local store or a server (``_backend``).

``Artifact`` is wandb's object (``labbook.Artifact``); ``Uploader`` is a run's artifact thread;
the transfer functions move bytes both ways with flat memory. The SDK's ``Run``, the read API
and the CLI are built on these; nothing here imports them.
"""

from __future__ import annotations

from labbook.artifacts._artifact import Artifact, ArtifactEntry, ArtifactManifest
from labbook.artifacts._backend import Backend, LocalBackend, RemoteBackend, open_backend
from labbook.artifacts._transfer import (
    DownloadStats,
    Draft,
    cache_path,
    cleanup_cache,
    download,
    parse_size,
    upload,
)
from labbook.artifacts._uploader import Uploader, pending_ops, sync_pending

__all__ = [
    "Artifact",
    "ArtifactEntry",
    "ArtifactManifest",
    "Backend",
    "DownloadStats",
    "Draft",
    "LocalBackend",
    "RemoteBackend",
    "Uploader",
    "cache_path",
    "cleanup_cache",
    "download",
    "open_backend",
    "parse_size",
    "pending_ops",
    "sync_pending",
    "upload",
]
