"""A/B power calculator: sample size, power, MDE or duration for one planned experiment.

Everything is a normal (or noncentral-t) approximation to a two-group comparison of a
treatment arm against a control arm, scaled by the design choices:

* metric variance: proportions (pooled / unpooled / arcsine), means (z or t), ratio metrics
  (delta method) and counts (Poisson / negative binomial);
* multiplicity: Bonferroni, Holm (first step), Sidak or Dunnett critical values;
* variance reduction and inflation: CUPED factor ``1 - r^2`` and cluster design effect;
* guardrails: power split multiplicatively over the primary and ``k`` guardrail tests;
* group-sequential designs: maximum n = fixed-design n x inflation factor.

scipy supplies the distributions (normal, t, noncentral t, chi^2) and root finding.  Written by
hand because neither scipy nor statsmodels computes them: the group-sequential boundaries
(recursive numerical integration of Armitage, McPherson & Rowe 1969 on the grid of Jennison &
Turnbull 2000, ch. 19), the Dunnett critical value (an exact one-dimensional integral for the
equicorrelated multivariate normal / t), the design effect and the duration models.

Baselines, variances and traffic are plain arguments so that another module can fill them in
from a simulation run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import integrate, optimize, stats

ProportionVariance = Literal["pooled", "unpooled", "arcsine"]
CountModel = Literal["poisson", "negbin"]
Correction = Literal["none", "bonferroni", "holm", "sidak", "dunnett"]
SequentialMethod = Literal[
    "none", "pocock", "obrien-fleming", "lan-demets-obf", "lan-demets-pocock"
]
ReturningModel = Literal["new", "saturating"]

CORRECTIONS: tuple[str, ...] = ("none", "bonferroni", "holm", "sidak", "dunnett")
SEQUENTIAL_METHODS: tuple[str, ...] = (
    "none",
    "pocock",
    "obrien-fleming",
    "lan-demets-obf",
    "lan-demets-pocock",
)
DEFAULT_MAX_N = 1e9


class PowerInputError(ValueError):
    """An impossible or contradictory request; ``field`` names the input to change."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


# --------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------


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
        """n x Var(mean X / mean Y) by the first-order delta method (Deng et al. 2018)."""
        mx, my = self.numerator_mean, self.denominator_mean
        return (
            self.numerator_variance / my**2
            - 2 * mx * self.covariance / my**3
            + mx**2 * self.denominator_variance / my**4
        )


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
            "pooled": "pooled: H0 variance at the pooled p (R power.prop.test, G*Power)",
            "unpooled": "unpooled: p1(1-p1)/n1 + p2(1-p2)/n2 (Spotify confidence)",
            "arcsine": "arcsine: Cohen's h (R pwr.2p.test, statsmodels NormalIndPower)",
        }[metric.variance]
        if metric.continuity_correction:
            label += ", continuity-corrected (Fleiss et al. 1980)"
        return label
    if isinstance(metric, MeanMetric):
        if metric.test == "t":
            return "noncentral t (R power.t.test, statsmodels TTestIndPower)"
        return "normal z (statsmodels NormalIndPower)"
    if isinstance(metric, RatioMetric):
        return "delta method: Var(X)/my^2 - 2 mx Cov/my^3 + mx^2 Var(Y)/my^4"
    kind = "Poisson: Var = mu" if metric.model == "poisson" else "negative binomial: mu + mu^2/k"
    return f"{kind}, {metric.variance} H0 variance (Wald z)"


def metric_baseline(metric: Metric) -> float | None:
    if isinstance(metric, RatioMetric):
        return metric.baseline
    return metric.baseline


def _uses_t(metric: Metric) -> bool:
    return isinstance(metric, MeanMetric) and metric.test == "t"


def _validate_metric(metric: Metric) -> None:
    if isinstance(metric, ProportionMetric):
        if not 0 < metric.baseline < 1:
            raise PowerInputError(
                "baseline", f"a proportion must lie in (0, 1), got {metric.baseline:g}"
            )
        if metric.variance not in ("pooled", "unpooled", "arcsine"):
            raise PowerInputError("variance", "use pooled, unpooled or arcsine")
        if metric.continuity_correction and metric.variance == "arcsine":
            raise PowerInputError(
                "continuity-correction",
                "not defined for the arcsine formula; use --variance pooled or unpooled",
            )
    elif isinstance(metric, MeanMetric):
        if not metric.sd > 0:
            raise PowerInputError("sd", f"must be > 0, got {metric.sd:g}")
        if metric.sd_treatment is not None and not metric.sd_treatment > 0:
            raise PowerInputError("sd-treatment", f"must be > 0, got {metric.sd_treatment:g}")
        if metric.test not in ("z", "t"):
            raise PowerInputError("test", "use z or t")
    elif isinstance(metric, RatioMetric):
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
    else:
        if not metric.baseline > 0:
            raise PowerInputError("baseline", f"a count rate must be > 0, got {metric.baseline:g}")
        if metric.model == "negbin" and not (metric.dispersion and metric.dispersion > 0):
            raise PowerInputError(
                "dispersion", "the negative binomial needs --dispersion k > 0 (Var = mu + mu^2/k)"
            )
        if metric.model == "poisson" and metric.dispersion is not None:
            raise PowerInputError("dispersion", "only applies to --count-model negbin")


