"""Who is calling (``Principal``) and what they may do (``require_project``).

Credentials: ``Authorization: Bearer <api key>`` or the ``labbook_session`` cookie; none means
anonymous, or the local admin user while auth is off (single-user local mode, see ``AuthMode``).
A presented key is never ignored, in either mode: a valid one is its user, any other is 401.
Permissions: a user is admin of their own entity, team members have their stored role, site admins
have every role, anyone may read a public project. Private projects answer 404 to callers without a
role, with a message that does not name the project.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from labbook.errors import AuthenticationError, NotFoundError, PermissionDenied, RateLimited
from labbook.settings import Settings, is_loopback
from labbook.store import Store
from labbook.store.accounts import UserInfo, role_rank

log = logging.getLogger("labbook.server")

SESSION_COOKIE = "labbook_session"
Need = Literal["read", "write", "admin"]
_NEED_ROLE = {"read": "viewer", "write": "member", "admin": "admin"}
HIDDEN = "project not found"


@dataclass(frozen=True)
class Principal:
    """The caller: a user, or anonymous (``user is None``)."""

    user: UserInfo | None
    via: Literal["key", "session", "local", "none"] = "none"

    @property
    def anonymous(self) -> bool:
        return self.user is None

    @property
    def name(self) -> str | None:
        return None if self.user is None else self.user.name

    @property
    def admin(self) -> bool:
        return self.user is not None and self.user.admin


ANONYMOUS = Principal(None)

_FIRST_USER = (
    "labbook users create NAME --password-stdin (a password, for the dashboard) and "
    "labbook keys create NAME (a key, for the SDK), with --db and LABBOOK_DB_SCHEMA as the server's"
)


class AuthMode:
    """Whether the server requires credentials, and why (DESIGN.md, Server).

    ``LABBOOK_AUTH`` (``--auth/--no-auth``) decides when set: ``false`` is refused on a
    non-loopback address (``check_bind``). Unset, auth is on for a non-loopback bind, and on a
    loopback one as soon as the database holds a user with a password or an API key: a reverse
    proxy on the same host connects from 127.0.0.1 too, so the bind address alone says nothing
    about who is calling. Single-user local mode (every request without credentials is the
    local admin) is left for a fresh database: a local store, whose runs the SDK wrote without
    any account.

    While it is off (and not pinned off), every request asks the store again, one indexed
    EXISTS: the first password or key, made with ``labbook users create``/``keys create`` on
    the host, over REST by the local admin, or through another replica, turns auth on from the
    next request in every process without a restart. Once on it stays on for the life of the
    process, so removing credentials never opens a running server.
    """

    def __init__(self, settings: Settings, store: Store, local_user: str) -> None:
        self._store = store
        self.explicit = settings.auth
        self.host = settings.host
        self.local_user = local_user
        if self.explicit is not None:
            self._on = self.explicit
        elif not is_loopback(settings.host):
            self._on = True
        else:
            self._on = store.has_credentials()

    def enabled(self) -> bool:
        if self._on:
            return True
        if self.explicit is False:
            return False
        if self._store.has_credentials():
            self._on = True
            log.warning(
                "auth is on from now on: the database holds a user with a password or an API "
                "key (requests without credentials are anonymous, no longer %r)",
                self.local_user,
            )
        return self._on

    def describe(self) -> str:
        """One line for the server's start: the mode and why."""
        creds = self._store.has_credentials()
        if self._on:
            if self.explicit:
                why = "LABBOOK_AUTH=true (--auth)"
            elif not is_loopback(self.host):
                why = f"{self.host} is not a loopback address"
            else:
                return "auth on: the database holds users with a password or an API key"
            if creds:
                return f"auth on: {why}"
            return f"auth on: {why}; no user can log in yet: create one with {_FIRST_USER}"
        if self.explicit is False:
            line = (
                f"auth off (LABBOOK_AUTH=false, --no-auth): a request without credentials acts "
                f"as the local admin {self.local_user!r}"
            )
            if creds:
                line += (
                    " although the database holds users with a password or an API key: anyone "
                    f"who reaches {self.host}, a reverse proxy on this host included, is admin"
                )
            return line
        return (
            "single-user local mode: the database holds no user with a password or an API key, "
            f"so a request without credentials acts as the local admin {self.local_user!r}; "
            f"auth turns on by itself once one exists ({_FIRST_USER})"
        )


