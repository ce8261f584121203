"""Random classification problems for comparing labbook.metrics with scikit-learn.

Every case comes from its own seeded ``numpy.random.Generator`` (``rng_for(tag, i)``), so a
failing case can be replayed by its index.  The generators deliberately produce awkward inputs:
n from 1 to 200, 2 to 10 classes, integer-rounded scores (many ties), sample weights (with some
exact zeros) in about half of the cases, string labels, and classes absent from the data.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from labbook.metrics import MetricError

N_CASES = 1000
CHUNKS = 4  # each random-comparison test is split in CHUNKS pytest items of N_CASES / CHUNKS

WORDS = np.array(
    ["ant", "bee", "cat", "dog", "eel", "fox", "gnu", "hen", "ibis", "jay", "kiwi", "lynx"]
)


def chunks() -> Any:
    """``pytest.mark.parametrize`` over the case-index ranges of one comparison test."""
    size = N_CASES // CHUNKS
    return pytest.mark.parametrize(
        "cases", [range(c * size, (c + 1) * size) for c in range(CHUNKS)], ids=str
    )


def rng_for(tag: str, i: int) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(tag.encode()), i])


def class_values(rng: np.random.Generator, k: int) -> NDArray[Any]:
    """``k`` distinct labels: 0..k-1, shifted/negative ints, or strings."""
    style = rng.integers(0, 4)
    if style == 0:
        return np.arange(k)
    if style == 1:
        return np.sort(rng.choice(np.arange(-20, 20), size=k, replace=False))
    if style == 2:
        return np.array([f"c{j}" for j in range(k)])
    return np.sort(rng.choice(WORDS, size=k, replace=False))


def draw(rng: np.random.Generator, values: NDArray[Any], n: int, absent: bool) -> NDArray[Any]:
    """``n`` labels drawn from ``values``; with ``absent`` some classes never occur."""
    k = values.shape[0]
    p = rng.dirichlet(np.ones(k))
    if absent and k > 2:
        p[rng.choice(k, size=rng.integers(1, k - 1), replace=False)] = 0
        p /= p.sum()
    return values[rng.choice(k, size=n, p=p)]


def noisy_copy(rng: np.random.Generator, y: NDArray[Any], values: NDArray[Any]) -> NDArray[Any]:
    """Predictions that are right with a random probability, else a random class."""
    out = y.copy()
    wrong = rng.random(y.shape[0]) > rng.random()
    out[wrong] = values[rng.integers(0, values.shape[0], wrong.sum())]
    return out


def weights(rng: np.random.Generator, n: int) -> NDArray[np.float64] | None:
    """No weights in about half the cases, else positive weights with some exact zeros."""
    if rng.random() < 0.5:
        return None
    w = np.round(rng.uniform(0, 3, n), rng.integers(1, 4))
    if rng.random() < 0.3:
        w[rng.random(n) < 0.15] = 0.0
    if not np.any(w):
        w[rng.integers(0, n)] = 1.0
    return w


def scores(rng: np.random.Generator, shape: tuple[int, ...]) -> NDArray[np.float64]:
    """Scores with many ties: small integers, or floats rounded to 1-2 decimals."""
    style = rng.integers(0, 3)
    if style == 0:
        return rng.integers(0, rng.integers(2, 8), shape).astype(np.float64)
    if style == 1:
        return np.round(rng.random(shape), rng.integers(1, 3))
    return rng.normal(size=shape)


def probabilities(rng: np.random.Generator, n: int, k: int) -> NDArray[np.float64]:
    """Rows summing to 1 built from small integer counts (ties, exact zeros and ones)."""
    counts = rng.integers(0, rng.integers(2, 6), (n, k)).astype(np.float64)
    counts[counts.sum(axis=1) == 0, rng.integers(0, k)] = 1.0
    return counts / counts.sum(axis=1, keepdims=True)


def size(rng: np.random.Generator) -> int:
    """n in 1..200, favouring small n (where edge cases live)."""
    return int(rng.integers(1, 201) if rng.random() < 0.6 else rng.integers(1, 21))


@contextmanager
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def assert_same(ours: Any, theirs: Any, msg: str) -> None:
    """Equal values (1e-12) and equal shapes; tuples compared item by item; None == None."""
    if isinstance(theirs, tuple):
        assert isinstance(ours, tuple) and len(ours) == len(theirs), msg
        for a, b in zip(ours, theirs, strict=True):
            assert_same(a, b, msg)
        return
    if theirs is None:
        assert ours is None, msg
        return
    a, b = np.asarray(ours), np.asarray(theirs)
    assert a.shape == b.shape, f"{msg}: shape {a.shape} != {b.shape}"
    np.testing.assert_allclose(
        a.astype(np.float64), b.astype(np.float64), rtol=0, atol=1e-12, err_msg=msg
    )


def compare(ours: Callable[[], Any], theirs: Callable[[], Any], msg: str) -> bool:
    """Run both; if scikit-learn refuses the input, labbook must raise MetricError too.

    Returns whether values were compared (False when both refused).
    """
    with quiet():
        try:
            expected = theirs()
        except ValueError as exc:
            with pytest.raises(MetricError):
                ours()
            assert str(exc)  # keep the reference message around for debugging
            return False
        got = ours()
    assert_same(got, expected, msg)
    return True
