"""Intervals and the paired test, against published values and sums done by hand."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from evaluators import (
    PairedResult,
    PairedScores,
    bootstrap_mean_ci,
    bootstrap_quantile_ci,
    paired_bootstrap,
    paired_test,
    wilson_interval,
)


@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        (29, 29, 0.8830, 1.0),
    ],
)
def test_wilson_matches_published_intervals(successes: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(successes, n)
    assert got == pytest.approx((low, high), abs=5e-5)


def test_wilson_by_the_formula_and_its_properties() -> None:
    z = 1.959963984540054
    p, n = 0.8, 10
    center = (p + z * z / 20) / (1 + z * z / 10)
    half = z / (1 + z * z / 10) * math.sqrt(p * (1 - p) / n + z * z / 400)
    assert wilson_interval(8, 10) == pytest.approx((center - half, center + half), rel=1e-12)
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=5e-5)
    narrow, wide = wilson_interval(8, 10, 0.90), wilson_interval(8, 10, 0.99)
    assert wide[0] < narrow[0] < 0.8 < narrow[1] < wide[1]
    assert wilson_interval(80, 100)[1] - wilson_interval(80, 100)[0] < wide[1] - wide[0]


def test_wilson_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="n >= 1"):
        wilson_interval(0, 0)
    with pytest.raises(ValueError, match=r"successes must be in \[0, n=3\]"):
        wilson_interval(4, 3)
    with pytest.raises(ValueError, match="confidence must be in"):
        wilson_interval(1, 3, confidence=1.0)


def _reference_bootstrap(values: list[float], q: float, n_boot: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    data = np.asarray(values)
    stats = [np.percentile(data[rng.integers(0, len(data), len(data))], q) for _ in range(n_boot)]
    return float(np.percentile(stats, 2.5)), float(np.percentile(stats, 97.5))


def test_bootstrap_quantile_ci_is_the_percentile_bootstrap() -> None:
    rng = np.random.default_rng(1)
    values = list(rng.lognormal(3.0, 0.3, size=40))
    for q in (50, 90):
        low, high = bootstrap_quantile_ci(values, q, n_boot=500, seed=3)
        assert low <= float(np.percentile(values, q)) <= high
        assert min(values) <= low < high <= max(values)
        # Same draws in a different order of computation give the same interval.
        assert (low, high) == pytest.approx(_reference_bootstrap(values, q, 500, 3))
    assert bootstrap_quantile_ci(values, 50) == bootstrap_quantile_ci(values, 50)  # seeded
    assert bootstrap_quantile_ci([4.0] * 7, 90) == (4.0, 4.0)
    wide = bootstrap_quantile_ci(values[:10], 50)
    narrow = bootstrap_quantile_ci(values * 10, 50)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]


def test_bootstrap_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_quantile_ci([], 50)
    with pytest.raises(ValueError, match=r"q is a percentile in \[0, 100\]"):
        bootstrap_quantile_ci([1.0], 900)
    with pytest.raises(ValueError, match="finite"):
        bootstrap_quantile_ci([1.0, math.nan], 50)


def _tail_ge(k: int, n: int) -> Fraction:
    return Fraction(sum(math.comb(n, i) for i in range(k, n + 1)), 2**n)


def test_paired_test_counts_discordant_pairs_and_exact_tails() -> None:
    a = [1, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0]
    b = [1, 0, 0, 0, 1, 0, 1, 1, 0, 0, 1, 0]
    result = paired_test(a, b)
    assert (result.b, result.c, result.n) == (4, 1, 5)  # A right & B wrong: 4; A wrong & B right: 1
    # P(X >= 4 | 5, 1/2) = (C(5,4) + C(5,5)) / 32 = 6/32
    assert result.p_worse == 6 / 32 == float(_tail_ge(4, 5))
    assert result.p_two_sided == 12 / 32
    swapped = paired_test(b, a)
    assert (swapped.b, swapped.c) == (1, 4)
    assert swapped.p_worse == float(_tail_ge(1, 5)) == 31 / 32  # B is better: no evidence it is worse
    assert swapped.p_two_sided == result.p_two_sided


def test_paired_test_matches_a_published_binomial_test() -> None:
    # R: binom.test(9, 10) gives p-value = 0.02148; one-sided (greater) 0.01074.
    result = paired_test([1] * 9 + [0], [0] * 9 + [1])
    assert result == PairedResult(9, 1, 10, 11 / 1024, 22 / 1024)
    assert round(result.p_two_sided, 5) == 0.02148 and round(result.p_worse, 5) == 0.01074
    big = paired_test([1] * 60 + [0] * 40, [0] * 60 + [1] * 40)  # n = 100, still exact
    assert big.p_worse == pytest.approx(float(_tail_ge(60, 100)), rel=1e-12)
    assert big.p_worse == pytest.approx(0.028444, abs=1e-6)


def test_paired_test_edge_cases() -> None:
    assert paired_test([1, 0, 1], [True, False, True]) == PairedResult(0, 0, 0, 1.0, 1.0)
    assert paired_test([], []) == PairedResult(0, 0, 0, 1.0, 1.0)
    even = paired_test([1, 0], [0, 1])
    assert (even.p_worse, even.p_two_sided) == (0.75, 1.0)
    with pytest.raises(ValueError, match="same examples for both: got 3 and 2 results"):
        paired_test([1, 0, 1], [1, 0])
    with pytest.raises(ValueError, match="a_correct must hold 0/1"):
        paired_test([2], [1])


def test_bootstrap_mean_ci_is_the_percentile_bootstrap_of_the_mean() -> None:
    values = [0.0, 0.21, 1.0, 0.55, 0.74, 0.93, 0.02, 0.48]
    low, high = bootstrap_mean_ci(values, resamples=3000, seed=4)
    rng = np.random.default_rng(4)
    means = np.asarray(values)[rng.integers(0, 8, size=(3000, 8))].mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])), rel=1e-12)
    assert low < float(np.mean(values)) < high
    assert bootstrap_mean_ci(values) == bootstrap_mean_ci(values)  # seeded
    assert bootstrap_mean_ci(values, seed=1) != bootstrap_mean_ci(values, seed=2)
    assert bootstrap_mean_ci([0.4] * 5) == (0.4, 0.4)
    half = bootstrap_mean_ci(values, level=0.5)
    assert low < half[0] < half[1] < high
    more = bootstrap_mean_ci(values * 10)
    assert more[1] - more[0] < high - low


def test_bootstrap_mean_ci_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        bootstrap_mean_ci([])
    with pytest.raises(ValueError, match="finite"):
        bootstrap_mean_ci([1.0, math.inf])
    with pytest.raises(ValueError, match="confidence must be in"):
        bootstrap_mean_ci([1.0], level=1.5)
    with pytest.raises(ValueError, match="resamples must be >= 1"):
        bootstrap_mean_ci([1.0], resamples=0)


def test_paired_bootstrap_counts_the_resamples_where_b_is_not_worse() -> None:
    # b - a is +1 or -2: a resample of the two examples has mean >= 0 only when it draws +1 twice.
    a, b = [0.0, 0.0], [1.0, -2.0]
    result = paired_bootstrap(a, b, resamples=4000, seed=7)
    draws = np.random.default_rng(7).integers(0, 2, size=(4000, 2))
    not_worse = int(np.sum(np.array([1.0, -2.0])[draws].mean(axis=1) >= 0))
    assert result == PairedScores(2, 0.0, -0.5, (1 + not_worse) / 4001)
    assert result.p_worse == pytest.approx(0.25, abs=0.02)


def test_paired_bootstrap_finds_a_real_difference_and_not_a_zero_one() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.3, 0.9, size=60)
    a = x.tolist()
    same = paired_bootstrap(a, a)
    assert (same.n, same.p_worse) == (60, 1.0)  # identical scores: no sign that b is worse
    worse = paired_bootstrap(a, (x - 0.1).tolist(), resamples=999)
    assert worse.p_worse == 1 / 1000 and worse.mean_b == pytest.approx(worse.mean_a - 0.1)
    assert paired_bootstrap(a, (x + 0.1).tolist()).p_worse == 1.0
    noisy = x + rng.normal(0.0, 0.1, size=60)
    shifted = paired_bootstrap(a, (noisy - 0.08).tolist())  # b loses 0.08 on average, noise 0.1
    assert shifted.p_worse < 0.01
    swaps = np.where(np.arange(60) % 2 == 0, 0.1, -0.1)  # wins and losses that cancel exactly
    zero = paired_bootstrap(a, (x + swaps).tolist())
    assert zero.mean_b == pytest.approx(zero.mean_a) and 0.3 < zero.p_worse < 0.7


def test_paired_bootstrap_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="same examples for both: got 2 and 1 scores"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least one value"):
        paired_bootstrap([], [])
