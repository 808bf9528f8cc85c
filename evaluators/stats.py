"""Uncertainty of measurements: intervals for accuracy, means and latency, and paired tests.

Pure Python and numpy (no scipy), so that every evaluator and report can use them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = [
    "PairedResult",
    "PairedScores",
    "bootstrap_mean_ci",
    "bootstrap_quantile_ci",
    "paired_bootstrap",
    "paired_test",
    "wilson_interval",
]

_CHUNK = 1000  # resamples drawn per step, so that memory stays at _CHUNK x n values


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``successes / n`` (Wilson 1927; Newcombe 1998).

    Unlike the normal approximation it stays inside [0, 1] and is sensible at 0/n and n/n.
    """
    if n < 1:
        raise ValueError(f"wilson_interval needs n >= 1, got n={n}")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n={n}], got {successes}")
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, center - half), min(1.0, center + half)


def bootstrap_quantile_ci(
    values: Sequence[float], q: float, confidence: float = 0.95, n_boot: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the ``q``-th percentile (0-100) of ``values``.

    Resamples ``values`` with replacement ``n_boot`` times (seeded, so repeatable), takes
    each resample's ``q``-th percentile (numpy's linear interpolation, like the point
    estimate), and returns the ``(1 - confidence) / 2`` and ``(1 + confidence) / 2``
    percentiles of those.
    """
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    if data.size == 0:
        raise ValueError("bootstrap_quantile_ci needs at least one value")
    if not np.all(np.isfinite(data)):
        raise ValueError("bootstrap_quantile_ci needs finite values")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q is a percentile in [0, 100], got {q}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    _z(confidence)
    rng = np.random.default_rng(seed)
    samples = data[rng.integers(0, data.size, size=(n_boot, data.size))]
    stats = np.percentile(samples, q, axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.percentile(stats, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedResult:
    """Exact McNemar test of two classifiers on the same examples.

    ``b``: examples A got right and B got wrong; ``c``: A wrong and B right; ``n = b + c``
    (the discordant pairs; concordant ones carry no information). ``p_worse``: one-sided
    p-value for "B is worse than A", P(X >= b) for X ~ Binomial(n, 1/2). ``p_two_sided``:
    twice the smaller tail, capped at 1. Both are 1.0 when n == 0.
    """

    b: int
    c: int
    n: int
    p_worse: float
    p_two_sided: float


def _upper_tail(k: int, n: int) -> Fraction:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly."""
    return Fraction(sum(math.comb(n, i) for i in range(max(k, 0), n + 1)), 2**n)


def paired_test(a_correct: Sequence[int | bool], b_correct: Sequence[int | bool]) -> PairedResult:
    """Exact McNemar test from per-example correctness (0/1 or bool) of A and B, same order."""
    if len(a_correct) != len(b_correct):
        raise ValueError(
            f"paired_test needs the same examples for both: got {len(a_correct)} and {len(b_correct)} results"
        )
    for name, seq in (("a_correct", a_correct), ("b_correct", b_correct)):
        bad = [v for v in seq if v not in (0, 1)]
        if bad:
            raise ValueError(f"{name} must hold 0/1 or bool per example, got {bad[0]!r}")
    b = sum(1 for x, y in zip(a_correct, b_correct, strict=True) if x and not y)
    c = sum(1 for x, y in zip(a_correct, b_correct, strict=True) if y and not x)
    n = b + c
    if n == 0:
        return PairedResult(b, c, n, 1.0, 1.0)
    upper = _upper_tail(b, n)  # P(X >= b)
    lower = 1 - _upper_tail(b + 1, n)  # P(X <= b)
    return PairedResult(b, c, n, float(upper), float(min(Fraction(1), 2 * min(upper, lower))))


def _finite(values: Sequence[float], what: str) -> npt.NDArray[np.float64]:
    data = np.asarray(values, dtype=np.float64).reshape(-1)
    if data.size == 0:
        raise ValueError(f"{what} needs at least one value")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{what} needs finite values")
    return data


def _resampled_means(data: npt.NDArray[np.float64], resamples: int, seed: int) -> npt.NDArray[np.float64]:
    """Means of ``resamples`` resamples of ``data`` with replacement (seeded: repeatable)."""
    if resamples < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")
    rng = np.random.default_rng(seed)
    means = [
        data[rng.integers(0, data.size, size=(min(_CHUNK, resamples - done), data.size))].mean(axis=1)
        for done in range(0, resamples, _CHUNK)
    ]
    return np.concatenate(means)


def bootstrap_mean_ci(
    values: Sequence[float], *, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile-bootstrap interval of the mean of ``values`` (Efron & Tibshirani 1993, 13.3).

    The ``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles of the means of ``resamples``
    resamples with replacement; the same ``seed`` gives the same interval.
    """
    _z(level)
    means = _resampled_means(_finite(values, "bootstrap_mean_ci"), resamples, seed)
    alpha = (1.0 - level) / 2
    low, high = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedScores:
    """Paired bootstrap of per-example scores of A and B on the same examples (Koehn 2004).

    ``p_worse``: one-sided p-value for "B is worse than A", ``(1 + k) / (1 + resamples)`` where
    k counts the resamples of examples in which B's mean is at least A's. Small when B loses on
    nearly every resample; 1.0 when B never loses (identical scores included).
    """

    n: int
    mean_a: float
    mean_b: float
    p_worse: float


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], *, resamples: int = 10000, seed: int = 0
) -> PairedScores:
    """Paired bootstrap test of per-example scores ``a`` and ``b`` (same examples, same order)."""
    if len(a) != len(b):
        raise ValueError(
            f"paired_bootstrap needs the same examples for both: got {len(a)} and {len(b)} scores"
        )
    xa, xb = _finite(a, "paired_bootstrap"), _finite(b, "paired_bootstrap")
    diffs = _resampled_means(xb - xa, resamples, seed)
    # a tolerance, so that a zero difference summed in another order does not count as a loss
    at_least = int(np.count_nonzero(diffs >= -1e-12 * max(1.0, float(np.max(np.abs(xb - xa))))))
    return PairedScores(xa.size, float(xa.mean()), float(xb.mean()), (1 + at_least) / (1 + resamples))