# Declared for the OpenAPI document (its security schemes); the header and cookie are read below.
_bearer = HTTPBearer(auto_error=False, description="an API key")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="a password login")


def principal_from_request(
    request: Request,
    _key: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
    _session: Annotated[str | None, Security(_cookie)] = None,
) -> Principal:
    """The caller of ``request`` (a FastAPI dependency)."""
    state = request.app.state
    store: Store = state.store
    header = request.headers.get("authorization")
    if header:
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise AuthenticationError("expected 'Authorization: Bearer <api key>'")
        user = store.user_for_key(key.strip())
        if user is None:
            raise AuthenticationError("invalid or revoked API key")
        return Principal(user, "key")
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        user = store.user_for_session(token)
        if user is not None:
            return Principal(user, "session")
    mode: AuthMode = state.auth
    if not mode.enabled():
        return Principal(state.local_user, "local")
    return ANONYMOUS


def require_user(principal: Principal) -> UserInfo:
    if principal.user is None:
        raise AuthenticationError("this needs an API key or a login")
    return principal.user


def entity_role(store: Store, principal: Principal, entity: str) -> str | None:
    """The caller's role on an entity (a user or team name); None for none."""
    if principal.user is None:
        return None
    if principal.user.admin:
        return "admin"
    return store.entity_role(principal.user.name, entity)


def require_project(
    store: Store, principal: Principal, entity: str, project: str, need: Need = "read"
) -> str | None:
    """Check the caller may ``need`` the project; returns its visibility (None: not there yet).

    A missing project passes only for writers of the entity (who may create it). Raises
    NotFoundError when the caller cannot see the project, and 401/403 when they can see it but
    lack the role.
    """
    visibility = store.project_visibility(entity, project)
    role = entity_role(store, principal, entity)
    have = role_rank(role)
    want = role_rank(_NEED_ROLE[need])
    if visibility is None:
        if need != "read" and have >= role_rank("member"):
            return None
        raise NotFoundError(HIDDEN)
    if have == 0 and visibility != "public":
        raise NotFoundError(HIDDEN)
    if have == 0 and need == "read":
        return visibility
    if have < want:
        if principal.anonymous:
            raise AuthenticationError("this needs an API key or a login")
        raise PermissionDenied(f"this needs the {_NEED_ROLE[need]} role on {entity!r}")
    return visibility


def require_entity(store: Store, principal: Principal, entity: str, need: Need) -> str:
    """Check the caller's role on an entity (for team management); 404 to outsiders."""
    role = entity_role(store, principal, entity)
    if role is None:
        require_user(principal)
        raise NotFoundError("not found")
    if role_rank(role) < role_rank(_NEED_ROLE[need]):
        raise PermissionDenied(f"this needs the {_NEED_ROLE[need]} role on {entity!r}")
    return role


class LoginLimiter:
    """At most ``max_failures`` failed logins per (username, client) in a sliding minute.

    Per server process (a replica behind a load balancer counts its own share).
    """

    window = 60.0

    def __init__(self, max_failures: int) -> None:
        self.max_failures = max_failures
        self._fails: dict[tuple[str, str], collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> collections.deque[float]:
        q = self._fails.get(key)
        if q is None:
            return collections.deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        if not q:
            del self._fails[key]
        return q

    def check(self, username: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            q = self._recent((username, client), now)
            if len(q) >= self.max_failures:
                retry = max(1, int(q[0] + self.window - now) + 1)
                raise RateLimited("too many failed logins; try again later", retry_after=retry)

    def failed(self, username: str, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._fails) > 100_000:  # bound memory under a spray of usernames
                self._fails.clear()
            self._fails.setdefault((username, client), collections.deque()).append(now)

    def succeeded(self, username: str, client: str) -> None:
        with self._lock:
            self._fails.pop((username, client), None)
