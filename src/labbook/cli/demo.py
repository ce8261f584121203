"""The ``labbook demo`` workload: a small numpy network trained several ways, logged.

It needs nothing beyond labbook's own dependencies and runs in seconds, so a newcomer sees runs
in the store right after ``pip install``. The configurations vary the way a student's would
(learning rate, batch size, hidden units, activation): what the runs table and charts are for.
"""

from __future__ import annotations

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
    run.summary["best_val_accuracy"] = best
    path = run.path
    run.finish()
    return path


def run_demo(
    settings: Settings | None = None, configs: list[dict[str, Any]] | None = None
) -> list[str]:
    return [train(c, settings, seed=i) for i, c in enumerate(configs or CONFIGS)]
