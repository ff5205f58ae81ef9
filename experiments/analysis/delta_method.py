"""The delta-method variance of a ratio of means, one definition for planning and analysis.

Var(mean X / mean Y) ~ (Var X / my^2 - 2 mx Cov(X, Y) / my^3 + mx^2 Var Y / my^4) / n to first
order (Deng, Knoblich & Lu 2018). The power calculator sizes a ratio metric with it
(`planning.metrics.RatioMetric`) and the analysis tests one (`statistics.RatioStatistic`), so
a planned and an analysed ratio use the same formula.
"""

from __future__ import annotations


def ratio_unit_variance(mean_x: float, mean_y: float, var_x: float, var_y: float,
                        cov: float) -> float:
    """n x Var(mean X / mean Y): per-unit moments of numerator X and denominator Y."""
    return var_x / mean_y**2 - 2 * mean_x * cov / mean_y**3 + mean_x**2 * var_y / mean_y**4
