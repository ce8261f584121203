"""The public surface is small and deliberate; importing labbook does no network I/O."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import labbook

PUBLIC = {
    "Api",
    "Artifact",
    "log_artifact",
    "use_artifact",
    "link_model",
    "Config",
    "ConfigValueChangeError",
    "Histogram",
    "Image",
    "LabbookError",
    "NotFoundError",
    "Run",
    "Settings",
    "Table",
    "UsageError",
    "unwatch",
    "watch",
    "ValidationError",
    "__version__",
    "config",
    "define_metric",
    "finish",
    "init",
    "join",
    "log",
    "login",
    "plot",
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

    for name in (
        "init",
        "log",
        "finish",
        "join",
        "save",
        "config",
        "summary",
        "run",
        "Api",
        "login",
        "Image",
        "Table",
        "Histogram",
    ):
        assert hasattr(wandb, name)
    for name in (
        "confusion_matrix",
        "roc_curve",
        "pr_curve",
        "line",
        "scatter",
        "bar",
        "histogram",
        "line_series",
    ):
        assert callable(getattr(wandb.plot, name)), name


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
        import labbook, labbook.api, labbook.cli.main
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_integrations_load_on_first_use_and_not_at_import() -> None:
    code = textwrap.dedent(
        """
        import os, sys
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import labbook
        heavy = {"torch", "keras", "sklearn", "pandas", "matplotlib", "boto3", "httpx"}
        print(sorted(heavy & set(sys.modules)))
        assert callable(labbook.sklearn.log_classifier)
        assert labbook.keras.Callback.__name__ == "Callback"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "ok"]


def test_import_and_cli_start_do_not_load_the_sdk_layers() -> None:
    """``import labbook`` and ``labbook --version`` stay light: the Store (SQLAlchemy), the
    read API (pandas) and numpy load on first use, not at import (a second of CPU here); the
    settings never need pydantic."""
    code = textwrap.dedent(
        """
        import sys
        import labbook, labbook.cli.main
        heavy = {"sqlalchemy", "pydantic", "pydantic_settings", "numpy", "yaml", "rich", "msgspec"}
        print(sorted(heavy & set(sys.modules)))
        assert labbook.Settings().mode == "online"  # and they do load on use
        assert "pydantic" not in sys.modules
        assert labbook.init.__module__ == "labbook.sdk.session"
        print("ok")
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "ok"]
