"""``labbook.keras``: the Keras 3 integration (see :mod:`labbook.integrations.keras`).

``from labbook.keras import WandbCallback`` is wandb's ``from wandb.keras import WandbCallback``.
"""

from labbook.integrations.keras import BEST_MODEL, BEST_WEIGHTS, Callback, WandbCallback

__all__ = ["BEST_MODEL", "BEST_WEIGHTS", "Callback", "WandbCallback"]
