"""labbook.plot: chart tables equal labbook.metrics (and so scikit-learn), drawing, logging."""

from __future__ import annotations

import sys

import matplotlib
import numpy as np
import pytest
from sklearn import metrics as skm

import labbook
from labbook import Api, Settings, Table, metrics
from labbook.blobs import open_blobstore
from labbook.data.media import Plot

matplotlib.use("Agg")


@pytest.fixture
def multiclass() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(size=(300, 3)) + np.eye(3)[y] * 1.5
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def _cm_from_table(plot: Plot, names: list[str]) -> np.ndarray:
    idx = {n: i for i, n in enumerate(names)}
    cm = np.zeros((len(names), len(names)), dtype=np.int64)
    for a, p, v in plot.table.data:
        cm[idx[a], idx[p]] = v
    return cm


# ----------------------------------------------------------------------------------- confusion


def test_confusion_matrix_from_preds_equals_metrics(multiclass: tuple) -> None:
    y, probs = multiclass
    preds = probs.argmax(axis=1)
    names = ["cat", "dog", "bird"]
    p = labbook.plot.confusion_matrix(y_true=y, preds=preds, class_names=names, title="cm")
    assert p.chart == "confusion_matrix" and p.title == "cm"
    assert p.table.columns == ["Actual", "Predicted", "nPredictions"]
    expected = metrics.confusion_matrix(y, preds)
    assert np.array_equal(_cm_from_table(p, names), expected)
    assert np.array_equal(expected, skm.confusion_matrix(y, preds))
    assert p.meta["class_names"] == names
    # probs give the same matrix through argmax
    q = labbook.plot.confusion_matrix(y_true=y, probs=probs, class_names=names)
    assert q.table == p.table


def test_confusion_matrix_label_variants() -> None:
    # a class that never occurs still gets its row and column when named
    p = labbook.plot.confusion_matrix(
        y_true=[0, 0, 1], preds=[0, 1, 1], class_names=["a", "b", "c"]
    )
    assert np.array_equal(_cm_from_table(p, ["a", "b", "c"]), [[1, 1, 0], [0, 1, 0], [0, 0, 0]])
    # string labels without class names: sorted labels seen
    s = labbook.plot.confusion_matrix(y_true=["x", "y", "y"], preds=["y", "y", "x"])
    assert s.meta["class_names"] == ["x", "y"]
    assert np.array_equal(
        _cm_from_table(s, ["x", "y"]),
        metrics.confusion_matrix(["x", "y", "y"], ["y", "y", "x"]),
    )
    # probs without class names: one class per column
    pr = labbook.plot.confusion_matrix(y_true=[0, 0], probs=[[0.9, 0.1, 0], [0.2, 0.7, 0.1]])
    assert pr.meta["class_names"] == ["0", "1", "2"] and len(pr.table) == 9
    with pytest.raises(ValueError, match="exactly one"):
        labbook.plot.confusion_matrix(y_true=[0], preds=[0], probs=[[1.0]])
    with pytest.raises(ValueError, match="index"):
        labbook.plot.confusion_matrix(y_true=[0, 5], preds=[0, 1], class_names=["a", "b"])


# ----------------------------------------------------------------------------------- ROC / PR


def _rows(plot: Plot, cls: str) -> np.ndarray:
    return np.array([r[1:] for r in plot.table.data if r[0] == cls], dtype=np.float64)


def test_roc_curve_per_class_equals_metrics(multiclass: tuple) -> None:
    y, probs = multiclass
    names = ["cat", "dog", "bird"]
    p = labbook.plot.roc_curve(y, probs, labels=names)
    assert p.chart == "roc_curve" and p.table.columns == ["class", "fpr", "tpr", "threshold"]
    assert p.fields == {"x": "fpr", "y": "tpr", "stroke": "class"}
    for i, name in enumerate(names):
        fpr, tpr, thr = metrics.roc_curve(y == i, probs[:, i], drop_intermediate=False)
        got = _rows(p, name)
        assert np.array_equal(got[:, 0], fpr) and np.array_equal(got[:, 1], tpr)
        assert np.array_equal(got[:, 2], thr)
        sk_fpr, sk_tpr, _ = skm.roc_curve(y == i, probs[:, i], drop_intermediate=False)
        assert np.allclose(got[:, 0], sk_fpr) and np.allclose(got[:, 1], sk_tpr)
        assert p.meta["auc"][name] == pytest.approx(metrics.roc_auc(y == i, probs[:, i]))
    assert len(p.table) == sum(len(_rows(p, n)) for n in names)  # every threshold kept


