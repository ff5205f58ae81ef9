"""Power calculator against published values (R, pwr, G*Power-equivalent, Spotify confidence,
Evan Miller) and against statsmodels where it computes the same thing: one comparison of two
arms, every metric, duration and refused input. Several arms and guardrails are in
test_power_multiarm.py, group-sequential designs in test_power_sequential.py.

Every tolerance is the rounding of the published value or the stated precision of the
software that produced it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from experiments.planning.design import Design, design_effect
from experiments.planning.duration import Traffic, days_needed, users_after
from experiments.planning.errors import PowerInputError
from experiments.planning.metrics import (
    CountMetric,
    MeanMetric,
    ProportionMetric,
    RatioMetric,
    cohens_h,
)
from experiments.planning.solver import solve


def p2_for_h(p1: float, h: float) -> float:
    """The proportion whose Cohen's h against p1 is h."""
    return math.sin(h / 2 + math.asin(math.sqrt(p1))) ** 2


# --------------------------------------------------------------------------------------------
# R stats / pwr
# --------------------------------------------------------------------------------------------


def test_power_prop_test_sample_size_matches_r_documentation() -> None:
    # R ?power.prop.test example: power.prop.test(p1 = .50, p2 = .75, power = .90) => n = 76.7
    # printed to 3 significant digits, so +-0.05.
    result = solve(ProportionMetric(0.5, "pooled"), power=0.9, mde=0.25)
    assert result.n_control == pytest.approx(76.7, abs=0.05)
    assert result.n_control_units == 77


def test_power_prop_test_power_matches_r_documentation() -> None:
    # R ?power.prop.test example: power.prop.test(n = 50, p1 = .50, p2 = .75) => power = 0.740
    result = solve(ProportionMetric(0.5, "pooled"), n=50, mde=0.25)
    assert result.power == pytest.approx(0.740, abs=5e-4)


def test_power_t_test_matches_r_documentation() -> None:
    # R ?power.t.test: power.t.test(power = .90, delta = 1) => n = 22.02110; R's uniroot uses
    # tol = eps^0.25 = 1.2e-4 on n.
    assert solve(MeanMetric(1.0, test="t"), power=0.9, mde=1.0).n_control == pytest.approx(
        22.02110, abs=1.2e-4
    )
    # power.t.test(n = 20, delta = 1) => power = 0.8689528 (7 decimals printed).
    assert solve(MeanMetric(1.0, test="t"), n=20, mde=1.0).power == pytest.approx(
        0.8689528, abs=5e-8
    )


def test_pwr_2p_test_matches_pwr_documentation() -> None:
    # pwr.2p.test(h = 0.3, power = 0.80) => n = 174.4195; pwr counts both tails (strict) and
    # solves with uniroot (tol eps^0.25 on a [2, 1e9] bracket): allow 1e-3.
    mde = p2_for_h(0.5, 0.3) - 0.5
    result = solve(ProportionMetric(0.5, "arcsine"), Design(strict=True), power=0.8, mde=mde)
    assert result.n_control == pytest.approx(174.4195, abs=1e-3)


def test_pwr_t_test_matches_pwr_documentation() -> None:
    # pwr.t.test(d = 0.8, power = 0.80) => n = 25.52457 (printed to 7 significant digits).
    result = solve(MeanMetric(1.0, test="t"), Design(strict=True), power=0.8, mde=0.8)
    assert result.n_control == pytest.approx(25.52457, abs=1e-5)


