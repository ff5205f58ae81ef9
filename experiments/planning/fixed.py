"""Fixed-design power of one treatment-vs-control comparison, and its inversions: the sample
size for a power, the smallest effect for a power. The solver adds guardrails, sequential
inflation and duration on top."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from scipy import optimize, stats

from experiments.planning.design import Design, cuped_variance_factor, design_effect
from experiments.planning.errors import PowerInputError
from experiments.planning.metrics import (
    MeanMetric,
    Metric,
    ProportionMetric,
    delta_range,
    metric_baseline,
    natural_scale,
    test_scale,
    unit_variances,
    uses_t,
)
from experiments.planning.multiplicity import (
    adjusted_alpha,
    dunnett_critical_value,
    marginal_critical,
)


def _noncentral_t_sf(x: float, df: float, ncp: float) -> float:
    """P(T > x) for noncentral t; scipy's series returns NaN for huge df or ncp, where the
    normal limit Phi(ncp - x) is exact to double precision anyway."""
    if df < 1e7:
        value = float(stats.nct.sf(x, df, ncp))
        if math.isfinite(value):
            return value
    return float(stats.norm.sf(x - ncp))



@dataclass(frozen=True)
class FixedDesign:
    metric: Metric
    design: Design

    @property
    def non_inferiority(self) -> bool:
        return self.design.non_inferiority_margin is not None

    def ratio(self, delta: float) -> float:
        """n_treatment / n_control; "optimal" is Neyman allocation with a shared control.

        Minimising n_c + m n_t subject to a fixed Var(difference) gives
        n_t / n_c = (sd_t / sd_c) / sqrt(m) (Dunnett 1955's square-root rule when m > 1).
        """
        if self.design.treatment_ratio != "optimal":
            return float(self.design.treatment_ratio)
        _, _, vc, vt = unit_variances(self.metric, delta, 1.0, self.non_inferiority)
        return math.sqrt(vt / vc) / math.sqrt(self.design.comparisons)

    def lift_factor(self, delta: float) -> float:
        """Testing the relative lift L = mu_t/mu_c - 1 by the delta method, Var(L) mu_c^2 =
        Var_t/n_t + (1 + L)^2 Var_c/n_c: the control's variance counts (1 + L)^2 under the
        alternative (1 under the null, where L = 0)."""
        if not self.design.lift_test:
            return 1.0
        baseline = metric_baseline(self.metric)
        assert baseline is not None
        return ((baseline + delta) / baseline) ** 2

    @property
    def variance_factor(self) -> float:
        d = self.design
        return cuped_variance_factor(d.cuped_r) * design_effect(d.icc, d.cluster_size, d.cluster_cv)

    def degrees_of_freedom(self, n_control: float, ratio: float) -> float:
        """Residual df of the t statistic: per cluster if clustered, pooled over all arms
        for Dunnett, Welch-Satterthwaite when the two standard deviations differ."""
        d, metric = self.design, self.metric
        n_treat = n_control * ratio
        units_per = d.cluster_size if d.cluster_size is not None else 1.0
        nc, nt = n_control / units_per, n_treat / units_per
        adjust = 1 if d.cuped_r != 0 else 0
        if d.correction == "dunnett" and d.comparisons > 1:
            return nc + d.comparisons * nt - d.arms - adjust
        assert isinstance(metric, MeanMetric)
        if metric.sd_treatment is not None and metric.sd_treatment != metric.sd:
            vc, vt = metric.sd**2 / nc, metric.sd_treatment**2 / nt
            return (vc + vt) ** 2 / (vc**2 / (nc - 1) + vt**2 / (nt - 1)) - adjust
        return nc + nt - 2 - adjust

    def critical_value(self, ratio: float, df: float | None) -> float:
        d = self.design
        if d.correction == "dunnett" and d.comparisons > 1:
            rho = round(ratio / (1 + ratio), 10)
            return dunnett_critical_value(d.alpha, d.comparisons, rho, d.sides, df)
        return marginal_critical(adjusted_alpha(d.alpha, d.comparisons, d.correction), d.sides, df)

    def alpha_per_comparison(self, ratio: float) -> float:
        d = self.design
        if d.correction == "dunnett" and d.comparisons > 1:
            return float(d.sides * stats.norm.sf(self.critical_value(ratio, None)))
        return adjusted_alpha(d.alpha, d.comparisons, d.correction)

    def minimum_n(self, delta: float) -> float:
        """Smallest control-arm n for which the statistic is defined (df >= 1 for t)."""
        if not uses_t(self.metric):
            return 1e-6
        ratio = self.ratio(delta)
        n = 2.0
        while self.degrees_of_freedom(n, ratio) < 1 or n * ratio < 2:
            n *= 1.5
        return n

    def power(self, n_control: float, delta: float) -> float:
        """Fixed-design power of one treatment-vs-control comparison."""
        d, metric = self.design, self.metric
        ratio = self.ratio(delta)
        n_treat = n_control * ratio
        v0c, v0t, v1c, v1t = unit_variances(metric, delta, ratio, self.non_inferiority)
        v1c *= self.lift_factor(delta)
        factor = self.variance_factor
        se0 = math.sqrt(factor * (v0c / n_control + v0t / n_treat))
        se1 = math.sqrt(factor * (v1c / n_control + v1t / n_treat))
        effect = test_scale(metric, delta)
        if self.non_inferiority:
            assert d.non_inferiority_margin is not None
            effect = effect + d.non_inferiority_margin
        else:
            effect = abs(effect)
        correction = 0.0
        if isinstance(metric, ProportionMetric) and metric.continuity_correction:
            correction = 0.5 * (1 / n_control + 1 / n_treat)
        two_tailed = d.strict and d.sides == 2
        if uses_t(metric):
            df = self.degrees_of_freedom(n_control, ratio)
            crit = self.critical_value(ratio, df)
            ncp = effect / se1
            result = _noncentral_t_sf(crit, df, ncp)
            if two_tailed:
                result += 1 - _noncentral_t_sf(-crit, df, ncp)
            return float(result)
        crit = self.critical_value(ratio, None)
        result = stats.norm.cdf((effect - correction - crit * se0) / se1)
        if two_tailed:
            result += stats.norm.cdf((-effect - correction - crit * se0) / se1)
        return float(result)

    def solve_n(self, delta: float, target: float) -> float:
        """Control-arm n reaching ``target`` power (continuous; callers round up)."""
        max_n = self.design.max_n
        reach = self.power(max_n, delta)
        if reach < target:
            raise PowerInputError(
                "mde",
                f"no sample size up to {max_n:g} per arm reaches power {target:.3g} "
                f"(power there is {reach:.3g}); increase the MDE or --max-n",
            )
        low = self.minimum_n(delta)
        if self.power(low, delta) >= target:
            return low
        return optimize.brentq(
            lambda n: self.power(n, delta) - target, low, max_n, xtol=1e-10, rtol=1e-12
        )

    def solve_delta(self, size: Callable[[float], float], target: float) -> float:
        """Smallest favourable difference reaching ``target`` power; size(delta) gives n_c."""
        low, high = delta_range(self.metric)
        margin = self.design.non_inferiority_margin
        start = -margin + 1e-12 if margin is not None else 0.0
        start = max(start, low + 1e-12)

        def gap(delta: float) -> float:
            return self.power(size(delta), delta) - target

        if math.isfinite(high):
            top = high - 1e-9 * max(1.0, abs(high))
        else:
            top = max(start, 0.0) + natural_scale(self.metric)
            while gap(top) < 0 and top < 1e12 * natural_scale(self.metric):
                top = start + 2 * (top - start)
        if gap(top) < 0:
            raise PowerInputError(
                "n",
                f"too small: even the largest feasible effect ({top:.4g}) reaches only power "
                f"{self.power(size(top), top):.3g}; increase n or the duration",
            )
        if gap(start) >= 0:
            raise PowerInputError(
                "power",
                f"power {target:.3g} is already reached with no effect; a target power must "
                "exceed the false-positive rate",
            )
        return optimize.brentq(gap, start, top, xtol=1e-14, rtol=1e-12)
