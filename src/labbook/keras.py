"""``labbook.keras``: the Keras 3 integration (see :mod:`labbook.integrations.keras`)."""

from labbook.integrations.keras import BEST_MODEL, Callback

__all__ = ["BEST_MODEL", "Callback"]
