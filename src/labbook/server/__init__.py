"""The labbook server: ``create_app(settings)`` builds the FastAPI app (see ``app.py``).

``create_app`` is imported lazily, so that ``labbook.server.schemas`` (the wire models) can be
imported by the SDK without importing FastAPI's app machinery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labbook.server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from labbook.server.app import create_app

        return create_app
    raise AttributeError(name)
