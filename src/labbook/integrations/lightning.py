"""``LabbookLogger``: a PyTorch Lightning logger that writes to a labbook run.

``Trainer(logger=LabbookLogger(project="digits"))`` logs every metric Lightning reports at its
global step and the module's hyper-parameters into ``config``. It uses the active run when there
is one (and leaves finishing it to the script), or starts one on first use and finishes it when
training ends.
"""

from __future__ import annotations

from argparse import Namespace
from typing import Any

try:
    from lightning.pytorch.loggers.logger import Logger, rank_zero_experiment
    from lightning.pytorch.utilities import rank_zero_only
except ImportError as exc:  # pragma: no cover - exercised only without lightning installed
    raise ImportError("labbook's Lightning logger needs lightning: pip install lightning") from exc

from labbook.sdk.session import active_run, init


class LabbookLogger(Logger):
    """Lightning logger over labbook; ``init_kwargs`` go to :func:`labbook.init`."""

    def __init__(self, project: str | None = None, **init_kwargs: Any) -> None:
        super().__init__()
        self._project = project
        self._init_kwargs = init_kwargs
        self._run: Any = None
        self._owns_run = False

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        """The labbook run (started on first use when none is active)."""
        if self._run is None:
            current = active_run()
            if current is not None:
                self._run = current
            else:
                self._run = init(project=self._project, **self._init_kwargs)
                self._owns_run = True
        return self._run

    @property
    def name(self) -> str | None:
        return self._project or (self._run.project if self._run is not None else None)

    @property
    def version(self) -> str | None:
        return self._run.id if self._run is not None else None

    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        values = vars(params) if isinstance(params, Namespace) else dict(params or {})
        # Lightning may report hyper-parameters more than once (e.g. after a resume).
        self.experiment.config.update(values, allow_val_change=True)

    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        row = {k: float(v) if hasattr(v, "item") else v for k, v in metrics.items()}
        self.experiment.log(row, step=step)

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._owns_run and self._run is not None:
            self._run.finish(exit_code=0 if status == "success" else 1)
