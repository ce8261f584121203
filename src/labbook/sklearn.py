"""``labbook.sklearn``: scikit-learn helpers (see :mod:`labbook.integrations.sklearn`)."""

from labbook.integrations.sklearn import log_classifier

__all__ = ["log_classifier"]
