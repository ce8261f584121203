"""``labbook ui``: the dashboard over the local store, on 127.0.0.1, for the one person at this
machine; and ``serve_dashboard``, which ``labbook demo`` ends with.

It is ``labbook server``'s app (``create_app``) with a single worker: no login while the local
store holds no password or API key (issue 5's single-user local mode, decided by ``AuthMode``, the
same rule as the server's), the address printed once it answers, and the browser opened on it.
Requests are not logged: the app polls while a run is live, and a line per poll would bury what
the terminal says.
"""

from __future__ import annotations

import errno
import socket
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from labbook.errors import LabbookError

if TYPE_CHECKING:
    from labbook.settings import Settings


def base_url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _check_port(host: str, port: int) -> None:
    """A clear message for a port in use, before the store is opened (uvicorn's is a log line)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.ClickException(
                    f"port {port} on {host} is in use (another `labbook ui` or `labbook server`?): "
                    "choose another with --port"
                ) from None
            raise click.ClickException(f"cannot serve on {host}:{port}: {exc}") from None


_CONSOLE_BROWSERS = frozenset({"www-browser", "links", "elinks", "lynx", "w3m", "browsh"})


def open_browser(url: str) -> bool:
    """Open ``url`` in the user's browser; False when there is none to open.

    A terminal browser (what Python's ``webbrowser`` falls back to on a machine without a
    display, such as a server over SSH) would take over the terminal the server writes to, so
    those are not used: the printed address is enough there. Called on a thread of its own, so a
    browser command that waits (``BROWSER=...``) holds up nothing.
    """
    import webbrowser

    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    name = str(getattr(browser, "name", "")).split()[0] if getattr(browser, "name", "") else ""
    if Path(name).name in _CONSOLE_BROWSERS:
        return False
    try:
        return bool(browser.open(url, new=2))
    except (OSError, webbrowser.Error):
        return False


def serve_dashboard(
    settings: Settings, *, path: str = "/", browser: bool = True, title: str = "labbook ui"
) -> None:
    """Serve the dashboard until Ctrl-C; print ``path``'s URL (and open it) once it answers."""
    import uvicorn

    from labbook.client.credentials import server_settings
    from labbook.server import webapp
    from labbook.server.app import check_bind, create_app

    try:
        check_bind(settings)
    except LabbookError as exc:
        raise click.ClickException(exc.message) from None
    _check_port(settings.host, settings.port)
    try:
        app = create_app(settings)
    except LabbookError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"{title}: {app.state.auth.describe()}", err=True)
    if not webapp.is_built(webapp.web_dir(settings)):
        click.echo(f"{title}: {webapp.describe(settings)}", err=True)
    remote = server_settings(settings).base_url
    if remote is not None:
        click.echo(
            f"{title}: new runs go to {remote} (labbook login); its own dashboard shows them. "
            "This one shows the local store.",
            err=True,
        )
    url = base_url(settings.host, settings.port) + path
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)

    def announce() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        click.echo(f"{title}: {url}   (Ctrl-C stops it)")
        if browser:
            open_browser(url)

    threading.Thread(target=announce, name="labbook-ui-announce", daemon=True).start()
    server.run()


@click.command("ui")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default 8080).")
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option("--no-browser", is_flag=True, help="Print the address; do not open a browser.")
@click.pass_context
def ui_cmd(ctx: click.Context, port: int | None, host: str | None, no_browser: bool) -> None:
    """Open the dashboard on the local store (where `labbook.init` writes by default).

    It serves on 127.0.0.1 without a login while the store holds no password or API key (a local
    store never does unless you made one), prints the address and opens it in your browser.
    Run URLs that `init` prints (http://127.0.0.1:8080/ENTITY/PROJECT/runs/ID) lead here.
    """
    from labbook.cli.server_cmds import _settings

    fields: dict[str, Any] = {"host": host, "port": port}
    serve_dashboard(_settings(ctx, None, **fields), browser=not no_browser)


def register(cli: click.Group) -> None:
    cli.add_command(ui_cmd)
