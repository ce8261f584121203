"""``labbook.Api``: the read side, for notebooks and the command line (wandb's public API shape).

It reads the configured server through ``labbook.client`` or the local store directly; the SDK's
write path never imports it.
"""

from __future__ import annotations

from labbook.api._files import ApiFile
from labbook.api._runs import Api, ApiRun, Runs, flatten, history_frame

__all__ = ["Api", "ApiFile", "ApiRun", "Runs", "flatten", "history_frame"]
