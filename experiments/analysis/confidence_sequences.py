"""Always-valid inference for teams that peek: the asymptotic confidence sequence of
Waudby-Smith, Arnold, Wu, Howard & Ramdas (2023, "Time-uniform central limit theory and
asymptotic confidence sequences", eq. 9, with the mixing parameter of their appendix), the form
GrowthBook's engine uses. Its interval holds the effect at every look at once with probability
1 - alpha, so a test can be read daily and stopped when the interval leaves zero."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
from numpy.typing import ArrayLike

from experiments.analysis.comparisons import TestResult


def mixing_rho(alpha: float, planned_n: float) -> float:
    """The normal mixture's rho, tuned so that the sequence is tightest at `planned_n` units
    (the sample the plan expects at the end)."""
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(-2 * log_alpha + 1)) / planned_n)


def halfwidth(se: float, n: float, planned_n: float, alpha: float) -> float:
    """Half-width of the two-sided sequence for an estimate with standard error `se` from `n`
    units in all (per-unit variance se^2 n)."""
    rho = mixing_rho(alpha, planned_n)
    s2 = se * se * n
    grown = n * rho * rho + 1
    return math.sqrt(s2) * math.sqrt(2 * grown * math.log(math.sqrt(grown) / alpha)
                                     / (n * rho) ** 2)


def always_valid_p(effect: ArrayLike, se: ArrayLike, n: ArrayLike, planned_n: float,
                   alpha: float) -> np.ndarray:
    """The smallest level at which the sequence excludes zero: 1 / e-value, at most 1
    (elementwise, so many looks or experiments are one call)."""
    rho = mixing_rho(alpha, planned_n)
    n = np.asarray(n, dtype=float)
    grown = n * rho * rho + 1
    z2 = (np.asarray(effect, dtype=float) / np.asarray(se, dtype=float)) ** 2
    log_e = rho * rho * n * z2 / (2 * grown) - 0.5 * np.log(grown)  # log of the e-value
    return np.minimum(np.exp(-np.maximum(log_e, 0.0)), 1.0)


def always_valid(test: TestResult, n: float, planned_n: float, alpha: float) -> TestResult:
    """The test with its interval (absolute, and relative scaled alike) and p-value made
    always valid."""
    from scipy import stats  # here: scipy.stats is half a second of import
    half = halfwidth(test.se, n, planned_n, alpha)
    fixed = stats.norm.ppf(1 - alpha / 2) * test.se
    rel_half = (test.relative_ci_upper - test.relative_ci_lower) / 2 * half / fixed
    return replace(test, method=f"{test.method}, always valid",
                   ci_lower=test.absolute_effect - half, ci_upper=test.absolute_effect + half,
                   relative_ci_lower=test.relative_effect - rel_half,
                   relative_ci_upper=test.relative_effect + rel_half,
                   p_value=float(always_valid_p(test.absolute_effect, test.se, n, planned_n,
                                                alpha)))


def critical_z(alpha: float) -> float:
    """|z| the sequence needs at the n it is tuned to (3.035 at alpha 0.05, against 1.960
    for a fixed test): independent of n."""
    tuned = -2 * math.log(alpha) + math.log(1 - 2 * math.log(alpha))  # rho^2 n at n = N
    return math.sqrt(2 * (tuned + 1) * math.log(math.sqrt(tuned + 1) / alpha) / tuned)


def n_factor(alpha: float, power: float) -> float:
    """Users an always-valid test needs for `power` when read at the planned n, as a multiple
    of a fixed two-sided test's: ((c + z_beta) / (z_alpha/2 + z_beta))^2 (the far tail
    neglected, as in the fixed sizing)."""
    from scipy import stats  # here: scipy.stats is half a second of import
    z_beta = stats.norm.ppf(power)
    return float(((critical_z(alpha) + z_beta) / (stats.norm.ppf(1 - alpha / 2) + z_beta)) ** 2)
