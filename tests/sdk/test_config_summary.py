"""Config and summary: wandb's access patterns, the value-change guard, persistence."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

import labbook
from labbook import Api, Settings


def test_config_access_update_and_persistence(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", config={"lr": 0.1, "layers": [32, 64]}, settings=settings)
    assert run.config.lr == 0.1 and run.config["layers"] == [32, 64]
    run.config.batch_size = 32
    run.config["optimizer"] = "adam"
    run.config.update({"epochs": 3})
    run.config.update(argparse.Namespace(dropout=0.5))
    run.config.setdefaults({"epochs": 99, "seed": 1})
    assert run.config.epochs == 3 and run.config.seed == 1
    assert set(run.config.keys()) == {
        "lr",
        "layers",
        "batch_size",
        "optimizer",
        "epochs",
        "dropout",
        "seed",
    }
    assert labbook.config.optimizer == "adam"
    run.finish()
    stored = api.run(run.path).config
    assert stored == run.config.as_dict()
    assert yaml.safe_load((Path(run.dir) / "config.yaml").read_text()) == stored


def test_changing_a_value_needs_allow_val_change(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", config={"lr": 0.1}, settings=settings)
    run.config.lr = 0.1  # same value: fine
    with pytest.raises(labbook.ConfigValueChangeError, match="'lr'"):
        run.config.lr = 0.2
    with pytest.raises(labbook.ConfigValueChangeError):
        run.config.update({"lr": 0.3})
    assert run.config.lr == 0.1
    run.config.update({"lr": 0.2}, allow_val_change=True)
    run.finish()
    assert api.run(run.path).config["lr"] == 0.2


def test_module_config_assignment_updates_active_run(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    labbook.config = {"batch_size": 128, "optimizer": "sgd"}
    assert labbook.config.batch_size == 128
    assert run.config.optimizer == "sgd"
    run.finish()
    assert api.run(run.path).config == {"batch_size": 128, "optimizer": "sgd"}
    with pytest.raises(labbook.UsageError):
        labbook.config = {"x": 1}


def test_config_from_yaml_file(tmp_path: Path, settings: Settings, api: Api) -> None:
    f = tmp_path / "config-defaults.yaml"
    f.write_text("epochs:\n  desc: n epochs\n  value: 5\nlr: 0.01\n")
    run = labbook.init(project="p", config=str(f), settings=settings)
    assert run.config.epochs == 5 and run.config.lr == 0.01
    run.finish()
    assert api.run(run.path).config == {"epochs": 5, "lr": 0.01}
    with pytest.raises(labbook.UsageError, match="mapping"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("- 1\n- 2\n")
        labbook.init(project="p", config=str(bad), settings=settings)


def test_summary_defaults_to_last_value_and_is_writable(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", settings=settings)
    run.log({"loss": 1.0, "acc": 0.5})
    run.log({"loss": 0.5, "acc": 0.7})
    assert run.summary["loss"] == 0.5
    run.summary["best_acc"] = 0.7
    run.summary.update({"loss": 0.1234})
    labbook.summary["note"] = "x"
    run.finish()
    summary = api.run(run.path).summary
    assert summary["acc"] == 0.7
    assert summary["best_acc"] == 0.7
    assert summary["loss"] == 0.1234
    assert summary["note"] == "x"


def test_init_filters_config_keys_like_wandb(settings: Settings, api: Api) -> None:
    args = argparse.Namespace(lr=0.1, batch_size=32, data_dir="/secret/path", seed=1)
    run = labbook.init(
        project="p", config=args, config_exclude_keys=["data_dir"], settings=settings
    )
    run.finish()
    assert api.run(run.path).config == {"lr": 0.1, "batch_size": 32, "seed": 1}
    run = labbook.init(project="p", config=args, config_include_keys=["lr"], settings=settings)
    run.finish()
    assert api.run(run.path).config == {"lr": 0.1}
    with pytest.raises(labbook.UsageError, match="not both"):
        labbook.init(config=args, config_include_keys=["lr"], config_exclude_keys=["seed"])


def test_init_allow_val_change_lets_values_change(settings: Settings, api: Api) -> None:
    run = labbook.init(project="p", config={"lr": 0.1}, allow_val_change=True, settings=settings)
    run.config.lr = 0.05
    labbook.config.update({"lr": 0.01})
    run.finish()
    assert api.run(run.path).config["lr"] == 0.01
    strict = labbook.init(project="p", config={"lr": 0.1}, settings=settings)
    with pytest.raises(labbook.ConfigValueChangeError):
        strict.config.lr = 0.05
    strict.finish()
