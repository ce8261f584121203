"""Input checking shared by every metric: labels, scores, sample weights and errors.

A classification metric compares two things per sample: the *true* label and what the model
said (a predicted label, a score or a probability).  Most bugs in metric code are not in the
formula but in the bookkeeping around it - lists of different lengths, labels that are strings
on one side and numbers on the other, a probability matrix with one column too few.  This
module turns such mistakes into a :class:`MetricError` whose message names the problem.
"""

from __future__ import annotations

import numbers
import warnings
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from labbook.errors import UsageError

__all__ = [
    "MetricError",
    "UndefinedMetricWarning",
]

AVERAGES = ("binary", "micro", "macro", "weighted", "samples", None)


class MetricError(UsageError):
    """A metric was asked for with inputs it cannot score (it is a ``ValueError``)."""

    code = "metric_error"
    status = 422


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined for these inputs (e.g. 0/0) and was given a fallback value."""


class Targets(NamedTuple):
    """Validated ``y_true`` / ``y_pred`` pair, as :func:`check_targets` returns it."""

    kind: str  # "binary", "multiclass" or "multilabel-indicator"
    classes: NDArray[Any]  # sorted union of the labels seen on either side
    y_true: NDArray[Any]
    y_pred: NDArray[Any]
    sample_weight: NDArray[Any] | None


def warn_undefined(message: str, stacklevel: int = 3) -> None:
    """Emit an :class:`UndefinedMetricWarning`."""
    warnings.warn(message, UndefinedMetricWarning, stacklevel=stacklevel)


# --------------------------------------------------------------------------- labels


def _is_text(arr: NDArray[Any]) -> bool:
    return arr.dtype.kind in "US"


def as_label_array(y: ArrayLike, name: str) -> NDArray[Any]:
    """``y`` as a numpy array of labels: numbers (bool/int/float) or text, never both."""
    arr = np.asarray(y)
    if arr.dtype.kind == "O":
        items = arr.ravel().tolist()
        n_text = sum(isinstance(v, str) for v in items)
        if n_text == len(items) and items:
            arr = arr.astype(str)
        elif n_text:
            raise MetricError(f"{name} mixes string and numeric labels; use one kind of label.")
        else:
            try:
                arr = np.asarray(items).reshape(arr.shape)
            except (TypeError, ValueError) as exc:
                raise MetricError(f"{name} holds values that are not labels.") from exc
            if arr.dtype.kind not in "biuf":
                raise MetricError(f"{name} holds values that are not labels.")
    elif arr.dtype.kind not in "biufUS":
        raise MetricError(f"{name} has dtype {arr.dtype}, which cannot hold class labels.")
    return arr


def target_kind(arr: NDArray[Any], name: str) -> str:
    """What kind of classification target ``arr`` is.

    ``"binary"`` (at most two distinct labels), ``"multiclass"`` (more than two), or
    ``"multilabel-indicator"`` (a 2-D 0/1 matrix: one column per label, several may be on).
    Continuous values (floats that are not whole numbers) are refused: they are regression
    targets or scores, not labels.
    """
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim == 1:
        if arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)):
                raise MetricError(f"{name} contains NaN or infinity.")
            if np.any(arr != np.floor(arr)):
                raise MetricError(
                    f"{name} holds continuous values (e.g. {arr[arr != np.floor(arr)][0]!r}); "
                    "classification metrics need discrete class labels."
                )
        return "binary" if np.unique(arr).shape[0] <= 2 else "multiclass"
    if arr.ndim == 2:
        if arr.dtype.kind in "biuf" and np.all((arr == 0) | (arr == 1)):
            return "multilabel-indicator"
        raise MetricError(
            f"{name} is a 2-D array of shape {arr.shape} that is not a 0/1 label-indicator "
            "matrix; pass one label per sample as a 1-D array."
        )
    raise MetricError(f"{name} must be 1-D (one label per sample); got shape {arr.shape}.")


def as_1d(arr: NDArray[Any]) -> NDArray[Any]:
    """Squeeze a column vector ``(n, 1)`` to ``(n,)``."""
    if arr.ndim == 2 and arr.shape[1] == 1:
        return arr[:, 0]
    return arr


def same_kind(a: NDArray[Any], b: NDArray[Any]) -> bool:
    """Whether two label arrays can be compared (both text or both numeric)."""
    return _is_text(a) == _is_text(b)


def union_labels(a: NDArray[Any], b: NDArray[Any], names: str) -> NDArray[Any]:
    """Sorted union of the labels in ``a`` and ``b``."""
    if not same_kind(a, b):
        raise MetricError(
            f"{names} mix string and numeric labels "
            f"(got {a.dtype.kind!r}-kind and {b.dtype.kind!r}-kind arrays)."
        )
    return np.unique(np.concatenate([a.ravel(), b.ravel()]))


def contains(arr: NDArray[Any], value: Any) -> bool:
    """``value in arr`` that is False (not an error) when the kinds differ."""
    if isinstance(value, str | bytes) != _is_text(arr):
        return False
    return bool(np.any(arr == value))


def index_in(values: NDArray[Any], labels: NDArray[Any]) -> NDArray[np.intp]:
    """Position of each value in ``labels`` (any order, unique), or -1 where absent."""
    out = np.full(values.shape[0], -1, dtype=np.intp)
    if labels.shape[0] == 0 or values.shape[0] == 0 or not same_kind(values, labels):
        return out
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    pos = np.minimum(np.searchsorted(ordered, values), ordered.shape[0] - 1)
    hit = ordered[pos] == values
    out[hit] = order[pos[hit]]
    return out


def check_labels_param(labels: ArrayLike, name: str = "labels") -> NDArray[Any]:
    """A user-supplied ``labels`` list as a 1-D array of unique labels (order kept)."""
    arr = as_label_array(labels, name)
    if arr.ndim != 1:
        raise MetricError(f"{name} must be a 1-D list of labels; got shape {arr.shape}.")
    if np.unique(arr).shape[0] != arr.shape[0]:
        raise MetricError(f"{name} contains duplicates; each label may appear once.")
    return arr


# --------------------------------------------------------------------------- lengths, weights


def check_lengths(**arrays: NDArray[Any] | None) -> int:
    """All given arrays have the same number of samples (rows), and at least one."""
    lengths = {k: v.shape[0] for k, v in arrays.items() if v is not None}
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{k}={n}" for k, n in lengths.items())
        raise MetricError(f"inputs have different numbers of samples: {detail}.")
    n = next(iter(lengths.values()))
    if n == 0:
        raise MetricError("empty input: at least one sample is needed to compute a metric.")
    return n


def check_sample_weight(sample_weight: ArrayLike | None) -> NDArray[Any] | None:
    """``sample_weight`` as a 1-D finite numeric array (length is checked by the caller).

    A sample weight says how much a sample counts: weight 2 is the same as seeing the sample
    twice.  At least one weight must be non-zero.
    """
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight)
    if w.ndim == 0:
        raise MetricError("sample_weight must be a 1-D array with one weight per sample.")
    if w.dtype.kind == "b":
        w = w.astype(np.int64)
    if w.dtype.kind not in "iuf":
        raise MetricError(f"sample_weight must be numeric; got dtype {w.dtype}.")
    if w.ndim != 1:
        raise MetricError(f"sample_weight must be 1-D; got shape {w.shape}.")
    if not np.all(np.isfinite(w)):
        raise MetricError("sample_weight contains NaN or infinity.")
    if w.shape[0] and np.all(w == 0):
        raise MetricError("sample_weight must contain at least one non-zero weight.")
    return w


def weighted_mean(
    values: NDArray[Any], sample_weight: NDArray[Any] | None, normalize: bool = True
) -> float:
    """Mean of per-sample ``values`` (or their sum when ``normalize`` is False)."""
    a = values.astype(np.float64)
    if sample_weight is None:
        return float(np.mean(a) if normalize else np.sum(a))
    w = sample_weight.astype(np.float64)
    total = np.sum(a * w)
    if not normalize:
        return float(total)
    scale = np.sum(w)
    if scale == 0:
        raise MetricError("sample weights sum to zero, so the weighted mean is undefined.")
    return float(total / scale)


# --------------------------------------------------------------------------- scores


def as_scores(y_score: ArrayLike, name: str = "y_score") -> NDArray[np.float64]:
    """Scores or probabilities as a finite float64 array (1-D or 2-D)."""
    arr = np.asarray(y_score)
    if arr.dtype.kind not in "biuf":
        raise MetricError(f"{name} must be numeric scores; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if arr.ndim not in (1, 2):
        raise MetricError(f"{name} must be 1-D or 2-D; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise MetricError(f"{name} contains NaN or infinity.")
    return arr


# --------------------------------------------------------------------------- targets


def check_targets(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    sample_weight: ArrayLike | None = None,
    *,
    allow_multilabel: bool = True,
) -> Targets:
    """Validate a pair of label arrays for a label-vs-label metric (accuracy, precision...)."""
    yt = as_label_array(y_true, "y_true")
    yp = as_label_array(y_pred, "y_pred")
    w = check_sample_weight(sample_weight)
    if yt.ndim == 0 or yp.ndim == 0:
        raise MetricError("y_true and y_pred must be arrays of labels, not single values.")
    check_lengths(y_true=yt, y_pred=yp, sample_weight=w)
    kinds = {target_kind(yt, "y_true"), target_kind(yp, "y_pred")}
    if kinds == {"binary", "multiclass"}:
        kinds = {"multiclass"}
    if len(kinds) > 1:
        raise MetricError(
            "y_true and y_pred are different kinds of target: one is a 2-D label-indicator "
            "matrix and the other a 1-D array of labels."
        )
    kind = kinds.pop()
    if kind == "multilabel-indicator":
        if not allow_multilabel:
            raise MetricError("this metric does not support multilabel (2-D indicator) targets.")
        if yt.shape[1] != yp.shape[1]:
            raise MetricError(
                f"y_true has {yt.shape[1]} label columns but y_pred has {yp.shape[1]}."
            )
        return Targets(kind, np.arange(yt.shape[1]), yt, yp, w)
    yt, yp = as_1d(yt), as_1d(yp)
    classes = union_labels(yt, yp, "y_true and y_pred")
    if kind == "binary" and classes.shape[0] > 2:
        kind = "multiclass"
    return Targets(kind, classes, yt, yp, w)


def binarize(y: NDArray[Any], classes: NDArray[Any]) -> NDArray[np.int64]:
    """One-vs-rest indicator matrix: column ``j`` is 1 where ``y == classes[j]``."""
    out = np.zeros((y.shape[0], classes.shape[0]), dtype=np.int64)
    idx = index_in(y, classes)
    rows = np.nonzero(idx >= 0)[0]
    out[rows, idx[rows]] = 1
    return out


def check_option(value: Any, name: str, options: tuple[Any, ...]) -> None:
    """``value`` is one of ``options`` (compared with ``==``, ``None`` allowed)."""
    if value is None:
        ok = None in options
    else:
        ok = isinstance(value, str) and value in [o for o in options if o is not None]
    if not ok:
        shown = ", ".join(repr(o) for o in options)
        raise MetricError(f"{name}={value!r} is not supported; choose one of {shown}.")


def check_zero_division(zero_division: Any) -> float:
    """The value used for 0/0 (``"warn"`` means 0 plus a warning)."""
    if isinstance(zero_division, str):
        if zero_division == "warn":
            return 0.0
    elif isinstance(zero_division, numbers.Real) and not isinstance(zero_division, bool):
        zd = float(zero_division)
        if zd in (0.0, 1.0):
            return zd
        if np.isnan(zd):
            return float("nan")
    raise MetricError(
        f"zero_division={zero_division!r} is not supported; use 'warn', 0, 1 or np.nan."
    )
