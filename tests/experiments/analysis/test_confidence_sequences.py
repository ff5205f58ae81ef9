"""Always-valid intervals: the sequence and its p-value agree, and peeking at every look keeps
the error rate at alpha where the fixed interval does not (Monte Carlo, binomial tolerance)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from experiments.analysis.comparisons import welch_ttest
from experiments.analysis.confidence_sequences import (
    always_valid,
    always_valid_p,
    halfwidth,
    mixing_rho,
)
from experiments.analysis.statistics import SampleMeanStatistic

Z = 4.0


def test_rho_and_halfwidth_follow_the_closed_form() -> None:
    """rho^2 N = -2 ln a + ln(1 - 2 ln a); at n = N the half-width is wider than the fixed
    interval's 1.96 se (the price of peeking) by a factor that depends on alpha only."""
    alpha, planned = 0.05, 10_000
    assert mixing_rho(alpha, planned) ** 2 * planned == pytest.approx(
        -2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha)))
    ratio = halfwidth(1.0, planned, planned, alpha) / 1.959963984540054
    assert ratio == pytest.approx(halfwidth(0.1, planned * 3, planned * 3, alpha) / 0.1
                                  / 1.959963984540054)
    assert 1.2 < ratio < 1.6


def test_the_p_value_is_alpha_where_the_interval_touches_zero() -> None:
    rng = np.random.default_rng(0)
    c, t = rng.normal(0, 1, 2000), rng.normal(0.1, 1, 2000)
    test = welch_ttest(SampleMeanStatistic.from_values(c), SampleMeanStatistic.from_values(t))
    for alpha in (0.05, 0.01):
        half = halfwidth(test.se, 4000, 4000, alpha)
        scaled = welch_ttest(SampleMeanStatistic.from_values(c),
                             SampleMeanStatistic.from_values(t + half - test.absolute_effect))
        assert always_valid(scaled, 4000, 4000, alpha).p_value == pytest.approx(alpha, rel=1e-6)


def test_peeking_at_every_look_keeps_alpha_with_the_sequence_and_not_without() -> None:
    """2,000 A/A tests read at 20 looks (50 to 1,000 users per arm): the share whose interval
    ever leaves zero is at most alpha for the sequence, and far above it for the fixed test."""
    rng = np.random.default_rng(7)
    runs, alpha = 2000, 0.05
    looks = np.arange(50, 1001, 50)
    c, t = rng.normal(0, 1, (2, runs, looks[-1]))
    def cumulative(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total, squares = np.cumsum(x, 1)[:, looks - 1], np.cumsum(x * x, 1)[:, looks - 1]
        return total / looks, (squares - total**2 / looks) / (looks - 1) / looks
    (mean_c, var_c), (mean_t, var_t) = cumulative(c), cumulative(t)
    effect, se = mean_t - mean_c, np.sqrt(var_c + var_t)  # Welch at each look, large df
    fixed = (np.abs(effect / se) > 1.959963984540054).any(axis=1).mean()
    seq = (always_valid_p(effect, se, 2 * looks, 2 * looks[-1], alpha) < alpha).any(1).mean()
    tolerance = Z * math.sqrt(alpha * (1 - alpha) / runs)
    print(f"peeking at 20 looks: sequence {seq:.4f}, fixed {fixed:.4f}")
    assert seq <= alpha + tolerance, seq
    assert fixed > alpha + tolerance, fixed
