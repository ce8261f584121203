"""``labbook.keras.Callback``: one line in ``model.fit`` logs a Keras 3 run.

Per epoch it logs every metric Keras reports (the epoch is the step), saves ``model-best.keras``
into the run whenever the monitored value improves, and at the end of training evaluates the
validation data: confusion matrix, ROC and PR charts, per-class precision and recall in the
summary. Logging problems are reported once as warnings; they never stop training.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    import keras
except ImportError as exc:  # pragma: no cover - exercised only without keras installed
    raise ImportError(
        "labbook.keras needs Keras 3: pip install keras (with KERAS_BACKEND=torch, torch==2.13.0)"
    ) from exc

from labbook import metrics
from labbook.errors import UsageError
from labbook.sdk.session import active_run

BEST_MODEL = "model-best.keras"


def _number(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f


class Callback(keras.callbacks.Callback):
    """Log a Keras training run to the active labbook run.

    ``monitor``/``mode`` pick what "best" means (``mode="auto"``: ``min`` unless the name contains
    "acc", "auc", "precision", "recall" or "f1"). ``log_freq`` is ``"epoch"`` or a number of
    batches: with a number, batch metrics are also logged under ``batch/<name>`` every N batches
    and the step counts batches instead of epochs. ``validation_data`` (``(x, y)``, the same
    data given to ``fit``: Keras 3 does not hand it to callbacks) turns on the end-of-training
    evaluation; ``class_names`` label the charts.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_model: bool = True,
        log_freq: str | int = "epoch",
        validation_data: tuple[Any, Any] | None = None,
        class_names: Sequence[str] | None = None,
        log_evaluation: bool = True,
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise UsageError(f"mode must be 'auto', 'min' or 'max', not {mode!r}")
        if log_freq != "epoch" and not (isinstance(log_freq, int) and log_freq > 0):
            raise UsageError(
                f"log_freq must be 'epoch' or a positive number of batches, not {log_freq!r}"
            )
        if mode == "auto":
            maximize = any(s in monitor for s in ("acc", "auc", "precision", "recall", "f1"))
            mode = "max" if maximize else "min"
        self.monitor = monitor
        self.mode = mode
        self.save_model = save_model
        self.log_freq = log_freq
        self.validation_data = validation_data
        self.class_names = list(class_names) if class_names is not None else None
        self.log_evaluation = log_evaluation
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._batch = 0
        self._warned = False
        self._run: Any = None

    # ----- helpers ---------------------------------------------------------------------------
    def _warn(self, what: str, exc: BaseException) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"labbook.keras: {what} failed, training goes on: {exc!r}", stacklevel=3)

    def _better(self, value: float) -> bool:
        if math.isnan(value):
            return False
        if self.best is None:
            return True
        return value < self.best if self.mode == "min" else value > self.best

    @property
    def best_model_path(self) -> Path | None:
        return Path(self._run.dir) / BEST_MODEL if self._run is not None else None

    # ----- Keras hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        run = active_run()
        if run is None:
            raise UsageError(
                "labbook.keras.Callback needs an active run: call labbook.init() first"
            )
        self._run = run
        try:
            params = dict(self.params or {})
            summary: dict[str, Any] = {"keras/params": int(self.model.count_params())}
            summary.update({f"keras/{k}": v for k, v in params.items() if isinstance(v, int | str)})
            run.summary.update(summary)
        except Exception as exc:
            self._warn("recording the model's parameters", exc)

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batch += 1
        if self.log_freq == "epoch" or self._batch % int(self.log_freq):
            return
        try:
            row = {
                f"batch/{k}": f for k, v in (logs or {}).items() if (f := _number(v)) is not None
            }
            row["batch/batch"] = self._batch
            self._run.log(row, step=self._batch)
        except Exception as exc:
            self._warn("logging batch metrics", exc)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        try:
            row: dict[str, Any] = {k: f for k, v in logs.items() if (f := _number(v)) is not None}
            row["epoch"] = epoch
            step = epoch if self.log_freq == "epoch" else self._batch
            self._run.log(row, step=step, commit=True)
        except Exception as exc:
            self._warn("logging epoch metrics", exc)
        value = _number(logs.get(self.monitor))
        if value is None or not self._better(value):
            return
        self.best, self.best_epoch = value, epoch
        try:
            self._run.summary.update({f"best_{self.monitor}": value, "best_epoch": epoch})
            if self.save_model and self.best_model_path is not None:
                self.model.save(self.best_model_path)
        except Exception as exc:
            self._warn("saving the best model", exc)

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.log_evaluation:
            return
        data = self.validation_data
        if data is None:
            return
        try:
            self._log_evaluation(data[0], data[1])
        except Exception as exc:
            self._warn("evaluating the validation data", exc)

    # ----- evaluation ------------------------------------------------------------------------
    def _log_evaluation(self, x: Any, y: Any) -> None:
        probs = np.asarray(self.model.predict(x, verbose=0))
        y_true = np.asarray(y)
        if y_true.ndim == 2 and y_true.shape[1] > 1:  # one-hot labels
            y_true = y_true.argmax(axis=1)
        y_true = y_true.reshape(-1).astype(np.int64)
        if probs.ndim == 1 or probs.shape[1] == 1:  # a single sigmoid unit
            p1 = probs.reshape(-1)
            probs = np.stack([1.0 - p1, p1], axis=1)
        preds = probs.argmax(axis=1)
        k = probs.shape[1]
        labels = list(range(k))
        names = self.class_names or [str(i) for i in labels]
        from labbook import plot

        charts: dict[str, Any] = {
            "eval/confusion_matrix": plot.confusion_matrix(
                y_true=y_true, probs=probs, class_names=names
            )
        }
        if len(np.unique(y_true)) > 1:
            charts["eval/roc"] = plot.roc_curve(y_true, probs, labels=names)
            charts["eval/pr"] = plot.pr_curve(y_true, probs, labels=names)
        self._run.log(charts, commit=False)
        prf = metrics.precision_recall_f1(
            y_true, preds, average=None, labels=labels, zero_division=0
        )
        summary: dict[str, Any] = {"eval/accuracy": metrics.accuracy(y_true, preds)}
        for i, name in enumerate(names):
            summary[f"eval/precision/{name}"] = float(prf.precision[i])
            summary[f"eval/recall/{name}"] = float(prf.recall[i])
            summary[f"eval/f1/{name}"] = float(prf.f1[i])
        self._run.summary.update(summary)
