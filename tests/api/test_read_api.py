"""``labbook.Api()`` over the local store: projects, filtered and sorted runs, DataFrames."""

from __future__ import annotations

import math
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import labbook
from labbook import Api, Settings
from labbook.api import history_frame
from labbook.errors import NotFoundError, ProjectNotFound, UsageError
from labbook.store import KeySeries


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


def test_a_bare_project_name_is_found_under_the_entity_that_has_it(
    settings: Settings, api: Api
) -> None:
    team = settings.replace(entity="vision")
    run = labbook.init(project="digits", settings=team)
    run.log({"loss": 0.5})
    run.finish()
    # The default entity (the OS user) has no "digits": the one entity that does is used.
    assert [r.id for r in api.runs("digits")] == [run.id]
    assert api.run(f"digits/{run.id}").entity == "vision"
    labbook.init(project="digits", settings=settings.replace(entity="audio")).finish()
    with (
        Api(settings) as fresh,
        pytest.raises(
            UsageError, match="several entities; name one of audio/digits, vision/digits"
        ),
    ):
        fresh.runs("digits")
    with pytest.raises(ProjectNotFound, match="no project 'nope' in the local store"):
        api.runs("nope")
    assert len(api.runs("vision/digits")) == 1  # a named entity is used as it is


def test_history_frame_is_built_on_the_series_arrays() -> None:
    """Keys logged together become columns without copies: a frame of 1M steps and two keys
    allocates its ``_runtime`` and one merged ``_timestamp`` (2 x 8 bytes a step), not a copy of
    every column (it allocated 72 bytes a step, and np.unique hashed every step)."""
    n = 1_000_000
    steps = np.arange(n, dtype=np.int64)
    times = 1.7e9 + steps * 1e-3
    series = {
        "loss": KeySeries(steps, np.linspace(1, 0, n), times),
        "acc": KeySeries(steps.copy(), np.linspace(0, 1, n), times.copy()),
    }
    tracemalloc.start()
    try:
        frame = history_frame(series, None)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert list(frame.columns) == ["_step", "acc", "loss", "_timestamp", "_runtime"]
    assert frame["loss"].iloc[-1] == 0.0 and frame["_runtime"].iloc[0] == 0.0
    assert peak <= 20 * n, peak


def test_history_frame_aligns_keys_logged_at_different_steps() -> None:
    t = np.array
    series = {
        "a": KeySeries(t([0, 1, 2, 3]), t([0.0, 1.0, 2.0, 3.0]), t([10.0, 11.0, 12.0, 13.0])),
        "b": KeySeries(t([1, 3, 3]), t([7, 8, 9]), t([11.5, 13.0, 13.5])),  # 3 twice: last wins
        "c": KeySeries(t([2]), t([True]), t([12.0])),
        "d": KeySeries(t([0, 5]), t(["x", None], dtype=object), t([10.0, 15.0])),
    }
    frame = history_frame(series, None)
    assert frame["_step"].tolist() == [0, 1, 2, 3, 5]
    assert frame["a"].tolist()[:4] == [0.0, 1.0, 2.0, 3.0] and math.isnan(frame["a"].iloc[4])
    assert str(frame["b"].dtype) == "Int64"
    assert frame["b"].tolist() == [pd.NA, 7, pd.NA, 9, pd.NA]
    assert frame["c"].tolist() == [pd.NA, pd.NA, True, pd.NA, pd.NA]
    assert frame["d"].iloc[0] == "x" and frame["d"].iloc[1:].isna().all()
    assert frame["_timestamp"].tolist() == [10.0, 11.5, 12.0, 13.5, 15.0]
    assert frame["_runtime"].tolist() == [0.0, 1.5, 2.0, 3.5, 5.0]


def _run_with_file(settings: Settings, tmp_path: Path) -> labbook.Run:
    run = labbook.init(
        project="digits", config={"lr": 0.1, "optim": {"name": "sgd"}}, settings=settings
    )
    model = tmp_path / "model.bin"
    model.write_bytes(bytes(range(256)) * 100)
    run.save(str(model), base_path=str(tmp_path))
    run.log({"loss": 1.0})
    run.finish()
    return run


