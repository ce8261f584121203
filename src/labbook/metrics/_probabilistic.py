"""Metrics on per-class scores or probabilities: log loss and top-k accuracy."""

from __future__ import annotations

import numbers
import warnings
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._validation import (
    MetricError,
    as_1d,
    as_label_array,
    as_scores,
    check_labels_param,
    check_lengths,
    check_sample_weight,
    index_in,
    target_kind,
    warn_undefined,
    weighted_mean,
)

__all__ = ["log_loss", "top_k_accuracy"]


def _true_labels_1d(y_true: ArrayLike) -> NDArray[Any]:
    yt = as_label_array(y_true, "y_true")
    if yt.ndim == 0:
        raise MetricError("y_true must be an array of labels, not a single value.")
    yt = as_1d(yt)
    if yt.ndim != 1:
        raise MetricError(f"y_true must be 1-D (one label per sample); got shape {yt.shape}.")
    return yt


def log_loss(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    eps: float | str = "auto",
    normalize: bool = True,
    sample_weight: ArrayLike | None = None,
    labels: ArrayLike | None = None,
) -> float:
    """Log loss (cross-entropy): the mean of ``-log p(true class)``.

    It rewards confident correct predictions and punishes confident wrong ones without
    bound: predicting probability 0.01 for the class that happens scores ``-log 0.01 = 4.6``.
    A model that always predicts the class frequencies scores the entropy of the labels; 0
    is perfect.  It is what (multinomial) logistic regression and most neural classifiers
    minimise during training.

    Args:
        y_true: true labels, one per sample.
        y_pred: predicted probabilities, ``(n, k)`` with columns in the sorted order of the
            classes (of ``labels`` when given, else of ``y_true``); for a binary problem a 1-D
            array is the probability of the larger label.  Values must lie in [0, 1]; rows that
            do not sum to 1 are used as they are, with a warning.
        eps: probabilities are clipped to ``[eps, 1 - eps]`` so that ``log(0)`` never occurs;
            ``"auto"`` uses the machine epsilon of ``y_pred``'s float type (scikit-learn's
            current behaviour).
        normalize: ``False`` returns the (weighted) sum instead of the mean.
        sample_weight: optional weight per sample.
        labels: all classes, when ``y_true`` does not contain every one of them.
    """
    p = np.asarray(y_pred)
    if p.dtype.kind not in "biuf":
        raise MetricError(f"y_pred must be numeric probabilities; got dtype {p.dtype}.")
    if p.dtype not in (np.float32, np.float64):
        p = p.astype(np.float64)
    if p.ndim not in (1, 2):
        raise MetricError(f"y_pred must be 1-D or 2-D probabilities; got shape {p.shape}.")
    if not np.all(np.isfinite(p)):
        raise MetricError("y_pred contains NaN or infinity.")
    if p.size and p.max() > 1:
        raise MetricError(f"y_pred contains values greater than 1: {p.max()}.")
    if p.size and p.min() < 0:
        raise MetricError(f"y_pred contains values lower than 0: {p.min()}.")
    yt = _true_labels_1d(y_true)
    w = check_sample_weight(sample_weight)
    check_lengths(y_true=yt, y_pred=p, sample_weight=w)
    target_kind(yt, "y_true")
    if labels is not None:
        given = check_labels_param(labels)
        classes = np.unique(given)
        if not np.array_equal(classes, given):
            warnings.warn(
                f"labels={given.tolist()} are not sorted; the columns of y_pred are taken to "
                f"follow the sorted order {classes.tolist()}.",
                UserWarning,
                stacklevel=2,
            )
        if np.any(index_in(yt, classes) < 0):
            raise MetricError("y_true contains labels that are not in labels.")
        if classes.shape[0] < 2:
            raise MetricError(f"labels must contain at least two classes; got {classes.tolist()}.")
    else:
        classes = np.unique(yt)
        if classes.shape[0] < 2:
            raise MetricError(
                f"y_true contains only one label ({classes[0]!r}); pass labels=[...] listing "
                "all classes."
            )
    k = classes.shape[0]
    if p.ndim == 1:
        p = p[:, np.newaxis]
    if p.shape[1] == 1:
        p = np.concatenate([1 - p, p], axis=1)
    if not np.all(np.isclose(p.sum(axis=1), 1, rtol=np.sqrt(np.finfo(p.dtype).eps))):
        warnings.warn(
            "the rows of y_pred do not sum to one; make sure you pass probabilities.",
            UserWarning,
            stacklevel=2,
        )
    if p.shape[1] != k:
        raise MetricError(
            f"y_pred has {p.shape[1]} columns but there are {k} classes "
            f"({classes.tolist()}); pass labels=[...] listing every class."
        )
    if isinstance(eps, str):
        if eps != "auto":
            raise MetricError(f"eps must be 'auto' or a small positive float; got {eps!r}.")
        eps_value = float(np.finfo(p.dtype).eps)
    elif isinstance(eps, numbers.Real) and 0 < eps < 0.5:
        eps_value = float(eps)
    else:
        raise MetricError(f"eps must be 'auto' or a float in (0, 0.5); got {eps!r}.")
    p = np.clip(p, p.dtype.type(eps_value), p.dtype.type(1 - eps_value))
    onehot = np.zeros(p.shape, dtype=p.dtype)
    onehot[np.arange(p.shape[0]), index_in(yt, classes)] = 1
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = onehot * np.log(p)
    loss = -np.sum(np.where(onehot == 0, 0, terms), axis=1)
    return weighted_mean(loss, w, normalize)


