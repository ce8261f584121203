"""Parameter importance: which config keys move a metric, from a project's runs. Pure numpy.

Two views, as W&B's panel shows them: the Pearson correlation of each numeric parameter with
the metric (direction, linear only), and the importance of each parameter in a small random
forest of regression trees fitted to predict the metric from all parameters together (any shape
of effect, and interactions). A tree's importance of a feature is the squared error its splits on
that feature remove (mean decrease in impurity), summed over the forest and scaled to sum to 1.

Categorical parameters (strings, or any mix of types) are coded by the mean metric of each
category, in order: for a regression tree a split on that ordering is the best split of the
categories into two groups (Breiman et al., 1984), so one ordinal feature loses nothing against
one-hot columns and keeps one importance per parameter. A missing value is a category of its
own; a missing number sorts below every present one. Everything is seeded: the same runs give the
same answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TREES = 32
MAX_DEPTH = 6
MIN_LEAF = 2
SAMPLE = 2000
"""Rows drawn (with replacement) for each tree: past a couple of thousand runs more rows change
the importances little and cost linearly."""
SEED = 0


@dataclass(frozen=True)
class ParamImportance:
    key: str
    kind: str  # "number" | "category"
    correlation: float | None
    importance: float


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float)  # bool is an int: a flag is a 0/1 number


def encode(values: Sequence[Any], y: np.ndarray) -> tuple[np.ndarray, str, np.ndarray | None]:
    """(the feature column, its kind, the numeric values with NaN where missing or None)."""
    present = [v for v in values if v is not None]
    if present and all(_is_number(v) for v in present):
        x = np.array([math.nan if v is None else float(v) for v in values], np.float64)
        x[~np.isfinite(x)] = math.nan
        finite = x[np.isfinite(x)]
        fill = float(finite.min()) - 1.0 if len(finite) else 0.0
        return np.where(np.isfinite(x), x, fill), "number", x
    labels = [_label(v) for v in values]
    cats = sorted(set(labels))
    index = {c: i for i, c in enumerate(cats)}
    codes = np.array([index[c] for c in labels], np.int64)
    sums = np.bincount(codes, weights=y, minlength=len(cats))
    counts = np.bincount(codes, minlength=len(cats))
    means = sums / np.maximum(counts, 1)
    rank = np.empty(len(cats), np.float64)
    rank[np.argsort(means, kind="stable")] = np.arange(len(cats), dtype=np.float64)
    return rank[codes], "category", None


def _label(v: Any) -> str:
    if v is None:
        return "\x00null"
    if isinstance(v, str):
        return "s:" + v
    return "j:" + json.dumps(v, sort_keys=True, default=str)


def pearson(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's r over the rows where ``x`` is finite; None with fewer than 3 such rows or
    when either side does not vary."""
    m = np.isfinite(x)
    if int(m.sum()) < 3:
        return None
    a = x[m] - x[m].mean()
    b = y[m] - y[m].mean()
    den = math.sqrt(float(a @ a) * float(b @ b))
    if den == 0.0 or not math.isfinite(den):
        return None
    return max(-1.0, min(1.0, float(a @ b) / den))


def _best_split(x: np.ndarray, y: np.ndarray, min_leaf: int) -> tuple[float, float]:
    """(squared error removed, threshold) of the best split of ``x``; gain 0 when none."""
    n = len(x)
    order = np.argsort(x, kind="stable")
    xs, ys = x[order], y[order]
    csum = np.cumsum(ys)[:-1]
    nl = np.arange(1, n, dtype=np.float64)
    nr = n - nl
    total = float(csum[-1] + ys[-1]) if n > 1 else 0.0
    gain = csum * csum / nl + (total - csum) ** 2 / nr - total * total / n
    ok = xs[1:] > xs[:-1]
    ok[: min_leaf - 1] = False
    if min_leaf > 1:
        ok[n - min_leaf :] = False
    if not ok.any():
        return 0.0, 0.0
    gain = np.where(ok, gain, -np.inf)
    i = int(np.argmax(gain))
    return max(0.0, float(gain[i])), float((xs[i] + xs[i + 1]) / 2)


def _tree_importance(
    x: np.ndarray, y: np.ndarray, rng: np.random.Generator, features: int
) -> np.ndarray:
    """Squared error removed per feature by one regression tree grown on (x, y)."""
    p = x.shape[1]
    gains = np.zeros(p)
    stack = [(np.arange(len(y)), 0)]
    while stack:
        idx, depth = stack.pop()
        if depth >= MAX_DEPTH or len(idx) < 2 * MIN_LEAF:
            continue
        yy = y[idx]
        yy = yy - yy.mean()  # centred: the gain formula then stays exact for large metric values
        if not np.any(yy):
            continue
        best = (0.0, -1, 0.0)
        for j in rng.choice(p, size=features, replace=False):
            gain, thr = _best_split(x[idx, j], yy, MIN_LEAF)
            if gain > best[0]:
                best = (gain, int(j), thr)
        gain, j, thr = best
        if j < 0:
            continue
        gains[j] += gain
        left = x[idx, j] <= thr
        stack.append((idx[left], depth + 1))
        stack.append((idx[~left], depth + 1))
    return gains


def rank_params(
    metric: Sequence[Any], params: Mapping[str, Sequence[Any]], *, seed: int = SEED
) -> tuple[int, list[ParamImportance]]:
    """(runs used, the parameters by importance, most important first).

    ``metric[i]`` and ``params[key][i]`` belong to run i; runs whose metric is not a finite
    number are left out.
    """
    y_all = np.array([float(v) if _is_number(v) else math.nan for v in metric], np.float64)
    keep = np.flatnonzero(np.isfinite(y_all))
    y = y_all[keep]
    n = len(y)
    keys = list(params)
    cols: list[np.ndarray] = []
    out_kind: list[str] = []
    corr: list[float | None] = []
    for key in keys:
        vals = params[key]
        col, kind, numeric = encode([vals[i] for i in keep.tolist()], y)
        cols.append(col)
        out_kind.append(kind)
        corr.append(None if numeric is None else pearson(numeric, y))
    gains = np.zeros(len(keys))
    if n >= 2 * MIN_LEAF and keys and float(np.ptp(y)) > 0:
        x = np.column_stack(cols)
        rng = np.random.default_rng(seed)
        features = max(1, math.ceil(len(keys) / 2)) if len(keys) > 3 else len(keys)
        size = min(n, SAMPLE)
        for _ in range(TREES):
            rows = rng.integers(0, n, size=size)
            gains += _tree_importance(x[rows], y[rows], rng, features)
    total = float(gains.sum())
    share = gains / total if total > 0 else gains
    found = [
        ParamImportance(key, out_kind[i], corr[i], float(share[i])) for i, key in enumerate(keys)
    ]
    found.sort(key=lambda r: (-r.importance, -abs(r.correlation or 0.0), r.key))
    return n, found