def _delta_range(metric: Metric) -> tuple[float, float]:
    """Open interval of feasible treatment-minus-control differences."""
    if isinstance(metric, ProportionMetric):
        return -metric.baseline, 1 - metric.baseline
    if isinstance(metric, CountMetric):
        return -metric.baseline, math.inf
    return -math.inf, math.inf


def _scale(metric: Metric) -> float:
    """A natural unit of the metric, used to bracket the MDE search."""
    if isinstance(metric, MeanMetric):
        return metric.sd
    if isinstance(metric, RatioMetric):
        return math.sqrt(metric.unit_variance)
    if isinstance(metric, CountMetric):
        return math.sqrt(_count_variance(metric, metric.baseline))
    return 1.0


def _count_variance(metric: CountMetric, rate: float) -> float:
    if metric.model == "poisson":
        return rate
    assert metric.dispersion is not None
    return rate + rate**2 / metric.dispersion


def _unit_variances(
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
    v1c, v1t = _count_variance(metric, lam1), _count_variance(metric, lam2)
    if metric.variance == "pooled":
        v0 = _count_variance(metric, (lam1 + ratio * (lam1 + delta)) / (1 + ratio))
        return v0, v0, v1c, v1t
    return v1c, v1t, v1c, v1t


def _test_scale(metric: Metric, delta: float) -> float:
    """The difference on the scale the test works on (Cohen's h for arcsine)."""
    if isinstance(metric, ProportionMetric) and metric.variance == "arcsine":
        p1 = metric.baseline
        return 2 * math.asin(math.sqrt(p1 + delta)) - 2 * math.asin(math.sqrt(p1))
    return delta


def cohens_h(p1: float, p2: float) -> float:
    return 2 * math.asin(math.sqrt(p2)) - 2 * math.asin(math.sqrt(p1))


# --------------------------------------------------------------------------------------------
# Design
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Design:
    """Everything about the test that is not the metric.

    ``treatment_ratio`` is n_treatment / n_control for every treatment arm, or "optimal".
    ``arms`` counts the control arm; every treatment arm is compared with the control.
    """

    alpha: float = 0.05
    sides: int = 2
    treatment_ratio: float | Literal["optimal"] = 1.0
    arms: int = 2
    correction: Correction = "none"
    non_inferiority_margin: float | None = None
    guardrails: int = 0
    cuped_r: float = 0.0
    icc: float = 0.0
    cluster_size: float | None = None
    cluster_cv: float = 0.0
    sequential: SequentialMethod = "none"
    looks: int = 1
    strict: bool = False
    max_n: float = DEFAULT_MAX_N

    @property
    def comparisons(self) -> int:
        return self.arms - 1


def _validate_design(design: Design) -> None:
    if not 0 < design.alpha < 1:
        raise PowerInputError("alpha", f"must be in (0, 1), got {design.alpha:g}")
    if design.sides not in (1, 2):
        raise PowerInputError("sides", f"must be 1 or 2, got {design.sides}")
    ratio = design.treatment_ratio
    if ratio != "optimal" and not (isinstance(ratio, int | float) and ratio > 0):
        raise PowerInputError("treatment-ratio", f"must be > 0 or 'optimal', got {ratio!r}")
    if design.arms < 2:
        raise PowerInputError("arms", f"need at least 2 arms (control + 1), got {design.arms}")
    if design.correction not in CORRECTIONS:
        raise PowerInputError("correction", f"use one of {', '.join(CORRECTIONS)}")
    margin = design.non_inferiority_margin
    if margin is not None:
        if not margin > 0:
            raise PowerInputError("non-inferiority-margin", f"must be > 0, got {margin:g}")
        if design.sides != 1:
            raise PowerInputError(
                "sides", "a non-inferiority test is one-sided; use --sides 1 (e.g. alpha 0.025)"
            )
    if design.guardrails < 0:
        raise PowerInputError("guardrails", "must be >= 0")
    if not -1 < design.cuped_r < 1:
        raise PowerInputError("cuped-r", f"a correlation must be in (-1, 1), got {design.cuped_r}")
    if not 0 <= design.icc < 1:
        raise PowerInputError("icc", f"must be in [0, 1), got {design.icc:g}")
    if design.icc > 0 and design.cluster_size is None:
        raise PowerInputError("cluster-size", "required with --icc (mean users per cluster)")
    if design.cluster_size is not None and not design.cluster_size >= 1:
        raise PowerInputError("cluster-size", f"must be >= 1, got {design.cluster_size:g}")
    if design.cluster_cv < 0:
        raise PowerInputError("cluster-cv", f"must be >= 0, got {design.cluster_cv:g}")
    if design.cluster_cv > 0 and design.cluster_size is None:
        raise PowerInputError("cluster-cv", "needs --cluster-size and --icc")
    if design.sequential not in SEQUENTIAL_METHODS:
        raise PowerInputError("sequential", f"use one of {', '.join(SEQUENTIAL_METHODS)}")
    if design.looks < 1:
        raise PowerInputError("looks", "must be >= 1")
    if design.sequential != "none" and design.looks < 2:
        raise PowerInputError("looks", "a group-sequential design needs --looks >= 2")
    if design.sequential != "none" and design.correction == "dunnett":
        raise PowerInputError(
            "correction", "dunnett is not combined with --sequential; use bonferroni or sidak"
        )
    if not design.max_n > 1:
        raise PowerInputError("max-n", "must be > 1")


def design_effect(icc: float, cluster_size: float | None, cluster_cv: float = 0.0) -> float:
    """Eldridge, Ashby & Kerry (2006): 1 + ((1 + CV^2) m - 1) ICC for variable cluster sizes."""
    if cluster_size is None:
        return 1.0
    return 1 + ((1 + cluster_cv**2) * cluster_size - 1) * icc


def cuped_variance_factor(r: float) -> float:
    """Deng et al. (2013): regression on a pre-period covariate leaves Var x (1 - r^2)."""
    return 1 - r**2


def adjusted_alpha(alpha: float, comparisons: int, correction: Correction) -> float:
    """Per-comparison level used for sizing (Holm sized at its first, Bonferroni, step)."""
    if comparisons <= 1 or correction == "none":
        return alpha
    if correction in ("bonferroni", "holm"):
        return alpha / comparisons
    if correction == "sidak":
        return 1 - (1 - alpha) ** (1 / comparisons)
    raise ValueError("dunnett has no closed-form per-comparison alpha; use dunnett_critical_value")


# --------------------------------------------------------------------------------------------
# Dunnett: equicorrelated multivariate normal / t
# --------------------------------------------------------------------------------------------

_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite_e.hermegauss(96)
_HERMITE_WEIGHTS = _HERMITE_WEIGHTS / math.sqrt(2 * math.pi)


def _max_normal_below(c: np.ndarray, comparisons: int, rho: float, sides: int) -> np.ndarray:
    """P(max_i Z_i < c) (one-sided) or P(max_i |Z_i| < c) for equicorrelated Z (rho >= 0).

    Z_i = sqrt(rho) X + sqrt(1 - rho) e_i, so conditional on X the Z_i are independent; the
    outer expectation over X ~ N(0, 1) is done by Gauss-Hermite quadrature.
    """
    c = np.atleast_1d(np.asarray(c, dtype=float))[:, None]
    shift = math.sqrt(rho) * _HERMITE_NODES[None, :]
    spread = math.sqrt(1 - rho)
    upper = stats.norm.cdf((c - shift) / spread)
    inside = upper - stats.norm.cdf((-c - shift) / spread) if sides == 2 else upper
    return (inside**comparisons) @ _HERMITE_WEIGHTS


def dunnett_exceedance(
    c: float, comparisons: int, rho: float, sides: int = 2, df: float | None = None
) -> float:
    """P(any comparison exceeds c) under H0: the single-step Dunnett adjusted p-value of c."""
    if df is None or math.isinf(df):
        return float(1 - _max_normal_below(np.array([c]), comparisons, rho, sides)[0])

    # T_i = Z_i / S with nu S^2 ~ chi^2_nu independent of Z: integrate over S.
    def integrand(s: float) -> float:
        density = 2 * s * df * stats.chi2.pdf(df * s * s, df)
        return float(density * _max_normal_below(np.array([c * s]), comparisons, rho, sides)[0])

    inside, _ = integrate.quad(integrand, 0, np.inf, epsabs=1e-11, limit=200)
    return 1 - inside


@lru_cache(maxsize=512)
def dunnett_critical_value(
    alpha: float, comparisons: int, rho: float, sides: int = 2, df: float | None = None
) -> float:
    """Critical value c with P(any |T_i| >= c) = alpha for comparisons sharing one control.

    rho is the correlation between comparisons: n_t / (n_c + n_t) with equal variances.
    """
    if comparisons == 1:
        return _marginal_critical(alpha, sides, df)
    return optimize.brentq(
        lambda c: dunnett_exceedance(c, comparisons, rho, sides, df) - alpha, 0.1, 12, xtol=1e-10
    )


def _marginal_critical(alpha: float, sides: int, df: float | None) -> float:
    q = 1 - alpha / sides
    return float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))


