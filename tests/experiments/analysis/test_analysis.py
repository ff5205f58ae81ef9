"""Analysis from sufficient statistics against scipy / statsmodels, plus simulations whose
tolerances are a few Monte Carlo standard errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest

from experiments.analysis.comparisons import (
    cuped_ztest,
    ratio_ztest,
    two_proportion_ztest,
    welch_ttest,
)
from experiments.analysis.decisions import adjust_p_values, sequential_decision, srm_check
from experiments.analysis.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from experiments.planning.metrics import RatioMetric
from experiments.planning.sequential import group_sequential_boundaries

# --------------------------------------------------------------------------------------------
# Tests against library implementations
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("sides", "alternative"), [(2, "two-sided"), (1, "larger")])
def test_two_proportion_ztest_matches_statsmodels(sides: int, alternative: str) -> None:
    control = ProportionStatistic(n=10000, sum=500)
    treatment = ProportionStatistic(n=9800, sum=560)
    result = two_proportion_ztest(control, treatment, sides=sides)
    z, p = proportions_ztest([560, 500], [9800, 10000], alternative=alternative)
    assert result.statistic == pytest.approx(z, rel=1e-10)
    assert result.p_value == pytest.approx(p, rel=1e-8)
    assert result.absolute_effect == pytest.approx(560 / 9800 - 0.05)
    wald_se = math.sqrt(0.05 * 0.95 / 10000 + (560 / 9800) * (1 - 560 / 9800) / 9800)
    assert result.se == pytest.approx(wald_se)


@pytest.mark.parametrize(("sides", "alternative"), [(2, "two-sided"), (1, "greater")])
def test_welch_ttest_matches_scipy(sides: int, alternative: str) -> None:
    rng = np.random.default_rng(11)
    control = rng.gamma(2.0, 10.0, 400)
    treatment = rng.gamma(2.2, 10.0, 650)
    result = welch_ttest(
        SampleMeanStatistic.from_values(control),
        SampleMeanStatistic.from_values(treatment),
        sides=sides,
    )
    expected = stats.ttest_ind(treatment, control, equal_var=False, alternative=alternative)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-7)
    assert result.df == pytest.approx(expected.df, rel=1e-9)
    interval = expected.confidence_interval(0.95)
    assert result.ci_lower == pytest.approx(interval.low, rel=1e-9)
    if sides == 2:
        assert result.ci_upper == pytest.approx(interval.high, rel=1e-9)
    else:
        assert math.isinf(result.ci_upper)


def test_adjustments_match_statsmodels_and_hand_computation() -> None:
    p = [0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205]
    m = len(p)
    order = np.argsort(p)
    sorted_p = np.array(p)[order]
    holm = np.minimum(1, np.maximum.accumulate((m - np.arange(m)) * sorted_p))
    bh = np.minimum(1, np.minimum.accumulate((m / np.arange(m, 0, -1)) * sorted_p[::-1]))[::-1]
    hand = {"bonferroni": np.minimum(1, m * np.array(p)), "holm": np.empty(m), "bh": np.empty(m)}
    hand["holm"][order] = holm
    hand["bh"][order] = bh
    for method, sm_name in (("bonferroni", "bonferroni"), ("holm", "holm"), ("bh", "fdr_bh")):
        result = adjust_p_values(p, method, alpha=0.05)  # type: ignore[arg-type]
        reject, adjusted, _, _ = multipletests(p, alpha=0.05, method=sm_name)
        assert result.adjusted == pytest.approx(list(adjusted), rel=1e-12)
        assert result.adjusted == pytest.approx(list(hand[method]), rel=1e-12)
        assert result.reject == tuple(bool(r) for r in reject)
    # Holm: 7 x 0.008 = 0.056 > 0.05 stops after one rejection; BH (FDR) is more liberal:
    # 8/2 x 0.008 = 0.032 <= 0.05 rejects the second too.
    assert adjust_p_values(p, "holm").reject == (True,) + (False,) * 7
    assert adjust_p_values(p, "bh").reject == (True, True) + (False,) * 6


def test_srm_check_matches_chi_square_by_hand() -> None:
    result = srm_check([5000, 5200], [0.5, 0.5])
    statistic = 2 * 100**2 / 5100
    assert result.statistic == pytest.approx(statistic)
    assert result.p_value == pytest.approx(stats.chi2.sf(statistic, 1))
    assert not result.mismatch  # p = 0.048 > 0.001
    skewed = srm_check([10000, 10600, 9400], [1, 1, 1])
    assert skewed.mismatch and skewed.p_value < 1e-10
    assert srm_check([2000, 8000], [0.2, 0.8]).statistic == pytest.approx(0.0)


# --------------------------------------------------------------------------------------------
# Summability
# --------------------------------------------------------------------------------------------

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(finite, finite), min_size=3, max_size=60),
    st.integers(min_value=1, max_value=59),
    st.integers(min_value=1, max_value=59),
)
def test_statistics_from_chunks_sum_to_statistics_of_whole(
    rows: list[tuple[float, float]], cut_a: int, cut_b: int
) -> None:
    x = np.array([r[0] for r in rows])
    y = np.array([r[1] for r in rows])
    i, j = sorted((cut_a % len(rows), cut_b % len(rows)))
    chunks = [slice(0, i), slice(i, j), slice(j, None)]
    for cls, make in (
        (SampleMeanStatistic, lambda s: SampleMeanStatistic.from_values(x[s])),
        (ProportionStatistic, lambda s: ProportionStatistic.from_values(x[s] > 0)),
        (RatioStatistic, lambda s: RatioStatistic.from_values(x[s], y[s])),
        (
            RegressionAdjustedStatistic,
            lambda s: RegressionAdjustedStatistic.from_values(y[s], x[s]),
        ),
    ):
        a, b, c = (make(s) for s in chunks)
        whole = make(slice(None))
        left, right = (a + b) + c, a + (b + c)
        assert isinstance(left, cls)
        for name, value in vars(whole).items():
            assert getattr(left, name) == pytest.approx(value, rel=1e-9, abs=1e-6)
            assert getattr(right, name) == pytest.approx(value, rel=1e-9, abs=1e-6)


# --------------------------------------------------------------------------------------------
# Simulation checks
# --------------------------------------------------------------------------------------------


def test_delta_method_se_matches_simulation() -> None:
    """Revenue per order with per-user orders and revenue strongly correlated.

    With R replicates the sample SD of the ratio has relative standard error about
    1/sqrt(2(R - 1)) = 1.1% for R = 4000; we allow 4 of those.  Ignoring the covariance
    term would inflate the SE by far more (checked below), so the test can fail.
    """
    rng = np.random.default_rng(20240601)
    replicates, users = 4000, 800
    orders = rng.poisson(1.5, size=(replicates, users)) + 1
    revenue = orders * rng.gamma(4.0, 5.0, size=(replicates, users))
    ratios = revenue.sum(axis=1) / orders.sum(axis=1)
    empirical_sd = ratios.std(ddof=1)
    ses = []
    no_cov = []
    for r in range(0, replicates, 50):
        stat = RatioStatistic.from_values(revenue[r], orders[r])
        ses.append(math.sqrt(stat.ratio_variance))
        mx, my = stat.x_mean, stat.y_mean
        no_cov.append(
            math.sqrt((stat.x_variance / my**2 + mx**2 * stat.y_variance / my**4) / users)
        )
    tolerance = 4 / math.sqrt(2 * (replicates - 1))
    assert np.mean(ses) == pytest.approx(empirical_sd, rel=tolerance)
    assert abs(np.mean(no_cov) / empirical_sd - 1) > 5 * tolerance


def test_ratio_ztest_uses_delta_variances() -> None:
    rng = np.random.default_rng(5)
    orders_c, orders_t = rng.poisson(2, 3000) + 1, rng.poisson(2, 3000) + 1
    control = RatioStatistic.from_values(orders_c * rng.gamma(3, 10, 3000), orders_c)
    treatment = RatioStatistic.from_values(orders_t * rng.gamma(3, 11, 3000), orders_t)
    result = ratio_ztest(control, treatment)
    se = math.sqrt(control.ratio_variance + treatment.ratio_variance)
    assert result.se == pytest.approx(se)
    assert result.statistic == pytest.approx((treatment.ratio - control.ratio) / se)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(result.statistic)))


def test_cuped_theta_effect_and_variance_reduction() -> None:
    rng = np.random.default_rng(3)
    n = 20000
    pre_c, pre_t = rng.normal(10, 3, n), rng.normal(10, 3, n)
    post_c = 0.8 * pre_c + rng.normal(0, 2, n)
    post_t = 0.8 * pre_t + rng.normal(0, 2, n) + 0.1
    control = RegressionAdjustedStatistic.from_values(post_c, pre_c)
    treatment = RegressionAdjustedStatistic.from_values(post_t, pre_t)
    result = cuped_ztest(control, treatment)
    pre, post = np.concatenate([pre_c, pre_t]), np.concatenate([post_c, post_t])
    theta = np.polyfit(pre, post, 1)[0]
    expected = (post_t.mean() - post_c.mean()) - theta * (pre_t.mean() - pre_c.mean())
    assert result.absolute_effect == pytest.approx(expected, rel=1e-9)
    plain = welch_ttest(
        SampleMeanStatistic.from_values(post_c), SampleMeanStatistic.from_values(post_t)
    )
    rho = np.corrcoef(pre, post)[0, 1]
    # Deng et al. (2013): Var shrinks by (1 - rho^2); sample moments differ from the
    # population ones by O(1/sqrt(n)) ~ 1%, allow 3%.
    assert (result.se / plain.se) ** 2 == pytest.approx(1 - rho**2, rel=0.03)
    assert result.ci_lower < 0.1 < result.ci_upper


def test_sequential_decisions() -> None:
    bounds = (4.562, 3.226, 2.634, 2.281, 2.040)
    assert sequential_decision([1.0, 2.0], bounds).action == "continue"
    decision = sequential_decision([1.0, 3.3], bounds)
    assert (decision.action, decision.look) == ("reject", 2)
    assert sequential_decision([0.0, -3.3], bounds).action == "reject"
    assert sequential_decision([0.0, -3.3], bounds, sides=1).action == "continue"
    assert sequential_decision([1.0, 1.0, 1.0, 1.0, 2.0], bounds).action == "accept"
    with pytest.raises(ValueError):
        sequential_decision([1.0] * 6, bounds)


@pytest.mark.parametrize(
    ("method", "target"),
    [("obrien-fleming", 0.05), ("pocock", 0.05), ("lan-demets-obf", 0.05), ("naive", 0.142)],
)
def test_sequential_type_one_error_by_simulation(method: str, target: float) -> None:
    """Z at 5 equally spaced looks under H0; 20000 trials give MC SE sqrt(a(1-a)/20000)."""
    looks, trials = 5, 20000
    bounds = (
        (stats.norm.ppf(0.975),) * looks
        if method == "naive"
        else group_sequential_boundaries(method, looks, 0.05, 2)
    )
    rng = np.random.default_rng(42)
    score = np.cumsum(rng.normal(size=(trials, looks)), axis=1)
    z = score / np.sqrt(np.arange(1, looks + 1))
    rejected = sum(sequential_decision(row, bounds).action == "reject" for row in z)
    mc_se = math.sqrt(target * (1 - target) / trials)
    assert rejected / trials == pytest.approx(target, abs=4 * mc_se)


def test_planned_and_analysed_ratio_share_one_delta_method_variance() -> None:
    """The power calculator sizes a ratio metric with the variance the analysis tests it with:
    the same per-unit moments give the same number, to the last bit."""
    rng = np.random.default_rng(11)
    orders = rng.poisson(3.0, 500).astype(float) + 1
    revenue = orders * rng.gamma(2.0, 20.0, 500)
    measured = RatioStatistic.from_values(revenue, orders)
    planned = RatioMetric(measured.x_mean, measured.y_mean, measured.x_variance,
                          measured.y_variance, measured.covariance)
    assert planned.unit_variance / measured.n == measured.ratio_variance
    assert planned.baseline == pytest.approx(measured.ratio)
