"""The Keras callback on a real Keras 3 (torch backend) training run over scikit-learn's digits."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

import labbook  # noqa: E402
from labbook import Api, Settings, metrics  # noqa: E402
from labbook.blobs import open_blobstore  # noqa: E402
from labbook.data.media import Plot  # noqa: E402
from labbook.keras import BEST_MODEL, Callback  # noqa: E402


def _digits() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    d = sklearn_datasets.load_digits()
    x = (d.images / 16.0).astype("float32")[..., None]
    y = d.target.astype("int64")
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))[:900]
    return x[idx[:600]], y[idx[:600]], x[idx[600:]], y[idx[600:]]


def _model() -> object:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, activation="relu", padding="same"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class _Recorder(keras.callbacks.Callback):
    """Keeps the model's validation predictions after every epoch."""

    def __init__(self, x: np.ndarray) -> None:
        super().__init__()
        self.x = x
        self.preds: list[np.ndarray] = []

    def on_epoch_end(self, epoch: int, logs: object = None) -> None:
        self.preds.append(self.model.predict(self.x, verbose=0))


@pytest.mark.slow
def test_callback_logs_epochs_best_model_and_evaluation(tmp_path: Path) -> None:
    settings = Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)
    xtr, ytr, xva, yva = _digits()
    run = labbook.init(project="keras", settings=settings)
    model = _model()
    cb = Callback(monitor="val_loss", validation_data=(xva, yva))
    recorder = _Recorder(xva)
    model.fit(
        xtr,
        ytr,
        epochs=2,
        batch_size=64,
        validation_data=(xva, yva),
        verbose=0,
        callbacks=[cb, recorder],
    )
    probs = model.predict(xva, verbose=0)
    run.finish()

    with Api(settings) as api:
        stored = api.run(run.path)
        h = stored.history()
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch"):
            assert key in h.columns, key
        epochs = h[h["epoch"].notna()]
        assert list(epochs["_step"]) == [0, 1] and list(epochs["epoch"]) == [0, 1]
        assert stored.summary["best_val_loss"] == epochs["val_loss"].min()
        assert stored.summary["best_epoch"] == int(epochs["val_loss"].idxmin())
        files = {f.path: f for f in stored.files()}
        assert BEST_MODEL in files
        # The confusion matrix logged equals labbook.metrics' over the same predictions.
        (cm_ref,) = [v for v in h["eval/confusion_matrix"] if isinstance(v, dict)]
        assert files[cm_ref["path"]].sha256 == cm_ref["sha256"]
        blob = b"".join(open_blobstore(settings.resolved_blobs_uri()).open_read(cm_ref["sha256"]))
        table = Plot.from_json(blob).to_pandas()
        logged = np.zeros((10, 10), dtype=np.int64)
        names = [str(i) for i in range(10)]
        for actual, predicted, n in table[["Actual", "Predicted", "nPredictions"]].itertuples(
            index=False
        ):
            logged[names.index(actual), names.index(predicted)] = n
        expected = metrics.confusion_matrix(yva, probs.argmax(1), labels=list(range(10)))
        assert np.array_equal(logged, expected)
        prf = metrics.precision_recall_f1(
            yva, probs.argmax(1), average=None, labels=list(range(10)), zero_division=0
        )
        for c in range(10):
            assert stored.summary[f"eval/precision/{c}"] == pytest.approx(float(prf.precision[c]))
            assert stored.summary[f"eval/recall/{c}"] == pytest.approx(float(prf.recall[c]))
        assert stored.summary["eval/accuracy"] == pytest.approx(
            metrics.accuracy(yva, probs.argmax(1))
        )

    # The saved best model loads and predicts exactly like the model did at its best epoch.
    best = keras.models.load_model(Path(run.dir) / BEST_MODEL)
    assert cb.best_epoch is not None
    np.testing.assert_allclose(
        best.predict(xva, verbose=0), recorder.preds[cb.best_epoch], rtol=1e-5, atol=1e-6
    )


def test_callback_needs_an_active_run() -> None:
    xtr, ytr, _, _ = _digits()
    model = _model()
    with pytest.raises(labbook.UsageError, match=r"labbook\.init"):
        model.fit(xtr[:64], ytr[:64], epochs=1, verbose=0, callbacks=[Callback()])