# --------------------------------------------------------------------------------------------
# Group-sequential boundaries (recursive numerical integration)
# --------------------------------------------------------------------------------------------

_GRID_R = 32


def _grid(center: float, lower: float, upper: float) -> tuple[np.ndarray, np.ndarray]:
    """Jennison & Turnbull (2000, sec. 19.2) grid and Simpson weights on (lower, upper).

    Points are dense near the mean of Z_k and sparse in the tails; midpoints are added so
    Simpson's rule applies on every pair of intervals.
    """
    r = _GRID_R
    i1 = np.arange(1, r)
    i2 = np.arange(r, 5 * r + 1)
    i3 = np.arange(5 * r + 1, 6 * r)
    base = np.concatenate(
        [
            -3 - 4 * np.log(r / i1),
            -3 + 3 * (i2 - r) / (2 * r),
            3 + 4 * np.log(r / (6 * r - i3)),
        ]
    )
    x = center + base
    x = x[(x > lower) & (x < upper)]
    ends = [lower] if math.isfinite(lower) else []
    tail = [upper] if math.isfinite(upper) else []
    x = np.concatenate([ends, x, tail])
    points = np.empty(2 * len(x) - 1)
    points[0::2] = x
    points[1::2] = (x[:-1] + x[1:]) / 2
    widths = np.diff(x)
    weights = np.zeros_like(points)
    weights[0:-1:2] += widths / 6
    weights[2::2] += widths / 6
    weights[1::2] = 4 * widths / 6
    return points, weights


