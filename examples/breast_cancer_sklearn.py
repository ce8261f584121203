"""Precision, recall and AUROC on a binary problem: scikit-learn's bundled breast-cancer data.

A logistic regression gives each tumour a probability of being malignant. Where you put the
decision threshold decides the trade-off: a low threshold catches more malignant cases (higher
recall) but raises more false alarms (lower precision). This script logs that trade-off across
thresholds, the ROC curve with its AUROC and the PR curve, so they can be compared across runs:

    python examples/breast_cancer_sklearn.py --C 0.1
    labbook runs breast-cancer
"""

from __future__ import annotations

import argparse

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import labbook
from labbook import metrics, plot
from labbook.sklearn import log_classifier


def main(argv: list[str] | None = None, settings: labbook.Settings | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--project", default="breast-cancer")
    p.add_argument("--C", type=float, default=1.0, help="inverse regularisation strength")
    p.add_argument("--test-size", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    data = load_breast_cancer()
    # In this data set 0 = malignant; make "malignant" the positive class (1), as a screen would.
    y = 1 - data.target
    xtr, xte, ytr, yte = train_test_split(
        data.data, y, test_size=args.test_size, random_state=args.seed, stratify=y
    )
    run = labbook.init(project=args.project, config=vars(args), job_type="train", settings=settings)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=args.C, max_iter=5000))
    model.fit(xtr, ytr)
    log_classifier(model, xte, yte, class_names=["benign", "malignant"])

    scores = model.predict_proba(xte)[:, 1]
    thresholds = np.round(np.linspace(0.05, 0.95, 19), 2)
    rows = []
    for step, t in enumerate(thresholds):
        preds = (scores >= t).astype(int)
        prf = metrics.precision_recall_f1(yte, preds, zero_division=0)
        row = {
            "threshold": float(t),
            "precision": float(prf.precision),
            "recall": float(prf.recall),
        }
        run.log({"tradeoff": row}, step=step)
        rows.append([row["threshold"], row["precision"], row["recall"]])
    table = labbook.Table(columns=["threshold", "precision", "recall"], data=rows)
    run.log({"tradeoff/precision_vs_threshold": plot.line(table, "threshold", "precision")})
    run.summary["roc_auc"] = metrics.roc_auc(yte, scores)
    run.summary["average_precision"] = metrics.average_precision(yte, scores)
    path = run.path
    run.finish()
    return path


if __name__ == "__main__":
    main()
