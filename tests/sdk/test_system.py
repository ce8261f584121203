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


def test_sampling_defaults_and_network_counters(tmp_path: Path) -> None:
    from labbook.sdk.system import SystemMonitor

    assert Settings().system_interval == 10.0 and Settings().system_metrics is True
    monitor = SystemMonitor(lambda rec: None, interval=10.0, disk_path=tmp_path, started=0.0)
    values = monitor.sample()
    for key in ("system/network.sent_mb", "system/network.recv_mb", "system/disk.read_mb"):
        assert key in values and values[key] >= 0, key


class _FakeNvml:
    """NVML's calls as pynvml names them, for two GPUs: the real library needs a GPU driver,
    which this machine has not (the device machine checks the real one)."""

    NVML_TEMPERATURE_GPU = 0

    class _Util:
        def __init__(self, gpu: int) -> None:
            self.gpu = gpu

    class _Mem:
        def __init__(self, used: int, total: int) -> None:
            self.used, self.total = used, total

    def nvmlDeviceGetCount(self) -> int:  # NVML's own names
        return 2

    def nvmlDeviceGetHandleByIndex(self, i: int) -> int:
        return i

    def nvmlDeviceGetUtilizationRates(self, h: int) -> object:
        return self._Util(40 + h)

    def nvmlDeviceGetMemoryInfo(self, h: int) -> object:
        return self._Mem(used=(h + 1) * 1024**3, total=8 * 1024**3)

    def nvmlDeviceGetTemperature(self, h: int, sensor: int) -> int:
        if h == 1:
            raise RuntimeError("no sensor")  # one probe failing leaves the others
        return 61


def test_gpu_readings_per_device() -> None:
    from labbook.sdk.system import _gpu_sample, _nvml

    assert _gpu_sample(_FakeNvml()) == {
        "system/gpu.0.gpu": 40.0,
        "system/gpu.0.memory_allocated": 12.5,
        "system/gpu.0.memory_used_mb": 1024.0,
        "system/gpu.0.temp": 61.0,
        "system/gpu.1.gpu": 41.0,
        "system/gpu.1.memory_allocated": 25.0,
        "system/gpu.1.memory_used_mb": 2048.0,
    }
    import pynvml  # a dependency: present everywhere, answering only where a driver is

    try:
        pynvml.nvmlInit()
        has_gpu = pynvml.nvmlDeviceGetCount() > 0
    except pynvml.NVMLError:
        has_gpu = False
    assert (_nvml() is not None) == has_gpu
