"""The seeds' flow end to end, in the dashboard: the digits example (Keras on torch) trains
against a real ``labbook server`` and the evaluation script uses its predictions artifact; the
training run's Lineage tab in Chromium then shows dataset → training run → model and predictions
→ evaluation run, as the API does.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_artifacts_e2e import _wait_nodes
from test_dashboard_e2e import PASSWORD, USER, _shot, login_server

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT_MS = 20_000


@dataclass
class Trained:
    url: str
    key: str
    train: dict[str, Any]
    evaluation: dict[str, Any]


def _example(env: dict[str, str], cwd: Path, script: str, *args: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Trained]:
    pytest.importorskip("keras")
    tmp = tmp_path_factory.mktemp("digits-lineage")
    with login_server(tmp, "lineage") as (url, key, base):
        script_env = {
            **base,
            "LABBOOK_BASE_URL": url,
            "LABBOOK_API_KEY": key,
            "LABBOOK_DIR": str(tmp / "client-data"),
            "LABBOOK_CONFIG_DIR": str(tmp / "client-config"),
            "LABBOOK_CACHE_DIR": str(tmp / "client-cache"),
            "LABBOOK_CAPTURE_REQUIREMENTS": "false",
            "LABBOOK_SYSTEM_METRICS": "false",
            "KERAS_BACKEND": "torch",
            "KERAS_HOME": str(tmp / "keras-home"),
        }
        work = tmp / "work"
        work.mkdir()
        _example(script_env, work, "digits_cnn_keras.py", "--epochs", "1", "--limit", "300")
        _example(script_env, work, "evaluate_predictions.py")
        headers = {"Authorization": f"Bearer {key}"}
        runs = httpx.get(f"{url}/api/v1/projects/{USER}/digits/runs", headers=headers).json()[
            "items"
        ]
        by_type = {r["job_type"]: r for r in runs}
        yield Trained(url, key, by_type["train"], by_type["evaluate"])


def test_the_digits_lineage_in_the_api_and_the_dashboard(trained: Trained, page: Any) -> None:
    run = trained.train["id"]
    ids = {
        "data": f"artifact:{USER}/digits/digits-data:v0",
        "train": f"run:{USER}/digits/{run}",
        "model": f"artifact:{USER}/digits/model-{trained.train['name']}:v0",
        "preds": f"artifact:{USER}/digits/digits-predictions:v0",
        "eval": f"run:{USER}/digits/{trained.evaluation['id']}",
    }
    expected = {
        (ids["data"], ids["train"]),
        (ids["train"], ids["model"]),
        (ids["train"], ids["preds"]),
        (ids["preds"], ids["eval"]),
    }
    graph = httpx.get(
        f"{trained.url}/api/v1/projects/{USER}/digits/runs/{run}/lineage",
        headers={"Authorization": f"Bearer {trained.key}"},
    ).json()
    assert {(e["source"], e["target"]) for e in graph["edges"]} == expected

    r = page.context.request.post(
        trained.url + "/api/v1/session", data={"username": USER, "password": PASSWORD}
    )
    assert r.ok, r.text()
    page.goto(f"{trained.url}/{USER}/digits/runs/{run}")
    page.get_by_role("tab", name="Lineage").click()
    drawn = page.get_by_role("group", name="lineage graph")
    drawn.wait_for(timeout=TIMEOUT_MS)
    _wait_nodes(page, 5)
    nodes = drawn.locator("a[data-node]")
    layers = {
        nodes.nth(i).get_attribute("data-node"): int(nodes.nth(i).get_attribute("data-layer"))
        for i in range(nodes.count())
    }
    assert layers == {ids["data"]: 0, ids["train"]: 1, ids["model"]: 2, ids["preds"]: 2,
                      ids["eval"]: 3}  # fmt: skip
    edges = set(drawn.locator("path[data-edge]").evaluate_all("ps => ps.map(p => p.dataset.edge)"))
    assert edges == {f"{a} -> {b}" for a, b in expected}
    assert drawn.locator("a[aria-current=page]").get_attribute("data-node") == ids["train"]
    _shot(page, "digits-lineage")
