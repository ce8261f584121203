"""Charts to log, like ``wandb.plot``: ``labbook.log({"roc": labbook.plot.roc_curve(y, p)})``.

Every function returns a :class:`~labbook.data.media.Plot`: a :class:`~labbook.Table` of the points,
a chart kind and the columns it draws. Logged, the table is stored as a JSON file and the history
row holds a reference to it; in a notebook, ``.to_pandas()`` gives the points and
``.to_matplotlib()`` draws them.

Curves are computed with :mod:`labbook.metrics` (equal to scikit-learn's) and nothing is
downsampled: ROC and PR curves keep every threshold (``drop_intermediate=False``), up to the
100,000-row table limit.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from labbook import metrics
from labbook.data.media import Plot, Table, columns_table

__all__ = [
    "Plot",
    "bar",
    "confusion_matrix",
    "histogram",
    "line",
    "line_series",
    "pr_curve",
    "roc_curve",
    "scatter",
]


def _columns(table: Table, chart: str, **cols: str | None) -> None:
    if not isinstance(table, Table):
        raise TypeError(f"plot.{chart} needs a labbook.Table, not {type(table).__name__}")
    for role, col in cols.items():
        if col is not None and col not in table.columns:
            raise ValueError(
                f"plot.{chart}: {role}={col!r} is not a column of the table {table.columns}"
            )


def line(table: Table, x: str, y: str, stroke: str | None = None, title: str | None = None) -> Plot:
    """Line chart of column ``y`` against ``x``; one line per value of ``stroke`` if given."""
    _columns(table, "line", x=x, y=y, stroke=stroke)
    return Plot(table, "line", {"x": x, "y": y, "stroke": stroke}, title)


def scatter(table: Table, x: str, y: str, title: str | None = None) -> Plot:
    """Scatter plot of column ``y`` against ``x``."""
    _columns(table, "scatter", x=x, y=y)
    return Plot(table, "scatter", {"x": x, "y": y}, title)


def bar(table: Table, label: str, value: str, title: str | None = None) -> Plot:
    """One bar per row: its ``label`` column on the axis, its ``value`` column as height."""
    _columns(table, "bar", label=label, value=value)
    return Plot(table, "bar", {"label": label, "value": value}, title)


def histogram(table: Table, value: str, title: str | None = None, num_bins: int = 64) -> Plot:
    """Histogram of column ``value`` (binned when drawn; the table keeps every value)."""
    _columns(table, "histogram", value=value)
    return Plot(table, "histogram", {"value": value}, title, {"bins": int(num_bins)})


def line_series(
    xs: Sequence[Any],
    ys: Sequence[Sequence[Any]],
    keys: Sequence[str] | None = None,
    title: str | None = None,
    xname: str | None = None,
) -> Plot:
    """Several lines in one chart. ``xs`` is one list shared by all lines or one list per line;
    ``keys`` names the lines (default ``line_0``, ``line_1``, ...)."""
    ys_l = [list(np.asarray(y).tolist()) for y in ys]
    xs_arr = list(xs)
    shared = not (xs_arr and isinstance(xs_arr[0], Sequence | np.ndarray))
    xs_l = (
        [list(np.asarray(xs_arr).tolist())] * len(ys_l)
        if shared
        else [list(np.asarray(x).tolist()) for x in xs_arr]
    )
    if len(xs_l) != len(ys_l):
        raise ValueError(f"line_series: {len(xs_l)} x lists for {len(ys_l)} y lists")
    names = [f"line_{i}" for i in range(len(ys_l))] if keys is None else [str(k) for k in keys]
    if len(names) != len(ys_l):
        raise ValueError(f"line_series: {len(names)} keys for {len(ys_l)} lines")
    series: list[str] = []
    xcol: list[Any] = []
    ycol: list[Any] = []
    for name, x, y in zip(names, xs_l, ys_l, strict=True):
        if len(x) != len(y):
            raise ValueError(f"line_series: line {name!r} has {len(x)} x values and {len(y)} y")
        series += [name] * len(x)
        xcol += x
        ycol += y
    table = Table(["series", "x", "y"], list(zip(series, xcol, ycol, strict=True)))
    return Plot(
        table, "line", {"x": "x", "y": "y", "stroke": "series"}, title, {"xname": xname or "x"}
    )


# ----------------------------------------------------------------------------------- classifiers


def _class_names(values: Sequence[Any], names: Sequence[Any] | None) -> list[str]:
    if names is None:
        return [str(v) for v in values]
    if len(names) != len(values):
        raise ValueError(f"{len(names)} class names for {len(values)} classes")
    return [str(n) for n in names]


def confusion_matrix(
    y_true: Any = None,
    preds: Any = None,
    probs: Any = None,
    class_names: Sequence[Any] | None = None,
    title: str | None = None,
) -> Plot:
    """Confusion matrix of ``y_true`` against ``preds`` (or the argmax of ``probs``).

    Labels that are integers index ``class_names`` (wandb's convention); labels of any other type
    are matched against ``class_names`` by value. Without ``class_names`` the classes are the
    sorted labels seen (every column of ``probs`` when given). The table has one row per cell:
    ``Actual``, ``Predicted``, ``nPredictions``; computed with
    :func:`labbook.metrics.confusion_matrix`.
    """
    if y_true is None:
        raise ValueError("plot.confusion_matrix needs y_true")
    if (preds is None) == (probs is None):
        raise ValueError("plot.confusion_matrix takes exactly one of preds or probs")
    yt = np.asarray(y_true)
    if probs is not None:
        p = np.asarray(probs, dtype=np.float64)
        if p.ndim != 2:
            raise ValueError(f"probs must be (n_samples, n_classes), got shape {p.shape}")
        yp = np.argmax(p, axis=1)
        n_cols = p.shape[1]
    else:
        yp = np.asarray(preds)
        n_cols = 0
    labels: Any
    if class_names is not None:
        if yt.dtype.kind in "iu" and yp.dtype.kind in "iu":
            labels = np.arange(len(class_names))
            bad = np.concatenate([yt, yp])
            bad = bad[(bad < 0) | (bad >= len(class_names))]
            if len(bad):
                raise ValueError(
                    f"label {int(bad[0])} is not an index into the {len(class_names)} class_names"
                )
        else:
            labels = np.asarray(class_names)
    elif n_cols:
        labels = np.arange(n_cols)
    else:
        labels = None
    cm = metrics.confusion_matrix(yt, yp, labels=labels)
    if labels is None:
        labels = np.unique(np.concatenate([yt.ravel(), yp.ravel()]))
    names = _class_names(np.asarray(labels).tolist(), class_names)
    k = len(names)
    actual = [names[i] for i in range(k) for _ in range(k)]
    predicted = [names[j] for _ in range(k) for j in range(k)]
    table = columns_table(
        {"Actual": actual, "Predicted": predicted, "nPredictions": cm.ravel().tolist()}
    )
    return Plot(
        table,
        "confusion_matrix",
        {"actual": "Actual", "predicted": "Predicted", "value": "nPredictions"},
        title,
        {"class_names": names},
    )


def _per_class(
    y_true: Any, y_probas: Any, labels: Sequence[Any] | None, classes_to_plot: Sequence[Any] | None
) -> list[tuple[str, np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    """(class name, 0/1 target, scores) per class to plot, one-vs-rest."""
    yt = np.asarray(y_true).ravel()
    p = np.asarray(y_probas, dtype=np.float64)
    if p.ndim == 1:
        p = np.stack([1.0 - p, p], axis=1)
        binary = True
    elif p.ndim == 2:
        binary = p.shape[1] == 2
    else:
        raise ValueError(f"y_probas must be (n,) or (n, n_classes), got shape {p.shape}")
    if p.shape[0] != yt.shape[0]:
        raise ValueError(f"y_true has {yt.shape[0]} samples but y_probas has {p.shape[0]}")
    k = p.shape[1]
    seen = np.unique(yt)
    if yt.dtype.kind in "iub" and np.all((seen >= 0) & (seen < k)):
        classes: list[Any] = list(range(k))
    elif len(seen) == k:
        classes = seen.tolist()  # the columns follow the sorted labels, as in scikit-learn
    else:
        raise ValueError(
            f"y_probas has {k} columns but y_true holds {len(seen)} distinct labels "
            f"{seen.tolist()[:10]}; integer labels must be column indices 0..{k - 1}"
        )
    names = _class_names(classes, labels)
    wanted = [1] if binary else list(range(k))
    if classes_to_plot is not None:
        pick = {str(c) for c in classes_to_plot}
        wanted = [i for i in range(k) if str(classes[i]) in pick or names[i] in pick]
        if not wanted:
            raise ValueError(f"classes_to_plot {list(classes_to_plot)} matches no class {names}")
    return [(names[i], (yt == classes[i]).astype(np.int64), p[:, i]) for i in wanted]


def _score(fn: Any, target: np.ndarray[Any, Any], scores: np.ndarray[Any, Any]) -> float:
    """AUC/AP of one class; NaN (with the metric's warning) when the class never occurs."""
    try:
        return float(fn(target, scores))
    except metrics.MetricError as exc:
        warnings.warn(f"labbook.plot: {exc}", metrics.UndefinedMetricWarning, stacklevel=3)
        return float("nan")


def roc_curve(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[Any] | None = None,
    classes_to_plot: Sequence[Any] | None = None,
    title: str | None = None,
) -> Plot:
    """ROC curve per class, one-vs-rest, with every threshold kept.

    ``y_probas`` is ``(n,)`` (the positive class's score, binary), ``(n, 2)`` (binary: column 1 is
    the positive class) or ``(n, k)`` (one curve per class). Integer labels are column indices;
    other labels map to the columns in sorted order. ``labels`` names the classes. Table columns:
    ``class``, ``fpr``, ``tpr``, ``threshold`` (the first point's threshold is +inf). The AUC per
    class (:func:`labbook.metrics.roc_auc`) is in ``plot.meta["auc"]``.
    """
    cls_col: list[str] = []
    fpr_col: list[float] = []
    tpr_col: list[float] = []
    thr_col: list[float] = []
    auc: dict[str, float] = {}
    for name, target, scores in _per_class(y_true, y_probas, labels, classes_to_plot):
        fpr, tpr, thr = metrics.roc_curve(target, scores, drop_intermediate=False)
        cls_col += [name] * len(fpr)
        fpr_col += fpr.tolist()
        tpr_col += tpr.tolist()
        thr_col += thr.tolist()
        auc[name] = _score(metrics.roc_auc, target, scores)
    table = columns_table({"class": cls_col, "fpr": fpr_col, "tpr": tpr_col, "threshold": thr_col})
    return Plot(
        table, "roc_curve", {"x": "fpr", "y": "tpr", "stroke": "class"}, title, {"auc": auc}
    )


def pr_curve(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[Any] | None = None,
    classes_to_plot: Sequence[Any] | None = None,
    title: str | None = None,
) -> Plot:
    """Precision-recall curve per class, one-vs-rest, with every threshold kept.

    Same inputs as :func:`roc_curve`. Table columns: ``class``, ``recall``, ``precision``,
    ``threshold``; the last point of each class (recall 0, precision 1) has no threshold in
    :func:`labbook.metrics.precision_recall_curve` and gets +inf (nothing predicted positive).
    The average precision per class is in ``plot.meta["average_precision"]``.
    """
    cls_col: list[str] = []
    rec_col: list[float] = []
    prec_col: list[float] = []
    thr_col: list[float] = []
    ap: dict[str, float] = {}
    for name, target, scores in _per_class(y_true, y_probas, labels, classes_to_plot):
        precision, recall, thr = metrics.precision_recall_curve(target, scores)
        cls_col += [name] * len(precision)
        rec_col += recall.tolist()
        prec_col += precision.tolist()
        thr_col += [*thr.tolist(), float("inf")]
        ap[name] = _score(metrics.average_precision, target, scores)
    table = columns_table(
        {"class": cls_col, "recall": rec_col, "precision": prec_col, "threshold": thr_col}
    )
    return Plot(
        table,
        "pr_curve",
        {"x": "recall", "y": "precision", "stroke": "class"},
        title,
        {"average_precision": ap},
    )