def test_logging_errors_warn_and_never_stop_training(tmp_path: Path) -> None:
    settings = Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)
    xtr, ytr, _, _ = _digits()
    run = labbook.init(project="keras", settings=settings)

    class FinishAfterFirstEpoch(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            if epoch == 0:
                run.finish()  # from now on every log() into the run raises

    model = _model()
    with pytest.warns(UserWarning, match="training goes on"):
        history = model.fit(
            xtr[:128],
            ytr[:128],
            epochs=3,
            verbose=0,
            callbacks=[FinishAfterFirstEpoch(), Callback(monitor="loss")],
        )
    assert len(history.history["loss"]) == 3


def _settings(tmp_path: Path) -> Settings:
    return Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)


def _plot(settings: Settings, ref: dict[str, object]) -> Plot:
    blob = b"".join(open_blobstore(settings.resolved_blobs_uri()).open_read(str(ref["sha256"])))
    return Plot.from_json(blob)


def test_mode_auto_maximizes_accuracy_like_metrics() -> None:
    for monitor in ("val_accuracy", "accuracy", "val_auc", "val_f1_score", "val_recall"):
        assert Callback(monitor=monitor).mode == "max", monitor
    for monitor in ("val_loss", "loss", "val_mae"):
        assert Callback(monitor=monitor).mode == "min", monitor
    assert Callback(monitor="val_accuracy", mode="min").mode == "min"
    with pytest.raises(labbook.UsageError, match="mode"):
        Callback(mode="biggest")


@pytest.mark.slow
def test_best_model_is_saved_only_when_the_monitored_value_improves(tmp_path: Path) -> None:
    """``mode="max"`` on the training loss: it falls every epoch, so only epoch 0 is "best" and
    the file saved then must survive the later epochs untouched."""
    import hashlib

    settings = _settings(tmp_path)
    xtr, ytr, xva, _ = _digits()
    run = labbook.init(project="keras", settings=settings)
    cb = Callback(monitor="loss", mode="max", log_evaluation=False)
    recorder = _Recorder(xva)
    digests: list[str] = []

    class Digest(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            digests.append(hashlib.sha256((Path(run.dir) / BEST_MODEL).read_bytes()).hexdigest())

    history = _model().fit(
        xtr, ytr, epochs=3, batch_size=64, verbose=0, callbacks=[cb, recorder, Digest()]
    )
    run.finish()
    losses = history.history["loss"]
    assert losses[0] > losses[1] > losses[2]
    assert cb.best_epoch == 0 and len(set(digests)) == 1
    with Api(settings) as api:
        stored = api.run(run.path)
        assert stored.summary["best_loss"] == pytest.approx(losses[0])
        assert stored.summary["best_epoch"] == 0
    best = keras.models.load_model(Path(run.dir) / BEST_MODEL)
    np.testing.assert_allclose(
        best.predict(xva, verbose=0), recorder.preds[0], rtol=1e-5, atol=1e-6
    )


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["log_freq", "log_batch_frequency"])
def test_batch_logging_and_switches(tmp_path: Path, spelling: str) -> None:
    """Every 5 batches a row of ``batch/*`` (``batch/batch`` counts batches and is their x-axis),
    each epoch a row of its own after its batches, all at the run's own steps (wandb's
    ``log_batch_frequency`` is ``log_freq``); ``log_evaluation=False`` and ``save_model=False``
    leave no evaluation and no model file."""
    settings = _settings(tmp_path)
    xtr, ytr, xva, yva = _digits()  # 600 training samples: 10 batches of 64 per epoch
    run = labbook.init(project="keras", settings=settings)
    cb = Callback(
        validation_data=(xva, yva), log_evaluation=False, save_model=False, **{spelling: 5}
    )
    _model().fit(
        xtr, ytr, epochs=2, batch_size=64, validation_data=(xva, yva), verbose=0, callbacks=[cb]
    )
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        h = stored.history()
        assert list(h.loc[h["batch/loss"].notna(), "_step"]) == [0, 1, 3, 4]
        assert list(h.loc[h["batch/batch"].notna(), "batch/batch"]) == [5, 10, 15, 20]
        assert list(h.loc[h["epoch"].notna(), "_step"]) == [2, 5]
        assert h["loss"].notna().sum() == 2  # epoch metrics only in the epoch rows
        defs = _defs(stored)
        assert defs["batch/batch"] == {"name": "batch/batch"}
        assert defs["batch/loss"] == {"name": "batch/loss", "step_metric": "batch/batch"}
        assert defs["val_loss"] == {"name": "val_loss", "step_metric": "epoch"}
        assert not [k for k in list(h.columns) + list(stored.summary) if k.startswith("eval/")]
        assert BEST_MODEL not in {f.path for f in stored.files()}
        assert "best_val_loss" in stored.summary  # the best is still tracked, only not saved


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["class_names", "labels"])
def test_evaluation_charts_use_class_names_and_equal_the_metrics(
    tmp_path: Path, spelling: str
) -> None:
    """``class_names`` (wandb: ``labels``) name the classes of the charts and summary keys."""
    settings = _settings(tmp_path)
    xtr, ytr, xva, yva = _digits()
    names = [f"digit-{i}" for i in range(10)]
    run = labbook.init(project="keras", settings=settings)
    model = _model()
    cb = Callback(validation_data=(xva, yva), **{spelling: names})
    model.fit(xtr, ytr, epochs=1, batch_size=64, verbose=0, callbacks=[cb])
    probs = model.predict(xva, verbose=0)
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        h = stored.history()
        refs = {k: next(v for v in h[k] if isinstance(v, dict)) for k in ("eval/roc", "eval/pr")}
    roc, pr = _plot(settings, refs["eval/roc"]), _plot(settings, refs["eval/pr"])
    assert set(roc.to_pandas()["class"]) == set(names) == set(pr.to_pandas()["class"])
    for c, name in enumerate(names):
        target = (yva == c).astype(np.int64)
        assert roc.meta["auc"][name] == pytest.approx(metrics.roc_auc(target, probs[:, c]))
        assert pr.meta["average_precision"][name] == pytest.approx(
            metrics.average_precision(target, probs[:, c])
        )
        assert f"eval/precision/{name}" in stored.summary
        assert f"eval/recall/{name}" in stored.summary
    assert "eval/precision/0" not in stored.summary


