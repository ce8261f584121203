"""Every example runs (small settings) and leaves the runs it promises in the store."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from labbook import Api, Settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _run(script: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "LABBOOK_DIR": str(tmp_path / "data"),
        "LABBOOK_CAPTURE_REQUIREMENTS": "false",
        "LABBOOK_SYSTEM_METRICS": "false",
        "KERAS_BACKEND": "torch",
        "KERAS_HOME": str(tmp_path / "keras-home"),  # no cached MNIST: the bundled digits are used
    }
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _runs(tmp_path: Path, project: str) -> list:  # type: ignore[type-arg]
    with Api(Settings(dir=tmp_path / "data")) as api:
        return list(api.runs(project))


@pytest.mark.slow
def test_digits_cnn_keras(tmp_path: Path) -> None:
    pytest.importorskip("keras")
    _run("digits_cnn_keras.py", "--epochs", "2", "--limit", "400", tmp_path=tmp_path)
    _run(
        "digits_cnn_keras.py",
        "--epochs",
        "1",
        "--limit",
        "400",
        "--batch-size",
        "32",
        "--optimizer",
        "sgd",
        tmp_path=tmp_path,
    )
    runs = _runs(tmp_path, "digits")
    assert len(runs) == 2 and all(r.state == "finished" for r in runs)
    assert {r.config["batch_size"] for r in runs} == {32, 64}
    assert {r.config["dataset"] for r in runs} == {"sklearn-digits"}
    for r in runs:
        assert 0.0 <= r.summary["test/accuracy"] <= 1.0 and r.summary["test/loss"] > 0
        files = {f.path for f in r.files()}
        assert {"model-best.keras", "predictions.csv"} <= files
        h = r.history()
        assert "eval/confusion_matrix" in h.columns
        # every epoch: captioned validation digits and the weights' histograms
        examples = [v for v in h["examples"] if isinstance(v, dict)]
        assert len(examples) == r.config["epochs"]
        assert all(len(e["items"]) == 16 for e in examples)
        assert {i["caption"] for e in examples for i in e["items"]} <= set("0123456789")
        weights = [c for c in h.columns if c.startswith("parameters/")]
        assert len(weights) == 6 and all(
            sum(isinstance(v, dict) for v in h[c]) == r.config["epochs"] for c in weights
        )
        (table,) = [v for v in h["test/predictions"] if isinstance(v, dict)]
        assert table["_type"] == "table" and table["nrows"] == 360  # the held-out 20%

    # the seeds' follow-up: evaluate the latest predictions artifact, then read the lineage
    out = _run("evaluate_predictions.py", tmp_path=tmp_path)
    assert "digits-predictions:v1: accuracy" in out.stdout
    with Api(Settings(dir=tmp_path / "data")) as api:
        data = api.artifacts("digits", type="dataset")
        assert [a.name for a in data] == ["digits-data:v0"]  # same data: one version, used twice
        assert len(data[0].used_by()) == 2 and data[0].logged_by() is None
        (evaluation,) = [r for r in api.runs("digits") if r.job_type == "evaluate"]
        graph = api.artifact("digits/digits-predictions:v1").lineage(depth=2)
        edges = {(e["source"], e["target"]) for e in graph["edges"]}
        (trainer,) = [
            n["run_id"] for n in graph["nodes"] if n.get("run_id") not in (None, evaluation.id)
        ]
        ent = data[0].entity
        ds, pr = (
            f"artifact:{ent}/digits/digits-data:v0",
            f"artifact:{ent}/digits/digits-predictions:v1",
        )
        train, ev = f"run:{ent}/digits/{trainer}", f"run:{ent}/digits/{evaluation.id}"
        assert edges == {(ds, train), (train, pr), (pr, ev)}
        models = [a for a in api.run(f"digits/{trainer}").logged_artifacts() if a.type == "model"]
        assert len(models) == 1 and "best" in models[0].aliases  # the Keras callback's
        assert models[0].get_entry("model-best.keras").size > 0


def test_digits_cnn_is_the_seeds_architecture() -> None:
    """Conv2D(32, 3x3, relu) -> MaxPool(2) -> Conv2D(64, 3x3, relu) -> MaxPool(2) -> Flatten ->
    Dropout(0.5) -> Dense(10, softmax) on 28x28x1 inputs, as in the example's docstring."""
    import importlib.util

    keras = pytest.importorskip("keras")
    spec = importlib.util.spec_from_file_location(
        "digits_cnn_keras", EXAMPLES / "digits_cnn_keras.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    model = example.build_model(example.parse_args([]))
    layers = [(type(layer).__name__, layer.get_config()) for layer in model.layers]
    assert [name for name, _ in layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense"
    ]  # fmt: skip
    conv1, conv2, dropout, dense = layers[0][1], layers[2][1], layers[5][1], layers[6][1]
    assert (conv1["filters"], conv1["kernel_size"], conv1["activation"]) == (32, (3, 3), "relu")
    assert (conv2["filters"], conv2["kernel_size"], conv2["activation"]) == (64, (3, 3), "relu")
    assert layers[1][1]["pool_size"] == (2, 2) and dropout["rate"] == 0.5
    assert (dense["units"], dense["activation"]) == (10, "softmax")
    assert model.input_shape == (None, 28, 28, 1)
    assert isinstance(model.optimizer, keras.optimizers.Adam)


@pytest.mark.slow
def test_digits_torch(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    _run("digits_torch.py", "--epochs", "2", "--log-freq", "5", tmp_path=tmp_path)
    (run,) = _runs(tmp_path, "digits-torch")
    assert run.state == "finished" and run.summary["best_val_accuracy"] > 0.3
    h = run.history()
    assert list(h[h["epoch"].notna()]["epoch"]) == [0, 1]
    assert any(c.startswith("gradients/") for c in h.columns)
    assert "model-best.pt" in {f.path for f in run.files()}


@pytest.mark.slow
def test_breast_cancer_sklearn(tmp_path: Path) -> None:
    _run("breast_cancer_sklearn.py", tmp_path=tmp_path)
    (run,) = _runs(tmp_path, "breast-cancer")
    assert run.summary["roc_auc"] > 0.9
    h = run.history()
    recall = h["tradeoff/recall"].dropna().to_numpy()
    assert len(recall) == 19 and (recall[:-1] >= recall[1:]).all()  # recall falls as the bar rises


def _run_notebook(tmp_path: Path, project: str) -> list[str]:
    """The notebook's code cells as one script against the store in ``tmp_path``; its output
    ends with the number of runs and the categories of its last chart (or None)."""
    nb = json.loads((EXAMPLES / "notebooks" / "analysis.ipynb").read_text())
    code = "\n\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    script = tmp_path / "notebook.py"
    script.write_text(
        "import matplotlib\nmatplotlib.use('Agg')\n"
        + code
        + "\nprint(len(df))\nprint(globals().get('categories'))\n"
    )
    env = {
        **os.environ,
        "LABBOOK_DIR": str(tmp_path / "data"),
        "LABBOOK_NOTEBOOK_PROJECT": project,
    }
    out = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout.strip().splitlines()


@pytest.mark.slow
def test_analysis_notebook_runs_against_logged_runs(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    _run("breast_cancer_sklearn.py", "--C", "0.1", tmp_path=tmp_path)
    _run("breast_cancer_sklearn.py", "--C", "10", tmp_path=tmp_path)
    lines = _run_notebook(tmp_path, "breast-cancer")
    assert lines[-2] == "2"


@pytest.mark.slow
def test_analysis_notebook_runs_against_runs_without_config(tmp_path: Path) -> None:
    """Runs logged without a config (or without the charted key) and a project where no run has
    a config: the notebook shows what there is. A missing config value is "(not set)" on the
    chart, never NaN: pandas 3's ``astype(str)`` keeps NaN, and matplotlib rejects it."""
    import labbook

    pytest.importorskip("matplotlib")
    settings = Settings(dir=tmp_path / "data", capture_requirements=False, system_metrics=False)
    for config, acc in (({"batch_size": 32, "lr": 0.1}, 0.5), ({"lr": 0.2}, 0.6), (None, 0.7)):
        run = labbook.init(project="mixed", config=config, settings=settings)
        for epoch in range(3):
            run.log({"val_accuracy": acc + 0.01 * epoch, "epoch": epoch})
        run.finish()
    for loss in (0.7, 0.5):
        run = labbook.init(project="bare", settings=settings)
        run.log({"loss": loss})
        run.finish()

    lines = _run_notebook(tmp_path, "mixed")
    assert lines[-2] == "3"
    categories = lines[-1]
    assert "nan" not in categories.lower()
    assert sorted(ast.literal_eval(categories)) == ["(not set)", "(not set)", "32"]

    lines = _run_notebook(tmp_path, "bare")
    assert lines[-2:] == ["2", "None"]
    assert "This needs runs with a config value" in "\n".join(lines)