# --------------------------------------------------------------------------------------------
# statsmodels cross-checks (same formula, so agreement to root-finding precision)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ratio", [1.0, 2.0, 0.5])
def test_arcsine_matches_statsmodels_normal_ind_power(ratio: float) -> None:
    # NormalIndPower with proportion_effectsize(0.75, 0.5) and power 0.9 gives 76.65294,
    # the arcsine (not the pooled power.prop.test) answer for p1 = .5, p2 = .75.
    h = proportion_effectsize(0.75, 0.5)
    expected = NormalIndPower().solve_power(h, power=0.9, alpha=0.05, ratio=ratio)
    result = solve(
        ProportionMetric(0.5, "arcsine"),
        Design(strict=True, treatment_ratio=ratio),
        power=0.9,
        mde=0.25,
    )
    assert h == pytest.approx(cohens_h(0.5, 0.75), rel=1e-12)
    assert result.n_control == pytest.approx(expected, rel=1e-6)
    if ratio == 1.0:
        assert result.n_control == pytest.approx(76.65294, abs=1e-5)


@pytest.mark.parametrize(
    ("ratio", "alternative", "sides"),
    [(1.0, "two-sided", 2), (3.0, "two-sided", 2), (1.0, "larger", 1)],
)
def test_t_test_matches_statsmodels_ttest_ind_power(
    ratio: float, alternative: str, sides: int
) -> None:
    expected = TTestIndPower().solve_power(
        0.35, power=0.85, alpha=0.05, ratio=ratio, alternative=alternative
    )
    result = solve(
        MeanMetric(2.0, test="t"),
        Design(strict=True, treatment_ratio=ratio, sides=sides),
        power=0.85,
        mde=0.7,
    )
    assert result.n_control == pytest.approx(expected, rel=1e-6)


def test_mde_solve_matches_statsmodels_effect_size() -> None:
    result = solve(MeanMetric(3.0), Design(strict=True), n=500, power=0.8)
    # statsmodels' power function is exact: our MDE must give exactly the target power.
    assert NormalIndPower().power(result.mde_absolute / 3.0, 500, 0.05) == pytest.approx(
        0.8, abs=1e-9
    )
    # Its solve_power stops early (its own answer has power 0.8000005), so compare the
    # effect only to that solver's precision.
    effect = NormalIndPower().solve_power(nobs1=500, power=0.8, alpha=0.05, ratio=1.0)
    assert result.mde_absolute == pytest.approx(effect * 3.0, rel=1e-5)


# --------------------------------------------------------------------------------------------
# Spotify confidence (unpooled variance, unequal weights); its unit tests give totals after
# rounding n_treatment up and then the total up, so the exact total is within 1 + 2.5 + 1.
# --------------------------------------------------------------------------------------------

SPOTIFY_ROUNDING = 1 + 2.5 + 1  # ceil(n2), times (1 + kappa) with kappa = 2.5, then ceil


def test_unpooled_mean_matches_spotify_confidence() -> None:
    # tests/frequentist/test_freqsamplesizecalculator.py::test_sample_size_6: avg 4.56,
    # var 2.13, relative mde 0.01, interval 0.99, power 0.8, weights [5000, 2000] => 58622.
    result = solve(
        MeanMetric(math.sqrt(2.13), baseline=4.56),
        Design(alpha=0.01, treatment_ratio=2000 / 5000),
        power=0.8,
        mde=0.01,
        relative=True,
    )
    assert abs(result.n_control + result.n_treatment - 58622) <= SPOTIFY_ROUNDING


def test_unpooled_proportion_matches_spotify_confidence() -> None:
    # test_sample_size_7: binary avg 0.7, relative mde 0.00617, interval 0.95, power 0.9,
    # weights [5000, 2000], two success metrics with Bonferroni (SPOT_1) => alpha 0.025 each
    # => 680575.
    result = solve(
        ProportionMetric(0.7, "unpooled"),
        Design(alpha=0.025, treatment_ratio=0.4),
        power=0.9,
        mde=0.00617,
        relative=True,
    )
    assert abs(result.n_control + result.n_treatment - 680575) <= SPOTIFY_ROUNDING