# ----- item: the callback never drops epochs (it logs at the run's own step) -----------------


def _small_fit(cb: keras.callbacks.Callback, epochs: int = 3, **fit: object) -> object:
    """A quick fit: 192 training digits in 3 batches of 64 per epoch."""
    xtr, ytr, xva, yva = _digits()
    fit.setdefault("validation_data", (xva[:96], yva[:96]))
    return _model().fit(
        xtr[:192], ytr[:192], epochs=epochs, batch_size=64, verbose=0, callbacks=[cb], **fit
    )


def _defs(stored: object) -> dict[str, dict[str, object]]:
    return {d["name"]: d for d in stored.metadata.get("metric_definitions", [])}  # type: ignore[attr-defined]


@pytest.mark.slow
def test_epochs_after_rows_the_script_logged_first_are_all_stored(tmp_path: Path) -> None:
    """Seed 004 logs sample images before ``fit``: the run's step is past 0 when the first epoch
    ends. Every epoch is a row of its own at the run's next step, ``epoch`` is a value in it and
    the x-axis of the callback's metrics; nothing is dropped, nothing warns."""
    settings = _settings(tmp_path)
    xtr, ytr, _, _ = _digits()
    run = labbook.init(project="keras", settings=settings)
    run.log(
        {
            "samples": [
                labbook.Image(img, caption=str(t)) for img, t in zip(xtr[:4], ytr[:4], strict=True)
            ]
        }
    )
    run.log({"class_balance": labbook.Histogram(ytr)})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = _small_fit(Callback(save_model=False, log_evaluation=False))
    ours = [str(w.message) for w in caught if "labbook" in str(w.message)]
    assert not ours, ours
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        h = stored.history()
        epochs = h[h["epoch"].notna()]
        assert list(epochs["epoch"]) == [0, 1, 2] and list(epochs["_step"]) == [2, 3, 4]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert list(epochs[key]) == pytest.approx(history.history[key]), key  # type: ignore[attr-defined]
            assert _defs(stored)[key] == {"name": key, "step_metric": "epoch"}
        assert _defs(stored)["epoch"] == {"name": "epoch"}
        assert stored.summary["epoch"] == 2


@pytest.mark.slow
def test_the_scripts_own_metric_definitions_are_kept(tmp_path: Path) -> None:
    """A key the script already defined (by name or by a glob) keeps the script's definition;
    the callback declares its x-axis only for the others."""
    settings = _settings(tmp_path)
    run = labbook.init(project="keras", settings=settings)
    run.define_metric("val_*", step_metric="custom_step")
    run.define_metric("loss", summary="min")
    history = _small_fit(Callback(save_model=False, log_evaluation=False), epochs=2)
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        defs = _defs(stored)
        assert defs["val_*"] == {"name": "val_*", "step_metric": "custom_step"}
        assert defs["loss"] == {"name": "loss", "summary": ["min"]}
        assert "val_loss" not in defs and "val_accuracy" not in defs
        assert defs["accuracy"] == {"name": "accuracy", "step_metric": "epoch"}
        assert stored.summary["loss"] == {"min": pytest.approx(min(history.history["loss"]))}  # type: ignore[attr-defined]


