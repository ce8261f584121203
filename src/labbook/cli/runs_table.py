"""The compact runs table of ``labbook runs`` and ``labbook demo``: one line per run.

Which columns, by default: the run's id, name, state and runtime; the config keys whose values
differ between the listed runs (a key every run shares says nothing about the comparison); and
the main metrics: numeric summary values, loss- and accuracy-like names first, validation before
test before training, never ``_*`` bookkeeping, ``system/*`` samples, counters such as ``epoch``
or media. Columns are added in priority order (the top metric, the varied config, the other
metrics) until the terminal width is used; what did not fit is named under the table, with
``--columns`` to choose and ``labbook run show`` for one run's every key.

Plain aligned text rather than a rich table: 1,000 rows render in milliseconds, and the output
pipes into other tools unchanged.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from labbook.api import ApiRun, flatten
from labbook.cli._format import duration, fmt
from labbook.errors import UsageError

GAP = "  "
MAX_CELL = 24
"""Widest a cell gets (values and headers beyond it are shortened with an ellipsis)."""
FIXED = ("id", "name", "state", "runtime")
ATTRIBUTES = ("id", "name", "state", "runtime", "created", "tags", "group", "job_type", "notes")
COUNTERS = frozenset(
    {"epoch", "step", "global_step", "batch", "iteration", "iter", "trainer/global_step"}
)
_HEADLINE = re.compile(r"(^|[/_.\-])(acc|accuracy|loss)($|[/_.\-])", re.IGNORECASE)
_METRIC = re.compile(
    r"(^|[/_.\-])(f1|auc|roc_auc|precision|recall|error|err|mae|mse|rmse|r2|score|perplexity|ppl|"
    r"iou|dice|bleu|rouge|top1|top5|map|ndcg|reward|return)($|[/_.\-])",
    re.IGNORECASE,
)
_HELD_OUT = re.compile(r"(^|[/_.\-])(val|valid|validation|test|eval|dev)($|[/_.\-])", re.IGNORECASE)


@dataclass
class Column:
    field: str  # what --columns names: "state", "config.lr", "summary.val_loss"
    header: str
    cells: list[str]
    right: bool = False  # numbers align right

    @property
    def width(self) -> int:
        return (
            max(len(self.header), *(len(c) for c in self.cells)) if self.cells else len(self.header)
        )


def _short(text: str, width: int = MAX_CELL) -> str:
    text = " ".join(text.split())  # no newlines or tabs inside a cell
    return text if len(text) <= width else text[: width - 1] + "…"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def varied_config(flat: Sequence[dict[str, Any]]) -> list[str]:
    """Config keys (flattened) whose values are not the same in every run, in first-seen order."""
    keys: dict[str, None] = {}
    for cfg in flat:
        for k in cfg:
            if not k.startswith("_"):
                keys[k] = None
    missing = object()
    out = []
    for k in keys:
        values = [repr(c.get(k, missing)) for c in flat]
        if len(set(values)) > 1:
            out.append(k)
    return out


def main_metrics(summaries: Sequence[dict[str, Any]]) -> list[str]:
    """Numeric summary keys, most telling first (see the module docstring)."""
    keys: dict[str, None] = {}
    seen: set[str] = set()
    for summ in summaries:
        for k, v in summ.items():
            if k in keys or not _number(v):
                continue
            if k not in seen:
                seen.add(k)
                if k.startswith(("_", "system/")) or k.lower() in COUNTERS:
                    continue
            elif k.startswith(("_", "system/")) or k.lower() in COUNTERS:
                continue
            keys[k] = None

    def rank(k: str) -> tuple[int, int, str]:
        tier = 0 if _HEADLINE.search(k) else 1 if _METRIC.search(k) else 2
        held = _HELD_OUT.search(k)
        split = 2 if held is None else 0 if held[2].lower().startswith("val") else 1
        return tier, split, k

    return sorted(keys, key=rank)


def _attribute(run: ApiRun, name: str) -> str:
    if name == "runtime":
        return duration(run.runtime)
    if name == "created":
        return run.created_at.strftime("%Y-%m-%d %H:%M") if run.created_at else ""
    if name == "tags":
        return ",".join(run.tags)
    value = getattr(run, name)
    return "" if value is None else str(value)


def _attribute_column(runs: Sequence[ApiRun], name: str) -> Column:
    width = 28 if name in ("name", "notes") else MAX_CELL
    return Column(
        name,
        name,
        [_short(_attribute(r, name), width) for r in runs],
        right=name == "runtime",
    )


def _value_column(field: str, header: str, values: list[Any]) -> Column:
    return Column(
        field,
        _short(header),
        [_short(fmt(v)) for v in values],
        right=all(_number(v) or v is None for v in values),
    )


@dataclass
class Layout:
    columns: list[Column]
    hidden_config: list[str]
    hidden_metrics: list[str]


def choose(runs: Sequence[ApiRun], width: int) -> Layout:
    """The default columns for ``runs`` within ``width`` characters.

    Columns are taken in priority order (two main metrics, the varied config, the other metrics)
    until the next one does not fit; only those are formatted, so a thousand runs with a hundred
    summary keys each cost little more than the columns shown.
    """
    configs = [flatten(r.config) for r in runs]
    summaries = [r.summary for r in runs]
    fixed = [_attribute_column(runs, a) for a in FIXED]
    config_keys = varied_config(configs)
    metric_keys = main_metrics(summaries)
    both = set(config_keys) & set(metric_keys)

    def column(kind: str, key: str) -> Column:
        source = configs if kind == "config" else summaries
        header = f"{kind}.{key}" if key in both else key
        return _value_column(f"{kind}.{key}", header, [d.get(key) for d in source])

    order = (
        [("summary", k) for k in metric_keys[:1]]
        + [("config", k) for k in config_keys]
        + [("summary", k) for k in metric_keys[1:]]
    )
    used = sum(c.width for c in fixed) + len(GAP) * (len(fixed) - 1)
    shown: dict[str, Column] = {}
    for kind, key in order:
        col = column(kind, key)
        if used + len(GAP) + col.width > width:
            if kind == "config":
                continue  # a narrower config key may still fit: they are what the runs differ by
            break
        shown[col.field] = col
        used += len(GAP) + col.width
    return Layout(
        fixed
        + [shown[f"config.{k}"] for k in config_keys if f"config.{k}" in shown]
        + [shown[f"summary.{k}"] for k in metric_keys if f"summary.{k}" in shown],
        [f"config.{k}" for k in config_keys if f"config.{k}" not in shown],
        [f"summary.{k}" for k in metric_keys if f"summary.{k}" not in shown],
    )


def named(runs: Sequence[ApiRun], fields: Sequence[str], where: str) -> list[Column]:
    """The columns ``--columns`` names (attributes, ``config.KEY``, ``summary.KEY``)."""
    configs = [flatten(r.config) for r in runs]
    summaries = [r.summary for r in runs]
    cols = []
    for field in fields:
        if field in ATTRIBUTES:
            cols.append(_attribute_column(runs, field))
            continue
        root, _, key = field.partition(".")
        source: list[dict[str, Any]] | None = (
            configs
            if root == "config"
            else summaries
            if root in ("summary", "summary_metrics")
            else None
        )
        if source is None or not key:
            raise UsageError(
                f"unknown column {field!r}: use {', '.join(ATTRIBUTES)}, config.KEY or summary.KEY"
            )
        if runs and not any(key in d for d in source):
            import difflib

            existing = sorted({k for d in source for k in d})
            close = difflib.get_close_matches(key, existing, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(f'{root}.{c}' for c in close)}?" if close else ""
            shown = ", ".join(existing[:12]) + (", ..." if len(existing) > 12 else "")
            raise UsageError(
                f"no run listed in {where} has {field}{hint} ({root} keys: {shown or 'none'})"
            )
        cols.append(_value_column(field, key, [d.get(key) for d in source]))
    return cols


def render(columns: Sequence[Column], out: Callable[[str], Any]) -> None:
    """Write the header, a rule and one line per run through ``out``."""
    widths = [c.width for c in columns]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(w) if col.right else cell.ljust(w)
            for col, cell, w in zip(columns, cells, widths, strict=True)
        ]
        return GAP.join(parts).rstrip()

    out(line([c.header for c in columns]))
    out(GAP.join("-" * w for w in widths))
    for i in range(len(columns[0].cells) if columns else 0):
        out(line([c.cells[i] for c in columns]))
