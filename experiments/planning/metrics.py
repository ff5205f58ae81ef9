"""The metrics a test can be sized for, and their per-unit variances.

Proportions (pooled / unpooled / arcsine), means (z or t), ratio metrics (the delta method,
shared with the analysis of real experiments) and counts (Poisson / negative binomial). Each
metric says which formula produced its numbers (`variance_formula`), so every result can be
traced to its textbook.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from experiments.analysis.delta_method import ratio_unit_variance
from experiments.planning.errors import PowerInputError
from experiments.report.language import t

ProportionVariance = Literal["pooled", "unpooled", "arcsine", "baseline"]
CountModel = Literal["poisson", "negbin"]


@dataclass(frozen=True)
class ProportionMetric:
    """A conversion rate; ``baseline`` is the control proportion p1."""

    baseline: float
    variance: ProportionVariance = "pooled"
    continuity_correction: bool = False


@dataclass(frozen=True)
class MeanMetric:
    """A per-unit mean; ``baseline`` is only needed to express the MDE relatively."""

    sd: float
    sd_treatment: float | None = None
    baseline: float | None = None
    test: Literal["z", "t"] = "z"


@dataclass(frozen=True)
class RatioMetric:
    """Ratio of per-user sums (e.g. revenue per order) analysed with the delta method.

    Inputs are per-user (randomisation unit) moments of numerator X and denominator Y.
    """

    numerator_mean: float
    denominator_mean: float
    numerator_variance: float
    denominator_variance: float
    covariance: float

    @property
    def baseline(self) -> float:
        return self.numerator_mean / self.denominator_mean

    @property
    def unit_variance(self) -> float:
        """n x Var(mean X / mean Y) by the first-order delta method (Deng et al. 2018), the
        same function the analysis of a ratio metric uses."""
        return ratio_unit_variance(self.numerator_mean, self.denominator_mean,
                                   self.numerator_variance, self.denominator_variance,
                                   self.covariance)


@dataclass(frozen=True)
class CountMetric:
    """Events per unit; negative binomial variance is mu + mu^2 / dispersion."""

    baseline: float
    model: CountModel = "poisson"
    dispersion: float | None = None
    variance: Literal["pooled", "unpooled"] = "unpooled"


Metric = ProportionMetric | MeanMetric | RatioMetric | CountMetric


def metric_kind(metric: Metric) -> str:
    return {
        ProportionMetric: "proportion",
        MeanMetric: "mean",
        RatioMetric: "ratio",
        CountMetric: "count",
    }[type(metric)]


def variance_formula(metric: Metric) -> str:
    """The label printed next to every result so readers know which formula produced it."""
    if isinstance(metric, ProportionMetric):
        label = {
            "pooled": t("pooled: H0 variance at the pooled p (R power.prop.test, G*Power)",
                        "pooled：H0 方差取合并比例 p（R power.prop.test、G*Power）"),
            "unpooled": t("unpooled: p1(1-p1)/n1 + p2(1-p2)/n2 (Spotify confidence)",
                          "unpooled：p1(1-p1)/n1 + p2(1-p2)/n2（Spotify confidence）"),
            "arcsine": t("arcsine: Cohen's h (R pwr.2p.test, statsmodels NormalIndPower)",
                         "arcsine：Cohen's h（R pwr.2p.test、statsmodels NormalIndPower）"),
            "baseline": t("baseline: H0 variance p1(1-p1) in both arms, n rounded to the nearest "
                          "unit (Evan Miller's sample size calculator)",
                          "baseline：两组的 H0 方差均为 p1(1-p1)，样本量四舍五入到整数"
                          "（Evan Miller 样本量计算器）"),
        }[metric.variance]
        if metric.continuity_correction:
            label += t(", continuity-corrected (Fleiss et al. 1980)",
                       "，含连续性校正（Fleiss 等，1980）")
        return label
    if isinstance(metric, MeanMetric):
        if metric.test == "t":
            return t("noncentral t (R power.t.test, statsmodels TTestIndPower)",
                     "非中心 t 分布（R power.t.test、statsmodels TTestIndPower）")
        return t("normal z (statsmodels NormalIndPower)", "正态 z（statsmodels NormalIndPower）")
    if isinstance(metric, RatioMetric):
        return t("delta method: Var(X)/my^2 - 2 mx Cov/my^3 + mx^2 Var(Y)/my^4",
                 "delta 方法：Var(X)/my^2 - 2 mx Cov/my^3 + mx^2 Var(Y)/my^4")
    if metric.model == "poisson":
        kind = t("Poisson: Var = mu", "泊松：Var = mu")
    else:
        kind = t("negative binomial: mu + mu^2/k", "负二项：mu + mu^2/k")
    return t(f"{kind}, {metric.variance} H0 variance (Wald z)",
             f"{kind}，H0 方差 {metric.variance}（Wald z）")


def metric_baseline(metric: Metric) -> float | None:
    if isinstance(metric, RatioMetric):
        return metric.baseline
    return metric.baseline


def uses_t(metric: Metric) -> bool:
    return isinstance(metric, MeanMetric) and metric.test == "t"


def validate_metric(metric: Metric) -> None:
    """PowerInputError naming the first input of the metric to change."""
    checks: dict[type, Callable[[Any], None]] = {
        ProportionMetric: _validate_proportion, MeanMetric: _validate_mean,
        RatioMetric: _validate_ratio, CountMetric: _validate_count}
    checks[type(metric)](metric)


def _validate_proportion(metric: ProportionMetric) -> None:
    if not 0 < metric.baseline < 1:
        raise PowerInputError(
            "baseline", f"a proportion must lie in (0, 1), got {metric.baseline:g}"
        )
    if metric.variance not in ("pooled", "unpooled", "arcsine", "baseline"):
        raise PowerInputError("variance", "use pooled, unpooled, arcsine or baseline")
    if metric.continuity_correction and metric.variance == "arcsine":
        raise PowerInputError(
            "continuity-correction",
            "not defined for the arcsine formula; use --variance pooled or unpooled",
        )


def _validate_mean(metric: MeanMetric) -> None:
    if not metric.sd > 0:
        raise PowerInputError("sd", f"must be > 0, got {metric.sd:g}")
    if metric.sd_treatment is not None and not metric.sd_treatment > 0:
        raise PowerInputError("sd-treatment", f"must be > 0, got {metric.sd_treatment:g}")
    if metric.test not in ("z", "t"):
        raise PowerInputError("test", "use z or t")


def _validate_ratio(metric: RatioMetric) -> None:
    if metric.denominator_mean <= 0:
        raise PowerInputError("den-mean", "the denominator mean must be > 0")
    if metric.numerator_variance < 0 or metric.denominator_variance < 0:
        raise PowerInputError("num-var", "variances must be >= 0")
    if not metric.unit_variance > 0:
        raise PowerInputError(
            "num-den-cov",
            "the delta-method variance is not positive; the covariance is too large "
            "for the given variances (|cov| <= sqrt(var_x var_y))",
        )


def _validate_count(metric: CountMetric) -> None:
    if not metric.baseline > 0:
        raise PowerInputError("baseline", f"a count rate must be > 0, got {metric.baseline:g}")
    if metric.model == "negbin" and not (metric.dispersion and metric.dispersion > 0):
        raise PowerInputError(
            "dispersion", "the negative binomial needs --dispersion k > 0 (Var = mu + mu^2/k)"
        )
    if metric.model == "poisson" and metric.dispersion is not None:
        raise PowerInputError("dispersion", "only applies to --count-model negbin")


def delta_range(metric: Metric) -> tuple[float, float]:
    """Open interval of feasible treatment-minus-control differences."""
    if isinstance(metric, ProportionMetric):
        return -metric.baseline, 1 - metric.baseline
    if isinstance(metric, CountMetric):
        return -metric.baseline, math.inf
    return -math.inf, math.inf


def natural_scale(metric: Metric) -> float:
    """A natural unit of the metric, used to bracket the MDE search."""
    if isinstance(metric, MeanMetric):
        return metric.sd
    if isinstance(metric, RatioMetric):
        return math.sqrt(metric.unit_variance)
    if isinstance(metric, CountMetric):
        return math.sqrt(count_variance(metric, metric.baseline))
    return 1.0


def count_variance(metric: CountMetric, rate: float) -> float:
    if metric.model == "poisson":
        return rate
    assert metric.dispersion is not None
    return rate + rate**2 / metric.dispersion


def unit_variances(
    metric: Metric, delta: float, ratio: float, non_inferiority: bool
) -> tuple[float, float, float, float]:
    """Per-unit variances (null control, null treatment, alternative control, alt. treatment).

    Under non-inferiority the treatment arm is given the control variance, as Spotify
    confidence does, because the working assumption is that the arms are equal.
    """
    if isinstance(metric, ProportionMetric):
        p1 = metric.baseline
        p2 = p1 if non_inferiority else p1 + delta
        if metric.variance == "arcsine":
            return 1.0, 1.0, 1.0, 1.0
        v1c, v1t = p1 * (1 - p1), p2 * (1 - p2)
        if metric.variance == "pooled":
            pooled = (p1 + ratio * (p1 + delta)) / (1 + ratio)
            v0 = pooled * (1 - pooled)
            return v0, v0, v1c, v1t
        if metric.variance == "baseline":  # Evan Miller: the null is the baseline itself
            return v1c, v1c, v1c, v1t
        return v1c, v1t, v1c, v1t
    if isinstance(metric, MeanMetric):
        vc = metric.sd**2
        vt = (metric.sd_treatment if metric.sd_treatment is not None else metric.sd) ** 2
        return vc, vt, vc, vt
    if isinstance(metric, RatioMetric):
        v = metric.unit_variance
        return v, v, v, v
    lam1 = metric.baseline
    lam2 = lam1 if non_inferiority else lam1 + delta
    v1c, v1t = count_variance(metric, lam1), count_variance(metric, lam2)
    if metric.variance == "pooled":
        v0 = count_variance(metric, (lam1 + ratio * (lam1 + delta)) / (1 + ratio))
        return v0, v0, v1c, v1t
    return v1c, v1t, v1c, v1t


def test_scale(metric: Metric, delta: float) -> float:
    """The difference on the scale the test works on (Cohen's h for arcsine)."""
    if isinstance(metric, ProportionMetric) and metric.variance == "arcsine":
        p1 = metric.baseline
        return 2 * math.asin(math.sqrt(p1 + delta)) - 2 * math.asin(math.sqrt(p1))
    return delta


def cohens_h(p1: float, p2: float) -> float:
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))
