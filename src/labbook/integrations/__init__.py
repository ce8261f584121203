"""Framework integrations, each importing its framework only when used.

``labbook.integrations.keras.WandbCallback`` works after a plain ``import labbook``: a
submodule loads on first attribute access, so importing the package loads no framework.
"""

from __future__ import annotations

import importlib
from types import ModuleType

_SUBMODULES = frozenset({"keras", "lightning", "sklearn", "torch"})


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
