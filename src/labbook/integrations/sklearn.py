"""``labbook.sklearn``: log a fitted scikit-learn classifier's evaluation in one call.

Uses labbook's own metrics (equal to scikit-learn's), so scikit-learn is needed only for the
model itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from labbook import metrics, plot
from labbook.errors import UsageError
from labbook.sdk.session import active_run


def log_classifier(
    model: Any,
    X: Any,
    y: Any,
    *,
    class_names: Sequence[str] | None = None,
    prefix: str = "eval",
    run: Any = None,
) -> dict[str, float]:
    """Evaluate ``model`` on ``(X, y)``; log confusion matrix, ROC and PR charts (when the model
    has ``predict_proba``) and put accuracy, precision, recall, F1 and AUROC in the summary.

    Binary problems report the positive class (the larger label); multiclass ones macro averages
    plus per-class values. Returns the summary values it wrote.
    """
    target = run if run is not None else active_run()
    if target is None:
        raise UsageError("labbook.sklearn.log_classifier needs a run: call labbook.init() first")
    y_true = np.asarray(y)
    preds = np.asarray(model.predict(X))
    classes = np.asarray(getattr(model, "classes_", np.unique(np.concatenate([y_true, preds]))))
    names = list(class_names) if class_names is not None else [str(c) for c in classes]
    if len(names) != len(classes):
        raise UsageError(f"class_names has {len(names)} names for {len(classes)} classes")
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    pos = classes[-1] if binary else 1
    prf = metrics.precision_recall_f1(
        y_true,
        preds,
        average=average,
        pos_label=pos,
        labels=None if binary else list(classes),
        zero_division=0,
    )
    out: dict[str, float] = {
        f"{prefix}/accuracy": metrics.accuracy(y_true, preds),
        f"{prefix}/precision": float(prf.precision),
        f"{prefix}/recall": float(prf.recall),
        f"{prefix}/f1": float(prf.f1),
    }
    if not binary:
        # Per class too: a macro average hides the one class a model gets wrong.
        per = metrics.precision_recall_f1(
            y_true, preds, average=None, labels=list(classes), zero_division=0
        )
        for i, name in enumerate(names):
            out[f"{prefix}/precision/{name}"] = float(per.precision[i])
            out[f"{prefix}/recall/{name}"] = float(per.recall[i])
            out[f"{prefix}/f1/{name}"] = float(per.f1[i])
    index = {c: i for i, c in enumerate(classes.tolist())}
    y_idx = np.array([index[c] for c in y_true.tolist()])
    charts: dict[str, Any] = {}
    if hasattr(model, "predict_proba"):
        probs = np.asarray(model.predict_proba(X))
        charts[f"{prefix}/confusion_matrix"] = plot.confusion_matrix(
            y_true=y_idx, probs=probs, class_names=names
        )
        if len(np.unique(y_idx)) > 1:
            scores = probs[:, 1] if binary else probs
            out[f"{prefix}/roc_auc"] = float(
                metrics.roc_auc(
                    y_idx,
                    scores,
                    multi_class="raise" if binary else "ovr",
                    labels=None if binary else list(range(len(classes))),
                )
            )
            charts[f"{prefix}/roc"] = plot.roc_curve(y_idx, probs, labels=names)
            charts[f"{prefix}/pr"] = plot.pr_curve(y_idx, probs, labels=names)
    else:
        p_idx = np.array([index[c] for c in preds.tolist()])
        charts[f"{prefix}/confusion_matrix"] = plot.confusion_matrix(
            y_true=y_idx, preds=p_idx, class_names=names
        )
    target.log(charts, commit=False)
    target.summary.update(out)
    return out


# ----------------------------------------------------------------------------- wandb.sklearn
# wandb's scikit-learn plotting calls, so ``import labbook as wandb`` keeps such scripts running.
# Each logs one chart to the active run (or ``run``) under wandb's key.


def _target(run: Any) -> Any:
    target = run if run is not None else active_run()
    if target is None:
        raise UsageError("labbook.sklearn plots need a run: call labbook.init() first")
    return target


def plot_confusion_matrix(
    y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None, *, run: Any = None, **_: Any
) -> None:
    """Log ``confusion_matrix``: ``labels`` name the classes (integer targets index them)."""
    chart = plot.confusion_matrix(y_true=y_true, preds=y_pred, class_names=labels)
    _target(run).log({"confusion_matrix": chart})


def plot_roc(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[Any] | None = None,
    classes_to_plot: Sequence[Any] | None = None,
    *,
    run: Any = None,
    **_: Any,
) -> None:
    """Log ``roc``: one curve per class, one-vs-rest (see :func:`labbook.plot.roc_curve`)."""
    chart = plot.roc_curve(y_true, y_probas, labels=labels, classes_to_plot=classes_to_plot)
    _target(run).log({"roc": chart})


def plot_precision_recall(
    y_true: Any,
    y_probas: Any,
    labels: Sequence[Any] | None = None,
    classes_to_plot: Sequence[Any] | None = None,
    *,
    run: Any = None,
    **_: Any,
) -> None:
    """Log ``precision_recall``: one curve per class (see :func:`labbook.plot.pr_curve`)."""
    chart = plot.pr_curve(y_true, y_probas, labels=labels, classes_to_plot=classes_to_plot)
    _target(run).log({"precision_recall": chart})


def plot_classifier(
    model: Any,
    X_train: Any,
    X_test: Any,
    y_train: Any,
    y_test: Any,
    y_pred: Any = None,
    y_probas: Any = None,
    labels: Sequence[Any] | None = None,
    *,
    run: Any = None,
    **_: Any,
) -> dict[str, float]:
    """wandb's all-in-one call: the test set's evaluation, as :func:`log_classifier` logs it
    (confusion matrix, ROC and PR charts, accuracy/precision/recall/F1/AUROC in the summary)."""
    names = [str(n) for n in labels] if labels is not None else None
    return log_classifier(model, X_test, y_test, class_names=names, run=_target(run))
