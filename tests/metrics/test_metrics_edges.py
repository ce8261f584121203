"""Edge cases of labbook.metrics: errors, zero division, perfect and inverted classifiers."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from labbook import metrics as lm
from labbook.errors import UsageError
from labbook.metrics import MetricError, UndefinedMetricWarning

sklearn_metrics = pytest.importorskip("sklearn.metrics")

Y = np.array([0, 1, 1, 0, 1])
S = np.array([0.1, 0.8, 0.6, 0.3, 0.9])
P3 = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6]])

# every public function, called on (y_true, second argument)
ALL: dict[str, Callable[[Any, Any], Any]] = {
    "confusion_matrix": lm.confusion_matrix,
    "accuracy": lm.accuracy,
    "precision_recall_f1": lm.precision_recall_f1,
    "roc_curve": lm.roc_curve,
    "roc_auc": lm.roc_auc,
    "precision_recall_curve": lm.precision_recall_curve,
    "average_precision": lm.average_precision,
    "top_k_accuracy": lambda y, s: lm.top_k_accuracy(y, s, k=1),
    "log_loss": lm.log_loss,
}
SECOND = {"confusion_matrix": Y, "accuracy": Y, "precision_recall_f1": Y}


def _second(name: str) -> np.ndarray:
    return SECOND.get(name, S)


def test_metric_error_is_a_value_error() -> None:
    assert issubclass(MetricError, ValueError)
    assert issubclass(MetricError, UsageError)
    assert issubclass(UndefinedMetricWarning, UserWarning)


def test_public_api() -> None:
    assert sorted(lm.__all__) == lm.__all__
    for name in lm.__all__:
        assert getattr(lm, name).__doc__, name


@pytest.mark.parametrize("name", sorted(ALL))
def test_empty_input(name: str) -> None:
    with pytest.raises(MetricError, match="empty"):
        ALL[name]([], [])


@pytest.mark.parametrize("name", sorted(ALL))
def test_length_mismatch(name: str) -> None:
    with pytest.raises(MetricError, match="different numbers of samples"):
        ALL[name](Y, _second(name)[:-1])


@pytest.mark.parametrize("name", sorted(ALL))
def test_sample_weight_length_mismatch(name: str) -> None:
    fn = {
        "top_k_accuracy": lambda y, s, **kw: lm.top_k_accuracy(y, s, k=1, **kw),
    }.get(name, getattr(lm, name))
    with pytest.raises(MetricError, match="sample_weight=4"):
        fn(Y, _second(name), sample_weight=np.ones(4))


@pytest.mark.parametrize("name", sorted(ALL))
def test_all_zero_weights(name: str) -> None:
    fn = {
        "top_k_accuracy": lambda y, s, **kw: lm.top_k_accuracy(y, s, k=1, **kw),
    }.get(name, getattr(lm, name))
    with pytest.raises(MetricError, match="non-zero"):
        fn(Y, _second(name), sample_weight=np.zeros(5))


def test_single_class_auroc_raises() -> None:
    with pytest.raises(MetricError, match="single class"):
        lm.roc_auc([1, 1, 1], [0.2, 0.4, 0.9])
    with pytest.raises(MetricError, match="single class"):
        lm.roc_auc(["a", "a"], [0.2, 0.4])
    with pytest.raises(MetricError, match="single class"):
        lm.roc_auc([1, 1, 1], P3, multi_class="ovr", labels=[0, 1, 2])


def test_multiclass_auroc_needs_ovr_and_probabilities() -> None:
    y = [0, 1, 2]
    with pytest.raises(MetricError, match="multi_class='ovr'"):
        lm.roc_auc(y, P3)
    with pytest.raises(MetricError, match="sum to 1"):
        lm.roc_auc(y, P3 * 2, multi_class="ovr")
    with pytest.raises(MetricError, match="columns"):
        lm.roc_auc(y, P3[:, :2] / P3[:, :2].sum(1, keepdims=True), multi_class="ovr")
    with pytest.raises(MetricError, match="n_samples, n_classes"):
        lm.roc_auc(y, [0.2, 0.3, 0.5], multi_class="ovr")
    with pytest.raises(MetricError, match="multi_class"):
        lm.roc_auc(y, P3, multi_class="ovo")
    with pytest.raises(MetricError, match="sorted"):
        lm.roc_auc(y, P3, multi_class="ovr", labels=[2, 1, 0])


def test_binary_auroc_rejects_probability_matrix_with_hint() -> None:
    proba = np.array([[0.9, 0.1], [0.2, 0.8]])
    with pytest.raises(MetricError, match=r"proba\[:, 1\]"):
        lm.roc_auc([0, 1], proba)


def test_per_class_auroc_of_an_absent_class_is_nan_like_sklearn() -> None:
    y, p = [0, 1, 1], np.eye(3)
    with pytest.warns(UndefinedMetricWarning):
        got = lm.roc_auc(y, p, multi_class="ovr", labels=[0, 1, 2], average=None)
    assert np.isnan(got[2]) and got[0] == 1.0


@pytest.mark.parametrize(
    ("zero_division", "expected"), [("warn", 0.0), (0, 0.0), (1, 1.0), (np.nan, np.nan)]
)
def test_zero_division_when_nothing_is_predicted_positive(
    zero_division: Any, expected: float
) -> None:
    y_true, y_pred = [0, 1, 1], [0, 0, 0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = lm.precision_recall_f1(y_true, y_pred, zero_division=zero_division)
    np.testing.assert_equal(res.precision, expected)
    assert res.recall == 0.0 and res.f1 == 0.0 and res.support is None
    warned = [w for w in caught if issubclass(w.category, UndefinedMetricWarning)]
    assert bool(warned) == (zero_division == "warn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = sklearn_metrics.precision_recall_fscore_support(
            y_true, y_pred, average="binary", zero_division=zero_division
        )
    np.testing.assert_allclose(tuple(res)[:3], ref[:3], rtol=0, atol=1e-12)


def test_zero_division_nan_is_skipped_in_macro_average() -> None:
    # class 2 is never predicted (precision undefined) -> left out of the macro mean
    res = lm.precision_recall_f1([0, 1, 2], [0, 1, 1], average="macro", zero_division=np.nan)
    assert res.precision == pytest.approx((1.0 + 0.5) / 2)
    per_class = lm.precision_recall_f1([0, 1, 2], [0, 1, 1], average=None, zero_division=np.nan)
    assert np.isnan(per_class.precision[2])
    np.testing.assert_array_equal(per_class.support, [1, 1, 1])


@pytest.mark.parametrize("bad", [2, -1, "nan", None, True])
def test_bad_zero_division(bad: Any) -> None:
    with pytest.raises(MetricError, match="zero_division"):
        lm.precision_recall_f1(Y, Y, zero_division=bad)


@pytest.mark.parametrize("bad", ["mean", "Macro", "", 1])
def test_bad_average(bad: Any) -> None:
    with pytest.raises(MetricError, match="average"):
        lm.precision_recall_f1(Y, Y, average=bad)
    with pytest.raises(MetricError, match="average"):
        lm.roc_auc(Y, S, average=bad)
    with pytest.raises(MetricError, match="average"):
        lm.average_precision(Y, S, average=bad)


def test_bad_options() -> None:
    with pytest.raises(MetricError, match="normalize"):
        lm.confusion_matrix(Y, Y, normalize="rows")
    with pytest.raises(MetricError, match="beta"):
        lm.precision_recall_f1(Y, Y, beta=-1)
    with pytest.raises(MetricError, match="k must"):
        lm.top_k_accuracy([0, 1, 2], P3, k=0)
    with pytest.raises(MetricError, match="eps"):
        lm.log_loss(Y, S, eps=0.7)


def test_binary_average_on_multiclass_target() -> None:
    with pytest.raises(MetricError, match="average='binary'"):
        lm.precision_recall_f1([0, 1, 2], [0, 1, 2])
    with pytest.raises(MetricError, match="pos_label"):
        lm.precision_recall_f1(["a", "b"], ["a", "b"])  # default pos_label=1 is not a label
    res = lm.precision_recall_f1(["a", "b", "b"], ["a", "b", "a"], pos_label="b")
    assert (res.precision, res.recall) == (1.0, 0.5)
    assert res.fbeta == res.f1 == pytest.approx(2 / 3)


def test_label_problems() -> None:
    with pytest.raises(MetricError, match="mix"):
        lm.accuracy([0, 1], ["a", "b"])
    with pytest.raises(MetricError, match="continuous"):
        lm.accuracy([0.5, 1.0], [0.5, 1.0])
    with pytest.raises(MetricError, match="at least one of the given labels"):
        lm.confusion_matrix([0, 1], [0, 1], labels=[5])
    with pytest.raises(MetricError, match="duplicates"):
        lm.confusion_matrix([0, 1], [0, 1], labels=[0, 0, 1])
    with pytest.raises(MetricError, match="pos_label"):
        lm.roc_curve(["a", "b"], [0.1, 0.2])
    with pytest.raises(MetricError, match="binary"):
        lm.roc_curve([0, 1, 2], [0.1, 0.2, 0.3])


@pytest.mark.filterwarnings("ignore:the rows of y_pred do not sum")
def test_probability_shape_problems() -> None:
    with pytest.raises(MetricError, match="3 classes"):
        lm.log_loss([0, 1, 2], P3[:, :2])
    with pytest.raises(MetricError, match="greater than 1"):
        lm.log_loss([0, 1], [0.5, 1.5])
    with pytest.raises(MetricError, match="only one label"):
        lm.log_loss([1, 1], [0.5, 0.5])
    with pytest.raises(MetricError, match="NaN"):
        lm.roc_curve([0, 1], [np.nan, 0.5])
    with pytest.raises(MetricError, match="2 columns"):
        lm.top_k_accuracy([0, 1], [[0.5, 0.5], [0.2, 0.8]])
    with pytest.raises(MetricError, match="n_samples, n_classes"):
        lm.top_k_accuracy([0, 1, 2], [0.5, 0.5, 0.2])
    with pytest.warns(UserWarning, match="sum to one"):
        lm.log_loss([0, 1, 2], P3 * 0.5)


def test_perfect_classifier() -> None:
    y = np.array(["cat", "dog", "dog", "cat", "bird"])
    assert lm.accuracy(y, y) == 1.0
    res = lm.precision_recall_f1(y, y, average="macro")
    assert (res.precision, res.recall, res.f1) == (1.0, 1.0, 1.0)
    np.testing.assert_array_equal(lm.confusion_matrix(y, y), np.diag([1, 2, 2]))
    assert lm.roc_auc(Y, Y * 0.9) == 1.0
    assert lm.average_precision(Y, Y * 0.9) == 1.0
    fpr, tpr, thr = lm.roc_curve(Y, Y * 0.9)
    np.testing.assert_array_equal(fpr, [0, 0, 1])
    np.testing.assert_array_equal(tpr, [0, 1, 1])
    assert thr[0] == np.inf
    assert lm.log_loss(Y, Y.astype(float)) == pytest.approx(-np.log(1 - np.finfo(float).eps))
    assert lm.top_k_accuracy([0, 1, 2], np.eye(3), k=1) == 1.0


def test_inverted_classifier() -> None:
    assert lm.accuracy(Y, 1 - Y) == 0.0
    assert lm.roc_auc(Y, -S) == 0.0
    res = lm.precision_recall_f1(Y, 1 - Y)
    assert (res.precision, res.recall, res.f1) == (0.0, 0.0, 0.0)
    assert lm.log_loss(Y, 1.0 - Y) == pytest.approx(-np.log(np.finfo(float).eps))
    assert lm.average_precision(Y, -S) == pytest.approx(
        sklearn_metrics.average_precision_score(Y, -S), abs=1e-12
    )


def test_all_tied_scores_give_one_threshold() -> None:
    fpr, _, thr = lm.roc_curve(Y, np.full(5, 0.5))
    np.testing.assert_array_equal(thr, [np.inf, 0.5])
    np.testing.assert_array_equal(fpr, [0, 1])
    assert lm.roc_auc(Y, np.full(5, 0.5)) == 0.5


def test_confusion_matrix_labels_reorder_and_normalize() -> None:
    y_true = ["cat", "ant", "cat", "cat", "ant", "bird"]
    y_pred = ["ant", "ant", "cat", "cat", "ant", "cat"]
    cm = lm.confusion_matrix(y_true, y_pred, labels=["cat", "ant"])
    np.testing.assert_array_equal(cm, [[2, 1], [0, 2]])
    assert cm.dtype == np.int64
    rows = lm.confusion_matrix(y_true, y_pred, normalize="true")
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)
    with pytest.warns(UserWarning, match="only one label"):
        lm.confusion_matrix([1, 1], [1, 1])


def test_roc_curve_without_negatives_warns_and_gives_nan() -> None:
    with pytest.warns(UndefinedMetricWarning, match="No negative samples"):
        fpr, tpr, _ = lm.roc_curve([1, 1], [0.3, 0.6])
    assert np.isnan(fpr).all() and tpr[-1] == 1.0


def test_accepts_lists_column_vectors_and_object_arrays() -> None:
    y = np.array(["a", "b", "a"], dtype=object)
    assert lm.accuracy(y, ["a", "b", "b"]) == pytest.approx(2 / 3)
    assert lm.accuracy(np.array([[0], [1]]), [0, 1]) == 1.0
    assert lm.roc_auc([[0], [1]], [[0.2], [0.7]]) == 1.0


ML_T = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 0], [0, 0, 1]])
ML_P = np.array([[1, 0, 0], [0, 0, 1], [0, 0, 0], [1, 0, 1]])
ML_S = np.array([[0.9, 0.1, 0.4], [0.2, 0.3, 0.8], [0.6, 0.2, 0.5], [0.6, 0.5, 0.7]])
W4 = np.array([1.0, 0.0, 2.5, 0.5])

# (labbook call, scikit-learn call) on hand-picked corner cases the random cases rarely reach
SPOT_CHECKS: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = {
    "prf weighted, no support at all": (
        lambda: tuple(
            lm.precision_recall_f1([0, 0], [1, 1], average="weighted", labels=[1], zero_division=1)
        ),
        lambda: sklearn_metrics.precision_recall_fscore_support(
            [0, 0], [1, 1], average="weighted", labels=[1], zero_division=1
        ),
    ),
    "prf empty labels": (
        lambda: tuple(lm.precision_recall_f1([0, 1], [1, 1], average=None, labels=[])),
        lambda: sklearn_metrics.precision_recall_fscore_support(
            [0, 1], [1, 1], average=None, labels=[]
        ),
    ),
    "prf binary, single string class, pos_label absent": (
        lambda: tuple(lm.precision_recall_f1(["a", "a"], ["a", "a"], zero_division=1)),
        lambda: sklearn_metrics.precision_recall_fscore_support(
            ["a", "a"], ["a", "a"], average="binary", zero_division=1
        ),
    ),
    "prf multilabel samples with zero-weight rows": (
        lambda: tuple(lm.precision_recall_f1(ML_T, ML_P, average="samples", sample_weight=W4)),
        lambda: sklearn_metrics.precision_recall_fscore_support(
            ML_T, ML_P, average="samples", sample_weight=W4
        ),
    ),
    "prf multilabel labels subset": (
        lambda: tuple(lm.precision_recall_f1(ML_T, ML_P, average=None, labels=[2, 0])),
        lambda: sklearn_metrics.precision_recall_fscore_support(
            ML_T, ML_P, average=None, labels=[2, 0]
        ),
    ),
    "confusion matrix, labels partly unseen": (
        lambda: lm.confusion_matrix([0, 1, 2], [2, 1, 0], labels=[2, 5]),
        lambda: sklearn_metrics.confusion_matrix([0, 1, 2], [2, 1, 0], labels=[2, 5]),
    ),
    "roc curve, weights drop every negative": (
        lambda: lm.roc_curve([0, 1, 1], [1, 2, 3], sample_weight=[0, 1, 1]),
        lambda: sklearn_metrics.roc_curve([0, 1, 1], [1, 2, 3], sample_weight=[0, 1, 1]),
    ),
    "average precision without positives": (
        lambda: lm.average_precision([0, 0, 0], [0.1, 0.5, 0.2]),
        lambda: sklearn_metrics.average_precision_score([0, 0, 0], [0.1, 0.5, 0.2]),
    ),
    "average precision, multilabel weighted, no positives": (
        lambda: lm.average_precision(np.zeros((3, 2), int), np.eye(3)[:, :2], average="weighted"),
        lambda: sklearn_metrics.average_precision_score(
            np.zeros((3, 2), int), np.eye(3)[:, :2], average="weighted"
        ),
    ),
    "roc auc multilabel, a constant column": (
        lambda: lm.roc_auc(ML_T, ML_S, average=None),
        lambda: sklearn_metrics.roc_auc_score(ML_T, ML_S, average=None),
    ),
    "roc auc multilabel samples": (
        lambda: lm.roc_auc(ML_T[:, [0, 2]], ML_S[:, [0, 2]], average="samples"),
        lambda: sklearn_metrics.roc_auc_score(ML_T[:, [0, 2]], ML_S[:, [0, 2]], average="samples"),
    ),
    "top-1 binary with scores outside [0, 1]": (
        lambda: lm.top_k_accuracy([0, 1, 1, 0], [-1.0, 2.0, -0.5, 0.0], k=1),
        lambda: sklearn_metrics.top_k_accuracy_score([0, 1, 1, 0], [-1.0, 2.0, -0.5, 0.0], k=1),
    ),
    "log loss, unsorted labels and a float32 eps": (
        lambda: lm.log_loss(["b", "a"], [[0.3, 0.7], [0.0, 1.0]], labels=["b", "a"]),
        lambda: sklearn_metrics.log_loss(["b", "a"], [[0.3, 0.7], [0.0, 1.0]], labels=["b", "a"]),
    ),
    "log loss, custom eps like older scikit-learn": (
        lambda: lm.log_loss([0, 1], [0.0, 1.0], eps=1e-7),
        lambda: sklearn_metrics.log_loss([0, 1], [1e-7, 1 - 1e-7]),
    ),
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", sorted(SPOT_CHECKS))
def test_sklearn_spot_checks(name: str) -> None:
    ours, theirs = SPOT_CHECKS[name]
    got, expected = ours(), theirs()
    if isinstance(expected, tuple):
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            if b is None:
                assert a is None
            else:
                assert np.shape(a) == np.shape(b)
                np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)
    else:
        assert np.shape(got) == np.shape(expected)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
