"""Metrics that compare predicted *labels* with true labels.

Everything here starts from four counts per class ``c`` (one-vs-rest):

* **TP** (true positives): the sample is ``c`` and the model said ``c``;
* **FP** (false positives): the model said ``c`` but the sample is something else;
* **FN** (false negatives): the sample is ``c`` but the model said something else;
* **TN** (true negatives): neither.

The confusion matrix holds these counts for all classes at once; accuracy, precision, recall
and F-scores are ratios of them.  Results equal scikit-learn's ``sklearn.metrics`` functions of
the same purpose.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    AVERAGES,
    MetricError,
    Targets,
    check_labels_param,
    check_option,
    check_targets,
    check_zero_division,
    contains,
    index_in,
    same_kind,
    warn_undefined,
    weighted_mean,
)

__all__ = ["PrecisionRecallF1", "accuracy", "confusion_matrix", "precision_recall_f1"]


def confusion_matrix(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    labels: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    normalize: str | None = None,
) -> NDArray[Any]:
    """Count how often each true class was predicted as each class.

    ``C[i, j]`` is the number (or total weight) of samples whose true label is ``labels[i]``
    and whose predicted label is ``labels[j]``.  The diagonal holds the correct predictions;
    everything off the diagonal is a mistake, and *which* cell it lands in tells you which two
    classes the model confuses.  For a binary problem with labels ``[0, 1]`` the matrix is
    ``[[TN, FP], [FN, TP]]``.

    Args:
        y_true: true labels, one per sample (ints, strings...).
        y_pred: predicted labels, same length.
        labels: the classes to index rows/columns by, in this order; samples whose true or
            predicted label is not listed are left out.  Default: every label seen, sorted.
        sample_weight: optional weight per sample.
        normalize: ``None`` for counts; ``"true"`` divides each row by its total (row ``i`` is
            then the distribution of predictions for class ``i``, its diagonal is the recall);
            ``"pred"`` divides each column (diagonal = precision); ``"all"`` divides by the
            grand total.  0/0 cells become 0.

    Returns:
        ``(n_labels, n_labels)`` array: int64 counts, or float64 when weighted/normalised.
    """
    check_option(normalize, "normalize", ("true", "pred", "all", None))
    t = check_targets(y_true, y_pred, sample_weight, allow_multilabel=False)
    if labels is None:
        lab = t.classes
    else:
        lab = check_labels_param(labels)
        if lab.shape[0] == 0:
            raise MetricError("labels must contain at least one label.")
        if not same_kind(lab, t.y_true) or not np.any(index_in(t.y_true, lab) >= 0):
            raise MetricError("at least one of the given labels must occur in y_true.")
    n = lab.shape[0]
    ti = index_in(t.y_true, lab)
    pi = index_in(t.y_pred, lab)
    keep = (ti >= 0) & (pi >= 0)
    cell = ti[keep] * n + pi[keep]
    w = t.sample_weight
    cm: NDArray[Any]
    if w is None:
        cm = np.bincount(cell, minlength=n * n).astype(np.int64)
    elif w.dtype.kind in "iu":
        cm = np.zeros(n * n, dtype=np.int64)
        np.add.at(cm, cell, w[keep].astype(np.int64))
    else:
        cm = np.bincount(cell, weights=w[keep].astype(np.float64), minlength=n * n)
    cm = cm.reshape(n, n)
    with np.errstate(all="ignore"):
        if normalize == "true":
            cm = cm / cm.sum(axis=1, keepdims=True)
        elif normalize == "pred":
            cm = cm / cm.sum(axis=0, keepdims=True)
        elif normalize == "all":
            cm = cm / cm.sum()
        cm = np.nan_to_num(cm)
    if cm.shape == (1, 1):
        warnings.warn(
            "only one label was found in y_true and y_pred; pass labels=[...] with every known "
            "class to get a matrix of the right shape.",
            UserWarning,
            stacklevel=2,
        )
    return cm


def accuracy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    sample_weight: ArrayLike | None = None,
    normalize: bool = True,
) -> float:
    """Fraction of samples whose predicted label equals the true label.

    Simple and intuitive, but misleading on imbalanced data: if 99% of emails are not spam, a
    model that never says "spam" is 99% accurate.  Look at precision/recall per class or the
    confusion matrix too.  For a 2-D label-indicator ``y_true`` this is *subset* accuracy: a
    sample counts only if every one of its labels is right.

    Args:
        y_true: true labels.
        y_pred: predicted labels.
        sample_weight: optional weight per sample (the result is a weighted mean).
        normalize: ``False`` returns the (weighted) number of correct samples instead.
    """
    t = check_targets(y_true, y_pred, sample_weight)
    if t.kind == "multilabel-indicator":
        correct = np.all(t.y_true == t.y_pred, axis=1)
    else:
        correct = t.y_true == t.y_pred
    return weighted_mean(correct, t.sample_weight, normalize)


class PrecisionRecallF1(NamedTuple):
    """Result of :func:`precision_recall_f1`.

    Floats when averaged; per-class arrays (in ``labels`` order) when ``average=None``.
    ``support`` is the number (or weight) of true samples per class, and ``None`` when averaged.
    ``f1`` holds the F-beta score (the F1 score for the default ``beta=1``).
    """

    precision: Any
    recall: Any
    f1: Any
    support: NDArray[Any] | None

    @property
    def fbeta(self) -> Any:
        """Alias of ``f1`` (it is the F-beta score for the ``beta`` that was asked for)."""
        return self.f1


def _counts(
    t: Targets, labels: NDArray[Any] | None, samplewise: bool
) -> tuple[NDArray[Any], NDArray[Any], NDArray[Any]]:
    """Per-class (or per-sample) TP, TP+FP and TP+FN counts, possibly weighted."""
    w = t.sample_weight
    wf = None if w is None else w.astype(np.float64)
    if t.kind != "multilabel-indicator":
        lab = t.classes if labels is None else labels
        n_lab = lab.shape[0]
        ti = index_in(t.y_true, lab)
        pi = index_in(t.y_pred, lab)
        hit = (ti == pi) & (ti >= 0)
        true_ok, pred_ok = ti >= 0, pi >= 0

        def count(idx: NDArray[np.intp], mask: NDArray[np.bool_]) -> NDArray[Any]:
            return np.bincount(idx[mask], weights=None if wf is None else wf[mask], minlength=n_lab)

        return count(ti, hit), count(pi, pred_ok), count(ti, true_ok)

    yt, yp = t.y_true, t.y_pred
    if labels is not None:
        if labels.dtype.kind not in "iu" and not (
            labels.dtype.kind == "f" and np.all(labels == np.floor(labels))
        ):
            raise MetricError("labels for multilabel targets must be column indices (ints).")
        if labels.shape[0] and (labels.min() < 0 or labels.max() >= yt.shape[1]):
            raise MetricError(
                f"labels for multilabel targets must be in [0, {yt.shape[1]}); got {labels}."
            )
        cols = labels.astype(np.intp)
        yt, yp = yt[:, cols], yp[:, cols]
    both = (yt != 0) & (yp != 0)

    def nnz(x: NDArray[Any]) -> NDArray[Any]:
        mask = x != 0
        if samplewise:
            per_row = mask.sum(axis=1)
            return per_row if wf is None else per_row * wf
        rows, cols_ = np.nonzero(mask)
        return np.bincount(cols_, weights=None if wf is None else wf[rows], minlength=mask.shape[1])

    return nnz(both), nnz(yp != 0), nnz(yt != 0)


def _divide(
    num: NDArray[Any], den: NDArray[Any], zero_value: float
) -> tuple[NDArray[np.float64], bool]:
    """``num / den`` with ``zero_value`` wherever ``den == 0``; also says whether that happened."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    mask = den == 0
    result = num / np.where(mask, 1.0, den)
    result[mask] = zero_value
    return result, bool(mask.any())