def crossing_probabilities(
    upper: Sequence[float],
    lower: Sequence[float],
    information_fractions: Sequence[float],
    drift: float,
) -> tuple[np.ndarray, np.ndarray]:
    """P(first crossing above upper[k]) and P(first crossing below lower[k]) at each look.

    Z_k is the standardised statistic at information fraction t_k, with mean drift sqrt(t_k)
    (drift = E[Z] at full information) and independent increments of the score
    (Armitage, McPherson & Rowe 1969).  Use -inf for "no lower boundary".
    """
    t = np.asarray(information_fractions, dtype=float)
    up_cross = np.zeros(len(t))
    low_cross = np.zeros(len(t))
    mean1 = drift * math.sqrt(t[0])
    up_cross[0] = stats.norm.sf(upper[0] - mean1)
    low_cross[0] = stats.norm.cdf(lower[0] - mean1)
    if len(t) == 1:
        return up_cross, low_cross
    z, w = _grid(mean1, lower[0], upper[0])
    density = stats.norm.pdf(z - mean1)
    for k in range(1, len(t)):
        step = t[k] - t[k - 1]
        sd_step = math.sqrt(step)
        prev_score = z * math.sqrt(t[k - 1]) + drift * step
        weighted = w * density
        up_cross[k] = weighted @ stats.norm.sf((upper[k] * math.sqrt(t[k]) - prev_score) / sd_step)
        low_cross[k] = weighted @ stats.norm.cdf(
            (lower[k] * math.sqrt(t[k]) - prev_score) / sd_step
        )
        if k == len(t) - 1:
            break
        z, w_next = _grid(drift * math.sqrt(t[k]), lower[k], upper[k])
        kernel = stats.norm.pdf((z[:, None] * math.sqrt(t[k]) - prev_score[None, :]) / sd_step)
        density = (kernel @ weighted) * math.sqrt(t[k]) / sd_step
        w = w_next
    return up_cross, low_cross


def _lower_of(upper: Sequence[float], sides: int) -> list[float]:
    return [-u for u in upper] if sides == 2 else [-math.inf] * len(upper)


def spending(method: str, t: float, alpha: float) -> float:
    """Lan & DeMets (1983) spending functions; alpha is the one-sided level per tail."""
    if t <= 0:
        return 0.0
    if method == "lan-demets-obf":
        return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))
    if method == "lan-demets-pocock":
        return alpha * math.log(1 + (math.e - 1) * min(t, 1.0))
    raise ValueError(method)


def equally_spaced(looks: int) -> tuple[float, ...]:
    return tuple((k + 1) / looks for k in range(looks))


def group_sequential_boundaries(
    method: str,
    looks: int,
    alpha: float,
    sides: int = 2,
    information_fractions: Sequence[float] | None = None,
) -> tuple[float, ...]:
    """Upper z critical values (two-sided designs are symmetric, no futility boundary).

    alpha is the total level of the test: for sides=2 each tail gets alpha / 2.  Pocock and
    O'Brien-Fleming have constant / c / sqrt(t_k) shapes with c found by root finding; the
    Lan-DeMets boundaries spend alpha / sides per tail look by look (DeMets & Lan 1994).
    """
    t = tuple(information_fractions) if information_fractions else equally_spaced(looks)
    if len(t) != looks:
        raise PowerInputError("looks", "needs one information fraction per look")

    def total_crossing(upper: list[float]) -> float:
        up, low = crossing_probabilities(upper, _lower_of(upper, sides), t, 0.0)
        return float(up.sum() + low.sum())

    if method in ("pocock", "obrien-fleming"):
        shape = [1.0] * looks if method == "pocock" else [1 / math.sqrt(tk) for tk in t]
        c = optimize.brentq(
            lambda c: total_crossing([c * s for s in shape]) - alpha, 0.5, 15, xtol=1e-10
        )
        return tuple(c * s for s in shape)
    if method not in ("lan-demets-obf", "lan-demets-pocock"):
        raise PowerInputError("sequential", f"unknown method {method!r}")
    per_tail = alpha / sides
    bounds: list[float] = []
    for k in range(looks):
        target = spending(method, t[k], per_tail) - spending(
            method, t[k - 1] if k else 0.0, per_tail
        )

        def stage_crossing(c: float, k: int = k) -> float:
            upper = [*bounds, c]
            up, _ = crossing_probabilities(upper, _lower_of(upper, sides), t[: k + 1], 0.0)
            return float(up[k])

        bounds.append(
            optimize.brentq(
                lambda c, target=target: stage_crossing(c) - target, 0.0, 40, xtol=1e-10
            )
        )
    return tuple(bounds)


