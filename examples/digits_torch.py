"""The seeds' digits CNN in plain PyTorch, with gradient histograms from ``labbook.watch``.

Same model and data as ``digits_cnn_keras.py`` (scikit-learn's digits upsampled to 28x28), a hand
written training loop, per-epoch metrics, the best weights saved into the run, and a confusion
matrix, ROC and PR curves of the validation set at the end:

    python examples/digits_torch.py --epochs 5 --optimizer sgd --learning-rate 0.05
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from torch import nn

import labbook
from labbook import metrics, plot

CLASS_NAMES = [str(i) for i in range(10)]


def load_data(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    d = load_digits()
    x = np.kron(d.images / 16.0, np.ones((3, 3)))
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None].astype("float32")  # N, 1, 28, 28
    y = d.target.astype("int64")
    idx = np.random.default_rng(seed).permutation(len(x))
    split = int(0.8 * len(x))
    tr, va = idx[:split], idx[split:]
    return (
        torch.from_numpy(x[tr]),
        torch.from_numpy(y[tr]),
        torch.from_numpy(x[va]),
        torch.from_numpy(y[va]),
    )


class Net(nn.Module):
    def __init__(self, filters: int, activation: str, dropout: float) -> None:
        super().__init__()
        act = {"relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU}[activation]
        self.features = nn.Sequential(
            nn.Conv2d(1, filters, 3),
            act(),
            nn.MaxPool2d(2),
            nn.Conv2d(filters, 2 * filters, 3),
            act(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * filters * 25, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def main(argv: list[str] | None = None, settings: labbook.Settings | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--project", default="digits-torch")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--filters", type=int, default=32)
    p.add_argument("--activation", default="relu", choices=["relu", "tanh", "elu"])
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--log-freq", type=int, default=20, help="batches between gradient histograms")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    torch.manual_seed(args.seed)
    xtr, ytr, xva, yva = load_data(args.seed)
    config = {k: v for k, v in vars(args).items() if k != "project"}
    run = labbook.init(project=args.project, config=config, job_type="train", settings=settings)
    cfg = run.config
    model = Net(cfg.filters, cfg.activation, cfg.dropout)
    opt_cls = torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD
    opt = opt_cls(model.parameters(), lr=cfg.learning_rate)
    labbook.watch(model, log="gradients", log_freq=cfg.log_freq)

    best = -1.0
    for epoch in range(cfg.epochs):
        model.train()
        perm = torch.randperm(len(xtr))
        losses = []
        for i in range(0, len(xtr), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            logits = model(xva)
            val_loss = nn.functional.cross_entropy(logits, yva).item()
            probs = logits.softmax(dim=1).numpy()
        val_acc = metrics.accuracy(yva.numpy(), probs.argmax(1))
        run.log(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "val_loss": val_loss,
                "val_accuracy": val_acc,
            }
        )
        if val_acc > best:
            best = val_acc
            torch.save(model.state_dict(), Path(run.dir) / "model-best.pt")
            run.summary.update({"best_val_accuracy": val_acc, "best_epoch": epoch})

    labbook.unwatch(model)
    y = yva.numpy()
    run.log(
        {
            "eval/confusion_matrix": plot.confusion_matrix(
                y_true=y, probs=probs, class_names=CLASS_NAMES
            ),
            "eval/roc": plot.roc_curve(y, probs, labels=CLASS_NAMES),
            "eval/pr": plot.pr_curve(y, probs, labels=CLASS_NAMES),
        }
    )
    path = run.path
    run.finish()
    return path


if __name__ == "__main__":
    main()