def test_run_files_download_like_wandb(settings: Settings, api: Api, tmp_path: Path) -> None:
    run = _run_with_file(settings, tmp_path)
    stored = api.run(run.path)
    files = {f.name: f for f in stored.files()}
    assert "model.bin" in files and files["model.bin"].size == 25600
    assert [f.name for f in stored.files(names=["model.bin"])] == ["model.bin"]
    root = tmp_path / "restore"
    with stored.file("model.bin").download(root=str(root)) as f:
        assert f.name == str(root / "model.bin")
    assert (root / "model.bin").read_bytes() == (tmp_path / "model.bin").read_bytes()
    with pytest.raises(ValueError, match="replace=True"):
        stored.file("model.bin").download(root=str(root))
    (root / "model.bin").write_bytes(b"changed")
    stored.file("model.bin").download(root=str(root), exist_ok=True).close()
    assert (root / "model.bin").read_bytes() == b"changed"  # kept
    stored.file("model.bin").download(root=str(root), replace=True).close()
    assert (root / "model.bin").read_bytes() == (tmp_path / "model.bin").read_bytes()
    assert sorted(p.name for p in root.iterdir()) == ["model.bin"]  # no temp file left
    with pytest.raises(NotFoundError, match=r"has no file 'nope\.txt'"):
        stored.file("nope.txt")


def test_run_update_stores_name_tags_notes_and_config(settings: Settings, api: Api) -> None:
    run = labbook.init(
        project="digits", config={"lr": 0.1, "optim": {"name": "sgd"}}, settings=settings
    )
    run.finish()
    stored = api.run(run.path)
    stored.name = "baseline"
    stored.tags.append("keep")
    stored.notes = "the first one"
    stored.config["lr"] = 0.05
    stored.config["optim"]["momentum"] = 0.9
    stored.config["note"] = float("nan")
    assert stored.update() is stored
    again = api.run(run.path)
    assert (again.name, again.tags, again.notes) == ("baseline", ["keep"], "the first one")
    assert again.config["lr"] == 0.05 and again.config["optim"] == {"name": "sgd", "momentum": 0.9}
    assert math.isnan(again.config["note"])
    assert [r.id for r in api.runs("digits", filters={"config.lr": 0.05})] == [run.id]
    again.config = {"lr": 1}
    again.update()
    assert api.run(run.path).config == {"lr": 1}


def test_run_delete_removes_the_run_and_its_history(
    settings: Settings, api: Api, tmp_path: Path
) -> None:
    keep = _run_with_file(settings, tmp_path)
    failed = _run_with_file(settings, tmp_path)
    # what seed 002 did: delete the failed runs
    for r in api.runs("digits"):
        if r.id == failed.id:
            r.delete()
    assert [r.id for r in api.runs("digits")] == [keep.id]
    with pytest.raises(NotFoundError):
        api.run(failed.path)
    assert api.run(keep.path).history()["loss"].tolist() == [1.0]
    assert api.run(keep.path).file("model.bin").size == 25600  # the shared blob stays


def test_a_filter_or_order_on_a_key_no_run_has_warns(settings: Settings, api: Api) -> None:
    _log_runs(settings)
    with pytest.warns(
        UserWarning,
        match=r"no run in .*/digits has config\.lrr; did you mean "
        r"config\.lr\?",
    ):
        runs = api.runs("digits", filters={"config.lrr": {"$lt": 0.05}})
        assert list(runs) == []
    assert len(runs.warnings) == 1 and "config keys: config.optim.momentum" in runs.warnings[0]
    with pytest.warns(UserWarning, match=r"has summary\.best_ac; did you mean summary\.best_acc"):
        assert len(api.runs("digits", order="-summary.best_ac")) == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert (
            len(api.runs("digits", filters={"config.optim.name": "adam"}, order="-summary.acc"))
            == 2
        )