def test_non_inferiority_matches_spotify_confidence() -> None:
    # test_sample_size_5: binary avg 0.7, relative NIM 0.00617, preference increase,
    # interval 0.99 (one-sided 0.01), power 0.8, weights [5000, 2000] => 553620.
    result = solve(
        ProportionMetric(0.7, "unpooled"),
        Design(alpha=0.01, sides=1, non_inferiority_margin=0.00617, treatment_ratio=0.4),
        power=0.8,
        mde=0.0,
        relative=True,
    )
    assert abs(result.n_control + result.n_treatment - 553620) <= SPOTIFY_ROUNDING


# --------------------------------------------------------------------------------------------
# Formulas with closed forms
# --------------------------------------------------------------------------------------------


def z(q: float) -> float:
    return float(stats.norm.ppf(q))


def test_continuity_correction_matches_fleiss_formula() -> None:
    # Fleiss, Tytun & Ury (1980): n_cc = n/4 (1 + sqrt(1 + 4 / (n |p2 - p1|))) ^ 2.
    plain = solve(ProportionMetric(0.1, "unpooled"), power=0.8, mde=0.05).n_control
    corrected = solve(
        ProportionMetric(0.1, "unpooled", continuity_correction=True), power=0.8, mde=0.05
    ).n_control
    fleiss = plain / 4 * (1 + math.sqrt(1 + 4 / (plain * 0.05))) ** 2
    assert corrected == pytest.approx(fleiss, rel=1e-8)


def test_one_sided_z_mean_closed_form() -> None:
    expected = 2 * (z(0.95) + z(0.8)) ** 2 * 4.0**2 / 1.0**2
    result = solve(MeanMetric(4.0), Design(sides=1), power=0.8, mde=1.0)
    assert result.n_control == pytest.approx(expected, rel=1e-8)


def test_ratio_metric_uses_delta_method_variance() -> None:
    metric = RatioMetric(30.0, 1.5, 900.0, 1.0, 20.0)
    unit_var = 900 / 1.5**2 - 2 * 30 * 20 / 1.5**3 + 30**2 * 1 / 1.5**4
    expected = 2 * (z(0.975) + z(0.8)) ** 2 * unit_var / 0.5**2
    assert solve(metric, power=0.8, mde=0.5).n_control == pytest.approx(expected, rel=1e-8)


def test_negative_binomial_and_poisson_counts() -> None:
    lam, delta, k = 2.0, 0.1, 1.5
    poisson = solve(CountMetric(lam), power=0.8, mde=delta).n_control
    expected_poisson = (z(0.975) + z(0.8)) ** 2 * (lam + lam + delta) / delta**2
    assert poisson == pytest.approx(expected_poisson, rel=1e-8)
    negbin = solve(CountMetric(lam, "negbin", dispersion=k), power=0.8, mde=delta).n_control
    var = (lam + lam**2 / k) + (lam + delta + (lam + delta) ** 2 / k)
    assert negbin == pytest.approx((z(0.975) + z(0.8)) ** 2 * var / delta**2, rel=1e-8)


def test_cuped_multiplies_n_by_one_minus_r_squared() -> None:
    plain = solve(MeanMetric(5.0), power=0.8, mde=0.3).n_control
    cuped = solve(MeanMetric(5.0), Design(cuped_r=0.6), power=0.8, mde=0.3).n_control
    assert cuped == pytest.approx(plain * (1 - 0.36), rel=1e-8)


def test_cluster_design_effect_and_cluster_count() -> None:
    # Eldridge et al. (2006): 1 + ((1 + CV^2) m - 1) ICC.
    assert design_effect(0.01, 50, 0.3) == pytest.approx(1 + (1.09 * 50 - 1) * 0.01)
    plain = solve(MeanMetric(5.0), power=0.8, mde=0.3).n_control
    result = solve(
        MeanMetric(5.0), Design(icc=0.01, cluster_size=50, cluster_cv=0.3), power=0.8, mde=0.3
    )
    assert result.n_control == pytest.approx(plain * 1.535, rel=1e-8)
    assert result.clusters_control == math.ceil(result.n_control / 50)