def test_roc_curve_binary_shapes_and_classes_to_plot(multiclass: tuple) -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    score = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    one = labbook.plot.roc_curve(y, score)
    two = labbook.plot.roc_curve(y, np.stack([1 - score, score], axis=1))
    assert one.table == two.table
    assert {r[0] for r in one.table.data} == {"1"}
    fpr, tpr, _ = metrics.roc_curve(y, score, drop_intermediate=False)
    assert np.array_equal(_rows(one, "1")[:, 0], fpr) and np.array_equal(_rows(one, "1")[:, 1], tpr)
    assert one.meta["auc"]["1"] == pytest.approx(skm.roc_auc_score(y, score))
    named = labbook.plot.roc_curve(y, score, labels=["neg", "pos"])
    assert {r[0] for r in named.table.data} == {"pos"}

    y3, probs = multiclass
    sub = labbook.plot.roc_curve(y3, probs, classes_to_plot=[2])
    assert {r[0] for r in sub.table.data} == {"2"} and list(sub.meta["auc"]) == ["2"]
    # non-integer labels map to the columns in sorted order (scikit-learn's convention)
    letters = np.array(["a", "b", "c"])[y3]
    assert labbook.plot.roc_curve(letters, probs).table.data == [
        [{"0": "a", "1": "b", "2": "c"}[r[0]], *r[1:]]
        for r in labbook.plot.roc_curve(y3, probs).table.data
    ]
    with pytest.raises(ValueError, match="columns"):
        labbook.plot.roc_curve(np.array(["a", "b"]), np.ones((2, 3)) / 3)


def test_pr_curve_per_class_equals_metrics(multiclass: tuple) -> None:
    y, probs = multiclass
    p = labbook.plot.pr_curve(y, probs)
    assert p.table.columns == ["class", "recall", "precision", "threshold"]
    for i in range(3):
        precision, recall, thr = metrics.precision_recall_curve(y == i, probs[:, i])
        got = _rows(p, str(i))
        assert np.array_equal(got[:, 0], recall) and np.array_equal(got[:, 1], precision)
        assert np.array_equal(got[:-1, 2], thr) and got[-1, 2] == np.inf
        sk_p, sk_r, _ = skm.precision_recall_curve(y == i, probs[:, i])
        assert np.allclose(got[:, 1], sk_p) and np.allclose(got[:, 0], sk_r)
        assert p.meta["average_precision"][str(i)] == pytest.approx(
            skm.average_precision_score(y == i, probs[:, i])
        )


def test_curves_are_never_downsampled_past_the_row_limit() -> None:
    rng = np.random.default_rng(2)
    y = rng.integers(0, 3, 40_000)
    probs = rng.random((40_000, 3))  # ~40k distinct thresholds per class: 120k points
    with pytest.raises(ValueError, match="100,000"):
        labbook.plot.roc_curve(y, probs)
    two = labbook.plot.roc_curve(y, probs, classes_to_plot=[0, 1])
    assert len(two.table) == sum(
        len(metrics.roc_curve(y == i, probs[:, i], drop_intermediate=False)[0]) for i in (0, 1)
    )


def test_curve_for_an_absent_class_warns_and_scores_nan() -> None:
    y = np.array([0, 1, 0, 1])
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.1, 0.8, 0.1]])
    with pytest.warns(metrics.UndefinedMetricWarning):
        p = labbook.plot.roc_curve(y, probs)
    assert np.isnan(p.meta["auc"]["2"]) and p.meta["auc"]["0"] == 1.0


# ----------------------------------------------------------------------------------- tables


def test_table_charts_check_columns_and_keep_the_table() -> None:
    t = Table(columns=["epoch", "acc", "name"], data=[[1, 0.5, "a"], [2, 0.7, "b"]])
    ln = labbook.plot.line(t, "epoch", "acc", title="acc")
    assert (ln.chart, ln.fields, ln.title) == ("line", {"x": "epoch", "y": "acc"}, "acc")
    assert ln.table is t and ln.to_pandas()["acc"].tolist() == [0.5, 0.7]
    assert labbook.plot.line(t, "epoch", "acc", stroke="name").fields["stroke"] == "name"
    assert labbook.plot.scatter(t, "epoch", "acc").fields == {"x": "epoch", "y": "acc"}
    assert labbook.plot.bar(t, "name", "acc").fields == {"label": "name", "value": "acc"}
    assert labbook.plot.histogram(t, "acc").fields == {"value": "acc"}
    with pytest.raises(ValueError, match="'nope'"):
        labbook.plot.line(t, "epoch", "nope")
    with pytest.raises(TypeError, match="Table"):
        labbook.plot.bar([[1, 2]], "a", "b")


