"""Classification metrics for evaluating models, in plain numpy.

The functions match scikit-learn's ``sklearn.metrics`` (to 1e-12) without depending on it:

* label vs label: :func:`confusion_matrix`, :func:`accuracy`, :func:`precision_recall_f1`;
* scores vs label: :func:`roc_curve`, :func:`roc_auc`, :func:`precision_recall_curve`,
  :func:`average_precision`, :func:`top_k_accuracy`;
* probabilities vs label: :func:`log_loss`.

Which to look at?  Accuracy answers "how often is it right", but hides failures on rare
classes; the confusion matrix shows *which* classes get mixed up; precision ("when it says
positive, is it?") and recall ("does it find the positives?") split the errors into false
alarms and misses; AUROC and average precision judge the ranking of scores independent of
any threshold; log loss judges whether the probabilities are honest.

Bad inputs raise :class:`MetricError` (a ``ValueError``); undefined values such as 0/0 emit
an :class:`UndefinedMetricWarning`.
"""

from ._classification import PrecisionRecallF1, accuracy, confusion_matrix, precision_recall_f1
from ._probabilistic import log_loss, top_k_accuracy
from ._ranking import average_precision, precision_recall_curve, roc_auc, roc_curve
from ._validation import MetricError, UndefinedMetricWarning

__all__ = [
    "MetricError",
    "PrecisionRecallF1",
    "UndefinedMetricWarning",
    "accuracy",
    "average_precision",
    "confusion_matrix",
    "log_loss",
    "precision_recall_curve",
    "precision_recall_f1",
    "roc_auc",
    "roc_curve",
    "top_k_accuracy",
]
