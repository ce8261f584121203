"""GET .../importance: correlation and tree-model importance of config keys for a metric."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import quote

import numpy as np
import pytest
from lbserver import Server, error
from seed import log_run

from labbook.store.importance import pearson, rank_params

P = "/projects/alice/digits"


def _seed(s: Server, h: dict[str, str], n: int = 60) -> None:
    """``val_acc`` is driven by ``lr`` (log scale, linear) and ``optimizer`` (a category); ``seed``,
    ``noise`` and ``color`` are noise; ``epochs`` never varies; ``run_dir`` names each run."""
    rng = np.random.default_rng(3)
    for i in range(n):
        lr = float(10.0 ** rng.integers(-5, 0))
        opt = str(rng.choice(["adam", "sgd", "rmsprop"]))
        acc = 0.5 - 0.05 * math.log10(lr) + {"adam": 0.2, "sgd": 0.0, "rmsprop": 0.1}[opt]
        acc += float(rng.normal(0, 0.01))
        config = {
            "lr": lr,
            "optimizer": opt,
            "seed": int(rng.integers(0, 1000)),
            "noise": float(rng.random()),
            "color": str(rng.choice(["red", "blue"])),
            "epochs": 10,
            "run_dir": f"/tmp/run-{i}",
        }
        log_run(s, h, f"{P}/runs/r{i}", config=config, summary={"val_acc": acc})


def test_driving_parameters_rank_above_noise(any_server: Server) -> None:
    s = any_server
    h = s.user("alice")
    _seed(s, h)
    r = s.get(f"{P}/importance?metric=summary.val_acc", headers=h)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["metric"] == "summary.val_acc" and body["runs"] == 60
    params = {p["key"]: p for p in body["params"]}
    # the default: config keys that vary, without the per-run identifier
    assert set(params) == {"lr", "optimizer", "seed", "noise", "color"}
    order = [p["key"] for p in body["params"]]
    assert set(order[:2]) == {"lr", "optimizer"}
    assert params["lr"]["importance"] + params["optimizer"]["importance"] > 0.8
    assert sum(p["importance"] for p in body["params"]) == pytest.approx(1.0)
    assert params["lr"]["type"] == "number" and params["optimizer"]["type"] == "category"
    assert params["lr"]["correlation"] < -0.3  # a bigger lr, a lower accuracy here
    assert params["optimizer"]["correlation"] is None
    assert abs(params["noise"]["correlation"]) < 0.4
    # deterministic: the same runs give the same answer
    assert s.get(f"{P}/importance?metric=summary.val_acc", headers=h).json() == body


def test_params_filters_and_metric_fields(any_server: Server) -> None:
    s = any_server
    h = s.user("alice")
    _seed(s, h, n=30)
    body = s.get(f"{P}/importance?metric=summary.val_acc&params=noise,lr,epochs", headers=h).json()
    assert body["params"][0]["key"] == "lr"
    epochs = next(p for p in body["params"] if p["key"] == "epochs")
    assert epochs == {"key": "epochs", "type": "number", "correlation": None, "importance": 0.0}
    flt = quote(json.dumps({"config.optimizer": "adam"}))
    only = s.get(f"{P}/importance?metric=summary.val_acc&filters={flt}", headers=h).json()
    assert 0 < only["runs"] < 30
    assert only["params"][0]["key"] == "lr"
    opt = next(p for p in only["params"] if p["key"] == "optimizer")
    assert opt["importance"] == 0.0  # one value among these runs: it explains nothing
    missing = s.get(f"{P}/importance?metric=summary.nope", headers=h).json()
    assert missing["runs"] == 0 and all(p["importance"] == 0 for p in missing["params"])


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", "metric"),
        ("metric=", "metric"),
        ("metric=bogus", "metric"),
        ("metric=metrics.loss.mean", "metric"),
        ("metric=summary.val_acc&params=" + ",".join(f"k{i}" for i in range(101)), "params"),
        ("metric=summary.val_acc&params=a..b", "params"),
        ("metric=summary.val_acc&filters=[]", "filters"),
    ],
)
def test_bad_parameters_are_422(server: Server, query: str, names: str) -> None:
    s = server
    h = s.user("alice")
    _seed(s, h, n=3)
    assert names in error(s.get(f"{P}/importance?{query}", headers=h), 422, "validation_error")


def test_importance_permissions(server: Server) -> None:
    s = server
    h = s.user("alice")
    _seed(s, h, n=3)
    url = f"{P}/importance?metric=summary.val_acc"
    assert error(s.get(url, headers=s.user("bob")), 404) == "project not found"
    error(s.get(url), 404)


def test_model_on_its_own() -> None:
    rng = np.random.default_rng(0)
    n = 500
    x = rng.random(n)
    g = rng.choice(["a", "b", "c"], n)
    y = np.where(g == "b", 5.0, 0.0) + np.sin(6 * x) + rng.normal(0, 0.05, n)  # non-linear in x
    values: dict[str, list[Any]] = {
        "x": x.tolist(),
        "g": g.tolist(),
        "noise": rng.random(n).tolist(),
        "sparse": [None if i % 3 else float(i) for i in range(n)],
        "flag": [bool(i % 2) for i in range(n)],
    }
    metric: list[Any] = y.tolist()
    metric[0] = math.nan  # runs without a finite metric are left out
    metric[1] = None
    metric[2] = "text"
    used, ranked = rank_params(metric, values)
    assert used == n - 3
    assert [r.key for r in ranked[:2]] == ["g", "x"]
    assert {r.key: r.kind for r in ranked} == {
        "g": "category", "x": "number", "noise": "number", "sparse": "number", "flag": "number"
    }  # fmt: skip
    assert rank_params(metric, values) == (used, ranked)
    assert rank_params([1.0, 1.0, 1.0, 1.0, 1.0], {"x": [1, 2, 3, 4, 5]})[1][0].importance == 0.0
    assert pearson(np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])) == pytest.approx(1.0)
    assert pearson(np.array([1.0, math.nan, 3.0]), np.array([2.0, 4.0, 6.0])) is None
    assert pearson(np.array([1.0, 1.0, 1.0]), np.array([2.0, 4.0, 6.0])) is None