SEED_SCRIPT = """
import os
os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np
from sklearn.datasets import load_digits

import labbook as wandb
from labbook.keras import WandbCallback

digits = load_digits()
x = (digits.images / 16.0).astype("float32")[..., None]
y = digits.target.astype("int64")
xtr, ytr, xva, yva = x[:320], y[:320], x[320:448], y[320:448]
labels = [f"digit {i}" for i in range(10)]

wandb.init(project="seed-004", config={"epochs": 3, "batch_size": 64})
wandb.log({"examples": [wandb.Image(img, caption=labels[t]) for img, t in zip(xtr[:8], ytr[:8])]})
wandb.log({"class_balance": wandb.Histogram(ytr)})

keras.utils.set_random_seed(0)
model = keras.Sequential([
    keras.Input((8, 8, 1)),
    keras.layers.Conv2D(8, 3, activation="relu", padding="same"),
    keras.layers.MaxPooling2D(2),
    keras.layers.Flatten(),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(
    xtr, ytr,
    epochs=wandb.config.epochs,
    batch_size=wandb.config.batch_size,
    validation_data=(xva, yva),
    verbose=0,
    callbacks=[WandbCallback(
        monitor="val_accuracy",
        validation_data=(xva, yva),
        labels=labels,
        log_weights=True,
        log_evaluation=True,
        save_model=False,
    )],
)
print("VAL_ACCURACY", *history.history["val_accuracy"])
print("RUN", wandb.run.path)
wandb.finish()
"""


@pytest.mark.slow
def test_seed_script_with_images_before_fit_stores_every_epoch(tmp_path: Path) -> None:
    """Seed 004's shape end to end, in its own process: ``import labbook as wandb``, sample
    images logged before ``fit``, wandb's ``WandbCallback`` with wandb's arguments."""
    import subprocess
    import sys

    script = tmp_path / "train.py"
    script.write_text(SEED_SCRIPT)
    env = {
        **os.environ,
        "KERAS_BACKEND": "torch",
        "LABBOOK_DIR": str(tmp_path / "data"),
        "LABBOOK_CAPTURE_REQUIREMENTS": "false",
        "LABBOOK_SYSTEM_METRICS": "false",
    }
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dropping" not in out.stderr and "lower than the current step" not in out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if " " in line)
    val_acc = [float(v) for v in lines["VAL_ACCURACY"].split()]
    with Api(Settings(dir=tmp_path / "data")) as api:
        stored = api.run(lines["RUN"].strip())
        h = stored.history()
        epochs = h[h["epoch"].notna()]
        assert list(epochs["epoch"]) == [0, 1, 2] and list(epochs["_step"]) == [2, 3, 4]
        assert list(epochs["val_accuracy"]) == pytest.approx(val_acc)
        defs = _defs(stored)
        assert defs["epoch"] == {"name": "epoch"}
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert defs[key]["step_metric"] == "epoch", key
        # log_weights: a histogram of every layer weight in every epoch's row.
        for key in ("parameters/conv2d.kernel", "parameters/conv2d.bias"):
            assert all(v["_type"] == "histogram" for v in epochs[key]), key
        assert stored.summary["best_val_accuracy"] == max(val_acc)
        # labels name the classes of the evaluation.
        assert "eval/precision/digit 3" in stored.summary


# ----- item: wandb's spelling of the callback and its arguments ------------------------------

WANDB_ARGUMENTS: dict[str, object] = {
    "labels": [str(i) for i in range(10)],
    "log_weights": True,
    "log_gradients": True,
    "training_data": None,  # set in the test: (x, y)
    "save_graph": True,
    "data_type": "image",
    "predictions": 4,
    "generator": None,
    "validation_steps": 2,
    "log_batch_frequency": 2,
    "log_best_prefix": "top_",
    "input_type": "image",
    "output_type": "segmentation_mask",
    "compute_flops": True,
}


def test_wandb_spellings_of_the_callback() -> None:
    from labbook.keras import WandbCallback

    assert labbook.keras.WandbCallback is WandbCallback
    assert labbook.integrations.keras.WandbCallback is WandbCallback
    assert issubclass(WandbCallback, keras.callbacks.Callback)


