"""Accounts in the Store: users, teams, memberships, API keys and login sessions.

Users and teams share one namespace, the ``entity`` a project belongs to. A user is implicitly the
admin of their own entity; a team's members have the role stored in ``memberships``. Passwords are
hashed with argon2; API keys and session tokens are stored only as SHA-256 hashes (they are long
random strings, so a fast hash is enough) and compared in constant time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from labbook.errors import ConflictError, NotFoundError, ValidationError
from labbook.store.schema import api_keys, memberships, sessions, teams, users

NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
ROLES = ("viewer", "member", "admin")
KEY_PREFIX = "lb_"
_ALNUM = string.ascii_letters + string.digits
PREFIX_LEN = len(KEY_PREFIX) + 8
SECRET_LEN = 40
LAST_USED_EVERY = dt.timedelta(minutes=1)
MAX_PASSWORD = 1024


def check_name(kind: str, name: Any) -> str:
    if not isinstance(name, str) or not NAME_RE.match(name) or name in (".", ".."):
        raise ValidationError(f"invalid {kind} name: use 1-128 of A-Z a-z 0-9 _ . -")
    return name


def role_rank(role: str | None) -> int:
    return 0 if role is None else ROLES.index(role) + 1


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


_hasher: Any = None


def password_hasher() -> Any:
    """argon2's PasswordHasher (imported on first use: the SDK never needs it)."""
    global _hasher
    if _hasher is None:
        from argon2 import PasswordHasher

        _hasher = PasswordHasher()
    return _hasher


def hash_password(password: str) -> str:
    if not isinstance(password, str) or not password or len(password) > MAX_PASSWORD:
        raise ValidationError(f"a password must be 1-{MAX_PASSWORD} characters")
    return str(password_hasher().hash(password))


_DUMMY_HASH: str | None = None


def verify_password(stored: str | None, password: str) -> bool:
    """Constant-ish time: a missing user still costs one argon2 verification."""
    from argon2.exceptions import InvalidHashError, VerificationError

    global _DUMMY_HASH
    if stored is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = password_hasher().hash("not a password")
        stored, password = _DUMMY_HASH, password + "x"
    try:
        return bool(password_hasher().verify(stored, password))
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class UserInfo:
    id: int
    name: str
    admin: bool
    created_at: dt.datetime


@dataclass(frozen=True)
class KeyInfo:
    prefix: str
    name: str | None
    user: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None


@dataclass(frozen=True)
class NewKey:
    key: str
    info: KeyInfo


_USER_COLS = (users.c.id, users.c.name, users.c.admin, users.c.created_at)


def _user(row: Any) -> UserInfo:
    return UserInfo(int(row.id), row.name, bool(row.admin), row.created_at)


