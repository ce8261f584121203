"""The seeds' experiment: a small CNN on handwritten digits, tracked with labbook.

Conv2D(32, 3x3, relu) -> MaxPool(2) -> Conv2D(64, 3x3, relu) -> MaxPool(2) -> Flatten ->
Dropout(0.5) -> Dense(10, softmax), trained on scikit-learn's bundled 8x8 digits upsampled to
28x28 (or on real MNIST when Keras already has it in its local cache; nothing is downloaded).
Each epoch logs Keras' metrics, the weights' histograms and a few validation digits captioned
with the predicted class; at the end of training, a confusion matrix, ROC and PR curves, the test
predictions as a table and as ``predictions.csv``.

Change the hyper-parameters from the command line and compare the runs:

    KERAS_BACKEND=torch python examples/digits_cnn_keras.py --batch-size 32 --optimizer sgd
    labbook runs digits

Artifacts and their lineage: the training data is used as a ``dataset`` artifact (the same
data is the same version, ``digits-data:v0``, for every run), the best model is logged by the
Keras callback as a ``model`` artifact, and the test predictions with their ground truth as a
``predictions`` artifact, which ``examples/evaluate_predictions.py`` then uses:

    python examples/evaluate_predictions.py        # confusion matrix of predictions:latest
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import numpy as np

import labbook
from labbook.keras import Callback

CLASS_NAMES = [str(i) for i in range(10)]
EXAMPLES = 16  # validation images logged per epoch, captioned with their predicted digit


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--project", default="digits")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd", "rmsprop"])
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--filters", type=int, default=32, help="filters of the first conv layer")
    p.add_argument("--layers", type=int, default=2, choices=[1, 2], help="conv blocks")
    p.add_argument("--activation", default="relu", choices=["relu", "tanh", "elu", "sigmoid"])
    p.add_argument("--loss", default="sparse_categorical_crossentropy")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--limit", type=int, default=0, help="use only this many training images")
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def load_data(
    seed: int,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], str]:
    """MNIST from Keras' local cache when present, else scikit-learn's digits at 28x28."""
    cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
    if cache.is_file():
        (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
        return (xtr[..., None] / 255.0, ytr), (xte[..., None] / 255.0, yte), "mnist"
    from sklearn.datasets import load_digits

    d = load_digits()
    # 8x8 -> 24x24 by repeating pixels, padded to MNIST's 28x28.
    x = np.kron(d.images / 16.0, np.ones((3, 3)))
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))[..., None].astype("float32")
    y = d.target.astype("int64")
    idx = np.random.default_rng(seed).permutation(len(x))
    split = int(0.8 * len(x))
    return (x[idx[:split]], y[idx[:split]]), (x[idx[split:]], y[idx[split:]]), "sklearn-digits"


def build_model(cfg: Any) -> keras.Model:
    layers: list[Any] = [keras.Input((28, 28, 1))]
    filters = cfg.filters
    for _ in range(cfg.layers):
        layers += [
            keras.layers.Conv2D(filters, 3, activation=cfg.activation),
            keras.layers.MaxPooling2D(2),
        ]
        filters *= 2
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dropout(cfg.dropout),
        keras.layers.Dense(10, activation="softmax"),
    ]
    model = keras.Sequential(layers)
    optimizer = {
        "adam": keras.optimizers.Adam,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
    }
    model.compile(
        optimizer=optimizer[cfg.optimizer](learning_rate=cfg.learning_rate),
        loss=cfg.loss,
        metrics=["accuracy"],
    )
    return model


def main(argv: list[str] | None = None, settings: labbook.Settings | None = None) -> str:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    (xtr, ytr), (xte, yte), dataset = load_data(args.seed)
    if args.limit:
        xtr, ytr = xtr[: args.limit], ytr[: args.limit]
    config = {k: v for k, v in vars(args).items() if k != "project"}
    config["dataset"] = dataset
    run = labbook.init(project=args.project, config=config, job_type="train", settings=settings)
    cfg = run.config
    run.use_artifact(dataset_artifact(dataset, xtr, ytr, xte, yte, Path(run.dir)))
    model = build_model(cfg)
    model.fit(
        xtr,
        ytr,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        validation_data=(xte, yte),
        verbose=2,
        callbacks=[
            Callback(
                monitor="val_accuracy",
                validation_data=(xte, yte),
                class_names=CLASS_NAMES,
                # each epoch: the weights' histograms, and the first validation digits captioned
                # with what the model now predicts for them
                log_weights=True,
                input_type="image",
                predictions=EXAMPLES,
            )
        ],
    )
    test_loss, test_acc = model.evaluate(xte, yte, verbose=0)
    run.summary.update({"test/loss": float(test_loss), "test/accuracy": float(test_acc)})

    probs = model.predict(xte, verbose=0)
    preds = probs.argmax(axis=1)
    with open(Path(run.dir) / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "truth", "prediction", "confidence"])
        for i, (t, p, c) in enumerate(
            zip(yte.tolist(), preds.tolist(), probs.max(axis=1).tolist(), strict=True)
        ):
            w.writerow([i, t, p, f"{c:.6f}"])
    run.log(
        {
            "test/predictions": labbook.Table(
                columns=["truth", "prediction", "confidence"],
                data=[
                    [int(t), int(p), float(c)]
                    for t, p, c in zip(yte, preds, probs.max(axis=1), strict=True)
                ],
            )
        }
    )
    predictions = labbook.Artifact(
        "digits-predictions",
        type="predictions",
        description="Test-set predictions of the CNN with the ground truth",
        metadata={"test/accuracy": float(test_acc), "dataset": dataset, "classes": CLASS_NAMES},
    )
    predictions.add_file(str(Path(run.dir) / "predictions.csv"))
    np.save(Path(run.dir) / "probabilities.npy", probs.astype("float32"))
    predictions.add_file(str(Path(run.dir) / "probabilities.npy"))
    run.log_artifact(predictions)
    path = run.path
    run.finish()
    return path


def dataset_artifact(
    name: str, xtr: np.ndarray, ytr: np.ndarray, xte: np.ndarray, yte: np.ndarray, where: Path
) -> labbook.Artifact:
    """The train/test split as a ``dataset`` artifact. The same arrays give the same bytes, so
    every run that trains on them uses one version, and its lineage shows which data it saw."""
    path = where / "digits.npz"
    with open(path, "wb") as f:  # np.savez to an open file: no archive timestamps differ
        np.savez(f, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    art = labbook.Artifact(
        "digits-data",
        type="dataset",
        metadata={"source": name, "train": len(xtr), "test": len(xte)},
    )
    art.add_file(str(path))
    return art


if __name__ == "__main__":
    main()
