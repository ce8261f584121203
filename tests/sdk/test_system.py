"""System metrics: sampled on a thread into their own stream, never into the script's rows."""

from __future__ import annotations

import time
from pathlib import Path

import labbook
from labbook import Api, Settings


def test_system_metrics_are_sampled_into_their_own_stream(tmp_path: Path) -> None:
    settings = Settings(dir=tmp_path / "data", system_interval=0.2, capture_requirements=False)
    run = labbook.init(project="p", settings=settings)
    for i in range(3):
        run.log({"loss": float(i)})
        time.sleep(0.3)
    run.finish()
    with Api(settings) as api:
        stored = api.run(run.path)
        default = stored.history()
        assert list(default.columns) == ["_step", "loss", "_timestamp", "_runtime"]
        assert list(default["_step"]) == [0, 1, 2]
        system = stored.history(stream="system")
        assert len(system) >= 3  # ~4 samples in 0.9 s, plus the last one at finish
        assert list(system["_step"]) == list(range(len(system)))
        for key in ("system/cpu", "system/memory", "system/proc.memory.rss_mb", "system/disk"):
            assert key in system.columns, key
        assert ((system["system/memory"] > 0) & (system["system/memory"] <= 100)).all()
        assert (system["system/proc.memory.rss_mb"] > 1).all()
        assert not any(k.startswith("system/") for k in stored.summary)


def test_system_metrics_can_be_turned_off(tmp_path: Path) -> None:
    settings = Settings(dir=tmp_path / "data", system_metrics=False, system_interval=0.05)
    run = labbook.init(project="p", settings=settings)
    run.log({"loss": 1.0})
    time.sleep(0.2)
    run.finish()
    with Api(settings) as api:
        keys = {k.key for k in api.run(run.path).metric_keys()}
    assert keys == {"loss"}
