"""A/B analysis from summable sufficient statistics.

Each statistic is a frozen dataclass of sums (n, sum, sum of squares, cross products) with
``__add__``, so per-chunk, per-replicate or per-worker statistics combine exactly by addition
(the design of GrowthBook's gbstats).  The tests turn two statistics (control, treatment) into a
small frozen result.

Library code is used where it exists: scipy for distributions and the SRM chi-square test,
statsmodels for the multiple-testing adjustments.  The tests on sums, the delta method, CUPED
with a pooled theta and the group-sequential decision rule are written here because those
libraries work on raw arrays, not on sums.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests


def _as_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float)


# --------------------------------------------------------------------------------------------
# Sufficient statistics
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SampleMeanStatistic:
    """Per-unit metric values summarised by n, sum and sum of squares."""

    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0

    @classmethod
    def from_values(cls, values: Sequence[float] | np.ndarray) -> SampleMeanStatistic:
        x = _as_array(values)
        return cls(n=int(x.size), sum=float(x.sum()), sum_squares=float((x * x).sum()))

    def __add__(self, other: SampleMeanStatistic) -> SampleMeanStatistic:
        return SampleMeanStatistic(
            self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares
        )

    @property
    def mean(self) -> float:
        return self.sum / self.n

    @property
    def variance(self) -> float:
        """Unbiased sample variance (n - 1 denominator), as scipy's Welch test uses."""
        return max((self.sum_squares - self.sum**2 / self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True)
class ProportionStatistic:
    """Binary outcomes: n units, ``sum`` of them converted."""

    n: int = 0
    sum: float = 0.0

    @classmethod
    def from_values(cls, values: Sequence[float] | np.ndarray) -> ProportionStatistic:
        x = _as_array(values)
        return cls(n=int(x.size), sum=float(x.sum()))

    def __add__(self, other: ProportionStatistic) -> ProportionStatistic:
        return ProportionStatistic(self.n + other.n, self.sum + other.sum)

    @property
    def mean(self) -> float:
        return self.sum / self.n

    @property
    def variance(self) -> float:
        p = self.mean
        return p * (1 - p)


@dataclass(frozen=True)
class _PairedSums:
    """Sums for two per-unit variables x and y and their cross products."""

    n: int = 0
    x_sum: float = 0.0
    x_sum_squares: float = 0.0
    y_sum: float = 0.0
    y_sum_squares: float = 0.0
    cross_sum: float = 0.0

    @property
    def x_mean(self) -> float:
        return self.x_sum / self.n

    @property
    def y_mean(self) -> float:
        return self.y_sum / self.n

    @property
    def x_variance(self) -> float:
        return (self.x_sum_squares - self.x_sum**2 / self.n) / (self.n - 1)

    @property
    def y_variance(self) -> float:
        return (self.y_sum_squares - self.y_sum**2 / self.n) / (self.n - 1)

    @property
    def covariance(self) -> float:
        return (self.cross_sum - self.x_sum * self.y_sum / self.n) / (self.n - 1)


def _paired_from_values(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    if x.shape != y.shape:
        raise ValueError("both variables need one value per unit")
    return {
        "n": int(x.size),
        "x_sum": float(x.sum()),
        "x_sum_squares": float((x * x).sum()),
        "y_sum": float(y.sum()),
        "y_sum_squares": float((y * y).sum()),
        "cross_sum": float((x * y).sum()),
    }


def _add_paired(a: _PairedSums, b: _PairedSums) -> dict[str, float]:
    return {
        "n": a.n + b.n,
        "x_sum": a.x_sum + b.x_sum,
        "x_sum_squares": a.x_sum_squares + b.x_sum_squares,
        "y_sum": a.y_sum + b.y_sum,
        "y_sum_squares": a.y_sum_squares + b.y_sum_squares,
        "cross_sum": a.cross_sum + b.cross_sum,
    }


@dataclass(frozen=True)
class RatioStatistic(_PairedSums):
    """Ratio metric sum(x) / sum(y) over units: x is the numerator (e.g. revenue), y the
    denominator (e.g. orders), both per randomisation unit."""

    @classmethod
    def from_values(
        cls, numerator: Sequence[float] | np.ndarray, denominator: Sequence[float] | np.ndarray
    ) -> RatioStatistic:
        return cls(**_paired_from_values(_as_array(numerator), _as_array(denominator)))

    def __add__(self, other: RatioStatistic) -> RatioStatistic:
        return RatioStatistic(**_add_paired(self, other))

    @property
    def ratio(self) -> float:
        return self.x_sum / self.y_sum

    @property
    def ratio_variance(self) -> float:
        """Var of the ratio estimate by the delta method (Deng, Knoblich & Lu 2018)."""
        mx, my = self.x_mean, self.y_mean
        unit = (
            self.x_variance / my**2
            - 2 * mx * self.covariance / my**3
            + mx**2 * self.y_variance / my**4
        )
        return unit / self.n


@dataclass(frozen=True)
class RegressionAdjustedStatistic(_PairedSums):
    """CUPED: x is the pre-period covariate, y the experiment-period metric, per unit."""

    @classmethod
    def from_values(
        cls, post: Sequence[float] | np.ndarray, pre: Sequence[float] | np.ndarray
    ) -> RegressionAdjustedStatistic:
        return cls(**_paired_from_values(_as_array(pre), _as_array(post)))

    def __add__(self, other: RegressionAdjustedStatistic) -> RegressionAdjustedStatistic:
        return RegressionAdjustedStatistic(**_add_paired(self, other))

    @property
    def theta(self) -> float:
        """OLS slope of post on pre: Cov(post, pre) / Var(pre)."""
        return self.covariance / self.x_variance


# --------------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------------


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


def _p_value(statistic: float, sides: int, df: float | None) -> float:
    dist = stats.norm if df is None else stats.t(df)
    if sides == 2:
        return float(2 * dist.sf(abs(statistic)))
    return float(dist.sf(statistic))


def _quantile(alpha: float, sides: int, df: float | None) -> float:
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


# --------------------------------------------------------------------------------------------
# Multiple testing, SRM, sequential decisions
# --------------------------------------------------------------------------------------------

AdjustmentMethod = Literal["bonferroni", "holm", "bh"]
_STATSMODELS_METHOD = {"bonferroni": "bonferroni", "holm": "holm", "bh": "fdr_bh"}


@dataclass(frozen=True)
class AdjustedPValues:
    method: str
    alpha: float
    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    reject: tuple[bool, ...]


def adjust_p_values(
    p_values: Sequence[float], method: AdjustmentMethod = "holm", alpha: float = 0.05
) -> AdjustedPValues:
    """Bonferroni / Holm (family-wise) or Benjamini-Hochberg (false discovery rate)."""
    if method not in _STATSMODELS_METHOD:
        raise ValueError(f"method must be one of {', '.join(_STATSMODELS_METHOD)}")
    reject, adjusted, _, _ = multipletests(
        list(p_values), alpha=alpha, method=_STATSMODELS_METHOD[method]
    )
    return AdjustedPValues(
        method=method,
        alpha=alpha,
        p_values=tuple(float(p) for p in p_values),
        adjusted=tuple(float(p) for p in adjusted),
        reject=tuple(bool(r) for r in reject),
    )


@dataclass(frozen=True)
class SrmResult:
    statistic: float
    p_value: float
    expected: tuple[float, ...]
    mismatch: bool
    threshold: float


def srm_check(
    observed_counts: Sequence[int], intended_shares: Sequence[float], threshold: float = 0.001
) -> SrmResult:
    """Sample-ratio mismatch: chi-square goodness of fit of arm counts to the intended split.

    The strict default threshold (0.001) is conventional because the check runs on every
    experiment and a real SRM usually gives tiny p-values.
    """
    counts = _as_array(observed_counts)
    shares = _as_array(intended_shares)
    if counts.shape != shares.shape or counts.size < 2:
        raise ValueError("need one intended share per arm, at least two arms")
    if np.any(shares <= 0):
        raise ValueError("intended shares must be positive")
    expected = counts.sum() * shares / shares.sum()
    statistic, p_value = stats.chisquare(counts, expected)
    return SrmResult(
        statistic=float(statistic),
        p_value=float(p_value),
        expected=tuple(float(e) for e in expected),
        mismatch=bool(p_value < threshold),
        threshold=threshold,
    )


@dataclass(frozen=True)
class SequentialDecision:
    action: Literal["continue", "reject", "accept"]
    look: int
    statistic: float
    critical_value: float


def sequential_decision(
    z_statistics: Sequence[float], critical_values: Sequence[float], sides: int = 2
) -> SequentialDecision:
    """Apply group-sequential boundaries (experiments.planning.sequential) to the z values so far.

    Rejects at the first look whose |z| (or z, one-sided) reaches its boundary; accepts H0 at
    the final look otherwise; continues while looks remain.  ``look`` is 1-based.
    """
    if len(z_statistics) == 0:
        raise ValueError("need at least one look")
    if len(z_statistics) > len(critical_values):
        raise ValueError(
            f"{len(z_statistics)} looks but only {len(critical_values)} boundaries planned"
        )
    for k, (z, c) in enumerate(zip(z_statistics, critical_values, strict=False)):
        crossed = abs(z) >= c if sides == 2 else z >= c
        if crossed:
            return SequentialDecision("reject", k + 1, float(z), float(c))
    last = len(z_statistics)
    action: Literal["continue", "accept"] = "accept" if last == len(critical_values) else "continue"
    return SequentialDecision(
        action, last, float(z_statistics[-1]), float(critical_values[last - 1])
    )