def sequential_power(
    upper: Sequence[float],
    information_fractions: Sequence[float],
    drift: float,
    sides: int = 2,
    strict: bool = False,
) -> float:
    """P(reject H0 in the effect's direction) at the drift; plus the other tail if strict."""
    up, low = crossing_probabilities(upper, _lower_of(upper, sides), information_fractions, drift)
    return float(up.sum() + (low.sum() if strict else 0.0))


def drift_for_power(
    upper: Sequence[float], information_fractions: Sequence[float], power: float, sides: int = 2
) -> float:
    return optimize.brentq(
        lambda d: sequential_power(upper, information_fractions, d, sides) - power,
        0.0,
        30.0,
        xtol=1e-10,
    )


def naive_peeking_false_positive_rate(looks: int, alpha: float = 0.05, sides: int = 2) -> float:
    """Type-I error of testing at nominal alpha at each of ``looks`` equally spaced looks.

    Armitage, McPherson & Rowe (1969); e.g. 0.142 for 5 looks at two-sided 0.05.
    """
    c = _marginal_critical(alpha, sides, None)
    upper = [c] * looks
    up, low = crossing_probabilities(upper, _lower_of(upper, sides), equally_spaced(looks), 0.0)
    return float(up.sum() + low.sum())


@dataclass(frozen=True)
class SequentialDesign:
    method: str
    looks: int
    alpha: float
    sides: int
    power: float
    information_fractions: tuple[float, ...]
    critical_values: tuple[float, ...]
    nominal_alpha: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]
    inflation_factor: float
    expected_fraction_h0: float
    expected_fraction_h1: float


def _expected_fraction(stop: np.ndarray, t: Sequence[float]) -> float:
    stop = np.asarray(stop, dtype=float).copy()
    stop[-1] = 1 - stop[:-1].sum()
    return float(np.dot(stop, t))


def group_sequential_design(
    method: str, looks: int, alpha: float, sides: int, power: float
) -> SequentialDesign:
    """Boundaries plus inflation factor R = (drift / (z_alpha + z_beta))^2 (J&T sec. 2.3)."""
    t = equally_spaced(looks)
    upper = group_sequential_boundaries(method, looks, alpha, sides, t)
    lower = _lower_of(upper, sides)
    drift = drift_for_power(upper, t, power, sides)
    fixed_drift = _marginal_critical(alpha, sides, None) + stats.norm.ppf(power)
    up0, low0 = crossing_probabilities(upper, lower, t, 0.0)
    up1, low1 = crossing_probabilities(upper, lower, t, drift)
    return SequentialDesign(
        method=method,
        looks=looks,
        alpha=alpha,
        sides=sides,
        power=power,
        information_fractions=t,
        critical_values=tuple(upper),
        nominal_alpha=tuple(float(sides * stats.norm.sf(c)) for c in upper),
        cumulative_alpha=tuple(float(x) for x in np.cumsum(up0 + low0)),
        inflation_factor=(drift / fixed_drift) ** 2,
        expected_fraction_h0=_expected_fraction(up0 + low0, t),
        expected_fraction_h1=_expected_fraction(up1 + low1, t),
    )


# --------------------------------------------------------------------------------------------
# Duration
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Traffic:
    """Daily eligible traffic and the share of it enrolled into the experiment.

    returning="new": every enrolled visit is a new user, U(d) = allocation x daily x d.
    returning="saturating": visitors are drawn from a population P of users, so unique users
    saturate, U(d) = allocation x P x (1 - exp(-d x daily / P)).
    """

    daily_traffic: float
    allocation: float = 1.0
    returning: ReturningModel = "new"
    population: float | None = None
    round_weeks: bool = False


def _validate_traffic(traffic: Traffic) -> None:
    if not traffic.daily_traffic > 0:
        raise PowerInputError("daily-traffic", f"must be > 0, got {traffic.daily_traffic:g}")
    if not 0 < traffic.allocation <= 1:
        raise PowerInputError("allocation", f"a share in (0, 1], got {traffic.allocation:g}")
    if traffic.returning == "saturating":
        if traffic.population is None or not traffic.population > 0:
            raise PowerInputError("population", "the saturating model needs --population > 0")
    elif traffic.returning != "new":
        raise PowerInputError("returning", "use new or saturating")
    elif traffic.population is not None:
        raise PowerInputError("population", "only used with --returning saturating")