def top_k_accuracy(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    k: int = 2,
    labels: ArrayLike | None = None,
    sample_weight: ArrayLike | None = None,
    normalize: bool = True,
) -> float:
    """Fraction of samples whose true class is among the ``k`` highest-scored classes.

    Useful with many classes, where the right answer being a close second still says the
    model is "nearly right".  ``k=1`` is ordinary accuracy of the arg-max prediction.  Ties:
    among equal scores the class with the larger column index ranks higher (scikit-learn's
    rule), so ties are never counted twice.

    Args:
        y_true: true labels.
        y_score: ``(n, n_classes)`` scores with columns in the sorted order of the classes
            (of ``labels`` if given); for a binary ``y_true`` a 1-D score of the larger label.
        k: how many top-ranked classes count as a hit.
        labels: all classes (sorted), when ``y_true`` does not contain every one of them.
        sample_weight: optional weight per sample.
        normalize: ``False`` returns the (weighted) number of hits instead.
    """
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise MetricError(f"k must be a positive integer; got {k!r}.")
    yt = _true_labels_1d(y_true)
    kind = target_kind(yt, "y_true")
    if kind == "binary" and labels is not None and len(np.asarray(labels)) > 2:
        kind = "multiclass"
    s = as_scores(y_score)
    if kind == "binary":
        if s.ndim == 2 and s.shape[1] != 1:
            raise MetricError(
                f"y_true is binary but y_score has {s.shape[1]} columns; pass labels=[...] "
                "with every class when y_true does not contain them all."
            )
        s = as_1d(s)
    elif s.ndim != 2:
        raise MetricError(
            f"y_score must have shape (n_samples, n_classes) for a multiclass y_true; got "
            f"{s.shape}."
        )
    w = check_sample_weight(sample_weight)
    check_lengths(y_true=yt, y_score=s, sample_weight=w)
    n_score_classes = s.shape[1] if s.ndim == 2 else 2
    if labels is None:
        classes = np.unique(yt)
        if classes.shape[0] != n_score_classes:
            raise MetricError(
                f"y_true has {classes.shape[0]} classes but y_score has {n_score_classes}; "
                "pass labels=[...] listing every class."
            )
    else:
        classes = check_labels_param(labels)
        if not np.array_equal(np.sort(classes), classes):
            raise MetricError("labels must be sorted, matching the columns of y_score.")
        if classes.shape[0] != n_score_classes:
            raise MetricError(
                f"{classes.shape[0]} labels given but y_score has {n_score_classes} classes."
            )
        if np.any(index_in(yt, classes) < 0):
            raise MetricError("y_true contains labels that are not in labels.")
    if k >= classes.shape[0]:
        warn_undefined(
            f"k ({k}) >= number of classes ({classes.shape[0]}) gives a perfect score and is "
            "meaningless."
        )
    true_idx = index_in(yt, classes)
    if kind == "binary":
        if k == 1:
            threshold = 0.5 if s.min() >= 0 and s.max() <= 1 else 0
            hits = (s > threshold).astype(np.int64) == true_idx
        else:
            hits = np.ones(s.shape, dtype=bool)
    else:
        # stable ascending sort reversed: among tied scores the later column ranks first
        ranked = np.argsort(s, axis=1, kind="mergesort")[:, ::-1]
        hits = np.any(ranked[:, :k] == true_idx[:, np.newaxis], axis=1)
    if not normalize and w is not None:
        return float(np.dot(hits, w))
    return weighted_mean(hits, w, normalize)
