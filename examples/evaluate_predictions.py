"""Evaluate the digits CNN from its logged predictions: the seeds' follow-up step.

Uses the ``predictions`` artifact that ``examples/digits_cnn_keras.py`` logged (the latest by
default, or any version or alias), downloads it (checked against its manifest), and logs the
confusion matrix, per-class precision and recall, and the ROC curves as an evaluation run. The
run's lineage then reads: dataset -> training run -> model and predictions -> this run.

    python examples/evaluate_predictions.py
    python examples/evaluate_predictions.py --artifact digits-predictions:v2
    python examples/evaluate_predictions.py --project digits-eval \
        --artifact digits/digits-predictions:latest   # from another project, as the demo does
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

import labbook


def main(argv: list[str] | None = None, settings: labbook.Settings | None = None) -> str:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--project", default="digits")
    p.add_argument("--artifact", default="digits-predictions:latest")
    args = p.parse_args(argv)

    run = labbook.init(project=args.project, job_type="evaluate", settings=settings)
    predictions = run.use_artifact(args.artifact, type="predictions")
    root = Path(predictions.download())
    with open(root / "predictions.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    truth = np.array([int(r["truth"]) for r in rows])
    pred = np.array([int(r["prediction"]) for r in rows])
    probs = np.load(root / "probabilities.npy")
    classes = [str(c) for c in predictions.metadata.get("classes", range(10))]
    run.config.update({"predictions": predictions.qualified_name, "samples": len(rows)})

    accuracy = float((truth == pred).mean())
    per_class = {}
    for k, name in enumerate(classes):
        tp = int(((pred == k) & (truth == k)).sum())
        precision = tp / max(1, int((pred == k).sum()))
        recall = tp / max(1, int((truth == k).sum()))
        per_class[name] = (precision, recall)
    run.log(
        {
            "eval/confusion_matrix": labbook.plot.confusion_matrix(
                y_true=truth, preds=pred, class_names=classes
            ),
            "eval/roc": labbook.plot.roc_curve(truth, probs, labels=classes),
            "eval/per_class": labbook.Table(
                columns=["class", "precision", "recall"],
                data=[[c, pr, rc] for c, (pr, rc) in per_class.items()],
            ),
        }
    )
    run.summary.update(
        {
            "eval/accuracy": accuracy,
            "eval/macro_precision": float(np.mean([v[0] for v in per_class.values()])),
            "eval/macro_recall": float(np.mean([v[1] for v in per_class.values()])),
        }
    )
    print(f"{predictions.qualified_name}: accuracy {accuracy:.4f} on {len(rows)} test images")
    path = run.path
    run.finish()
    return path


if __name__ == "__main__":
    main()