def users_after(days: float, traffic: Traffic) -> float:
    """Unique enrolled users after ``days`` days under the traffic model."""
    if traffic.returning == "new":
        return traffic.allocation * traffic.daily_traffic * days
    assert traffic.population is not None
    reach = 1 - math.exp(-days * traffic.daily_traffic / traffic.population)
    return traffic.allocation * traffic.population * reach


def days_needed(total_users: float, traffic: Traffic) -> float:
    """Inverse of users_after; raises when the population can never supply enough users."""
    if traffic.returning == "new":
        return total_users / (traffic.allocation * traffic.daily_traffic)
    assert traffic.population is not None
    reachable = traffic.allocation * traffic.population
    if total_users >= reachable:
        raise PowerInputError(
            "population",
            f"the design needs {total_users:,.0f} users but only {reachable:,.0f} can ever be "
            "enrolled (allocation x population); raise --allocation or the MDE",
        )
    return -traffic.population / traffic.daily_traffic * math.log(1 - total_users / reachable)


def rounded_days(days: float, round_weeks: bool) -> int:
    whole = math.ceil(days - 1e-9)
    return 7 * math.ceil(whole / 7) if round_weeks else whole


def _noncentral_t_sf(x: float, df: float, ncp: float) -> float:
    """P(T > x) for noncentral t; scipy's series returns NaN for huge df or ncp, where the
    normal limit Phi(ncp - x) is exact to double precision anyway."""
    if df < 1e7:
        value = float(stats.nct.sf(x, df, ncp))
        if math.isfinite(value):
            return value
    return float(stats.norm.sf(x - ncp))


# --------------------------------------------------------------------------------------------
# Fixed-design power
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Problem:
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
        _, _, vc, vt = _unit_variances(self.metric, delta, 1.0, self.non_inferiority)
        return math.sqrt(vt / vc) / math.sqrt(self.design.comparisons)

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
        return _marginal_critical(adjusted_alpha(d.alpha, d.comparisons, d.correction), d.sides, df)

    def alpha_per_comparison(self, ratio: float) -> float:
        d = self.design
        if d.correction == "dunnett" and d.comparisons > 1:
            return float(d.sides * stats.norm.sf(self.critical_value(ratio, None)))
        return adjusted_alpha(d.alpha, d.comparisons, d.correction)

    def minimum_n(self, delta: float) -> float:
        """Smallest control-arm n for which the statistic is defined (df >= 1 for t)."""
        if not _uses_t(self.metric):
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
        v0c, v0t, v1c, v1t = _unit_variances(metric, delta, ratio, self.non_inferiority)
        factor = self.variance_factor
        se0 = math.sqrt(factor * (v0c / n_control + v0t / n_treat))
        se1 = math.sqrt(factor * (v1c / n_control + v1t / n_treat))
        effect = _test_scale(metric, delta)
        if self.non_inferiority:
            assert d.non_inferiority_margin is not None
            effect = effect + d.non_inferiority_margin
        else:
            effect = abs(effect)
        correction = 0.0
        if isinstance(metric, ProportionMetric) and metric.continuity_correction:
            correction = 0.5 * (1 / n_control + 1 / n_treat)
        two_tailed = d.strict and d.sides == 2
        if _uses_t(metric):
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
        low, high = _delta_range(self.metric)
        margin = self.design.non_inferiority_margin
        start = -margin + 1e-12 if margin is not None else 0.0
        start = max(start, low + 1e-12)

        def gap(delta: float) -> float:
            return self.power(size(delta), delta) - target

        if math.isfinite(high):
            top = high - 1e-9 * max(1.0, abs(high))
        else:
            top = max(start, 0.0) + _scale(self.metric)
            while gap(top) < 0 and top < 1e12 * _scale(self.metric):
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


