"""Metrics on *scores*: ROC and precision-recall curves, AUROC and average precision.

A classifier usually outputs a score (a probability, a logit) and a label only after you pick a
threshold: "positive if score >= t".  Every threshold gives different TP/FP counts, so instead
of one confusion matrix you get a curve of them:

* the **ROC curve** plots the true-positive rate (recall, TP / P) against the false-positive
  rate (FP / N) as the threshold goes down from "nothing is positive" to "everything is";
* the **precision-recall curve** plots precision against recall over the same thresholds.

Samples with equal scores cannot be separated by any threshold, so tied scores form one step
of the curve (one threshold), never several.  Results equal scikit-learn's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    MetricError,
    as_1d,
    as_label_array,
    as_scores,
    binarize,
    check_labels_param,
    check_lengths,
    check_option,
    check_sample_weight,
    contains,
    index_in,
    target_kind,
    warn_undefined,
)

__all__ = ["average_precision", "precision_recall_curve", "roc_auc", "roc_curve"]

FloatArray = NDArray[np.float64]
BinaryMetric = Callable[[NDArray[Any], FloatArray, "FloatArray | None"], float]
_ALLOWED_01 = ({0, 1}, {-1, 1}, {0}, {-1}, {1})


# --------------------------------------------------------------------------- shared core


def _positive_mask(y_true: ArrayLike, pos_label: Any, fn: str) -> NDArray[np.bool_]:
    """``y_true == pos_label`` after checking ``y_true`` is a binary target."""
    yt = as_label_array(y_true, "y_true")
    if yt.ndim == 0:
        raise MetricError("y_true must be an array of labels, not a single value.")
    if yt.shape[0] == 0:
        raise MetricError("empty input: at least one sample is needed to compute a metric.")
    kind = target_kind(yt, "y_true")
    if not (kind == "binary" or (kind == "multiclass" and pos_label is not None)):
        raise MetricError(
            f"{fn} needs a binary y_true; y_true is {kind}. Pass pos_label=... to score one "
            "class against the rest."
        )
    yt = as_1d(yt)
    if pos_label is None:
        classes = np.unique(yt)
        if yt.dtype.kind in "US" or set(classes.tolist()) not in _ALLOWED_01:
            raise MetricError(
                f"y_true takes values {classes.tolist()} and pos_label is not given: either "
                "make y_true take values in {0, 1} or {-1, 1}, or pass pos_label explicitly."
            )
        pos_label = 1
    if not contains(yt, pos_label):
        return np.zeros(yt.shape[0], dtype=bool)
    return np.asarray(yt == pos_label)


def _scores_1d(y_score: ArrayLike, name: str = "y_score") -> FloatArray:
    s = as_scores(y_score, name)
    s = as_1d(s)
    if s.ndim != 1:
        raise MetricError(
            f"{name} must be 1-D (one score per sample, for the positive class); got shape "
            f"{s.shape}. For a predict_proba matrix of a binary problem pass proba[:, 1]."
        )
    return s


def _threshold_counts(
    y_true: NDArray[np.bool_], y_score: FloatArray, sample_weight: NDArray[Any] | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """False and true positives when predicting "positive" for scores >= each threshold.

    Sorts by descending score; each distinct score is a threshold, and the counts are taken
    at the last sample of each group of tied scores.  Zero-weight samples are dropped first.
    """
    w: FloatArray | None = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        keep = w != 0
        y_true, y_score, w = y_true[keep], y_score[keep], w[keep]
    n = y_score.shape[0]
    # stable descending sort: tied scores keep their input order (as scikit-learn does)
    order = n - 1 - np.argsort(y_score[::-1], kind="stable")[::-1]
    y_score = y_score[order]
    y = y_true[order].astype(np.float64)
    last = np.concatenate([np.nonzero(np.diff(y_score))[0], [n - 1]])
    if w is None:
        tps = np.cumsum(y)[last]
        fps = 1 + last.astype(np.float64) - tps
    else:
        w = w[order]
        tps = np.cumsum(y * w)[last]
        fps = np.cumsum((1 - y) * w)[last]
    return fps, tps, y_score[last]


def _roc(
    y_true: NDArray[np.bool_],
    y_score: FloatArray,
    sample_weight: NDArray[Any] | None,
    drop_intermediate: bool,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    fps, tps, thresholds = _threshold_counts(y_true, y_score, sample_weight)
    if drop_intermediate and fps.shape[0] > 2:
        # keep only the corners: points where the curve changes direction
        keep = np.concatenate([[True], np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    tps = np.concatenate([[0.0], tps])
    fps = np.concatenate([[0.0], fps])
    thresholds = np.concatenate([[np.inf], thresholds])
    if fps[-1] <= 0:
        warn_undefined("No negative samples in y_true, false positive value should be meaningless")
        fpr = np.full(fps.shape, np.nan)
    else:
        fpr = fps / fps[-1]
    if tps[-1] <= 0:
        warn_undefined("No positive samples in y_true, true positive value should be meaningless")
        tpr = np.full(tps.shape, np.nan)
    else:
        tpr = tps / tps[-1]
    return fpr, tpr, thresholds


def _pr(
    y_true: NDArray[np.bool_],
    y_score: FloatArray,
    sample_weight: NDArray[Any] | None,
    drop_intermediate: bool,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    fps, tps, thresholds = _threshold_counts(y_true, y_score, sample_weight)
    if drop_intermediate and fps.shape[0] > 2:
        # drop thresholds where recall does not change on either side
        keep = np.concatenate([[True], np.logical_or(np.diff(tps[:-1]), np.diff(tps[1:])), [True]])
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    ps = tps + fps
    precision = np.where(ps != 0, tps / np.where(ps != 0, ps, 1.0), 0.0)
    if tps[-1] == 0:
        warn_undefined(
            "No positive class found in y_true, recall is set to one for all thresholds."
        )
        recall = np.ones(tps.shape)
    else:
        recall = tps / tps[-1]
    return (
        np.concatenate([precision[::-1], [1.0]]),
        np.concatenate([recall[::-1], [0.0]]),
        thresholds[::-1],
    )


def _area(x: FloatArray, y: FloatArray) -> float:
    """Trapezoidal area under ``y(x)`` for monotone ``x``."""
    dx = np.diff(x)
    direction = 1.0
    if np.any(dx < 0):
        if np.all(dx <= 0):
            direction = -1.0
        else:
            raise MetricError("the curve's x values are neither increasing nor decreasing.")
    return float(direction * np.sum(dx * (y[1:] + y[:-1]) / 2.0))


def _binary_auc(y: NDArray[Any], s: FloatArray, w: NDArray[Any] | None) -> float:
    """AUROC of one 0/1 column; NaN (with a warning) when it holds a single class."""
    positive = np.asarray(y == 1)
    if positive.all() or not positive.any():
        warn_undefined(
            "Only one class is present in y_true. ROC AUC score is not defined in that case."
        )
        return float("nan")
    fpr, tpr, _ = _roc(positive, s, w, True)
    return _area(fpr, tpr)


def _binary_ap(y: NDArray[Any], s: FloatArray, w: NDArray[Any] | None) -> float:
    """Average precision of one 0/1 column."""
    precision, recall, _ = _pr(np.asarray(y == 1), s, w, False)
    return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))


def _average_columns(
    metric: BinaryMetric,
    y_true: NDArray[Any],
    y_score: FloatArray,
    average: str | None,
    sample_weight: NDArray[Any] | None,
) -> Any:
    """Apply a binary metric one-vs-rest to each column of an indicator matrix and average."""
    if y_score.ndim != 2 or y_score.shape != y_true.shape:
        raise MetricError(
            f"y_score must have shape {y_true.shape} (one column per class); got {y_score.shape}."
        )
    score_weight = sample_weight
    average_weight: NDArray[Any] | None = None
    if average == "micro":
        if score_weight is not None:
            score_weight = np.repeat(score_weight, y_true.shape[1])
        y_true, y_score = y_true.reshape(-1, 1), y_score.reshape(-1, 1)
    elif average == "weighted":
        if score_weight is not None:
            average_weight = np.sum(y_true * score_weight.reshape(-1, 1), axis=0)
        else:
            average_weight = np.sum(y_true, axis=0)
        if np.isclose(np.sum(average_weight), 0):
            return 0.0
    elif average == "samples":
        average_weight, score_weight = score_weight, None
        y_true, y_score = y_true.T, y_score.T
    score = np.array(
        [metric(y_true[:, c], y_score[:, c], score_weight) for c in range(y_true.shape[1])],
        dtype=np.float64,
    )
    if average is None:
        return score
    if average_weight is None:
        return float(np.mean(score))
    average_weight = np.asarray(average_weight, dtype=np.float64)
    score[average_weight == 0] = 0
    total = np.sum(average_weight)
    if total == 0:
        raise MetricError("the averaging weights sum to zero.")
    return float(np.sum(score * average_weight) / total)


def _check_weight_len(
    sample_weight: ArrayLike | None, **arrays: NDArray[Any]
) -> NDArray[Any] | None:
    w = check_sample_weight(sample_weight)
    check_lengths(**arrays, sample_weight=w)
    return w


# --------------------------------------------------------------------------- public API


def roc_curve(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    pos_label: Any = None,
    sample_weight: ArrayLike | None = None,
    drop_intermediate: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Receiver operating characteristic curve of a binary classifier.

    For each threshold ``t`` (every distinct score, highest first), predict "positive" for
    scores ``>= t`` and record

    * the **false-positive rate** FPR = FP / (all negatives): the share of negatives raised
      as false alarms, and
    * the **true-positive rate** TPR = TP / (all positives), i.e. recall.

    Lowering the threshold moves the point up and to the right.  A perfect classifier
    passes through (0, 1); random guessing follows the diagonal.

    Args:
        y_true: true labels in {0, 1} or {-1, 1}, or any two labels with ``pos_label``.
        y_score: one score per sample, higher meaning "more likely positive".
        pos_label: the positive class (default 1).
        sample_weight: optional weight per sample (zero-weight samples are ignored).
        drop_intermediate: drop points on straight segments; the area is unchanged.

    Returns:
        ``(fpr, tpr, thresholds)``.  ``thresholds[0]`` is ``+inf``: the "predict nothing
        positive" point (0, 0).  FPR (or TPR) is NaN, with a warning, when there are no
        negatives (or positives).
    """
    y = _positive_mask(y_true, pos_label, "roc_curve")
    s = _scores_1d(y_score)
    w = _check_weight_len(sample_weight, y_true=y, y_score=s)
    return _roc(y, s, w, drop_intermediate)


