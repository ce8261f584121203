"""``define_metric``: what a metric's summary holds, and which metric is its x-axis.

wandb scripts call ``run.define_metric("val/loss", summary="min")`` or
``define_metric("val/*", step_metric="epoch")``. By default a key's summary is its last logged
value; a definition replaces that by aggregates (``{"min": ..., "max": ...}``), or drops the key
from the summary (``"none"``). Definitions with a trailing ``*`` apply to every key with that
prefix; an exact name wins over a glob, a longer glob over a shorter one.

The aggregates are kept here, on the training thread, for the keys that have a definition only:
``log()`` of other keys pays one dict lookup. Each row that touches a defined key yields one
summary write, which the Store applies after the row, so the stored summary is the aggregate
and not the row's last value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from labbook.errors import UsageError

SUMMARY_KINDS = ("min", "max", "mean", "best", "last", "none")
GOALS = ("minimize", "maximize")


@dataclass
class MetricDef:
    name: str
    step_metric: str | None = None
    summary: tuple[str, ...] = ()
    goal: str | None = None
    hidden: bool = False

    def as_record(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.step_metric is not None:
            out["step_metric"] = self.step_metric
        if self.summary:
            out["summary"] = list(self.summary)
        if self.goal is not None:
            out["goal"] = self.goal
        if self.hidden:
            out["hidden"] = True
        return out


@dataclass
class _Agg:
    """Running aggregates of one key's numeric values (NaN is a value, as in history)."""

    count: int = 0
    total: float = 0.0
    ordered: int = 0  # values that are not NaN
    low: float = math.inf
    high: float = -math.inf

    def add(self, v: float) -> None:
        self.count += 1
        self.total += v
        if v == v:  # NaN takes no part in min and max, as in the Store's metric statistics
            self.ordered += 1
            self.low = min(self.low, v)
            self.high = max(self.high, v)

    @property
    def min(self) -> float:
        return self.low if self.ordered else math.nan

    @property
    def max(self) -> float:
        return self.high if self.ordered else math.nan


@dataclass
class MetricDefs:
    """The run's definitions and the aggregates they ask for."""

    defs: dict[str, MetricDef] = field(default_factory=dict)
    _for_key: dict[str, MetricDef | None] = field(default_factory=dict)
    _aggs: dict[str, _Agg] = field(default_factory=dict)

    def define(
        self,
        name: str,
        step_metric: str | None = None,
        summary: str | None = None,
        goal: str | None = None,
        hidden: bool | None = None,
        overwrite: bool | None = None,
    ) -> MetricDef:
        if not isinstance(name, str) or not name or "*" in name[:-1]:
            raise UsageError(
                f"define_metric needs a metric name (a trailing '*' matches a prefix): {name!r}"
            )
        if step_metric is not None and (not isinstance(step_metric, str) or not step_metric):
            raise UsageError(f"step_metric must be a metric name, not {step_metric!r}")
        kinds: tuple[str, ...] = ()
        if summary is not None:
            kinds = tuple(k.strip() for k in str(summary).split(",") if k.strip())
            bad = [k for k in kinds if k not in SUMMARY_KINDS]
            if bad or not kinds:
                raise UsageError(
                    f"summary must be a comma-separated list of {', '.join(SUMMARY_KINDS)}; "
                    f"got {summary!r}"
                )
        if goal is not None and goal not in GOALS:
            raise UsageError(f"goal must be 'minimize' or 'maximize', not {goal!r}")
        old = self.defs.get(name)
        if old is not None and not overwrite:
            # wandb semantics: defining a metric again adds to what was defined
            kinds = old.summary + tuple(k for k in kinds if k not in old.summary)
            step_metric = step_metric if step_metric is not None else old.step_metric
            goal = goal if goal is not None else old.goal
            hidden = hidden if hidden is not None else old.hidden
        if "best" in kinds and goal is None:
            raise UsageError(f"summary='best' for {name!r} needs goal='minimize' or 'maximize'")
        d = MetricDef(name, step_metric, kinds, goal, bool(hidden))
        self.defs[name] = d
        self._for_key.clear()  # which definition a key falls under may have changed
        return d

    def _lookup(self, key: str) -> MetricDef | None:
        try:
            return self._for_key[key]
        except KeyError:
            pass
        found = self.defs.get(key)
        if found is None:
            best = -1
            for name, d in self.defs.items():
                if name.endswith("*") and key.startswith(name[:-1]) and len(name) > best:
                    found, best = d, len(name)
        self._for_key[key] = found
        return found

    def observe(self, row: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """The summary writes (and removals) the definitions make of one logged row."""
        writes: dict[str, Any] = {}
        removed: list[str] = []
        for key, value in row.items():
            d = self._lookup(key)
            if d is None or not d.summary:
                continue
            if "none" in d.summary:
                removed.append(key)
                continue
            t = type(value)
            if t is bool or not (t is float or t is int):
                continue  # text and media keep the default: their last value
            agg = self._aggs.get(key)
            if agg is None:
                agg = self._aggs[key] = _Agg()
            agg.add(float(value) if t is int else value)
            writes[key] = self._summary_of(d, agg, value)
        return writes, removed

    @staticmethod
    def _summary_of(d: MetricDef, agg: _Agg, last: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind in d.summary:
            if kind == "min":
                out["min"] = agg.min
            elif kind == "max":
                out["max"] = agg.max
            elif kind == "mean":
                out["mean"] = agg.total / agg.count
            elif kind == "last":
                out["last"] = last
            elif kind == "best":
                out["best"] = agg.min if d.goal == "minimize" else agg.max
        return out
