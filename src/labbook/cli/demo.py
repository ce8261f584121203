"""The ``labbook demo`` workload: the seeds' digits experiment, trained several ways and logged.

With the ``examples`` extra installed (Keras 3 on torch, scikit-learn) it runs
``examples/digits_cnn_keras.py``: a default CNN and runs that change batch size, filters,
optimizer and activation, as the seeds did. Without it, a small numpy network on synthetic
spirals stands in, so ``pip install labbook`` alone still shows runs in the store in seconds.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np

import labbook
from labbook.settings import Settings

DEMO_PROJECT = "demo-spirals"

CONFIGS: list[dict[str, Any]] = [
    {"lr": 0.5, "batch_size": 64, "hidden": 32, "activation": "tanh", "epochs": 40},
    {"lr": 0.5, "batch_size": 16, "hidden": 32, "activation": "tanh", "epochs": 40},
    {"lr": 0.05, "batch_size": 64, "hidden": 32, "activation": "tanh", "epochs": 40},
    {"lr": 0.5, "batch_size": 64, "hidden": 8, "activation": "tanh", "epochs": 40},
    {"lr": 0.5, "batch_size": 64, "hidden": 32, "activation": "relu", "epochs": 40},
]


def spirals(n: int, classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved noisy spirals: not linearly separable, so hidden units matter."""
    per = n // classes
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, per)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, per) + rng.normal(0, 0.25, per)
        xs.append(np.c_[r * np.sin(t), r * np.cos(t)])
        ys.append(np.full(per, c))
    return np.concatenate(xs), np.concatenate(ys)


