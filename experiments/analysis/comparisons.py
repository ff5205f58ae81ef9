"""Treatment-vs-control tests on sufficient statistics: two proportions (pooled z), Welch t,
a ratio metric (delta method) and CUPED (pooled theta). Effects are treatment minus control;
confidence intervals are absolute and relative.

scipy supplies the distributions. The tests on sums, the delta method and CUPED with a pooled
theta are written here because the libraries work on raw arrays, not on sums.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from experiments.analysis.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from experiments.report.language import t


@dataclass(frozen=True)
class TestResult:
    """One treatment-vs-control comparison; effects are treatment minus control."""

    method: str
    control_estimate: float
    treatment_estimate: float
    absolute_effect: float
    relative_effect: float
    se: float
    ci_lower: float
    ci_upper: float
    relative_ci_lower: float
    relative_ci_upper: float
    statistic: float
    p_value: float
    alpha: float
    sides: int
    df: float | None = None

    def lift(self, digits: int = 1, interval: bool = False) -> str:
        """The relative lift as users read it (+3.2%, with its interval when asked); over a
        control of 0 the lift is undefined, so the absolute effect is given instead."""
        if math.isnan(self.relative_effect):
            words = f"{self.absolute_effect:+.3g}" + t(" (absolute; control 0)",
                                                       "（绝对差；对照为 0）")
            return f"{words} [{self.ci_lower:+.3g}, {self.ci_upper:+.3g}]" if interval else words
        words = f"{self.relative_effect:+.{digits}%}"
        return (f"{words} [{self.relative_ci_lower:+.{digits}%}, "
                f"{self.relative_ci_upper:+.{digits}%}]") if interval else words


def _p_value(statistic: float, sides: int, df: float | None) -> float:
    from scipy import stats  # here: scipy.stats is half a second of import
    dist = stats.norm if df is None else stats.t(df)
    if sides == 2:
        return float(2 * dist.sf(abs(statistic)))
    return float(dist.sf(statistic))


def _quantile(alpha: float, sides: int, df: float | None) -> float:
    from scipy import stats  # here: scipy.stats is half a second of import
    q = 1 - alpha / sides
    return float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))


def _result(
    method: str,
    control_mean: float,
    treatment_mean: float,
    control_var: float,
    treatment_var: float,
    alpha: float,
    sides: int,
    df: float | None = None,
    test_se: float | None = None,
) -> TestResult:
    """Shared tail: absolute CI from the unpooled SE, relative CI by the delta method.

    ``control_var``/``treatment_var`` are variances of the arm estimates (not per unit).
    ``test_se`` overrides the SE in the statistic (the pooled two-proportion z test).
    """
    if sides not in (1, 2):
        raise ValueError("sides must be 1 or 2")
    effect = treatment_mean - control_mean
    se = math.sqrt(control_var + treatment_var)
    statistic = effect / (test_se if test_se is not None else se)
    q = _quantile(alpha, sides, df)
    if control_mean == 0:  # a lift over nothing is undefined; the absolute effect still reads
        relative = relative_se = math.nan
    else:
        relative = treatment_mean / control_mean - 1
        relative_se = math.sqrt(
            treatment_var / control_mean**2 + treatment_mean**2 * control_var / control_mean**4
        )
    upper_inf = sides == 1
    return TestResult(
        method=method,
        control_estimate=control_mean,
        treatment_estimate=treatment_mean,
        absolute_effect=effect,
        relative_effect=relative,
        se=se,
        ci_lower=effect - q * se,
        ci_upper=math.inf if upper_inf else effect + q * se,
        relative_ci_lower=relative - q * relative_se,
        relative_ci_upper=math.inf if upper_inf else relative + q * relative_se,
        statistic=statistic,
        p_value=_p_value(statistic, sides, df),
        alpha=alpha,
        sides=sides,
        df=df,
    )


def two_proportion_ztest(
    control: ProportionStatistic,
    treatment: ProportionStatistic,
    alpha: float = 0.05,
    sides: int = 2,
) -> TestResult:
    """z test with the pooled SE under H0 (as statsmodels proportions_ztest); Wald CI.

    One-sided tests ask whether treatment is larger than control.
    """
    pooled = (control + treatment).mean
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / control.n + 1 / treatment.n))
    return _result(
        "two-proportion z (pooled SE)",
        control.mean,
        treatment.mean,
        control.variance / control.n,
        treatment.variance / treatment.n,
        alpha,
        sides,
        test_se=pooled_se,
    )


def welch_ttest(
    control: SampleMeanStatistic,
    treatment: SampleMeanStatistic,
    alpha: float = 0.05,
    sides: int = 2,
) -> TestResult:
    """Welch t test with Welch-Satterthwaite degrees of freedom."""
    vc, vt = control.variance / control.n, treatment.variance / treatment.n
    df = (vc + vt) ** 2 / (vc**2 / (control.n - 1) + vt**2 / (treatment.n - 1))
    return _result("Welch t", control.mean, treatment.mean, vc, vt, alpha, sides, df=float(df))


def ratio_ztest(
    control: RatioStatistic,
    treatment: RatioStatistic,
    alpha: float = 0.05,
    sides: int = 2,
) -> TestResult:
    """z test on a ratio metric with delta-method variances per arm."""
    return _result(
        "ratio z (delta method)",
        control.ratio,
        treatment.ratio,
        control.ratio_variance,
        treatment.ratio_variance,
        alpha,
        sides,
    )


def cuped_ztest(
    control: RegressionAdjustedStatistic,
    treatment: RegressionAdjustedStatistic,
    alpha: float = 0.05,
    sides: int = 2,
) -> TestResult:
    """CUPED z test (Deng et al. 2013) with one theta from the pooled sums of both arms.

    Adjusted arm mean: mean(post) - theta (mean(pre) - pooled mean(pre)); per-unit variance
    Var(post) - 2 theta Cov + theta^2 Var(pre), i.e. Var(post) (1 - rho^2) at the optimum.
    """
    pooled = control + treatment
    theta = pooled.theta
    pre_center = pooled.x_mean

    def adjusted(arm: RegressionAdjustedStatistic) -> tuple[float, float]:
        mean = arm.y_mean - theta * (arm.x_mean - pre_center)
        unit_var = arm.y_variance - 2 * theta * arm.covariance + theta**2 * arm.x_variance
        return mean, unit_var / arm.n

    control_mean, control_var = adjusted(control)
    treatment_mean, treatment_var = adjusted(treatment)
    return _result(
        "CUPED z (pooled theta)",
        control_mean,
        treatment_mean,
        control_var,
        treatment_var,
        alpha,
        sides,
    )
