"""The public surface is small and deliberate; importing labbook does no network I/O."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import labbook

PUBLIC = {
    "Api",
    "Config",
    "ConfigValueChangeError",
    "LabbookError",
    "NotFoundError",
    "Run",
    "Settings",
    "UsageError",
    "ValidationError",
    "__version__",
    "config",
    "finish",
    "init",
    "join",
    "log",
    "run",
    "save",
    "summary",
}


def test_all_is_exactly_the_public_surface() -> None:
    assert set(labbook.__all__) == PUBLIC
    for name in labbook.__all__:
        assert hasattr(labbook, name), name


def test_wandb_style_alias_has_the_common_calls() -> None:
    import labbook as wandb

    for name in ("init", "log", "finish", "join", "save", "config", "summary", "run", "Api"):
        assert hasattr(wandb, name)


def test_import_does_no_network_io() -> None:
    code = textwrap.dedent(
        """
        import socket
        def refuse(*a, **k):
            raise AssertionError("network I/O at import")
        socket.socket.connect = refuse
        socket.socket.connect_ex = refuse
        socket.create_connection = refuse
        socket.getaddrinfo = refuse
        import labbook, labbook.sdk.api, labbook.cli.main
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
