"""Background sampling of the machine a run trains on, into ``system/*`` keys.

Samples go to the journal as ``sys`` records: history rows with their own step (the sample index),
kept out of the summary and out of ``history()`` unless ``stream="system"`` is asked for, so they
never disturb the script's own steps. GPUs are read through NVML when ``pynvml`` (nvidia-ml-py)
is installed and a driver answers; otherwise there are simply no ``system/gpu.*`` keys.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from labbook import records

MB = 1024.0 * 1024.0


class SystemMonitor:
    """Samples CPU, memory, disk, network (and GPUs) every ``interval`` seconds on a thread."""

    def __init__(
        self,
        put: Callable[[records.Record], None],
        *,
        interval: float,
        disk_path: Path,
        started: float,
    ) -> None:
        self._put = put
        self.interval = interval
        self._disk_path = str(disk_path)
        self._started = started
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._step = 0
        self._proc = psutil.Process()
        self._net0 = _net()
        self._disk0 = _disk_io()
        # Found on the sampler's thread: loading NVML (or learning there is none) takes ~20 ms,
        # which init need not wait for.
        self._nvml: Any = None
        # The first cpu_percent() call only sets a reference point.
        psutil.cpu_percent(None)
        with contextlib.suppress(psutil.Error):
            self._proc.cpu_percent(None)

    def start(self) -> SystemMonitor:
        self._thread = threading.Thread(target=self._loop, name="labbook-system", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Take one last sample (a short run still gets one) and stop the thread."""
        if self._thread is None or self._stop.is_set():
            return
        self._stop.set()
        self._thread.join(timeout=5)
        self._emit()

    def _loop(self) -> None:
        self._nvml = _nvml()
        while not self._stop.wait(self.interval):
            self._emit()

    def _emit(self) -> None:
        try:
            values = self.sample()
        except Exception:  # a probe failing must never reach the training script
            return
        ts = time.time()
        self._put(
            {
                "t": records.SYSTEM,
                "step": self._step,
                "ts": ts,
                "rt": ts - self._started,
                "d": values,
            }
        )
        self._step += 1

    def sample(self) -> dict[str, float]:
        """One reading; each probe that fails is left out."""
        out: dict[str, float] = {}
        with contextlib.suppress(Exception):
            out["system/cpu"] = float(psutil.cpu_percent(None))
        with contextlib.suppress(Exception):
            out["system/proc.cpu"] = float(self._proc.cpu_percent(None))
        with contextlib.suppress(Exception):
            vm = psutil.virtual_memory()
            out["system/memory"] = float(vm.percent)
            out["system/memory.available_mb"] = vm.available / MB
        with contextlib.suppress(Exception):
            out["system/proc.memory.rss_mb"] = self._proc.memory_info().rss / MB
        with contextlib.suppress(Exception):
            out["system/disk"] = float(psutil.disk_usage(self._disk_path).percent)
        io = _disk_io()
        if io is not None and self._disk0 is not None:
            out["system/disk.read_mb"] = (io[0] - self._disk0[0]) / MB
            out["system/disk.write_mb"] = (io[1] - self._disk0[1]) / MB
        net = _net()
        if net is not None and self._net0 is not None:
            out["system/network.sent_mb"] = (net[0] - self._net0[0]) / MB
            out["system/network.recv_mb"] = (net[1] - self._net0[1]) / MB
        if self._nvml is not None:
            out.update(_gpu_sample(self._nvml))
        return out


def _disk_io() -> tuple[int, int] | None:
    try:
        c = psutil.disk_io_counters()
    except Exception:
        return None
    return None if c is None else (c.read_bytes, c.write_bytes)


def _net() -> tuple[int, int] | None:
    try:
        c = psutil.net_io_counters()
    except Exception:
        return None
    return None if c is None else (c.bytes_sent, c.bytes_recv)


def _nvml() -> Any:
    """The NVML module when a GPU driver answers, else None (no CUDA needed to run labbook)."""
    try:
        import pynvml

        pynvml.nvmlInit()
        if pynvml.nvmlDeviceGetCount() == 0:
            return None
        return pynvml
    except Exception:
        return None


def _gpu_sample(nvml: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        count = nvml.nvmlDeviceGetCount()
    except Exception:
        return out
    for i in range(count):
        with contextlib.suppress(Exception):
            h = nvml.nvmlDeviceGetHandleByIndex(i)
            util = nvml.nvmlDeviceGetUtilizationRates(h)
            mem = nvml.nvmlDeviceGetMemoryInfo(h)
            out[f"system/gpu.{i}.gpu"] = float(util.gpu)
            out[f"system/gpu.{i}.memory_allocated"] = 100.0 * mem.used / max(mem.total, 1)
            out[f"system/gpu.{i}.memory_used_mb"] = mem.used / MB
        with contextlib.suppress(Exception):
            out[f"system/gpu.{i}.temp"] = float(
                nvml.nvmlDeviceGetTemperature(h, nvml.NVML_TEMPERATURE_GPU)
            )
        with contextlib.suppress(Exception):
            out[f"system/gpu.{i}.power_watts"] = nvml.nvmlDeviceGetPowerUsage(h) / 1000.0
    return out
