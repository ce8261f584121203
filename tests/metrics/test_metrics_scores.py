"""Curves, AUROC, average precision, top-k accuracy and log loss against scikit-learn."""

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
    probabilities,
    quiet,
    rng_for,
    scores,
    size,
    weights,
)

from labbook import metrics as lm  # noqa: E402
from labbook.metrics import MetricError  # noqa: E402


def _binary_problem(tag: str, i: int) -> tuple[np.random.Generator, np.ndarray, dict[str, Any]]:
    """Binary y_true in {0,1}, {-1,1}, {False, True} or two strings (then with pos_label)."""
    rng = rng_for(tag, i)
    n = size(rng)
    bits = rng.random(n) < rng.random()
    style = rng.integers(0, 4)
    kw: dict[str, Any] = {}
    if style == 0:
        y = bits.astype(int)
    elif style == 1:
        y = np.where(bits, 1, -1)
    elif style == 2:
        y = bits
    else:
        values = class_values(rng, 2)
        y = np.where(bits, values[1], values[0])
        kw["pos_label"] = values[rng.integers(0, 2)].item()
    return rng, y, kw


def _scores_for(rng: np.random.Generator, y_pos: np.ndarray) -> np.ndarray:
    """Tied scores, informative in some cases (positives shifted up)."""
    s = scores(rng, y_pos.shape)
    if rng.random() < 0.5:
        s = s + np.round(rng.random() * 3) * y_pos
    return s


@chunks()
def test_roc_curve_matches_sklearn(cases: range) -> None:
    for i in cases:
        rng, y, kw = _binary_problem("roc", i)
        s = _scores_for(rng, y == kw.get("pos_label", 1))
        kw["sample_weight"] = weights(rng, y.shape[0])
        kw["drop_intermediate"] = bool(rng.random() < 0.5)
        compare(
            lambda y=y, s=s, kw=kw: lm.roc_curve(y, s, **kw),
            lambda y=y, s=s, kw=kw: sklearn_metrics.roc_curve(y, s, **kw),
            f"roc_curve case {i}",
        )


@chunks()
def test_precision_recall_curve_matches_sklearn(cases: range) -> None:
    for i in cases:
        rng, y, kw = _binary_problem("prc", i)
        s = _scores_for(rng, y == kw.get("pos_label", 1))
        kw["sample_weight"] = weights(rng, y.shape[0])
        kw["drop_intermediate"] = bool(rng.random() < 0.5)
        compare(
            lambda y=y, s=s, kw=kw: lm.precision_recall_curve(y, s, **kw),
            lambda y=y, s=s, kw=kw: sklearn_metrics.precision_recall_curve(y, s, **kw),
            f"precision_recall_curve case {i}",
        )