def precision_recall_curve(
    y_true: ArrayLike,
    probas_pred: ArrayLike,
    *,
    pos_label: Any = None,
    sample_weight: ArrayLike | None = None,
    drop_intermediate: bool = False,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Precision and recall of a binary classifier at every score threshold.

    Lowering the threshold can only raise recall (more positives are caught) but usually
    lowers precision (more false alarms slip in); the curve shows that trade-off, which
    matters most when positives are rare and the ROC curve looks deceptively good.

    Args:
        y_true: true labels in {0, 1} or {-1, 1}, or any two labels with ``pos_label``.
        probas_pred: one score per sample for the positive class.
        pos_label: the positive class (default 1).
        sample_weight: optional weight per sample.
        drop_intermediate: drop thresholds that do not change recall.

    Returns:
        ``(precision, recall, thresholds)`` with thresholds increasing; precision and recall
        have one more entry, the end point (precision 1, recall 0) with no threshold.
    """
    y = _positive_mask(y_true, pos_label, "precision_recall_curve")
    s = _scores_1d(probas_pred, "probas_pred")
    w = _check_weight_len(sample_weight, y_true=y, probas_pred=s)
    return _pr(y, s, w, drop_intermediate)


def roc_auc(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    average: str | None = "macro",
    multi_class: str = "raise",
    labels: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
) -> Any:
    """Area under the ROC curve (AUROC).

    The probability that a randomly chosen positive gets a higher score than a randomly
    chosen negative (ties count half).  1.0 is a perfect ranking, 0.5 is chance, 0.0 a
    perfectly inverted one.  It does not depend on any threshold.

    Multiclass (``multi_class="ovr"``, ``y_score`` an ``(n, k)`` probability matrix whose
    columns follow the sorted classes or ``labels``): each class is scored one-vs-rest and
    the AUROCs are averaged - ``"macro"`` plainly, ``"weighted"`` by class support, ``"micro"``
    over all (sample, class) pairs pooled; ``None`` returns the per-class values.  A 2-D 0/1
    ``y_true`` is treated as multilabel, one AUROC per column.

    Raises:
        MetricError: if ``y_true`` holds a single class (AUROC needs positives *and*
            negatives), if a multiclass ``y_true`` comes without ``multi_class="ovr"``, or if
            ``y_score`` has the wrong shape.
    """
    check_option(average, "average", ("micro", "macro", "weighted", "samples", None))
    check_option(multi_class, "multi_class", ("raise", "ovr"))
    yt = as_label_array(y_true, "y_true")
    s = as_scores(y_score)
    if yt.ndim == 0:
        raise MetricError("y_true must be an array of labels, not a single value.")
    w = _check_weight_len(sample_weight, y_true=yt, y_score=s)
    kind = target_kind(yt, "y_true")
    if kind == "multilabel-indicator":
        return _average_columns(_binary_auc, yt, s, average, w)
    yt = as_1d(yt)
    present = np.unique(yt)
    if kind == "multiclass" or (s.ndim == 2 and s.shape[1] > 2):
        if multi_class == "raise":
            raise MetricError(
                "y_true has more than two classes (or y_score more than two columns); pass "
                "multi_class='ovr' for one-vs-rest AUROC."
            )
        return _roc_auc_ovr(yt, s, present, average, labels, w)
    if present.shape[0] < 2:
        raise MetricError(
            f"y_true contains a single class ({present[0]!r}); AUROC needs both positive and "
            "negative samples."
        )
    # the larger of the two labels is the positive class
    return _binary_auc(np.asarray(yt == present[1]).astype(np.int64), _scores_1d(s), w)


def _roc_auc_ovr(
    yt: NDArray[Any],
    s: FloatArray,
    present: NDArray[Any],
    average: str | None,
    labels: ArrayLike | None,
    w: NDArray[Any] | None,
) -> Any:
    if s.ndim != 2:
        raise MetricError(
            f"y_score must have shape (n_samples, n_classes) for a multiclass y_true; got "
            f"{s.shape}."
        )
    if not np.allclose(1, s.sum(axis=1)):
        raise MetricError(
            "y_score rows must be probabilities that sum to 1 for multiclass AUROC "
            "(apply a softmax first)."
        )
    check_option(average, "average", ("micro", "macro", "weighted", None))
    if labels is not None:
        classes = check_labels_param(labels)
        if not np.array_equal(np.sort(classes), classes):
            raise MetricError("labels must be sorted, matching the columns of y_score.")
        if classes.shape[0] != s.shape[1]:
            raise MetricError(
                f"{classes.shape[0]} labels given but y_score has {s.shape[1]} columns."
            )
        if np.any(index_in(yt, classes) < 0):
            raise MetricError("y_true contains labels that are not in labels.")
    else:
        classes = present
        if classes.shape[0] != s.shape[1]:
            raise MetricError(
                f"y_true has {classes.shape[0]} classes but y_score has {s.shape[1]} columns; "
                "pass labels=[...] listing every class."
            )
    if present.shape[0] < 2:
        raise MetricError(
            f"y_true contains a single class ({present[0]!r}); AUROC needs both positive and "
            "negative samples."
        )
    return _average_columns(_binary_auc, binarize(yt, classes), s, average, w)


def average_precision(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    average: str | None = "macro",
    pos_label: Any = 1,
    sample_weight: ArrayLike | None = None,
) -> Any:
    """Average precision (AP): the area under the precision-recall curve, as a step sum.

    AP = sum_n (R_n - R_{n-1}) P_n over thresholds: the precision at each threshold,
    weighted by how much recall it adds.  Equivalently, the mean precision at the rank of
    each positive.  1.0 means every positive outranks every negative; a random ranking scores
    about the fraction of positives.  No interpolation is applied.

    ``y_true`` may be binary (1-D, ``y_score`` 1-D), a 2-D 0/1 label-indicator matrix, or 1-D
    multiclass labels with an ``(n, k)`` ``y_score`` (one-vs-rest).  For the latter two the
    per-class APs are averaged: ``"macro"``, ``"weighted"`` (by support), ``"micro"`` (pooled),
    ``"samples"`` (per row), or ``None`` for per-class values.
    """
    check_option(average, "average", ("micro", "macro", "weighted", "samples", None))
    yt = as_label_array(y_true, "y_true")
    s = as_scores(y_score)
    if yt.ndim == 0:
        raise MetricError("y_true must be an array of labels, not a single value.")
    w = _check_weight_len(sample_weight, y_true=yt, y_score=s)
    kind = target_kind(yt, "y_true")
    if kind == "binary":
        yt = as_1d(yt)
        present = np.unique(yt)
        if present.shape[0] == 2 and not contains(present, pos_label):
            raise MetricError(
                f"pos_label={pos_label!r} is not a valid label; it should be one of "
                f"{present.tolist()}."
            )
        y = np.asarray(yt == pos_label) if contains(yt, pos_label) else np.zeros(yt.shape, bool)
        return _binary_ap(y.astype(np.int64), _scores_1d(s), w)
    if pos_label != 1:
        raise MetricError(f"pos_label is fixed to 1 for {kind} y_true; do not set it.")
    if kind == "multiclass":
        yt = binarize(yt, np.unique(yt))
    return _average_columns(_binary_ap, yt, s, average, w)
