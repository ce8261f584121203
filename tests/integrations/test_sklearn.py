"""labbook.sklearn.log_classifier on real scikit-learn models over bundled data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
from sklearn.svm import LinearSVC

import labbook
from labbook import Api, Settings
from labbook.blobs import open_blobstore
from labbook.sklearn import log_classifier


def _settings(tmp_path: Path) -> Settings:
    return Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)


def test_binary_classifier_summary_matches_sklearn(tmp_path: Path) -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(x[:400], y[:400])
    run = labbook.init(project="sk", settings=_settings(tmp_path))
    out = log_classifier(model, x[400:], y[400:], class_names=["malignant", "benign"])
    run.finish()
    preds = model.predict(x[400:])
    assert out["eval/precision"] == pytest.approx(precision_score(y[400:], preds))
    assert out["eval/recall"] == pytest.approx(recall_score(y[400:], preds))
    assert out["eval/roc_auc"] == pytest.approx(
        roc_auc_score(y[400:], model.predict_proba(x[400:])[:, 1])
    )
    with Api(_settings(tmp_path)) as api:
        stored = api.run(run.path)
        assert stored.summary["eval/f1"] == pytest.approx(out["eval/f1"])
        h = stored.history()
        for key in ("eval/confusion_matrix", "eval/roc", "eval/pr"):
            assert h[key].iloc[0]["_type"] == "plot", key


def test_multiclass_without_probabilities(tmp_path: Path) -> None:
    x, y = load_digits(return_X_y=True)
    model = LinearSVC(max_iter=5000).fit(x[:1200] / 16, y[:1200])
    run = labbook.init(project="sk", settings=_settings(tmp_path))
    out = log_classifier(model, x[1200:] / 16, y[1200:])
    run.finish()
    preds = model.predict(x[1200:] / 16)
    assert out["eval/f1"] == pytest.approx(f1_score(y[1200:], preds, average="macro"))
    assert "eval/roc_auc" not in out
    with Api(_settings(tmp_path)) as api:
        h = api.run(run.path).history()
    assert "eval/confusion_matrix" in h.columns and "eval/roc" not in h.columns
    assert np.isfinite(out["eval/accuracy"])


def test_multiclass_with_probabilities_reports_macro_and_per_class(tmp_path: Path) -> None:
    x, y = load_digits(return_X_y=True)
    model = LogisticRegression(max_iter=300).fit(x[:1200] / 16, y[:1200])
    xt, yt = x[1200:] / 16, y[1200:]
    run = labbook.init(project="sk", settings=_settings(tmp_path))
    names = [f"digit{c}" for c in range(10)]
    out = log_classifier(model, xt, yt, class_names=names)
    run.finish()
    preds, probs = model.predict(xt), model.predict_proba(xt)
    assert out["eval/roc_auc"] == pytest.approx(roc_auc_score(yt, probs, multi_class="ovr"))
    assert out["eval/precision"] == pytest.approx(precision_score(yt, preds, average="macro"))
    per_p = precision_score(yt, preds, average=None)
    per_r = recall_score(yt, preds, average=None)
    per_f = f1_score(yt, preds, average=None)
    for c, name in enumerate(names):
        assert out[f"eval/precision/{name}"] == pytest.approx(per_p[c])
        assert out[f"eval/recall/{name}"] == pytest.approx(per_r[c])
        assert out[f"eval/f1/{name}"] == pytest.approx(per_f[c])
    with Api(_settings(tmp_path)) as api:
        stored = api.run(run.path)
        assert stored.summary["eval/recall/digit3"] == pytest.approx(per_r[3])
        h = stored.history()
        for key in ("eval/confusion_matrix", "eval/roc", "eval/pr"):
            assert h[key].iloc[0]["_type"] == "plot", key


def test_needs_a_run() -> None:
    x, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(x, y)
    with pytest.raises(labbook.UsageError, match="init"):
        log_classifier(model, x, y)


def test_wandb_sklearn_plot_calls_log_the_charts(tmp_path: Path) -> None:
    """``wandb.sklearn.plot_*`` under ``import labbook as wandb``: each logs its chart."""
    import labbook as wandb
    from labbook import metrics
    from labbook.data.media import Plot

    x, y = load_breast_cancer(return_X_y=True)
    model = LogisticRegression(max_iter=5000).fit(x[:400], y[:400])
    y_pred, y_probas = model.predict(x[400:]), model.predict_proba(x[400:])
    names = ["malignant", "benign"]
    settings = _settings(tmp_path)
    run = wandb.init(project="sk", settings=settings)
    wandb.sklearn.plot_confusion_matrix(y[400:], y_pred, names)
    wandb.sklearn.plot_roc(y[400:], y_probas, names)
    wandb.sklearn.plot_precision_recall(y[400:], y_probas, names)
    out = wandb.sklearn.plot_classifier(
        model, x[:400], x[400:], y[:400], y[400:], y_pred, y_probas, names, model_name="LR"
    )
    wandb.finish()
    assert out["eval/accuracy"] == pytest.approx(float(np.mean(y_pred == y[400:])))
    blobs = open_blobstore(settings.resolved_blobs_uri())
    with Api(settings) as api:
        h = api.run(run.path).history()
    charts = {}
    for key in ("confusion_matrix", "roc", "precision_recall"):
        (ref,) = [v for v in h[key] if isinstance(v, dict)]
        charts[key] = Plot.from_json(b"".join(blobs.open_read(ref["sha256"])))
    cm = charts["confusion_matrix"].to_pandas()
    got = {
        (a, p): n for a, p, n in cm[["Actual", "Predicted", "nPredictions"]].itertuples(index=False)
    }
    expected = metrics.confusion_matrix(y[400:], y_pred, labels=[0, 1])
    assert got == {(names[i], names[j]): int(expected[i, j]) for i in range(2) for j in range(2)}
    assert charts["roc"].meta["auc"]["benign"] == pytest.approx(
        roc_auc_score(y[400:], y_probas[:, 1])
    )
    pr = charts["precision_recall"]  # binary: the positive class's curve, as for ROC
    assert set(pr.to_pandas()["class"]) == {"benign"}
    assert pr.meta["average_precision"]["benign"] == pytest.approx(
        metrics.average_precision(y[400:], y_probas[:, 1])
    )
    assert "eval/roc" in h.columns  # plot_classifier's evaluation
    with pytest.raises(labbook.UsageError, match="init"):
        wandb.sklearn.plot_roc(y[400:], y_probas, names)
