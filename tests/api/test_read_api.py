"""``labbook.Api()`` over the local store: projects, filtered and sorted runs, DataFrames."""

from __future__ import annotations

import math

import pandas as pd

import labbook
from labbook import Api, Settings


def _log_runs(settings: Settings) -> list[str]:
    paths = []
    for i, (lr, opt) in enumerate([(0.1, "sgd"), (0.01, "adam"), (0.001, "adam")]):
        run = labbook.init(
            project="digits",
            config={"lr": lr, "optim": {"name": opt, "momentum": 0.9}},
            tags=["sweep"] if opt == "adam" else [],
            settings=settings,
        )
        for epoch in range(3):
            run.log({"loss": 1.0 / (epoch + 1) + i, "acc": 0.5 + 0.1 * i})
        run.summary["best_acc"] = 0.5 + 0.1 * i
        run.finish()
        paths.append(run.path)
    labbook.init(project="other", settings=settings).finish()
    return paths


def test_projects_list_the_local_store(settings: Settings, api: Api) -> None:
    _log_runs(settings)
    found = {(p.name, p.run_count) for p in api.projects()}
    assert found == {("digits", 3), ("other", 1)}
    assert [p.name for p in api.projects(entity="nobody")] == []


def test_runs_filter_and_order_on_config_summary_metrics_and_tags(
    settings: Settings, api: Api
) -> None:
    paths = _log_runs(settings)
    ids = [p.rsplit("/", 1)[1] for p in paths]
    by_metric = api.runs("digits", order="-summary.acc")
    assert [r.id for r in by_metric] == ids[::-1]
    adam = api.runs("digits", filters={"config.optim.name": "adam"}, order="config.lr")
    assert [r.id for r in adam] == [ids[2], ids[1]]
    tagged = api.runs("digits", filters={"tags": "sweep", "summary.best_acc": {"$gt": 0.65}})
    assert [r.id for r in tagged] == [ids[2]]
    paged = api.runs("digits", order="created_at", per_page=2)
    assert [r.id for r in paged] == ids  # two pages, nothing lost or repeated


def test_runs_to_pandas_has_flat_config_and_summary_columns(settings: Settings, api: Api) -> None:
    paths = _log_runs(settings)
    df = api.runs("digits", order="config.lr").to_pandas()
    assert isinstance(df, pd.DataFrame) and len(df) == 3
    for col in ("id", "name", "state", "config.lr", "config.optim.name", "summary.loss"):
        assert col in df.columns, col
    assert list(df["id"]) == [p.rsplit("/", 1)[1] for p in reversed(paths)]
    assert list(df["config.lr"]) == [0.001, 0.01, 0.1]
    assert list(df["config.optim.name"]) == ["adam", "adam", "sgd"]
    assert list(df["config.optim.momentum"]) == [0.9, 0.9, 0.9]
    assert list(df["state"]) == ["finished"] * 3
    assert [round(v, 6) for v in df["summary.best_acc"]] == [0.7, 0.6, 0.5]
    assert all(
        math.isclose(v, 1 / 3 + i) for v, i in zip(df["summary.loss"], (2, 1, 0), strict=True)
    )