def test_integrations_load_as_attributes_after_a_plain_import() -> None:
    """``labbook.integrations.<framework>`` loads on first attribute access, as
    ``labbook.integrations.keras.WandbCallback`` needs after ``import labbook`` (shown with the
    torch integration: a fresh process with Keras in it would take seconds)."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent(
        """
        import sys
        import labbook
        assert "labbook.integrations.torch" not in sys.modules
        assert labbook.integrations.torch.watch is labbook.watch
        try:
            labbook.integrations.nothing
        except AttributeError as exc:
            print(exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "has no attribute 'nothing'" in out.stdout


def test_every_wandb_argument_is_accepted_and_unused_ones_are_noted_once() -> None:
    from labbook.integrations import keras as ik

    xtr, ytr, _, _ = _digits()
    args = {**WANDB_ARGUMENTS, "training_data": (xtr, ytr)}
    ik._NOTED.clear()
    with pytest.warns(UserWarning) as first:
        cb = ik.WandbCallback(
            monitor="val_accuracy",
            verbose=0,
            mode="auto",
            save_weights_only=False,
            save_model=True,
            validation_data=None,
            log_evaluation=False,
            class_colors=[[1.0, 0.0, 0.0]],
            validation_indexes=None,
            validation_row_processor=lambda ndx, row: row,
            prediction_row_processor=lambda ndx, row: row,
            infer_missing_processors=False,
            log_evaluation_frequency=0,
            some_future_argument=1,
            **args,
        )
    notes = [str(w.message) for w in first]
    noted = {n.split(":")[1].strip().split(" ")[0] for n in notes}
    # Not honoured, so each says so once.
    assert {
        "save_graph",
        "output_type",
        "class_colors",
        "validation_row_processor",
        "prediction_row_processor",
        "infer_missing_processors",
        "some_future_argument",
        "training_data",
    } <= noted, notes
    # Honoured: no note.
    assert not {"labels", "log_weights", "log_batch_frequency", "log_best_prefix"} & noted
    assert cb.class_names == args["labels"] and cb.log_freq == 2 and cb.log_weights
    assert cb.log_best_prefix == "top_" and cb.predictions == 4 and cb.input_type == "image"
    # A second callback with the same arguments says nothing more.
    with warnings.catch_warnings(record=True) as again:
        warnings.simplefilter("always")
        ik.WandbCallback(
            training_data=(xtr, ytr), save_graph=True, output_type="image", class_colors=[]
        )
    assert not again, [str(w.message) for w in again]


def test_wandb_argument_values_are_checked() -> None:
    for bad in (
        {"log_batch_frequency": 0},
        {"predictions": -1},
        {"input_type": "video"},
        {"log_evaluation_frequency": -1},
        {"validation_steps": 0},
        {"log_freq": 5, "log_batch_frequency": 3},
    ):
        with pytest.raises(labbook.UsageError, match=next(iter(bad))):
            Callback(**bad)  # type: ignore[arg-type]


@pytest.mark.slow
def test_weights_gradients_examples_and_flops(tmp_path: Path) -> None:
    """``log_weights``: per epoch, a histogram of every layer weight as it is at the epoch's
    end; ``log_gradients``: of the gradients of the epoch's last training batch (read where the
    torch backend left them, no extra pass); ``input_type="image"``: ``predictions`` validation
    images captioned with the predicted label; ``compute_flops``: the forward pass of one
    sample in the summary."""
    settings = _settings(tmp_path)
    xtr, ytr, xva, yva = _digits()
    names = [f"d{i}" for i in range(10)]
    weights: list[dict[str, np.ndarray]] = []
    grads: list[dict[str, np.ndarray]] = []
    preds: list[np.ndarray] = []

    class Keep(keras.callbacks.Callback):  # type: ignore[misc]
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            weights.append({v.path: np.array(v.numpy()) for v in self.model.weights})
            grads.append(
                {v.path: v.value.grad.detach().cpu().numpy() for v in self.model.trainable_weights}
            )
            preds.append(self.model.predict(xva[:5], verbose=0).argmax(1))

    run = labbook.init(project="keras", settings=settings)
    cb = Callback(
        log_weights=True,
        log_gradients=True,
        input_type="image",
        predictions=5,
        validation_data=(xva, yva),
        labels=names,
        compute_flops=True,
        save_model=False,
        log_evaluation=False,
    )
    model = _model()
    model.fit(xtr[:192], ytr[:192], epochs=2, batch_size=64, verbose=0, callbacks=[Keep(), cb])
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        h = stored.history()
        epochs = h[h["epoch"].notna()].reset_index(drop=True)
        for e in range(2):
            row = epochs.iloc[e]
            for kind, kept in (("parameters", weights[e]), ("gradients", grads[e])):
                for path, value in kept.items():
                    key = f"{kind}/{path.split('/', 1)[1].replace('/', '.')}"
                    hist = row[key]
                    assert sum(hist["values"]) == value.size, key
                    assert hist["bins"][0] == pytest.approx(float(value.min()), rel=1e-6), key
                    assert hist["bins"][-1] == pytest.approx(float(value.max()), rel=1e-6), key
            examples = row["examples"]
            assert examples["_type"] == "list" and examples["items_type"] == "image"
            assert [i["caption"] for i in examples["items"]] == [names[p] for p in preds[e]]
        # Conv2D(16, 3x3, same) on 8x8x1, then Dense(256 -> 10): multiply-adds counted twice.
        flops = 2 * (8 * 8 * 16 * 3 * 3 * 1) + 2 * (256 * 10)
        assert stored.summary["GFLOPs"] == pytest.approx(flops / 1e9)


@pytest.mark.slow
def test_generator_feeds_the_examples_and_the_evaluation(tmp_path: Path) -> None:
    """wandb's ``generator`` of ``(x, y)`` batches stands in for ``validation_data``: each
    epoch's examples are its next batch, and ``validation_steps`` batches are evaluated, every
    ``log_evaluation_frequency`` epochs."""
    settings = _settings(tmp_path)
    xtr, ytr, xva, yva = _digits()
    drawn: list[np.ndarray] = []

    def batches() -> object:
        i = 0
        while True:
            x, y = xva[i : i + 32], yva[i : i + 32]
            drawn.append(y)
            yield x, y
            i = (i + 32) % 256

    run = labbook.init(project="keras", settings=settings)
    model = _model()
    cb = Callback(
        generator=batches(),
        validation_steps=3,
        input_type="image",
        predictions=6,
        log_evaluation=True,
        log_evaluation_frequency=1,
        save_model=False,
    )
    model.fit(xtr[:192], ytr[:192], epochs=2, batch_size=64, verbose=0, callbacks=[cb])
    run.finish()
    # Per epoch: one batch for the examples, three for the evaluation.
    assert len(drawn) == 8
    with Api(settings) as api:
        stored = api.run(run.path)
        h = stored.history()
        epochs = h[h["epoch"].notna()].reset_index(drop=True)
        assert len(epochs) == 2
        for e in range(2):
            assert len(epochs["examples"][e]["items"]) == 6
            ref = epochs["eval/confusion_matrix"][e]
            table = _plot(settings, ref).to_pandas()
            assert int(table["nPredictions"].sum()) == 96  # three batches of 32
        # Evaluated after the last epoch already: not again at the end of training.
        assert int(h["eval/confusion_matrix"].notna().sum()) == 2


@pytest.mark.slow
def test_weights_only_prefix_and_verbose(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``save_weights_only`` saves ``model-best.weights.h5``; ``log_best_prefix`` names the best
    value's summary keys (None: none); ``verbose`` says when the best improves."""
    settings = _settings(tmp_path)
    run = labbook.init(project="keras", settings=settings)
    cb = Callback(
        monitor="loss", save_weights_only=True, log_best_prefix="top_", verbose=1,
        log_evaluation=False,
    )  # fmt: skip
    history = _small_fit(cb, epochs=2)
    out = capsys.readouterr().out
    assert "loss improved" in out and "model-best.weights.h5" in out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fresh model's optimizer has no state to load
        model = _model()
        model.load_weights(Path(run.dir) / "model-best.weights.h5")
    trained = history.model  # type: ignore[attr-defined]
    for mine, theirs in zip(model.weights, trained.weights, strict=True):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())  # epoch 1 was the best
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        assert stored.summary["top_loss"] == pytest.approx(min(history.history["loss"]))  # type: ignore[attr-defined]
        assert stored.summary["top_epoch"] == 1
        assert "best_loss" not in stored.summary
        assert "model-best.weights.h5" in {f.path for f in stored.files()}

    run = labbook.init(project="keras", settings=settings)
    _small_fit(Callback(monitor="loss", log_best_prefix=None, log_evaluation=False), epochs=1)
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        assert not [k for k in stored.summary if k.endswith("_loss") and k != "val_loss"]
        assert "model-best.keras" in {f.path for f in stored.files()}
