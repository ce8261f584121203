"""confusion_matrix, accuracy and precision_recall_f1 against scikit-learn on random problems."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

sklearn_metrics = pytest.importorskip("sklearn.metrics")

from _metric_cases import (  # noqa: E402
    chunks,
    class_values,
    compare,
    draw,
    noisy_copy,
    rng_for,
    size,
    weights,
)

from labbook import metrics as lm  # noqa: E402


def _labels_param(rng: np.random.Generator, values: np.ndarray, y: np.ndarray) -> Any:
    """A ``labels`` argument: a shuffled subset of the classes, sometimes plus an unseen one."""
    chosen = rng.permutation(values)[: rng.integers(1, values.shape[0] + 1)]
    if rng.random() < 0.3:
        extra = "zzz" if values.dtype.kind == "U" else int(np.max(values)) + 7
        chosen = np.concatenate([chosen, np.asarray([extra], dtype=chosen.dtype)])
    if rng.random() < 0.5 and not np.isin(y, chosen).any():
        chosen = np.concatenate([chosen, y[:1]])
    return chosen


def _problem(tag: str, i: int) -> tuple[np.random.Generator, np.ndarray, np.ndarray, np.ndarray]:
    rng = rng_for(tag, i)
    values = class_values(rng, int(rng.integers(2, 11)))
    n = size(rng)
    y_true = draw(rng, values, n, absent=rng.random() < 0.4)
    y_pred = noisy_copy(rng, y_true, values)
    return rng, values, y_true, y_pred


@chunks()
def test_confusion_matrix_matches_sklearn(cases: range) -> None:
    compared = 0
    for i in cases:
        rng, values, y_true, y_pred = _problem("cm", i)
        w = weights(rng, y_true.shape[0])
        if w is not None and rng.random() < 0.3:
            w = rng.integers(0, 4, y_true.shape[0])  # integer weights give integer counts
            w[0] = 1
        labels = _labels_param(rng, values, y_true) if rng.random() < 0.35 else None
        normalize = [None, "true", "pred", "all"][rng.integers(0, 4)]
        kw = {"labels": labels, "sample_weight": w, "normalize": normalize}
        compared += compare(
            lambda kw=kw, yt=y_true, yp=y_pred: lm.confusion_matrix(yt, yp, **kw),
            lambda kw=kw, yt=y_true, yp=y_pred: sklearn_metrics.confusion_matrix(yt, yp, **kw),
            f"confusion_matrix case {i}",
        )
    assert compared > 0.9 * len(cases)


@chunks()
def test_accuracy_matches_sklearn(cases: range) -> None:
    for i in cases:
        rng, _, y_true, y_pred = _problem("acc", i)
        if rng.random() < 0.15:  # multilabel indicator: subset accuracy
            k = int(rng.integers(2, 6))
            y_true = (rng.random((y_true.shape[0], k)) < 0.5).astype(int)
            y_pred = np.where(rng.random(y_true.shape) < 0.2, 1 - y_true, y_true)
        w = weights(rng, y_true.shape[0])
        normalize = bool(rng.random() < 0.8)
        compare(
            lambda yt=y_true, yp=y_pred, w=w, nz=normalize: lm.accuracy(
                yt, yp, sample_weight=w, normalize=nz
            ),
            lambda yt=y_true, yp=y_pred, w=w, nz=normalize: sklearn_metrics.accuracy_score(
                yt, yp, sample_weight=w, normalize=nz
            ),
            f"accuracy case {i}",
        )


ZERO_DIVISION = ["warn", 0, 1, np.nan, 0.0, 1.0]
BETAS = [1.0, 1.0, 0.5, 2.0, 0.0, np.inf]


@chunks()
def test_precision_recall_f1_matches_sklearn(cases: range) -> None:
    compared = 0
    for i in cases:
        rng = rng_for("prf", i)
        average = [None, "binary", "micro", "macro", "weighted", "samples"][i % 6]
        kw: dict[str, Any] = {
            "average": average,
            "zero_division": ZERO_DIVISION[rng.integers(0, len(ZERO_DIVISION))],
            "beta": BETAS[rng.integers(0, len(BETAS))],
        }
        n = size(rng)
        if average == "samples" or (average != "binary" and rng.random() < 0.15):
            k = int(rng.integers(2, 8))
            y_true = (rng.random((n, k)) < rng.random()).astype(int)
            y_pred = np.where(rng.random((n, k)) < rng.random(), 1 - y_true, y_true)
            if rng.random() < 0.3:
                kw["labels"] = rng.permutation(k)[: rng.integers(1, k + 1)]
        else:
            k = 2 if average == "binary" else int(rng.integers(2, 11))
            values = class_values(rng, k)
            y_true = draw(rng, values, n, absent=rng.random() < 0.4)
            y_pred = noisy_copy(rng, y_true, values)
            if average == "binary":
                kw["pos_label"] = values[rng.integers(0, 2)].item()
            elif rng.random() < 0.35:
                kw["labels"] = _labels_param(rng, values, y_true)
        kw["sample_weight"] = weights(rng, n)
        compared += compare(
            lambda yt=y_true, yp=y_pred, kw=kw: tuple(lm.precision_recall_f1(yt, yp, **kw)),
            lambda yt=y_true, yp=y_pred, kw=kw: sklearn_metrics.precision_recall_fscore_support(
                yt, yp, **kw
            ),
            f"precision_recall_f1 case {i} {kw}",
        )
    assert compared > 0.9 * len(cases)
