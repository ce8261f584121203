"""``labbook login``, ``labbook whoami`` and ``labbook logout``: the server's API key."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from labbook.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    from labbook.cli.main import _settings as settings_of

    return settings_of(ctx)


@click.command()
@click.argument("key", required=False)
@click.option("--host", help="Server URL (default: LABBOOK_BASE_URL, else the stored host).")
@click.pass_context
def login(ctx: click.Context, key: str | None, host: str | None) -> None:
    """Verify an API key with the server and store it (asks for it, hidden, when KEY is omitted)."""
    from labbook.client.credentials import (
        login_target,
        save_credentials,
        verify_key,
    )

    settings = _settings(ctx)
    target = login_target(settings, host)
    if not key:
        key = click.prompt(f"API key for {target}", hide_input=True).strip()
    if not key:
        raise click.UsageError("no API key given")
    viewer = verify_key(settings, target, key)
    name = str(viewer.get("name") or "")
    path = save_credentials(settings, target, key, name or None)
    entity = settings.entity or name
    teams = [
        f"{e.get('name')} ({e.get('role')})"
        for e in viewer.get("entities") or []
        if e.get("name") != name
    ]
    click.echo(f"Logged in to {target} as {name}.")
    click.echo(
        f"Runs go to entity {entity}"
        + (" (LABBOOK_ENTITY)" if settings.entity else "")
        + (f"; your teams: {', '.join(teams)}" if teams else "")
        + "."
    )
    click.echo(f"Key stored in {path}")


@click.command()
@click.pass_context
def whoami(ctx: click.Context) -> None:
    """Show the server and the user the configured API key belongs to."""
    from labbook.client import Client
    from labbook.client.credentials import server_settings
    from labbook.errors import UsageError

    settings = server_settings(_settings(ctx))
    if settings.base_url is None:
        raise UsageError(
            "not logged in: run `labbook login --host URL` (runs go to the local store)"
        )
    if not settings.api_key:
        raise UsageError(f"no API key for {settings.base_url}: run `labbook login`")
    with Client.from_settings(settings) as client:
        viewer = client.viewer()
    click.echo(
        f"{viewer.get('name')} on {settings.base_url}" + (" (admin)" if viewer.get("admin") else "")
    )
    for ent in viewer.get("entities") or []:
        click.echo(f"  {ent.get('name')}: {ent.get('role')}")


@click.command()
@click.option("--host", help="Forget the key of this server (default: the stored host).")
@click.pass_context
def logout(ctx: click.Context, host: str | None) -> None:
    """Forget the stored API key (runs go to the local store unless LABBOOK_BASE_URL is set)."""
    from labbook.client.credentials import forget_credentials

    if forget_credentials(_settings(ctx), host):
        click.echo("Logged out.")
    else:
        click.echo("No stored key to forget.")


def register(group: click.Group) -> None:
    for cmd in (login, whoami, logout):
        group.add_command(cmd)
