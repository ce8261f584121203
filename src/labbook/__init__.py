"""labbook: a self-hostable experiment tracker with a wandb-compatible SDK.

``import labbook as wandb`` runs code written for wandb's common calls. The public surface is what
``__all__`` lists (a test holds it there); everything else is internal.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from labbook.errors import (
    ConfigValueChangeError,
    LabbookError,
    NotFoundError,
    UsageError,
    ValidationError,
)

if TYPE_CHECKING:
    from labbook import plot
    from labbook.api import Api
    from labbook.artifacts import Artifact
    from labbook.client.credentials import login
    from labbook.data.media import Histogram, Image, Table
    from labbook.integrations.torch import unwatch, watch
    from labbook.sdk.config import Config
    from labbook.sdk.run import Run
    from labbook.sdk.session import init
    from labbook.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "Api",
    "Artifact",
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
    "ValidationError",
    "__version__",
    "config",
    "define_metric",
    "finish",
    "init",
    "join",
    "link_model",
    "log",
    "log_artifact",
    "login",
    "plot",
    "run",
    "save",
    "summary",
    "unwatch",
    "use_artifact",
    "watch",
]


def _require_run() -> Any:
    run = _active_run()
    if run is None:
        raise UsageError("no active run: call labbook.init() first")
    return run


def log(
    data: dict[str, Any],
    step: int | None = None,
    commit: bool | None = None,
    sync: bool | None = None,
) -> None:
    """Log to the active run (see :meth:`Run.log`)."""
    _require_run().log(data, step=step, commit=commit)


def finish(exit_code: int | None = None, quiet: bool | None = None) -> None:
    """Finish the active run, if any."""
    run = _active_run()
    if run is not None:
        run.finish(exit_code)


def join(exit_code: int | None = None) -> None:
    finish(exit_code)


def save(glob_str: str, base_path: str | None = None, policy: str = "live") -> list[str]:
    return list(_require_run().save(glob_str, base_path=base_path, policy=policy))


def log_artifact(
    artifact_or_path: Any,
    name: str | None = None,
    type: str | None = None,
    aliases: list[str] | None = None,
) -> Any:
    """Log an artifact as the active run's output (see :meth:`Run.log_artifact`)."""
    return _require_run().log_artifact(artifact_or_path, name=name, type=type, aliases=aliases)


def use_artifact(
    artifact_or_name: Any, type: str | None = None, aliases: list[str] | None = None
) -> Any:
    """An artifact version, recorded as the active run's input (see :meth:`Run.use_artifact`)."""
    return _require_run().use_artifact(artifact_or_name, type=type, aliases=aliases)


def link_model(artifact: Any, registered_model_name: str, aliases: list[str] | None = None) -> Any:
    """Link a model artifact into the registry (see :meth:`Run.link_model`)."""
    return _require_run().link_model(artifact, registered_model_name, aliases=aliases)


def define_metric(name: str, **kwargs: Any) -> Any:
    """Define a metric of the active run (see :meth:`Run.define_metric`)."""
    return _require_run().define_metric(name, **kwargs)


_LAZY_SUBMODULES = frozenset({"integrations", "keras", "sklearn", "plot"})

# The SDK's layers (the Store and SQLAlchemy, pydantic settings, numpy) load on first use, so
# ``import labbook`` and ``labbook --version`` cost milliseconds, not a second; ``init`` pays once.
_LAZY_NAMES = {
    "Api": "labbook.api",
    "Artifact": "labbook.artifacts",
    "Config": "labbook.sdk.config",
    "Histogram": "labbook.data.media",
    "Image": "labbook.data.media",
    "Run": "labbook.sdk.run",
    "Settings": "labbook.settings",
    "Summary": "labbook.sdk.summary",
    "Table": "labbook.data.media",
    "init": "labbook.sdk.session",
    "login": "labbook.client.credentials",
    "unwatch": "labbook.integrations.torch",
    "watch": "labbook.integrations.torch",
}


def _active_run() -> Any:
    from labbook.sdk.session import active_run as current

    return current()


class _Module(types.ModuleType):
    """Gives ``labbook.run``/``config``/``summary`` live values and makes
    ``labbook.config = {...}`` update the active run (wandb silently drops that assignment)."""

    @property
    def run(self) -> Any:
        return _active_run()

    @property
    def config(self) -> Any:
        run = _active_run()
        if run is None:
            from labbook.sdk.config import Config

            return Config({}, _preinit_config)
        return run.config

    @property
    def summary(self) -> Any:
        run = _active_run()
        if run is None:
            from labbook.sdk.summary import Summary

            return Summary({}, _preinit_summary)
        return run.summary

    def __getattr__(self, name: str) -> Any:
        # Integrations import their framework, so they load on first use:
        # ``labbook.keras.Callback`` works after a plain ``import labbook``.
        if name in _LAZY_SUBMODULES:
            return importlib.import_module(f"labbook.{name}")
        if name in _LAZY_NAMES:
            value = getattr(importlib.import_module(_LAZY_NAMES[name]), name)
            self.__dict__[name] = value  # later lookups skip __getattr__
            return value
        raise AttributeError(f"module 'labbook' has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "config":
            _require_run().config.update(value)
            return
        if name in ("run", "summary"):
            raise AttributeError(f"labbook.{name} is read-only; it follows the active run")
        super().__setattr__(name, value)


def _preinit_config(changed: dict[str, Any]) -> None:
    raise UsageError("no active run: call labbook.init() before setting config")


def _preinit_summary(values: dict[str, Any], deleted: list[str]) -> dict[str, Any]:
    raise UsageError("no active run: call labbook.init() before writing the summary")


sys.modules[__name__].__class__ = _Module
