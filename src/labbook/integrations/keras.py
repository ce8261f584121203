"""``labbook.keras.Callback`` (wandb's ``WandbCallback``): one line in ``model.fit`` logs a Keras 3
run.

Each epoch is a history row of its own at the run's *next* step, holding every metric Keras
reports and ``epoch``. The callback never passes a step: a script that logs sample images before
``fit`` (or anything between epochs) has already advanced the run's step, and an epoch logged at
``step=epoch`` would be "lower than the current step" and dropped. ``epoch`` is declared the
x-axis of those metrics instead (``define_metric``), as wandb's legacy callback logs it as a
value. With ``log_freq`` batches, rows of ``batch/*`` come between the epochs, their x-axis
``batch/batch``. A key the script defined itself (by name or glob) keeps the script's definition.

It also saves ``model-best.keras`` into the run whenever the monitored value improves and, at the
end of training, evaluates the validation data: confusion matrix, ROC and PR charts, per-class
precision and recall in the summary. On request: histograms of the weights and gradients, a few
validation images captioned with their predicted label, and the model's FLOPs. Logging problems
are reported once as warnings; they never stop training.

wandb's arguments are accepted. Honoured: ``labels`` (class names), ``log_weights``,
``log_gradients`` (torch backend: the gradients of each epoch's last training batch, read where
the training step left them, with no extra pass over ``training_data``), ``log_batch_frequency``
(``log_freq``), ``log_best_prefix``, ``save_weights_only``, ``verbose``, ``generator`` and
``validation_steps`` (validation batches), ``input_type``/``data_type="image"`` with
``predictions`` (example images), ``log_evaluation_frequency`` and ``compute_flops`` (torch
backend). The others shape wandb's own views (its model graph, its evaluation Table); they are
accepted with a one-time note saying so.
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
from labbook.data.media import Histogram, Image
from labbook.errors import UsageError
from labbook.integrations.torch import _hist
from labbook.sdk.session import active_run

BEST_MODEL = "model-best.keras"
BEST_WEIGHTS = "model-best.weights.h5"  # Keras 3 insists on this suffix for save_weights
MAX_PREDICTIONS = 100  # wandb's cap on example predictions per epoch

_IMAGE_TYPES = ("image", "images")
_DATA_TYPES = (*_IMAGE_TYPES, "segmentation_mask", "label")
_UNSHOWN = "shapes wandb's evaluation Table; labbook logs a confusion matrix, ROC and PR charts"
_NOTED: set[str] = set()
"""wandb arguments already noted in this process: each note is said once, not per callback."""


def _note(arg: str, why: str) -> None:
    if arg not in _NOTED:
        _NOTED.add(arg)
        warnings.warn(f"labbook.keras: {arg} {why}", stacklevel=4)


def _number(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f


def _histogram(value: Any) -> Histogram | None:
    """A weight or gradient as a Histogram; None when it holds no finite value.

    A torch tensor (the torch backend's variables and gradients) is binned on its own device by
    :func:`labbook.integrations.torch._hist`, so nothing big is copied to the CPU.
    """
    value = getattr(value, "value", value)  # a keras.Variable: its backend tensor
    if hasattr(value, "histc"):
        h = _hist(value)
        return None if h is None else Histogram(np_histogram=h)
    arr = np.asarray(keras.ops.convert_to_numpy(value), dtype=np.float64)
    return Histogram(arr) if np.isfinite(arr).any() else None


def _defined(run: Any, key: str) -> bool:
    """Whether a definition of the script's (a name or a glob) already covers ``key``."""
    defs = getattr(run, "_metric_defs", None)
    return defs is not None and defs._lookup(key) is not None


class Callback(keras.callbacks.Callback):
    """Log a Keras training run to the active labbook run.

    ``monitor``/``mode`` pick what "best" means (``mode="auto"``: ``min`` unless the name contains
    "acc", "auc", "precision", "recall" or "f1"); the best value and its epoch go into the summary
    as ``<log_best_prefix><monitor>`` and ``<log_best_prefix>epoch`` (no prefix: not at all), and
    ``save_model`` keeps ``model-best.keras`` (``save_weights_only``: ``model-best.weights.h5``).
    ``log_freq`` (wandb: ``log_batch_frequency``) is ``"epoch"``, ``"batch"`` or a number of
    batches: with batches, their metrics are also logged under ``batch/<name>``.
    ``validation_data`` (``(x, y)``, the same data given to ``fit``: Keras 3 does not hand it to
    callbacks) or a ``generator`` of ``(x, y)`` batches (``validation_steps`` of them) turns on
    the evaluation, at the end of training and every ``log_evaluation_frequency`` epochs;
    ``class_names`` (wandb: ``labels``) label the charts. ``log_weights`` and ``log_gradients``
    add histograms to every epoch's row (``parameters/<layer>.<weight>``,
    ``gradients/<layer>.<weight>``); ``input_type="image"`` logs ``predictions`` validation
    images captioned with their predicted class under ``examples``; ``compute_flops`` puts the
    GFLOPs of one sample's forward pass in the summary.
    """

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        save_model: bool = True,
        log_freq: str | int = "epoch",
        validation_data: Any = None,
        class_names: Sequence[str] | None = None,
        log_evaluation: bool = True,
        *,
        verbose: int = 0,
        save_weights_only: bool = False,
        log_weights: bool = False,
        log_gradients: bool = False,
        training_data: Any = None,
        labels: Sequence[str] | None = None,
        data_type: str | None = None,
        predictions: int = 36,
        generator: Any = None,
        input_type: str | None = None,
        output_type: str | None = None,
        validation_steps: int | None = None,
        class_colors: Any = None,
        log_batch_frequency: int | None = None,
        log_best_prefix: str | None = "best_",
        save_graph: bool | None = None,
        validation_indexes: Any = None,
        validation_row_processor: Any = None,
        prediction_row_processor: Any = None,
        output_row_processor: Any = None,
        infer_missing_processors: bool | None = None,
        log_evaluation_frequency: int = 0,
        compute_flops: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise UsageError(f"mode must be 'auto', 'min' or 'max', not {mode!r}")
        log_freq = 1 if log_freq == "batch" else log_freq
        if log_freq != "epoch" and not (_positive(log_freq)):
            raise UsageError(
                f"log_freq must be 'epoch', 'batch' or a positive number of batches, "
                f"not {log_freq!r}"
            )
        if log_batch_frequency is not None:
            if not _positive(log_batch_frequency):
                raise UsageError(
                    "log_batch_frequency must be a positive number of batches, "
                    f"not {log_batch_frequency!r}"
                )
            if log_freq not in ("epoch", log_batch_frequency):
                raise UsageError(
                    f"log_freq={log_freq!r} and log_batch_frequency={log_batch_frequency!r} "
                    "disagree: pass one of them"
                )
            log_freq = log_batch_frequency
        if not _positive(predictions):
            raise UsageError(f"predictions must be a positive number, not {predictions!r}")
        for name, value in (
            ("input_type", input_type),
            ("data_type", data_type),
            ("output_type", output_type),
        ):
            if value is not None and value not in _DATA_TYPES:
                raise UsageError(f"{name} must be one of {', '.join(_DATA_TYPES)}, not {value!r}")
        if validation_steps is not None and not _positive(validation_steps):
            raise UsageError(
                f"validation_steps must be a positive number of batches, not {validation_steps!r}"
            )
        if not isinstance(log_evaluation_frequency, int) or log_evaluation_frequency < 0:
            raise UsageError(
                "log_evaluation_frequency must be 0 (at the end of training) or a number of "
                f"epochs, not {log_evaluation_frequency!r}"
            )
        if mode == "auto":
            maximize = any(s in monitor for s in ("acc", "auc", "precision", "recall", "f1"))
            mode = "max" if maximize else "min"
        if validation_data is not None and not isinstance(validation_data, tuple | list):
            generator, validation_data = validation_data, None  # wandb: a generator here too
        self.monitor = monitor
        self.mode = mode
        self.save_model = save_model
        self.save_weights_only = save_weights_only
        self.verbose = verbose
        self.log_freq = log_freq
        self.validation_data = validation_data
        self.generator = generator
        self.validation_steps = validation_steps
        names = class_names if class_names is not None else (labels or None)  # wandb: labels=[]
        self.class_names = list(names) if names is not None else None
        self.log_evaluation = log_evaluation
        self.log_evaluation_frequency = log_evaluation_frequency
        self.log_weights = log_weights
        self.log_gradients = log_gradients
        self.log_best_prefix = log_best_prefix
        self.input_type = input_type or data_type
        self.output_type = output_type
        self.predictions = min(int(predictions), MAX_PREDICTIONS)
        self.compute_flops = compute_flops
        self.best: float | None = None
        self.best_epoch: int | None = None
        self._batch = 0
        self._warned = False
        self._run: Any = None
        self._declared: set[str] = set()
        self._evaluated_epoch: int | None = None
        self._last_epoch: int | None = None
        self._note_unused(
            training_data=training_data,
            save_graph=save_graph,
            class_colors=class_colors,
            validation_indexes=validation_indexes,
            validation_row_processor=validation_row_processor,
            prediction_row_processor=prediction_row_processor,
            output_row_processor=output_row_processor,
            infer_missing_processors=infer_missing_processors,
            extra=kwargs,
        )

    def _note_unused(self, extra: dict[str, Any], **args: Any) -> None:
        """One note per wandb argument that does nothing here, saying why."""
        if args["training_data"] is not None:
            _note(
                "training_data",
                "is not used: log_gradients logs the gradients of each epoch's last training "
                "batch, read where the training step left them (no extra pass over the data)",
            )
        if args["save_graph"]:
            _note(
                "save_graph",
                "is not done: labbook has no model graph view (model-best.keras holds the model)",
            )
        for name in (
            "class_colors",
            "validation_indexes",
            "validation_row_processor",
            "prediction_row_processor",
            "output_row_processor",
            "infer_missing_processors",
        ):
            if args[name] is not None:
                _note(name, f"is not used: it {_UNSHOWN}")
        if self.output_type not in (None, "label"):
            _note(
                "output_type",
                f"{self.output_type!r} is not shown: examples are input images captioned with "
                "their predicted class (output_type 'label')",
            )
        elif self.input_type is not None and self.input_type not in _IMAGE_TYPES:
            _note("input_type", f"{self.input_type!r} is not shown: only 'image' inputs are")
        if self.validation_steps is not None and self.generator is None:
            _note("validation_steps", "is used only with a generator of validation batches")
        for name in extra:
            _note(name, "is not an argument of labbook's Keras callback (nor wandb's); ignored")

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
        if self._run is None:
            return None
        return Path(self._run.dir) / (BEST_WEIGHTS if self.save_weights_only else BEST_MODEL)

    def _declare(self, keys: Sequence[str], x_axis: str) -> None:
        """``define_metric`` for the keys first seen here: ``x_axis`` is their step metric."""
        for key in keys:
            if key in self._declared:
                continue
            if not _defined(self._run, key):
                if key == x_axis:
                    self._run.define_metric(key)
                else:
                    self._run.define_metric(key, step_metric=x_axis)
            self._declared.add(key)  # after: a failed definition is tried again next time

    def _weight_name(self, variable: Any) -> str:
        """``conv2d.kernel`` for ``sequential/conv2d/kernel``: unique, without the model's name."""
        path = str(getattr(variable, "path", variable.name))
        return path.removeprefix(f"{self.model.name}/").replace("/", ".")

    def _validation_batches(self, steps: int) -> tuple[Any, Any] | None:
        """``validation_data``, else ``steps`` batches drawn from the generator."""
        if self.validation_data is not None:
            return self.validation_data[0], self.validation_data[1]
        if self.generator is None:
            return None
        xs, ys = [], []
        for _ in range(steps):
            batch = next(self.generator)
            xs.append(np.asarray(batch[0]))
            ys.append(np.asarray(batch[1]))
        return np.concatenate(xs), np.concatenate(ys)

    # ----- Keras hooks -----------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        run = active_run()
        if run is None:
            raise UsageError(
                "labbook.keras.Callback needs an active run: call labbook.init() first"
            )
        if run is not self._run:
            self._declared.clear()  # definitions belong to a run: a new run needs its own
        self._run = run
        try:
            params = dict(self.params or {})
            summary: dict[str, Any] = {"keras/params": int(self.model.count_params())}
            summary.update({f"keras/{k}": v for k, v in params.items() if isinstance(v, int | str)})
            run.summary.update(summary)
        except Exception as exc:
            self._warn("recording the model's parameters", exc)
        if self.compute_flops:
            self._log_flops()
        if self.log_gradients and keras.backend.backend() != "torch":
            _note(
                "log_gradients",
                "is not done on this backend: gradients are read from the torch backend's "
                "training step (KERAS_BACKEND=torch)",
            )

    def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        self._batch += 1
        if self.log_freq == "epoch" or self._batch % int(self.log_freq):
            return
        try:
            row = {
                f"batch/{k}": f for k, v in (logs or {}).items() if (f := _number(v)) is not None
            }
            row["batch/batch"] = self._batch
            self._declare(list(row), "batch/batch")
            self._run.log(row)
        except Exception as exc:
            self._warn("logging batch metrics", exc)

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        logs = logs or {}
        self._last_epoch = epoch
        row: dict[str, Any] = {k: f for k, v in logs.items() if (f := _number(v)) is not None}
        row["epoch"] = epoch
        try:
            self._declare(list(row), "epoch")
        except Exception as exc:
            self._warn("declaring epoch as the metrics' x-axis", exc)
        self._add_histograms(row)
        if self.input_type in _IMAGE_TYPES and self.output_type in (None, "label"):
            try:
                self._add_examples(row)
            except Exception as exc:
                self._warn("logging example predictions", exc)
        freq = self.log_evaluation_frequency
        if self.log_evaluation and freq and (epoch + 1) % freq == 0:
            try:
                data = self._validation_batches(self.validation_steps or 1)
                if data is not None:
                    charts, summary = self._evaluate(data[0], data[1])
                    row.update(charts)
                    self._run.summary.update(summary)
                    self._evaluated_epoch = epoch
            except Exception as exc:
                self._warn("evaluating the validation data", exc)
        try:
            self._run.log(row)
        except Exception as exc:
            self._warn("logging epoch metrics", exc)
        self._track_best(epoch, _number(logs.get(self.monitor)))

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if not self.log_evaluation or (
            self._evaluated_epoch is not None and self._evaluated_epoch == self._last_epoch
        ):
            return  # off, or the last epoch's row holds this very evaluation
        try:
            data = self._validation_batches(self.validation_steps or 1)
            if data is None:
                return
            charts, summary = self._evaluate(data[0], data[1])
            self._run.log(charts, commit=False)
            self._run.summary.update(summary)
        except Exception as exc:
            self._warn("evaluating the validation data", exc)

    # ----- per epoch -------------------------------------------------------------------------
    def _track_best(self, epoch: int, value: float | None) -> None:
        if value is None or not self._better(value):
            return
        previous = self.best
        self.best, self.best_epoch = value, epoch
        try:
            if self.log_best_prefix is not None:
                self._run.summary.update(
                    {
                        f"{self.log_best_prefix}{self.monitor}": value,
                        f"{self.log_best_prefix}epoch": epoch,
                    }
                )
            path = self.best_model_path if self.save_model else None
            if self.verbose:
                saving = f", saving model to {path}" if path is not None else ""
                print(
                    f"Epoch {epoch + 1}: {self.monitor} improved from "
                    f"{previous if previous is not None else math.inf:.5f} to {value:.5f}{saving}"
                )
            if path is not None:
                if self.save_weights_only:
                    self.model.save_weights(path)
                else:
                    self.model.save(path)
        except Exception as exc:
            self._warn("saving the best model", exc)

    def _add_histograms(self, row: dict[str, Any]) -> None:
        """Weights as they are at the epoch's end; gradients of its last training batch.

        On the torch backend each training step leaves its gradients in the parameters' ``.grad``
        (Keras clears them only at the next step's start, and evaluation does not touch them),
        so they cost one histogram each here and nothing per batch.
        """
        groups: list[tuple[str, list[tuple[str, Any]]]] = []
        try:
            if self.log_weights:
                weights = [(self._weight_name(v), v) for v in self.model.weights]
                groups.append(("parameters", weights))
            if self.log_gradients and keras.backend.backend() == "torch":
                grads = [
                    (self._weight_name(v), v.value.grad)
                    for v in self.model.trainable_weights
                    if getattr(v.value, "grad", None) is not None
                ]
                groups.append(("gradients", grads))
            for kind, values in groups:
                self._declare([f"{kind}/*"], "epoch")
                for name, value in values:
                    h = _histogram(value)
                    if h is not None:
                        row[f"{kind}/{name}"] = h
        except Exception as exc:
            self._warn("logging weight and gradient histograms", exc)

    def _add_examples(self, row: dict[str, Any]) -> None:
        """The first ``predictions`` validation images (the same ones every epoch, so their
        captions show the predictions change), each captioned with its predicted class."""
        if self.validation_data is not None:
            x = np.asarray(self.validation_data[0][: self.predictions])
        elif self.generator is not None:
            x = np.asarray(next(self.generator)[0][: self.predictions])
        else:
            _note("input_type", "logs no examples without validation_data or a generator")
            return
        probs = np.asarray(self.model.predict(x, verbose=0))
        if probs.ndim == 1 or probs.shape[-1] == 1:
            preds = (probs.reshape(len(x)) > 0.5).astype(np.int64)
        else:
            preds = probs.reshape(len(x), -1).argmax(axis=1)
        names = self.class_names
        captions = [names[p] if names and p < len(names) else str(p) for p in preds.tolist()]
        self._declare(["examples"], "epoch")
        row["examples"] = [Image(img, caption=c) for img, c in zip(x, captions, strict=True)]

    def _log_flops(self) -> None:
        """GFLOPs of one sample's forward pass, counted by torch (a multiply-add is 2 FLOPs)."""
        shape = getattr(self.model, "input_shape", None)
        if (
            keras.backend.backend() != "torch"
            or not isinstance(shape, tuple)
            or any(d is None for d in shape[1:])
        ):
            _note(
                "compute_flops",
                "is not done: it needs the torch backend and a model with one input of known shape",
            )
            return
        try:
            import torch
            from torch.utils.flop_counter import FlopCounterMode

            x = keras.ops.zeros((1, *shape[1:]), dtype=self.model.inputs[0].dtype)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                self.model(x, training=False)
            self._run.summary.update({"GFLOPs": counter.get_total_flops() / 1e9})
        except Exception as exc:
            self._warn("counting the model's FLOPs", exc)

    # ----- evaluation ------------------------------------------------------------------------
    def _evaluate(self, x: Any, y: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """The evaluation charts (for a history row) and per-class values (for the summary)."""
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
        prf = metrics.precision_recall_f1(
            y_true, preds, average=None, labels=labels, zero_division=0
        )
        summary: dict[str, Any] = {"eval/accuracy": metrics.accuracy(y_true, preds)}
        for i, name in enumerate(names):
            summary[f"eval/precision/{name}"] = float(prf.precision[i])
            summary[f"eval/recall/{name}"] = float(prf.recall[i])
            summary[f"eval/f1/{name}"] = float(prf.f1[i])
        return charts, summary


def _positive(n: Any) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0


WandbCallback = Callback
"""wandb's name (``from wandb.keras import WandbCallback``): the same callback, which takes
wandb's arguments."""