def test_non_inferiority_closed_form() -> None:
    # H0: effect <= -margin, true effect 0, one-sided: n = 2 (z_a + z_b)^2 sd^2 / margin^2.
    result = solve(
        MeanMetric(2.0),
        Design(sides=1, alpha=0.025, non_inferiority_margin=0.25),
        power=0.9,
        mde=0.0,
    )
    assert result.n_control == pytest.approx(2 * (z(0.975) + z(0.9)) ** 2 * 4 / 0.25**2, rel=1e-8)


# --------------------------------------------------------------------------------------------
# Round trips over every metric: n -> power and n -> MDE recover the inputs
# --------------------------------------------------------------------------------------------

METRICS = [
    ProportionMetric(0.05, "pooled"),
    ProportionMetric(0.05, "unpooled", continuity_correction=True),
    ProportionMetric(0.05, "arcsine"),
    MeanMetric(12.0, baseline=40.0, test="t"),
    MeanMetric(12.0, sd_treatment=15.0, baseline=40.0),
    RatioMetric(30.0, 1.5, 900.0, 1.0, 20.0),
    CountMetric(2.0, "negbin", dispersion=1.5, variance="pooled"),
]


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: type(m).__name__)
def test_round_trip_through_all_solve_modes(metric: object) -> None:
    design = Design(treatment_ratio=1.5, arms=3, correction="bonferroni")
    sized = solve(metric, design, power=0.8, mde=0.1, relative=True)  # type: ignore[arg-type]
    powered = solve(metric, design, n=sized.n_control, mde=0.1, relative=True)  # type: ignore[arg-type]
    assert powered.power == pytest.approx(0.8, abs=1e-7)
    detected = solve(metric, design, n=sized.n_control, power=0.8)  # type: ignore[arg-type]
    assert detected.mde_relative == pytest.approx(0.1, rel=1e-6)
    assert sized.mde_input_scale == "relative"


# --------------------------------------------------------------------------------------------
# Duration
# --------------------------------------------------------------------------------------------


def test_duration_new_users_and_weeks() -> None:
    traffic = Traffic(daily_traffic=20000, allocation=0.5, round_weeks=True)
    result = solve(ProportionMetric(0.05), power=0.8, mde=0.1, relative=True, traffic=traffic)
    assert result.days == pytest.approx(result.n_total_units / 10000)
    assert result.days_rounded is not None
    assert result.days_rounded % 7 == 0 and result.days_rounded >= result.days
    assert result.power_at_rounded_days is not None and result.power_at_rounded_days >= 0.8


def test_duration_saturating_model_inverts_and_limits() -> None:
    traffic = Traffic(daily_traffic=10000, returning="saturating", population=200000)
    days = days_needed(100000, traffic)
    assert users_after(days, traffic) == pytest.approx(100000)
    assert days == pytest.approx(-20 * math.log(0.5))
    with pytest.raises(PowerInputError) as error:
        days_needed(250000, traffic)
    assert error.value.field == "population"


def test_days_given_solves_power() -> None:
    traffic = Traffic(daily_traffic=1000)
    by_days = solve(MeanMetric(1.0), n=None, days=14, mde=0.1, traffic=traffic)
    by_n = solve(MeanMetric(1.0), n=7000, mde=0.1)
    assert by_days.power == pytest.approx(by_n.power)


