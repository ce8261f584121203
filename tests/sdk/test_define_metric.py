"""``define_metric``: summaries as aggregates, globs, the x-axis metric, wandb's call shapes."""

from __future__ import annotations

import math

import pytest

import labbook
from labbook import Api, Settings


def test_summary_aggregates_replace_the_last_value(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    run.define_metric("val/loss", summary="min")
    run.define_metric("val/loss", summary="max")  # adds to the definition, as in wandb
    run.define_metric("val/acc", summary="best,last", goal="maximize")
    run.define_metric("train/*", summary="mean")
    run.define_metric("debug", summary="none")
    losses = [0.9, 0.4, float("nan"), 0.6]
    accs = [0.5, 0.8, 0.7, 0.75]
    for i, (loss, acc) in enumerate(zip(losses, accs, strict=True)):
        run.log(
            {
                "val": {"loss": loss, "acc": acc},
                "train/loss": float(i),
                "train/steps": i,
                "debug": 1.0,
                "lr": 0.1 / (i + 1),
            }
        )
    assert run.summary["val/loss"] == {"min": 0.4, "max": 0.9}
    assert run.summary["val/acc"] == {"best": 0.8, "last": 0.75}
    assert "debug" not in run.summary
    run.finish()
    stored = api.run(run.path)
    assert stored.summary["val/loss"] == {"min": 0.4, "max": 0.9}
    assert stored.summary["val/acc"] == {"best": 0.8, "last": 0.75}
    assert stored.summary["train/loss"] == {"mean": 1.5}
    assert stored.summary["train/steps"] == {"mean": 1.5}
    assert "debug" not in stored.summary
    assert stored.summary["lr"] == pytest.approx(0.025)  # undefined keys: the last value
    # History is untouched: every point is there, NaN included.
    h = stored.history()
    assert math.isnan(h["val/loss"][2]) and list(h["debug"]) == [1.0] * 4
    # The runs table sorts on the aggregate.
    assert api.runs("p", order="-summary.val/acc.best")[0].id == run.id


def test_definitions_are_stored_with_the_run(settings: Settings, api: Api) -> None:
    import labbook as wandb  # the wandb call shapes

    wandb.init(project="p", settings=settings)
    wandb.define_metric("epoch", hidden=True)
    wandb.define_metric("val/*", step_metric="epoch", summary="max")
    for epoch in range(3):
        wandb.log({"val/acc": 0.1 * epoch, "epoch": epoch})
    path = wandb.run.path  # type: ignore[union-attr]
    wandb.finish()
    defs = api.run(path).metadata["metric_definitions"]
    assert defs == [
        {"name": "epoch", "hidden": True},
        {"name": "val/*", "step_metric": "epoch", "summary": ["max"]},
    ]
    assert api.run(path).summary["val/acc"] == {"max": pytest.approx(0.2)}


def test_exact_names_win_over_globs_and_overwrite_replaces(settings: Settings) -> None:
    run = labbook.init(project="p", settings=settings)
    run.define_metric("val/*", summary="max")
    run.define_metric("val/loss", summary="min")
    run.define_metric("v*", summary="mean")
    run.log({"val/loss": 2.0, "val/acc": 0.5, "vx": 1.0})
    run.log({"val/loss": 1.0, "val/acc": 0.7, "vx": 3.0})
    assert run.summary["val/loss"] == {"min": 1.0}
    assert run.summary["val/acc"] == {"max": 0.7}  # "val/*" is longer than "v*"
    assert run.summary["vx"] == {"mean": 2.0}
    run.define_metric("val/loss", summary="last", overwrite=True)
    run.log({"val/loss": 3.0})
    assert run.summary["val/loss"] == {"last": 3.0}
    run.finish()


def test_bad_definitions_name_what_is_wrong(settings: Settings) -> None:
    run = labbook.init(project="p", settings=settings)
    with pytest.raises(labbook.UsageError, match="summary must be"):
        run.define_metric("loss", summary="median")
    with pytest.raises(labbook.UsageError, match="goal"):
        run.define_metric("loss", summary="best")
    with pytest.raises(labbook.UsageError, match="goal must be"):
        run.define_metric("loss", goal="lowest")
    with pytest.raises(labbook.UsageError, match="metric name"):
        run.define_metric("a*b")
    run.finish()
    with pytest.raises(labbook.UsageError, match="init"):
        labbook.define_metric("loss", summary="min")
    disabled = labbook.init(mode="disabled")
    disabled.define_metric("loss", summary="min")  # a no-op, like everything in that mode
    disabled.finish()


def test_text_and_media_keep_their_last_value(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    run.define_metric("*", summary="min")
    run.log({"phase": "warmup", "loss": 2.0, "ok": True})
    run.log({"phase": "train", "loss": 1.0, "ok": False})
    run.finish()
    summary = api.run(run.path).summary
    assert summary["phase"] == "train" and summary["ok"] is False
    assert summary["loss"] == {"min": 1.0}