def _nanaverage(a: NDArray[np.float64], weights: NDArray[Any] | None) -> float:
    """Weighted mean that skips NaN entries (used when ``zero_division=np.nan``)."""
    if a.shape[0] == 0:
        return float("nan")
    mask = np.isnan(a)
    if mask.all():
        return float("nan")
    if weights is None:
        return float(np.nanmean(a))
    a, w = a[~mask], np.asarray(weights, dtype=np.float64)[~mask]
    scale = np.sum(w)
    if scale == 0:
        return float(np.mean(a))
    return float(np.sum(a * w) / scale)


def precision_recall_f1(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    average: str | None = "binary",
    labels: ArrayLike | None = None,
    pos_label: Any = 1,
    beta: float = 1.0,
    sample_weight: ArrayLike | None = None,
    zero_division: str | float = "warn",
) -> PrecisionRecallF1:
    """Precision, recall, F-beta score and support.

    * **Precision** = TP / (TP + FP): of the samples the model *called* positive, how many
      were.  High precision means few false alarms.
    * **Recall** = TP / (TP + FN): of the samples that *are* positive, how many the model
      found.  High recall means few misses.
    * They trade off: a classifier that says "positive" more readily (a lower score threshold)
      finds more positives (recall up) but also raises more false alarms (precision down).
    * **F-beta** = (1 + b^2) TP / ((1 + b^2) TP + b^2 FN + FP), a weighted harmonic mean of the
      two; ``beta=1`` gives F1, ``beta > 1`` cares more about recall, ``beta < 1`` about
      precision.
    * **Support**: how many samples truly belong to each class.

    Args:
        y_true, y_pred: true and predicted labels (or 2-D 0/1 label-indicator matrices).
        average: ``"binary"`` scores only ``pos_label`` (binary problems only); ``"micro"``
            pools TP/FP/FN over all classes first; ``"macro"`` is the unweighted mean of the
            per-class scores (every class counts the same, however rare); ``"weighted"``
            weights that mean by support; ``"samples"`` (multilabel only) scores each sample
            and averages; ``None`` returns per-class arrays.
        labels: classes to score (and their order for ``average=None``); may include classes
            absent from the data.  Ignored for ``average="binary"``.
        pos_label: the positive class for ``average="binary"``.
        beta: weight of recall relative to precision in the F score, ``>= 0``.
        sample_weight: optional weight per sample.
        zero_division: value used when a ratio is 0/0 (e.g. precision of a class never
            predicted): ``"warn"`` (0 plus an :class:`UndefinedMetricWarning`), ``0``, ``1`` or
            ``np.nan`` (NaN entries are then left out of averages).

    Returns:
        :class:`PrecisionRecallF1` ``(precision, recall, f1, support)``.
    """
    check_option(average, "average", AVERAGES)
    zero_value = check_zero_division(zero_division)
    try:
        beta = float(beta)
    except (TypeError, ValueError) as exc:
        raise MetricError(f"beta must be a number >= 0; got {beta!r}.") from exc
    if not beta >= 0:
        raise MetricError(f"beta must be a number >= 0; got {beta!r}.")
    t = check_targets(y_true, y_pred, sample_weight)
    lab: NDArray[Any] | None = None if labels is None else check_labels_param(labels)
    if average == "binary":
        if t.kind != "binary":
            raise MetricError(
                f"target is {t.kind} but average='binary'; choose average='micro', 'macro', "
                "'weighted' or None."
            )
        if not contains(t.classes, pos_label) and t.classes.shape[0] >= 2:
            raise MetricError(
                f"pos_label={pos_label!r} is not a valid label; it should be one of "
                f"{t.classes.tolist()}."
            )
        lab = np.asarray([pos_label])
    elif pos_label not in (None, 1):
        warnings.warn(
            f"pos_label={pos_label!r} is ignored when average={average!r}; use "
            "labels=[pos_label] to score a single class.",
            UserWarning,
            stacklevel=2,
        )
    samplewise = average == "samples"
    if samplewise and t.kind != "multilabel-indicator":
        raise MetricError("average='samples' needs multilabel (2-D indicator) targets.")

    tp_sum, pred_sum, true_sum = _counts(t, lab, samplewise)
    if average == "micro":
        tp_sum = np.reshape(np.sum(tp_sum), (1,))
        pred_sum = np.reshape(np.sum(pred_sum), (1,))
        true_sum = np.reshape(np.sum(true_sum), (1,))

    warn = isinstance(zero_division, str)
    axis = "label" if average == "samples" else "sample"
    where = "due to" if tp_sum.shape[0] == 1 else f"in {'samples' if samplewise else 'labels'} with"
    precision, bad = _divide(tp_sum, pred_sum, zero_value)
    if bad and warn:
        warn_undefined(
            f"Precision is ill-defined and being set to 0.0 {where} no predicted {axis}s."
        )
    recall, bad = _divide(tp_sum, true_sum, zero_value)
    if bad and warn:
        warn_undefined(f"Recall is ill-defined and being set to 0.0 {where} no true {axis}s.")
    if np.isposinf(beta):
        f_score = recall
    elif beta == 0:
        f_score = precision
    else:
        beta2 = beta**2
        denom = beta2 * true_sum.astype(np.float64) + pred_sum.astype(np.float64)
        f_score, bad = _divide((1 + beta2) * tp_sum.astype(np.float64), denom, zero_value)
        if bad and warn:
            warn_undefined(
                f"F-score is ill-defined and being set to 0.0 {where} no true nor predicted "
                f"{axis}s."
            )

    if average is None:
        return PrecisionRecallF1(precision, recall, f_score, true_sum)
    weights: NDArray[Any] | None = None
    if average == "weighted":
        weights = true_sum
    elif samplewise:
        weights = t.sample_weight
    return PrecisionRecallF1(
        _nanaverage(precision, weights),
        _nanaverage(recall, weights),
        _nanaverage(f_score, weights),
        None,
    )