def train(config: dict[str, Any], settings: Settings | None = None, seed: int = 0) -> str:
    """Train a one-hidden-layer network with softmax output; returns the run's path."""
    rng = np.random.default_rng(seed)
    x, y = spirals(1200, 3, rng)
    order = rng.permutation(len(x))
    x, y = x[order], y[order]
    split = int(0.8 * len(x))
    xtr, ytr, xva, yva = x[:split], y[:split], x[split:], y[split:]

    run = labbook.init(project=DEMO_PROJECT, config=config, settings=settings, tags=["demo"])
    cfg = run.config
    act = np.tanh if cfg.activation == "tanh" else (lambda z: np.maximum(z, 0.0))
    dact = (lambda a: 1 - a**2) if cfg.activation == "tanh" else (lambda a: (a > 0).astype(float))
    w1 = rng.normal(0, 1.0, (2, cfg.hidden))
    b1 = np.zeros(cfg.hidden)
    w2 = rng.normal(0, 1.0 / np.sqrt(cfg.hidden), (cfg.hidden, 3))
    b2 = np.zeros(3)

    def forward(inp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = act(inp @ w1 + b1)
        z = h @ w2 + b2
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        return h, p / p.sum(axis=1, keepdims=True)

    best = 0.0
    pva = np.zeros((len(xva), 3))
    for epoch in range(cfg.epochs):
        perm = rng.permutation(len(xtr))
        losses = []
        for i in range(0, len(xtr), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            xb, yb = xtr[idx], ytr[idx]
            h, p = forward(xb)
            losses.append(-np.log(p[np.arange(len(yb)), yb] + 1e-12).mean())
            g = p.copy()
            g[np.arange(len(yb)), yb] -= 1
            g /= len(yb)
            gh = (g @ w2.T) * dact(h)
            w2 -= cfg.lr * (h.T @ g)
            b2 -= cfg.lr * g.sum(axis=0)
            w1 -= cfg.lr * (xb.T @ gh)
            b1 -= cfg.lr * gh.sum(axis=0)
        _, ptr = forward(xtr)
        _, pva = forward(xva)
        val_loss = -np.log(pva[np.arange(len(yva)), yva] + 1e-12).mean()
        val_acc = float((pva.argmax(1) == yva).mean())
        best = max(best, val_acc)
        run.log(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "accuracy": float((ptr.argmax(1) == ytr).mean()),
                "val": {"loss": float(val_loss), "accuracy": val_acc},
            }
        )
        if (epoch + 1) % 10 == 0 or epoch + 1 == cfg.epochs:  # progress, as Keras prints it
            print(
                f"epoch {epoch + 1}/{cfg.epochs} - loss: {np.mean(losses):.4f} - "
                f"val_loss: {val_loss:.4f} - val_accuracy: {val_acc:.4f}"
            )
    run.summary["best_val_accuracy"] = best
    # the last epoch's validation predictions, as the digits example's callback logs them
    names = [f"arm {c}" for c in range(3)]
    run.log(
        {
            "val/confusion_matrix": labbook.plot.confusion_matrix(
                y_true=yva, preds=pva.argmax(1), class_names=names
            ),
            "val/roc": labbook.plot.roc_curve(yva, pva, labels=names),
        }
    )
    _log_artifacts(run, (w1, b1, w2, b2), xva, yva, forward(xva)[1])
    path = run.path
    run.finish()
    return path


def _log_artifacts(
    run: Any, weights: tuple[np.ndarray, ...], x: np.ndarray, y: np.ndarray, probs: np.ndarray
) -> None:
    """The trained weights as versions of one ``model`` artifact and the validation
    predictions with their ground truth as a ``predictions`` artifact, as the digits example
    logs them (the dashboard's artifact pages and lineage then have something to show)."""
    where = Path(run.dir)
    with open(where / "weights.npz", "wb") as f:
        w1, b1, w2, b2 = weights
        np.savez(f, w1=w1, b1=b1, w2=w2, b2=b2)
    model = labbook.Artifact("spirals-mlp", type="model", metadata=dict(run.config))
    model.add_file(str(where / "weights.npz"))
    run.log_artifact(model, aliases=[run.name])
    preds = labbook.Artifact("spirals-predictions", type="predictions")
    with preds.new_file("predictions.csv") as out:
        out.write("x0,x1,truth,prediction,confidence\n")
        for (a, b), t, p in zip(x.tolist(), y.tolist(), probs.tolist(), strict=True):
            out.write(f"{a:.5f},{b:.5f},{t},{int(np.argmax(p))},{max(p):.5f}\n")
    run.log_artifact(preds)


def run_spirals(
    settings: Settings | None = None, configs: list[dict[str, Any]] | None = None
) -> list[str]:
    return [train(c, settings, seed=i) for i, c in enumerate(configs or CONFIGS)]


DIGITS_PROJECT = "digits"
EVAL_PROJECT = "digits-eval"
"""Where the demo's evaluation run goes: beside the training runs it would be a row without
their metrics in the table that compares them; its lineage still reaches them."""
DIGITS_VARIANTS: list[list[str]] = [
    [],
    ["--batch-size", "32"],
    ["--filters", "16"],
    ["--optimizer", "sgd", "--learning-rate", "0.05"],
    ["--activation", "tanh"],
]


def load_example(name: str) -> Any:
    """An example script as a module: packaged in the wheel, or from the source checkout."""
    try:
        return importlib.import_module(f"labbook._examples.{name}")
    except ImportError:
        pass
    path = Path(__file__).resolve().parents[3] / "examples" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"labbook_example_{name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise ImportError(f"example {name} is not installed")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def keras_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("keras", "torch", "sklearn"))


def run_digits(settings: Settings | None, epochs: int) -> list[str]:
    """The digits variants, then the evaluation of the last one's predictions artifact (in a
    project of its own): the lineage dataset -> training runs -> models and predictions ->
    evaluation run."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    example = load_example("digits_cnn_keras")
    paths = [
        example.main(["--epochs", str(epochs), *variant], settings=settings)
        for variant in DIGITS_VARIANTS
    ]
    evaluate = load_example("evaluate_predictions")
    args = ["--project", EVAL_PROJECT, "--artifact", f"{DIGITS_PROJECT}/digits-predictions:latest"]
    return [*paths, evaluate.main(args, settings=settings)]