# --------------------------------------------------------------------------------------------
# Infeasible and contradictory input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: solve(ProportionMetric(1.2), power=0.8, mde=0.1), "baseline"),
        (lambda: solve(ProportionMetric(0.0), power=0.8, mde=0.1), "baseline"),
        (lambda: solve(ProportionMetric(0.95), power=0.8, mde=0.1), "mde"),
        (lambda: solve(ProportionMetric(0.05), power=0.8, mde=1e-7), "mde"),
        (lambda: solve(ProportionMetric(0.05), n=2, power=0.8), "n"),
        (lambda: solve(ProportionMetric(0.05), power=1.2, mde=0.01), "power"),
        (lambda: solve(ProportionMetric(0.05), mde=0.01), "solve-for"),
        (lambda: solve(ProportionMetric(0.05), n=10, power=0.8, mde=0.01), "solve-for"),
        (lambda: solve(MeanMetric(1.0), days=10, mde=0.1), "daily-traffic"),
        (lambda: solve(MeanMetric(1.0), power=0.8, mde=0.0), "mde"),
        (
            lambda: solve(MeanMetric(1.0), Design(non_inferiority_margin=0.1), power=0.8, mde=0.0),
            "sides",
        ),
        (
            lambda: solve(
                ProportionMetric(0.1),
                Design(sides=1, non_inferiority_margin=0.01),
                power=0.8,
                mde=0.0,
            ),
            "variance",
        ),
        (lambda: solve(MeanMetric(1.0), Design(icc=0.1), power=0.8, mde=0.1), "cluster-size"),
        (lambda: solve(MeanMetric(1.0), Design(sequential="pocock"), power=0.8, mde=0.1), "looks"),
        (
            lambda: solve(
                MeanMetric(1.0),
                Design(arms=3, correction="dunnett", sequential="pocock", looks=3),
                power=0.8,
                mde=0.1,
            ),
            "correction",
        ),
        (lambda: solve(RatioMetric(1, 1, 1, 1, 5), power=0.8, mde=0.1), "num-den-cov"),
        (lambda: solve(CountMetric(2.0, "negbin"), power=0.8, mde=0.1), "dispersion"),
        (lambda: solve(MeanMetric(1.0), power=0.8, mde=0.1, relative=True), "baseline"),
    ],
)
def test_bad_input_raises_power_input_error(call: object, field: str) -> None:
    with pytest.raises(PowerInputError) as error:
        call()  # type: ignore[operator]
    assert error.value.field == field
    assert error.value.message


def test_evan_miller_convention_matches_his_calculator() -> None:
    """evanmiller.org/ab-testing/sample-size.html, its default example: baseline 20%, minimum
    detectable effect 5 points absolute, alpha 5%, power 80% -> 1,030 per variation. The null
    variance is the baseline's in both arms and n is rounded to the nearest unit."""
    result = solve(ProportionMetric(0.2, variance="baseline"), power=0.8, mde=0.05)
    assert result.n_control_units == 1030 and "Evan Miller" in result.variance_formula
    p1, p2 = 0.2, 0.25
    closed = (1.959963984540054 * math.sqrt(2 * p1 * (1 - p1))
              + 0.8416212335729143 * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))) ** 2 / 0.05**2
    assert result.n_control == pytest.approx(closed, rel=1e-9)


def test_lift_test_power_matches_the_delta_method_test_by_simulation() -> None:
    """Sized with lift_test, the delta-method z of the relative lift (the interval
    `simctl analyze` reports) rejects with the planned power: 4,000 simulated experiments
    of normal data, tolerance 4 binomial standard errors."""
    result = solve(MeanMetric(5.0, baseline=10.0), Design(lift_test=True), power=0.8, mde=0.1,
                   relative=True)
    n, sims = result.n_control_units, 4000
    rng = np.random.default_rng(3)
    control = rng.normal(10.0, 5.0, (sims, n))
    treated = rng.normal(11.0, 5.0, (sims, n))
    mc, mt = control.mean(1), treated.mean(1)
    vc, vt = control.var(1, ddof=1) / n, treated.var(1, ddof=1) / n
    lift = mt / mc - 1
    se = np.sqrt(vt / mc**2 + mt**2 * vc / mc**4)
    power = float((np.abs(lift / se) > stats.norm.ppf(0.975)).mean())
    assert abs(power - 0.8) < 4 * math.sqrt(0.8 * 0.2 / sims), power
    assert result.lift_se == pytest.approx(float(np.std(lift)), rel=0.05)
    plain = solve(MeanMetric(5.0, baseline=10.0), power=0.8, mde=0.1, relative=True)
    assert result.n_control > plain.n_control  # the control's variance counts (1 + L)^2
