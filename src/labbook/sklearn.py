"""``labbook.sklearn``: scikit-learn helpers (see :mod:`labbook.integrations.sklearn`).

``log_classifier`` is labbook's one call; the ``plot_*`` functions are wandb's names for the same
charts, so scripts written for ``wandb.sklearn`` keep running.
"""

from labbook.integrations.sklearn import (
    log_classifier,
    plot_classifier,
    plot_confusion_matrix,
    plot_precision_recall,
    plot_roc,
)

__all__ = [
    "log_classifier",
    "plot_classifier",
    "plot_confusion_matrix",
    "plot_precision_recall",
    "plot_roc",
]