def test_line_series() -> None:
    p = labbook.plot.line_series([0, 1, 2], [[1, 2, 3], [4, 5, 6]], keys=["a", "b"], xname="epoch")
    assert p.table.columns == ["series", "x", "y"]
    assert p.table.data == [
        ["a", 0, 1],
        ["a", 1, 2],
        ["a", 2, 3],
        ["b", 0, 4],
        ["b", 1, 5],
        ["b", 2, 6],
    ]
    assert p.meta["xname"] == "epoch"
    q = labbook.plot.line_series([[0, 1], [5]], [[1.0, 2.0], [3.0]])
    assert q.table.get_column("series") == ["line_0", "line_0", "line_1"]
    with pytest.raises(ValueError, match="keys"):
        labbook.plot.line_series([0], [[1]], keys=["a", "b"])


# ----------------------------------------------------------------------------------- drawing


def test_to_matplotlib_draws_every_chart_kind(multiclass: tuple) -> None:
    import matplotlib.pyplot as plt

    y, probs = multiclass
    t = Table(columns=["x", "y", "k"], data=[[i, i * i, "ab"[i % 2]] for i in range(10)])
    ax = labbook.plot.roc_curve(y, probs, title="ROC").to_matplotlib()
    assert len(ax.get_lines()) == 4 and ax.get_title() == "ROC"  # 3 classes + chance diagonal
    assert "AUC=" in ax.get_legend().get_texts()[0].get_text()
    assert len(labbook.plot.pr_curve(y, probs).to_matplotlib().get_lines()) == 3
    cm_ax = labbook.plot.confusion_matrix(y_true=y, preds=probs.argmax(1)).to_matplotlib()
    assert len(cm_ax.get_images()) == 1
    assert cm_ax.get_images()[0].get_array().sum() == len(y)
    assert len(labbook.plot.line(t, "x", "y", stroke="k").to_matplotlib().get_lines()) == 2
    assert len(labbook.plot.bar(t, "k", "y").to_matplotlib().patches) == 10
    assert len(labbook.plot.scatter(t, "x", "y").to_matplotlib().collections) == 1
    _, given = plt.subplots()
    assert labbook.plot.histogram(t, "y", num_bins=5).to_matplotlib(ax=given) is given
    assert len(given.patches) == 5
    plt.close("all")


def test_to_matplotlib_without_matplotlib_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    p = labbook.plot.bar(Table(columns=["a", "b"], data=[["x", 1]]), "a", "b")
    with pytest.raises(ImportError, match="pip install matplotlib"):
        p.to_matplotlib()


# ----------------------------------------------------------------------------------- logging


def test_logged_plot_is_a_reference_to_its_json(
    settings: Settings, api: Api, multiclass: tuple
) -> None:
    y, probs = multiclass
    roc = labbook.plot.roc_curve(y, probs, title="roc")
    run = labbook.init(project="p", settings=settings)
    run.log({"eval": {"roc": roc}}, step=4)
    run.finish()
    h = api.run(run.path).history()
    ref = h["eval/roc"][0]
    assert int(h["_step"][0]) == 4
    assert ref["_type"] == "plot" and ref["chart"] == "roc_curve"
    assert ref["fields"] == {"x": "fpr", "y": "tpr", "stroke": "class"}
    assert ref["title"] == "roc" and ref["nrows"] == len(roc.table)
    assert ref["meta"]["auc"] == pytest.approx(roc.meta["auc"])
    assert ref["path"].startswith("media/plot/eval_roc_4_")
    files = {f.path: f.sha256 for f in api.run(run.path).files()}
    assert files[ref["path"]] == ref["sha256"]
    blob = b"".join(open_blobstore(settings.resolved_blobs_uri()).open_read(ref["sha256"]))
    back = Plot.from_json(blob)
    assert back.table == roc.table and back.chart == "roc_curve" and back.fields == roc.fields
    assert back.table.data[0][3] == np.inf  # the first ROC threshold survives JSON


def test_wandb_style_plot_calls() -> None:
    import labbook as wandb

    y = [0, 1, 1, 0]
    p = [[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.9, 0.1]]
    assert isinstance(wandb.plot.confusion_matrix(y_true=y, probs=p, class_names=["a", "b"]), Plot)
    assert isinstance(wandb.plot.roc_curve(y, p), Plot)
    assert isinstance(wandb.plot.pr_curve(y, p), Plot)
    assert isinstance(wandb.Image(np.zeros((2, 2, 3))), wandb.Image)
