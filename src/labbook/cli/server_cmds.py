"""``labbook server`` and the admin bootstrap commands that work without HTTP (``users``,
``keys``, ``teams``): they open the Store directly, so the first admin and key can be made before
anyone can log in."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labbook.errors import LabbookError

if TYPE_CHECKING:
    from labbook.settings import Settings
    from labbook.store import Store

_db_option = click.option("--db", "db", default=None, help="Store URL (default: the data dir's).")


def _settings(ctx: click.Context, db: str | None = None, **fields: Any) -> Settings:
    from labbook.settings import Settings

    root = ctx.find_root().obj or {}
    overrides: dict[str, Any] = {k: v for k, v in fields.items() if v is not None}
    if root.get("dir"):
        overrides["dir"] = Path(root["dir"])
    if db or root.get("db"):
        overrides["db_url"] = db or root.get("db")
    return Settings(**overrides)


def _store(ctx: click.Context, db: str | None) -> Store:
    from labbook.store import Store

    s = _settings(ctx, db)
    return Store.from_settings(s)


def _run(fn: Any) -> Any:
    try:
        return fn()
    except LabbookError as e:
        raise click.ClickException(e.message) from None


@click.command("server")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (default 8080).")
@_db_option
@click.option("--blobs", default=None, help="Blob store URI (file:///path or s3://bucket/prefix).")
@click.option("--workers", type=click.IntRange(1, 256), default=1, show_default=True)
@click.option(
    "--auth/--no-auth",
    default=None,
    help="Require credentials (default: on, except on a loopback address while the database "
    "holds no user with a password or an API key).",
)
@click.pass_context
def server_cmd(
    ctx: click.Context,
    host: str | None,
    port: int | None,
    db: str | None,
    blobs: str | None,
    workers: int,
    auth: bool | None,
) -> None:
    """Run the labbook server (migrates the database first).

    It says on start whether it requires credentials and why: on a loopback address it runs in
    single-user local mode only while the database holds no user with a password or an API key.
    """
    from labbook.server import webapp
    from labbook.server.app import check_bind, create_app, local_user_name
    from labbook.server.auth import AuthMode
    from labbook.store import Store

    settings = _settings(ctx, db, host=host, port=port, blobs_uri=blobs, auth=auth)
    _run(lambda: check_bind(settings))
    import uvicorn

    where = f"labbook server on http://{settings.host}:{settings.port}"
    click.echo(f"labbook server: {webapp.describe(settings)}", err=True)
    if workers == 1:
        app = _run(lambda: create_app(settings))
        click.echo(f"{where} ({app.state.auth.describe()})", err=True)
        uvicorn.run(app, host=settings.host, port=settings.port)
        return

    def migrate_and_describe() -> str:  # migrations, once, before the workers
        with Store.from_settings(settings) as store:
            return AuthMode(settings, store, local_user_name(settings)).describe()

    click.echo(f"{where} ({_run(migrate_and_describe)})", err=True)
    # Several processes: each builds its app from the environment through the factory.
    env = {
        "LABBOOK_DIR": str(settings.expanded_dir()),
        "LABBOOK_DB_URL": settings.resolved_db_url(),
        "LABBOOK_DB_SCHEMA": settings.db_schema,
        "LABBOOK_BLOBS_URI": settings.resolved_blobs_uri(),
        "LABBOOK_HOST": settings.host,
    }
    if settings.auth is not None:  # only an explicit choice: unset, each worker asks the database
        env["LABBOOK_AUTH"] = "true" if settings.auth else "false"
    os.environ.update(env)
    uvicorn.run(
        "labbook.server.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
    )


@click.group("users")
def users_group() -> None:
    """Manage users (directly in the store)."""


@users_group.command("create")
@click.argument("name")
@click.option("--admin", is_flag=True, help="Make a site admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin.")
@_db_option
@click.pass_context
def users_create(
    ctx: click.Context, name: str, admin: bool, password_stdin: bool, db: str | None
) -> None:
    """Create user NAME (without a password unless --password-stdin)."""
    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        if not password:
            raise click.ClickException("no password on stdin")
    with _store(ctx, db) as store:
        user = _run(lambda: store.create_user(name, password=password, admin=admin))
    click.echo(f"created user {user.name}" + (" (site admin)" if user.admin else ""))


@users_group.command("set-password")
@click.argument("name")
@_db_option
@click.pass_context
def users_set_password(ctx: click.Context, name: str, db: str | None) -> None:
    """Set (or replace) the password of user NAME, read from stdin.

    What gives the local store's user (the one local mode made) a password for the dashboard's
    login; from then on the server requires credentials."""
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on stdin")
    with _store(ctx, db) as store:
        _run(lambda: store.set_password(name, password))
    click.echo(f"password of {name} set")


@click.group("keys")
def keys_group() -> None:
    """Manage API keys (directly in the store)."""


@keys_group.command("create")
@click.argument("user")
@click.option("--name", "key_name", default=None, help="A label for the key.")
@_db_option
@click.pass_context
def keys_create(ctx: click.Context, user: str, key_name: str | None, db: str | None) -> None:
    """Create an API key for USER and print it (it is shown only this once)."""
    with _store(ctx, db) as store:
        new = _run(lambda: store.create_key(user, key_name))
    click.echo(new.key)
    click.echo(f"key {new.info.prefix} for {user}: store it now, it is not shown again", err=True)


@keys_group.command("revoke")
@click.argument("prefix")
@_db_option
@click.pass_context
def keys_revoke(ctx: click.Context, prefix: str, db: str | None) -> None:
    """Revoke the API key whose prefix is PREFIX."""
    with _store(ctx, db) as store:
        _run(lambda: store.revoke_key(prefix))
    click.echo(f"revoked {prefix}")


@click.group("teams")
def teams_group() -> None:
    """Manage teams (directly in the store)."""


@teams_group.command("create")
@click.argument("team")
@click.option("--owner", required=True, help="User who becomes the team's admin.")
@_db_option
@click.pass_context
def teams_create(ctx: click.Context, team: str, owner: str, db: str | None) -> None:
    """Create TEAM with OWNER as its admin."""
    with _store(ctx, db) as store:
        _run(lambda: store.create_team(team, owner))
    click.echo(f"created team {team} (admin: {owner})")


@teams_group.command("add")
@click.argument("team")
@click.argument("user")
@click.option(
    "--role", type=click.Choice(["admin", "member", "viewer"]), default="member", show_default=True
)
@_db_option
@click.pass_context
def teams_add(ctx: click.Context, team: str, user: str, role: str, db: str | None) -> None:
    """Add USER to TEAM (or change their role)."""
    with _store(ctx, db) as store:
        _run(lambda: store.set_member(team, user, role))
    click.echo(f"{user} is {role} of {team}")


def register(cli: click.Group) -> None:
    """Add these commands to the ``labbook`` group."""
    for cmd in (server_cmd, users_group, keys_group, teams_group):
        cli.add_command(cmd)