def _multiclass(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(classes, y_true, probability matrix) with 3..10 classes, some maybe absent."""
    values = class_values(rng, int(rng.integers(3, 11)))
    n = size(rng)
    y = draw(rng, values, n, absent=rng.random() < 0.3)
    p = probabilities(rng, n, values.shape[0])
    if rng.random() < 0.5:  # make the probabilities informative
        p[np.arange(n), np.searchsorted(values, y)] += rng.integers(0, 3)
        p /= p.sum(axis=1, keepdims=True)
    return values, y, p


@chunks()
def test_roc_auc_matches_sklearn(cases: range) -> None:
    compared = 0
    for i in cases:
        rng = rng_for("auc", i)
        kw: dict[str, Any] = {}
        if i % 2 == 0:  # binary
            _, y, _ = _binary_problem("auc-binary", i)
            s = _scores_for(rng, y == np.unique(y)[-1])
        else:  # multiclass one-vs-rest
            values, y, s = _multiclass(rng)
            kw["multi_class"] = "ovr"
            kw["average"] = ["macro", "weighted", None, "micro"][rng.integers(0, 4)]
            if np.unique(y).shape[0] < values.shape[0] or rng.random() < 0.2:
                kw["labels"] = values
        kw["sample_weight"] = weights(rng, y.shape[0])
        if np.unique(y).shape[0] < 2:
            # deliberate deviation: scikit-learn warns and returns NaN, labbook raises
            with pytest.raises(MetricError, match="single class"):
                lm.roc_auc(y, s, **kw)
            continue
        compared += compare(
            lambda y=y, s=s, kw=kw: lm.roc_auc(y, s, **kw),
            lambda y=y, s=s, kw=kw: sklearn_metrics.roc_auc_score(y, s, **kw),
            f"roc_auc case {i} {kw}",
        )
    assert compared > 0.8 * len(cases)


@chunks()
def test_average_precision_matches_sklearn(cases: range) -> None:
    for i in cases:
        rng = rng_for("ap", i)
        kw: dict[str, Any] = {}
        kind = i % 3
        if kind == 0:  # binary
            _, y, kw = _binary_problem("ap-binary", i)
            kw.setdefault("pos_label", 1)
            s = _scores_for(rng, y == kw["pos_label"])
        elif kind == 1:  # multilabel indicator
            n, k = size(rng), int(rng.integers(2, 8))
            y = (rng.random((n, k)) < rng.random()).astype(int)
            s = _scores_for(rng, y)
        else:  # multiclass labels with a score matrix (one-vs-rest)
            _, y, s = _multiclass(rng)
            if np.unique(y).shape[0] != s.shape[1]:
                s = s[:, : np.unique(y).shape[0]]
        if kind:
            kw["average"] = ["macro", "weighted", None, "micro", "samples"][rng.integers(0, 5)]
        kw["sample_weight"] = weights(rng, y.shape[0])
        compare(
            lambda y=y, s=s, kw=kw: lm.average_precision(y, s, **kw),
            lambda y=y, s=s, kw=kw: sklearn_metrics.average_precision_score(y, s, **kw),
            f"average_precision case {i} {kw}",
        )


@chunks()
def test_top_k_accuracy_matches_sklearn(cases: range) -> None:
    compared = 0
    for i in cases:
        rng = rng_for("topk", i)
        kw: dict[str, Any] = {}
        if i % 5 == 0:  # binary: 1-D score of the larger label
            _, y, _ = _binary_problem("topk-binary", i)
            s = scores(rng, y.shape)
            if rng.random() < 0.5:
                s = np.abs(s) / (1 + np.abs(s).max())  # in [0, 1]: threshold 0.5
            k = int(rng.integers(1, 3))
            if np.unique(y).shape[0] < 2:
                kw["labels"] = [0, 1] if y.dtype.kind != "U" else sorted({*y.tolist(), "zz"})
        else:
            values, y, s = _multiclass(rng)
            s = np.round(s * rng.integers(1, 4)) if rng.random() < 0.5 else s  # more ties
            k = int(rng.integers(1, values.shape[0] + 1))
            if np.unique(y).shape[0] < values.shape[0] or rng.random() < 0.2:
                kw["labels"] = values
        kw["k"] = k
        kw["sample_weight"] = weights(rng, y.shape[0])
        normalize = bool(rng.random() < 0.8)
        compared += compare(
            lambda y=y, s=s, kw=kw, nz=normalize: lm.top_k_accuracy(y, s, normalize=nz, **kw),
            lambda y=y, s=s, kw=kw, nz=normalize: sklearn_metrics.top_k_accuracy_score(
                y, s, normalize=nz, **kw
            ),
            f"top_k_accuracy case {i} {kw}",
        )
    assert compared > 0.9 * len(cases)


@chunks()
def test_log_loss_matches_sklearn(cases: range) -> None:
    compared = 0
    for i in cases:
        rng = rng_for("logloss", i)
        kw: dict[str, Any] = {}
        if i % 4 == 0:  # binary with a 1-D probability of the larger label
            _, y, _ = _binary_problem("logloss-binary", i)
            p = np.round(rng.random(y.shape[0]), rng.integers(0, 3))
            if np.unique(y).shape[0] < 2:
                kw["labels"] = [0, 1] if y.dtype.kind != "U" else sorted({*y.tolist(), "zz"})
                if y.dtype.kind == "b":
                    kw["labels"] = [False, True]
        else:
            values, y, p = _multiclass(rng)
            if np.unique(y).shape[0] < values.shape[0] or rng.random() < 0.2:
                kw["labels"] = values
        kw["sample_weight"] = weights(rng, y.shape[0])
        kw["normalize"] = bool(rng.random() < 0.8)
        compared += compare(
            lambda y=y, p=p, kw=kw: lm.log_loss(y, p, **kw),
            lambda y=y, p=p, kw=kw: sklearn_metrics.log_loss(y, p, **kw),
            f"log_loss case {i} {kw}",
        )
    assert compared > 0.9 * len(cases)


def test_multiclass_auc_per_class_matches_one_vs_rest_curves() -> None:
    """Per-class AUROC (average=None) is the area under each one-vs-rest roc_curve."""
    rng = rng_for("ovr-consistency", 0)
    values, y, p = _multiclass(rng)
    values = np.unique(y)
    p = probabilities(rng, y.shape[0], values.shape[0])
    per_class = lm.roc_auc(y, p, multi_class="ovr", average=None)
    with quiet():
        for j, c in enumerate(values):
            fpr, tpr, _ = lm.roc_curve(y, p[:, j], pos_label=c.item())
            assert per_class[j] == pytest.approx(np.trapezoid(tpr, fpr), abs=1e-12)
