"""``labbook.watch(model)``: histograms of a PyTorch model's gradients and weights.

Gradient hooks only bin the gradient (``torch.histc`` on the tensor's own device, so nothing big
is copied to the CPU) and keep the result; the histograms are logged from a forward pre-hook on
the watched module, i.e. on the training thread at the start of the next forward pass. Autograd
may run hooks on its own threads (CUDA), and ``log()`` must only be called from the training
thread. Histograms merge into the row the script is building (``commit=False``).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np

from labbook.data.media import Histogram
from labbook.errors import UsageError
from labbook.sdk.session import active_run

BINS = 64
_MODES = {"gradients": (True, False), "parameters": (False, True), "all": (True, True)}


def _hist(tensor: Any, bins: int = BINS) -> tuple[np.ndarray, np.ndarray] | None:
    t = tensor.detach()
    if t.numel() == 0:
        return None
    t = t.float()
    finite = t[t.isfinite()]
    if finite.numel() == 0:
        return None
    lo, hi = float(finite.min()), float(finite.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts = finite.histc(bins=bins, min=lo, max=hi).cpu().numpy().astype(np.int64)
    return counts, np.linspace(lo, hi, bins + 1)


class Watcher:
    """The hooks of one watched module; ``labbook.unwatch`` removes them."""

    def __init__(self, model: Any, log: str, log_freq: int, prefix: str) -> None:
        self.model_ref = weakref.ref(model)
        self.grads, self.params = _MODES[log]
        self.log_freq = log_freq
        self.prefix = prefix
        self._pending: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()
        self._backward_calls: dict[str, int] = {}
        self._forward_calls = 0
        self._handles: list[Any] = []
        if self.grads:
            for name, p in model.named_parameters():
                if p.requires_grad:
                    self._handles.append(p.register_hook(self._grad_hook(name)))
        self._handles.append(model.register_forward_pre_hook(self._flush))

    def _grad_hook(self, name: str) -> Any:
        def hook(grad: Any) -> None:
            n = self._backward_calls.get(name, 0) + 1
            self._backward_calls[name] = n
            if n % self.log_freq == 0:
                h = _hist(grad)
                if h is not None:
                    with self._lock:
                        self._pending[f"{self.prefix}gradients/{name}"] = h
            return None

        return hook

    def _flush(self, module: Any, _inputs: Any) -> None:
        self._forward_calls += 1
        if self.params and self._forward_calls % self.log_freq == 0:
            for name, p in module.named_parameters():
                h = _hist(p)
                if h is not None:
                    with self._lock:
                        self._pending[f"{self.prefix}parameters/{name}"] = h
        with self._lock:
            pending, self._pending = self._pending, {}
        run = active_run()
        if not pending or run is None:
            return
        try:
            run.log({k: Histogram(np_histogram=v) for k, v in pending.items()}, commit=False)
        except Exception:  # a finished run or a bad tensor must not stop training
            return

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()


_WATCHERS: dict[int, Watcher] = {}


def watch(
    models: Any,
    criterion: Any = None,
    log: str | None = "gradients",
    log_freq: int = 100,
    idx: int | None = None,
    log_graph: bool = False,
) -> list[Watcher]:
    """Log histograms of gradients (``log="gradients"``), weights (``"parameters"``) or both
    (``"all"``) every ``log_freq`` steps. wandb's signature; ``criterion``/``log_graph`` are
    accepted and ignored."""
    if log is None:
        return []
    if log not in _MODES:
        raise UsageError(f"log must be 'gradients', 'parameters' or 'all', not {log!r}")
    if not isinstance(log_freq, int) or log_freq < 1:
        raise UsageError(f"log_freq must be a positive integer, not {log_freq!r}")
    if active_run() is None:
        raise UsageError("labbook.watch needs an active run: call labbook.init() first")
    many = isinstance(models, list | tuple)
    out = []
    for i, model in enumerate(models if many else [models]):
        if not hasattr(model, "named_parameters") or not hasattr(
            model, "register_forward_pre_hook"
        ):
            raise UsageError(
                f"labbook.watch expects torch.nn.Module objects, got {type(model).__name__}"
            )
        unwatch(model)
        prefix = f"graph_{i if idx is None else idx}/" if many else ""
        w = Watcher(model, log, log_freq, prefix)
        _WATCHERS[id(model)] = w
        out.append(w)
    return out


def unwatch(models: Any = None) -> None:
    """Remove the hooks of ``models`` (all watched models when None)."""
    targets = (
        list(_WATCHERS)
        if models is None
        else [id(m) for m in (models if isinstance(models, list | tuple) else [models])]
    )
    for key in targets:
        w = _WATCHERS.pop(key, None)
        if w is not None:
            w.remove()