class AccountsMixin:
    """The account methods of :class:`labbook.store.Store` (it provides the connections)."""

    _read: Callable[[], AbstractContextManager[Connection]]
    _write: Callable[[], AbstractContextManager[Connection]]

    @staticmethod
    def _now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    # ---------------------------------------------------------------------------------- users
    @staticmethod
    def _name_taken(conn: Connection, name: str) -> bool:
        u = conn.execute(select(users.c.id).where(users.c.name == name)).first()
        t = conn.execute(select(teams.c.id).where(teams.c.name == name)).first()
        return u is not None or t is not None

    def create_user(self, name: str, password: str | None = None, admin: bool = False) -> UserInfo:
        check_name("user", name)
        pw = hash_password(password) if password is not None else None
        now = self._now()
        try:
            with self._write() as conn:
                if self._name_taken(conn, name):
                    raise ConflictError(f"the name {name!r} is taken")
                conn.execute(
                    insert(users).values(
                        name=name, password_hash=pw, admin=bool(admin), created_at=now
                    )
                )
                row = conn.execute(select(*_USER_COLS).where(users.c.name == name)).one()
        except IntegrityError:
            raise ConflictError(f"the name {name!r} is taken") from None
        return _user(row)

    def ensure_user(self, name: str, admin: bool = False) -> UserInfo:
        """The user ``name``, created (without a password) when missing."""
        u = self.get_user(name)
        if u is not None:
            return u
        try:
            return self.create_user(name, admin=admin)
        except ConflictError:
            u = self.get_user(name)
            if u is None:
                raise
            return u

    def get_user(self, name: str) -> UserInfo | None:
        with self._read() as conn:
            row = conn.execute(select(*_USER_COLS).where(users.c.name == name)).first()
        return None if row is None else _user(row)

    def list_users(self, limit: int = 50, offset: int = 0) -> list[UserInfo]:
        with self._read() as conn:
            q = select(*_USER_COLS).order_by(users.c.name).limit(limit).offset(offset)
            return [_user(r) for r in conn.execute(q)]

    def set_password(self, name: str, password: str) -> None:
        pw = hash_password(password)
        with self._write() as conn:
            n = conn.execute(update(users).where(users.c.name == name).values(password_hash=pw))
        if not n.rowcount:
            raise NotFoundError(f"no user {name!r}")

    def check_password(self, name: str, password: str) -> UserInfo | None:
        """The user when ``password`` is theirs, else None (same cost for unknown users)."""
        with self._read() as conn:
            row = conn.execute(
                select(*_USER_COLS, users.c.password_hash).where(users.c.name == name)
            ).first()
        ok = verify_password(None if row is None else row.password_hash, password)
        return _user(row) if ok and row is not None else None

    def has_credentials(self) -> bool:
        """True when the database holds a user with a password or an API key: the server then
        requires credentials (``labbook.server.auth.AuthMode``).

        Users without either (the local admin of single-user mode, a ``labbook users create``
        without ``--password-stdin``) do not count: nobody can log in as them. Revoked keys do:
        a server whose keys were all revoked must not fall back to letting everyone in. One
        indexed EXISTS, cheap enough to ask on every request while auth is off.
        """
        with self._read() as conn:
            q = select(
                or_(
                    exists().where(users.c.password_hash.is_not(None)),
                    exists().where(api_keys.c.id.is_not(None)),
                )
            )
            return bool(conn.execute(q).scalar())

    # ---------------------------------------------------------------------------------- teams
    def create_team(self, name: str, owner: str) -> None:
        """A new team whose ``owner`` becomes its admin."""
        check_name("team", name)
        now = self._now()
        try:
            with self._write() as conn:
                uid = self._user_id(conn, owner)
                if self._name_taken(conn, name):
                    raise ConflictError(f"the name {name!r} is taken")
                conn.execute(insert(teams).values(name=name, created_at=now))
                tid = conn.execute(select(teams.c.id).where(teams.c.name == name)).scalar_one()
                conn.execute(insert(memberships).values(team_id=tid, user_id=uid, role="admin"))
        except IntegrityError:
            raise ConflictError(f"the name {name!r} is taken") from None

    @staticmethod
    def _user_id(conn: Connection, name: str) -> int:
        uid = conn.execute(select(users.c.id).where(users.c.name == name)).scalar()
        if uid is None:
            raise NotFoundError(f"no user {name!r}")
        return int(uid)

    @staticmethod
    def _team_id(conn: Connection, name: str) -> int:
        tid = conn.execute(select(teams.c.id).where(teams.c.name == name)).scalar()
        if tid is None:
            raise NotFoundError(f"no team {name!r}")
        return int(tid)

    def is_team(self, name: str) -> bool:
        with self._read() as conn:
            return conn.execute(select(teams.c.id).where(teams.c.name == name)).first() is not None

    def set_member(self, team: str, user: str, role: str) -> None:
        if role not in ROLES:
            raise ValidationError(f"role must be one of {', '.join(ROLES)}")
        with self._write() as conn:
            tid, uid = self._team_id(conn, team), self._user_id(conn, user)
            n = conn.execute(
                update(memberships)
                .where(memberships.c.team_id == tid, memberships.c.user_id == uid)
                .values(role=role)
            )
            if not n.rowcount:
                conn.execute(insert(memberships).values(team_id=tid, user_id=uid, role=role))

    def team_members(self, team: str) -> list[tuple[str, str]]:
        """``(user, role)`` of every member of ``team``, by user name."""
        with self._read() as conn:
            tid = self._team_id(conn, team)
            q = (
                select(users.c.name, memberships.c.role)
                .join(memberships, memberships.c.user_id == users.c.id)
                .where(memberships.c.team_id == tid)
                .order_by(users.c.name)
            )
            return [(str(n), str(r)) for n, r in conn.execute(q)]

    def remove_member(self, team: str, user: str) -> None:
        with self._write() as conn:
            tid, uid = self._team_id(conn, team), self._user_id(conn, user)
            n = conn.execute(
                delete(memberships).where(
                    memberships.c.team_id == tid, memberships.c.user_id == uid
                )
            )
        if not n.rowcount:
            raise NotFoundError(f"{user!r} is not a member of {team!r}")

    def entity_roles(self, user: str) -> list[tuple[str, str]]:
        """``(entity, role)`` for the user's own entity and every team they belong to."""
        with self._read() as conn:
            q = (
                select(teams.c.name, memberships.c.role)
                .join(memberships, memberships.c.team_id == teams.c.id)
                .join(users, users.c.id == memberships.c.user_id)
                .where(users.c.name == user)
                .order_by(teams.c.name)
            )
            return [(user, "admin"), *((n, r) for n, r in conn.execute(q))]

    def entity_role(self, user: str, entity: str) -> str | None:
        """The user's role on ``entity`` (their own: admin), None when they have none."""
        if user == entity:
            return "admin"
        with self._read() as conn:
            q = (
                select(memberships.c.role)
                .join(teams, memberships.c.team_id == teams.c.id)
                .join(users, users.c.id == memberships.c.user_id)
                .where(users.c.name == user, teams.c.name == entity)
            )
            role = conn.execute(q).scalar()
        return None if role is None else str(role)

    # ------------------------------------------------------------------------------- API keys
    def create_key(self, user: str, name: str | None = None) -> NewKey:
        """A new API key for ``user``; the key itself is returned here and never again."""
        if name is not None and (not isinstance(name, str) or len(name) > 128):
            raise ValidationError("a key name is at most 128 characters")
        now = self._now()
        with self._write() as conn:
            uid = self._user_id(conn, user)
            for _ in range(5):
                prefix = KEY_PREFIX + _random(PREFIX_LEN - len(KEY_PREFIX))
                key = prefix + _random(SECRET_LEN)
                taken = conn.execute(select(api_keys.c.id).where(api_keys.c.prefix == prefix))
                if taken.first() is None:
                    break
            conn.execute(
                insert(api_keys).values(
                    user_id=uid, prefix=prefix, key_hash=_hash_token(key), name=name, created_at=now
                )
            )
        return NewKey(key, KeyInfo(prefix, name, user, now, None))

    def list_keys(self, user: str) -> list[KeyInfo]:
        with self._read() as conn:
            q = (
                select(api_keys, users.c.name.label("user"))
                .join(users, users.c.id == api_keys.c.user_id)
                .where(users.c.name == user, api_keys.c.revoked_at.is_(None))
                .order_by(api_keys.c.created_at, api_keys.c.id)
            )
            return [
                KeyInfo(r.prefix, r.name, r.user, r.created_at, r.last_used_at)
                for r in conn.execute(q)
            ]

    def key_owner(self, prefix: str) -> str | None:
        """The user owning the live key ``prefix``, None when there is no such key."""
        with self._read() as conn:
            q = (
                select(users.c.name)
                .join(api_keys, users.c.id == api_keys.c.user_id)
                .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
            )
            v = conn.execute(q).scalar()
        return None if v is None else str(v)

    def revoke_key(self, prefix: str) -> None:
        with self._write() as conn:
            n = conn.execute(
                update(api_keys)
                .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=self._now())
            )
        if not n.rowcount:
            raise NotFoundError("no such API key")

    def user_for_key(self, key: str) -> UserInfo | None:
        """The owner of a live API key, None for unknown or revoked keys."""
        if not isinstance(key, str) or len(key) != PREFIX_LEN + SECRET_LEN:
            return None
        prefix = key[:PREFIX_LEN]
        with self._read() as conn:
            row = conn.execute(
                select(*_USER_COLS, api_keys.c.key_hash, api_keys.c.last_used_at)
                .join(api_keys, users.c.id == api_keys.c.user_id)
                .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
            ).first()
        if row is None or not hmac.compare_digest(row.key_hash, _hash_token(key)):
            return None
        now = self._now()
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
            with self._write() as conn:
                conn.execute(
                    update(api_keys).where(api_keys.c.prefix == prefix).values(last_used_at=now)
                )
        return _user(row)

    # ------------------------------------------------------------------------------- sessions
    def create_session(self, user: str, lifetime: dt.timedelta) -> str:
        """A new login session; returns its token (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = self._now()
        with self._write() as conn:
            uid = self._user_id(conn, user)
            conn.execute(delete(sessions).where(sessions.c.expires_at < now))
            conn.execute(
                insert(sessions).values(
                    token_hash=_hash_token(token),
                    user_id=uid,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )
        return token

    def user_for_session(self, token: str) -> UserInfo | None:
        if not isinstance(token, str) or not token or len(token) > 256:
            return None
        with self._read() as conn:
            row = conn.execute(
                select(*_USER_COLS, sessions.c.expires_at)
                .join(sessions, sessions.c.user_id == users.c.id)
                .where(sessions.c.token_hash == _hash_token(token))
            ).first()
        if row is None or row.expires_at <= self._now():
            return None
        return _user(row)

    def delete_session(self, token: str) -> None:
        with self._write() as conn:
            conn.execute(delete(sessions).where(sessions.c.token_hash == _hash_token(token)))
