"""The Keras callback on a real Keras 3 (torch backend) training run over scikit-learn's digits."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
sklearn_datasets = pytest.importorskip("sklearn.datasets")

import labbook  # noqa: E402
from labbook import Api, Settings, metrics  # noqa: E402
from labbook.blobs import open_blobstore  # noqa: E402
from labbook.keras import BEST_MODEL, Callback  # noqa: E402
from labbook.sdk.media import Plot  # noqa: E402


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
def test_batch_logging_and_switches(tmp_path: Path) -> None:
    """``log_freq=5``: ``batch/*`` every 5 batches, epochs at their batch count;
    ``log_evaluation=False`` and ``save_model=False`` leave no evaluation and no model file."""
    settings = _settings(tmp_path)
    xtr, ytr, xva, yva = _digits()  # 600 training samples: 10 batches of 64 per epoch
    run = labbook.init(project="keras", settings=settings)
    cb = Callback(log_freq=5, validation_data=(xva, yva), log_evaluation=False, save_model=False)
    _model().fit(
        xtr, ytr, epochs=2, batch_size=64, validation_data=(xva, yva), verbose=0, callbacks=[cb]
    )
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        h = stored.history()
        assert list(h.loc[h["batch/loss"].notna(), "_step"]) == [5, 10, 15, 20]
        assert list(h.loc[h["batch/batch"].notna(), "batch/batch"]) == [5, 10, 15, 20]
        assert list(h.loc[h["epoch"].notna(), "_step"]) == [10, 20]
        assert not [k for k in list(h.columns) + list(stored.summary) if k.startswith("eval/")]
        assert BEST_MODEL not in {f.path for f in stored.files()}
        assert "best_val_loss" in stored.summary  # the best is still tracked, only not saved


@pytest.mark.slow
def test_evaluation_charts_use_class_names_and_equal_the_metrics(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    xtr, ytr, xva, yva = _digits()
    names = [f"digit-{i}" for i in range(10)]
    run = labbook.init(project="keras", settings=settings)
    model = _model()
    cb = Callback(validation_data=(xva, yva), class_names=names)
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