# --------------------------------------------------------------------------------------------
# Solve
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PowerResult:
    """All quantities of the solved design; ``solved_for`` names the one that was computed."""

    solved_for: Literal["n", "power", "mde"]
    metric: str
    variance_formula: str
    test: str
    alpha: float
    sides: int
    arms: int
    correction: str
    alpha_per_comparison: float
    critical_value: float
    power: float
    power_per_test: float
    mde_absolute: float
    mde_relative: float | None
    mde_input_scale: Literal["absolute", "relative"]
    baseline: float | None
    treatment_value: float | None
    non_inferiority_margin: float | None
    treatment_ratio: float
    n_control: float
    n_treatment: float
    n_control_units: int
    n_treatment_units: int
    n_total_units: int
    n_fixed_control: float
    cuped_variance_factor: float
    design_effect: float
    clusters_control: int | None
    clusters_treatment: int | None
    days: float | None
    days_rounded: int | None
    power_at_rounded_days: float | None
    sequential: SequentialDesign | None
    naive_peeking_false_positive_rate: float | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _check_probability(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise PowerInputError(name, f"must be in (0, 1), got {value:g}")


def _to_absolute(value: float, relative: bool, baseline: float | None, field_name: str) -> float:
    if not relative:
        return value
    if baseline is None or baseline == 0:
        raise PowerInputError(
            "baseline", f"a relative {field_name} needs a non-zero --baseline to scale by"
        )
    return value * abs(baseline)


def solve(
    metric: Metric,
    design: Design | None = None,
    *,
    n: float | None = None,
    power: float | None = None,
    mde: float | None = None,
    relative: bool = False,
    traffic: Traffic | None = None,
    days: float | None = None,
) -> PowerResult:
    """Solve for whichever of sample size (n or days), power and MDE is missing.

    ``n`` is the control-arm size (every arm when treatment_ratio is 1).  ``days`` with
    ``traffic`` fixes the total enrolled users instead.  ``mde`` is the treatment-minus-control
    difference (relative to the baseline when ``relative``); under non-inferiority it is the
    assumed true difference and the margin is tested.
    """
    design = design or Design()
    _validate_metric(metric)
    _validate_design(design)
    if traffic is not None:
        _validate_traffic(traffic)
    if n is not None and days is not None:
        raise PowerInputError("days", "give either --n or --days, not both")
    if days is not None and traffic is None:
        raise PowerInputError("daily-traffic", "--days needs --daily-traffic to convert to users")
    size_given = n is not None or days is not None
    missing = [
        name
        for name, given in (
            ("n", size_given),
            ("power", power is not None),
            ("mde", mde is not None),
        )
        if not given
    ]
    if len(missing) != 1:
        raise PowerInputError(
            "solve-for",
            "leave out exactly one of sample size (--n or --days), --power and --mde; "
            f"missing now: {', '.join(missing) or 'none'}",
        )
    solved_for = missing[0]
    if power is not None:
        _check_probability("power", power)
    if n is not None and not n > 0:
        raise PowerInputError("n", f"must be > 0, got {n:g}")
    if days is not None and not days > 0:
        raise PowerInputError("days", f"must be > 0, got {days:g}")

    baseline = metric_baseline(metric)
    margin = design.non_inferiority_margin
    if margin is not None and relative:
        margin = _to_absolute(margin, True, baseline, "non-inferiority margin")
        design = replace(design, non_inferiority_margin=margin)
    if (
        isinstance(metric, ProportionMetric)
        and margin is not None
        and (metric.variance != "unpooled")
    ):
        raise PowerInputError(
            "variance",
            "under a non-zero null margin only the unpooled (Wald) variance is defined; "
            "use --variance unpooled",
        )
    problem = _Problem(metric, design)
    comparisons = design.comparisons
    guard_exponent = 1 / (design.guardrails + 1)
    per_test_target = power**guard_exponent if power is not None else None

    delta: float | None = None
    if mde is not None:
        delta = _to_absolute(mde, relative, baseline, "MDE")
        low, high = _delta_range(metric)
        if not low < delta < high:
            assert baseline is not None  # only bounded metrics have a finite range
            raise PowerInputError(
                "mde",
                f"baseline {baseline:g} + MDE {delta:g} = {baseline + delta:g} is outside "
                f"({baseline + low:g}, {baseline + high:g}); choose a smaller MDE",
            )
        if margin is None and delta == 0:
            raise PowerInputError("mde", "must be non-zero (the effect to detect)")
        if margin is not None and delta <= -margin:
            raise PowerInputError(
                "mde", f"the assumed true difference {delta:g} is not above -margin {-margin:g}"
            )

    seq: SequentialDesign | None = None
    warnings: list[str] = []
    notes: list[str] = []

    def n_from_days(delta_value: float) -> float:
        assert days is not None and traffic is not None
        total = users_after(days, traffic)
        return total / (1 + comparisons * problem.ratio(delta_value))

    size_of: Callable[[float], float]
    if n is not None:
        n_given = float(n)

        def size_of(_: float) -> float:
            return n_given
    elif days is not None:
        size_of = n_from_days

    # --- fixed-design quantities, then sequential inflation --------------------------------
    if solved_for == "n":
        assert delta is not None and per_test_target is not None
        n_fixed = problem.solve_n(delta, per_test_target)
        inflation = 1.0
        if design.sequential != "none":
            seq = group_sequential_design(
                design.sequential,
                design.looks,
                problem.alpha_per_comparison(problem.ratio(delta)),
                design.sides,
                per_test_target,
            )
            inflation = seq.inflation_factor
        n_control = n_fixed * inflation
        if n_control > design.max_n:
            raise PowerInputError(
                "mde", f"needs {n_control:,.0f} per arm, above --max-n {design.max_n:g}"
            )
        per_test_power = per_test_target
    elif solved_for == "mde":
        assert per_test_target is not None
        inflation = 1.0
        if design.sequential != "none":
            seq = group_sequential_design(
                design.sequential,
                design.looks,
                problem.alpha_per_comparison(problem.ratio(0.0)),
                design.sides,
                per_test_target,
            )
            inflation = seq.inflation_factor
        delta = problem.solve_delta(lambda d: size_of(d) / inflation, per_test_target)
        n_control = size_of(delta)
        n_fixed = n_control / inflation
        per_test_power = per_test_target
    else:
        assert delta is not None
        n_control = size_of(delta)
        if n_control < problem.minimum_n(delta):
            raise PowerInputError("n", f"too small for a t test ({n_control:g} per arm)")
        n_fixed = n_control
        fixed_power = problem.power(n_control, delta)
        per_test_power = fixed_power
        if design.sequential != "none":
            alpha_c = problem.alpha_per_comparison(problem.ratio(delta))
            drift = _marginal_critical(alpha_c, design.sides, None) + stats.norm.ppf(fixed_power)
            t = equally_spaced(design.looks)
            upper = group_sequential_boundaries(
                design.sequential, design.looks, alpha_c, design.sides, t
            )
            per_test_power = sequential_power(upper, t, drift, design.sides, design.strict)
            seq = group_sequential_design(
                design.sequential, design.looks, alpha_c, design.sides, per_test_power
            )
            n_fixed = n_control / seq.inflation_factor
            notes.append(
                "sequential power: fixed-design power at n_max converted to the drift "
                "z_(1-alpha) + z_power, then integrated over the boundaries"
            )

    assert delta is not None
    ratio = problem.ratio(delta)
    n_treatment = n_control * ratio
    n_control_units = math.ceil(n_control - 1e-9)
    n_treatment_units = math.ceil(n_treatment - 1e-9)
    n_total_units = n_control_units + comparisons * n_treatment_units
    overall_power = per_test_power ** (design.guardrails + 1)

    clusters_control = clusters_treatment = None
    if design.cluster_size is not None:
        clusters_control = math.ceil(n_control / design.cluster_size - 1e-9)
        clusters_treatment = math.ceil(n_treatment / design.cluster_size - 1e-9)

    days_exact = days_round = None
    power_rounded = None
    if traffic is not None:
        if days is not None:
            days_exact = float(days)
            days_round = rounded_days(days, traffic.round_weeks)
        else:
            days_exact = days_needed(n_total_units, traffic)
            days_round = rounded_days(days_exact, traffic.round_weeks)
        if solved_for == "n" and design.sequential == "none":
            n_at_rounded = users_after(days_round, traffic) / (1 + comparisons * ratio)
            power_rounded = problem.power(n_at_rounded, delta) ** (design.guardrails + 1)

    naive_fpr = None
    if design.looks > 1:
        naive_fpr = naive_peeking_false_positive_rate(
            design.looks, problem.alpha_per_comparison(ratio), design.sides
        )
        warnings.append(
            f"peeking at {design.looks} equally spaced looks with an unadjusted test at "
            f"alpha {problem.alpha_per_comparison(ratio):.3g} gives a false-positive rate of "
            f"{naive_fpr:.3f} (Armitage et al. 1969)"
            + ("; use --sequential" if design.sequential == "none" else "")
        )
    if design.correction == "holm" and comparisons > 1:
        notes.append("holm sized at its first step (alpha/m, as Bonferroni): conservative")
    if design.guardrails:
        notes.append(
            f"guardrails: each of 1 + {design.guardrails} tests sized for power "
            f"{per_test_power:.4f} so that the product (all pass, independent tests) is "
            f"{overall_power:.4f}"
        )
    if design.sequential != "none" and _uses_t(metric):
        notes.append("group-sequential boundaries use the normal approximation")
    if design.treatment_ratio == "optimal":
        notes.append(
            "optimal ratio: Neyman allocation n_t/n_c = (sd_t/sd_c)/sqrt(m), minimising the "
            "total n for the variance of each treatment-vs-control difference"
        )

    alpha_c = problem.alpha_per_comparison(ratio)
    mde_relative = delta / abs(baseline) if baseline not in (None, 0) else None
    treatment_value = baseline + delta if baseline is not None else None
    return PowerResult(
        solved_for=solved_for,  # type: ignore[arg-type]
        metric=metric_kind(metric),
        variance_formula=variance_formula(metric),
        test="t" if _uses_t(metric) else "z",
        alpha=design.alpha,
        sides=design.sides,
        arms=design.arms,
        correction=design.correction,
        alpha_per_comparison=alpha_c,
        critical_value=problem.critical_value(ratio, None),
        power=overall_power,
        power_per_test=per_test_power,
        mde_absolute=delta,
        mde_relative=mde_relative,
        mde_input_scale="relative" if relative else "absolute",
        baseline=baseline,
        treatment_value=treatment_value,
        non_inferiority_margin=margin,
        treatment_ratio=ratio,
        n_control=n_control,
        n_treatment=n_treatment,
        n_control_units=n_control_units,
        n_treatment_units=n_treatment_units,
        n_total_units=n_total_units,
        n_fixed_control=n_fixed,
        cuped_variance_factor=cuped_variance_factor(design.cuped_r),
        design_effect=design_effect(design.icc, design.cluster_size, design.cluster_cv),
        clusters_control=clusters_control,
        clusters_treatment=clusters_treatment,
        days=days_exact,
        days_rounded=days_round,
        power_at_rounded_days=power_rounded,
        sequential=seq,
        naive_peeking_false_positive_rate=naive_fpr,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )
