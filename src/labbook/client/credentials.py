"""Where the server is and which key to use: ``labbook login``'s credentials file plus settings.

The file is ``<config_dir>/credentials.json`` (mode 0600, replaced atomically)::

    {"host": "https://lb.example.com",
     "keys": {"https://lb.example.com": "lb_..."}, "users": {"https://lb.example.com": "alice"}}

``host`` is the server last logged in to; ``keys`` holds one key per server and ``users`` whose
key it is (the default entity of runs when the server cannot be asked). ``LABBOOK_BASE_URL``
and ``LABBOOK_API_KEY`` (that is, ``Settings.base_url`` / ``Settings.api_key``) override the file.
A server is configured when either names one; otherwise runs go to the local store.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labbook.errors import UsageError
from labbook.settings import Settings

CREDENTIALS_NAME = "credentials.json"


@dataclass
class StoredCredentials:
    host: str | None = None
    keys: dict[str, str] = field(default_factory=dict)
    users: dict[str, str] = field(default_factory=dict)


def normalize_host(host: str) -> str:
    """``https://x.example/`` → ``https://x.example``; the scheme is required."""
    h = host.strip().rstrip("/")
    if not h.startswith(("http://", "https://")):
        raise UsageError(f"server address {host!r} needs a scheme: http://... or https://...")
    if h.endswith("/api/v1"):
        h = h[: -len("/api/v1")]
    return h


def credentials_path(settings: Settings) -> Path:
    return Path(settings.config_dir).expanduser() / CREDENTIALS_NAME


def load_credentials(settings: Settings) -> StoredCredentials:
    """The stored credentials (empty when there is no file or it cannot be read)."""
    path = credentials_path(settings)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return StoredCredentials()
    except (OSError, ValueError) as exc:
        print(f"labbook: ignoring unreadable {path}: {exc}", file=sys.__stderr__)
        return StoredCredentials()
    if not isinstance(data, dict):
        return StoredCredentials()
    host = data.get("host")
    return StoredCredentials(
        host=host if isinstance(host, str) and host else None,
        keys=_str_map(data.get("keys")),
        users=_str_map(data.get("users")),
    )


def _str_map(v: Any) -> dict[str, str]:
    return {str(k): str(x) for k, x in v.items() if x} if isinstance(v, dict) else {}


def save_credentials(settings: Settings, host: str, key: str, user: str | None = None) -> Path:
    """Store ``key`` for ``host`` and make ``host`` the default server; returns the file's path."""
    host = normalize_host(host)
    creds = load_credentials(settings)
    creds.host = host
    creds.keys[host] = key
    if user:
        creds.users[host] = user
    else:
        creds.users.pop(host, None)
    _write_creds(settings, creds)
    return credentials_path(settings)


def _write_creds(settings: Settings, creds: StoredCredentials) -> None:
    _write(
        credentials_path(settings), {"host": creds.host, "keys": creds.keys, "users": creds.users}
    )


def forget_credentials(settings: Settings, host: str | None = None) -> bool:
    """Drop the key of ``host`` (default: the stored host); True when one was removed."""
    creds = load_credentials(settings)
    target = normalize_host(host) if host else creds.host
    if target is None or target not in creds.keys:
        return False
    del creds.keys[target]
    creds.users.pop(target, None)
    if creds.host == target:
        creds.host = next(iter(creds.keys), None)
    _write_creds(settings, creds)
    return True


def _write(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    import tempfile  # ~7 ms of imports, only when credentials are written

    fd, tmp = tempfile.mkstemp(prefix=".credentials.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def server_settings(settings: Settings) -> Settings:
    """``settings`` with ``base_url`` and ``api_key`` filled in from the credentials file.

    Explicit settings (the environment) win; the stored key is used only for the server it was
    stored for. ``base_url`` stays None when no server is configured.
    """
    creds = load_credentials(settings)
    base = normalize_host(settings.base_url) if settings.base_url else creds.host
    key = settings.api_key
    if key is None and base is not None:
        key = creds.keys.get(base)
    if base == settings.base_url and key == settings.api_key:
        return settings
    return settings.replace(base_url=base, api_key=key)


def server_configured(settings: Settings) -> bool:
    return server_settings(settings).base_url is not None


def stored_user(settings: Settings) -> str | None:
    """Whose key ``settings`` uses, as ``labbook login`` recorded it (None when unknown)."""
    s = server_settings(settings)
    if s.base_url is None:
        return None
    creds = load_credentials(settings)
    if s.api_key is None or creds.keys.get(s.base_url) != s.api_key:
        return None
    return creds.users.get(s.base_url)


def login(
    key: str | None = None,
    host: str | None = None,
    relogin: bool = False,
    *,
    settings: Settings | None = None,
    prompt: bool = True,
) -> bool:
    """Log in to a labbook server (wandb's ``login``): verify the key, then store it.

    Without ``key`` an already configured key is verified (``relogin=True`` asks for a new one);
    with none configured, the key is asked for without echo when ``prompt`` and stdin is a
    terminal. The host defaults to ``LABBOOK_BASE_URL``, then the stored host; with neither,
    ``UsageError`` says to pass one. Returns True once logged in; raises ``AuthenticationError``
    for a rejected key and ``UsageError`` when there is no key to try.
    """
    base = settings or Settings()
    target = login_target(base, host)
    if key is None and not relogin:
        configured = base.api_key or load_credentials(base).keys.get(target)
        if configured:
            verify_key(base, target, configured)
            return True
    if key is None:
        if not (prompt and sys.stdin is not None and sys.stdin.isatty()):
            raise UsageError(
                f"no API key for {target}: pass key=..., run `labbook login`, or set "
                "LABBOOK_API_KEY"
            )
        import getpass

        key = getpass.getpass(f"API key for {target} (input hidden): ").strip()
        if not key:
            raise UsageError("no API key entered")
    viewer = verify_key(base, target, key)
    save_credentials(base, target, key, str(viewer.get("name") or "") or None)
    return True


def login_target(settings: Settings, host: str | None) -> str:
    """The server to log in to: ``host``, else ``LABBOOK_BASE_URL``, else the stored host.

    There is no default server: guessing one (a local port) turned "you named no server" into
    "connection refused", which sent users looking for a server problem.
    """
    target = host or server_settings(settings).base_url
    if not target:
        raise UsageError(
            "no labbook server to log in to: pass --host URL (`labbook login KEY --host "
            "https://labbook.example.com`; in Python, login(key, host=URL)) or set "
            "LABBOOK_BASE_URL. Without a login, runs go to the local store."
        )
    return normalize_host(target)


def verify_key(settings: Settings, host: str, key: str) -> dict[str, Any]:
    """``GET /viewer`` with ``key`` on ``host``; the viewer, or AuthenticationError."""
    from labbook.client import Client
    from labbook.errors import AuthenticationError

    with Client(
        host, key, timeout=settings.http_timeout, retry_seconds=settings.http_retry_seconds
    ) as client:
        try:
            return client.viewer()
        except AuthenticationError as exc:
            raise AuthenticationError(f"{host} rejected the API key: {exc.message}") from None
