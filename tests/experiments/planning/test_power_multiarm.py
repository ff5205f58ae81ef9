"""Power calculator with several arms and several tests: multiple-arm corrections (Bonferroni,
Holm, Sidak, Dunnett against its tables and scipy), the optimal (Neyman) allocation, and power
split over guardrails (multiplicative, and Spotify's confidence rule).

Every tolerance is the rounding of the published value or the stated precision of the
software that produced it.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from experiments.planning.design import Design
from experiments.planning.metrics import MeanMetric
from experiments.planning.multiplicity import dunnett_critical_value, dunnett_exceedance
from experiments.planning.solver import solve


@pytest.mark.parametrize(
    ("correction", "per_comparison"),
    [("bonferroni", 0.05 / 3), ("holm", 0.05 / 3), ("sidak", 1 - 0.95 ** (1 / 3))],
)
def test_multi_arm_corrections_size_at_adjusted_alpha(
    correction: str, per_comparison: float
) -> None:
    multi = solve(MeanMetric(1.0), Design(arms=4, correction=correction), power=0.8, mde=0.2)
    single = solve(MeanMetric(1.0), Design(alpha=per_comparison), power=0.8, mde=0.2)
    assert multi.n_control == pytest.approx(single.n_control, rel=1e-8)
    assert multi.n_total_units == 4 * multi.n_control_units
    assert multi.alpha_per_comparison == pytest.approx(per_comparison)


def test_dunnett_sits_between_no_correction_and_bonferroni() -> None:
    sizes = {
        c: solve(MeanMetric(1.0), Design(arms=4, correction=c), power=0.8, mde=0.2).n_control
        for c in ("none", "dunnett", "bonferroni")
    }
    assert sizes["none"] < sizes["dunnett"] < sizes["bonferroni"]


@pytest.mark.parametrize(
    ("treatments", "sides", "df", "table"),
    [
        # Dunnett (1955, 1964) tables, alpha 0.05, equal n (rho = 0.5), 2 decimals => +-0.005.
        (2, 2, None, 2.21),
        (3, 2, None, 2.35),
        (4, 2, None, 2.44),
        (2, 1, None, 1.92),
        (3, 1, None, 2.06),
        (4, 1, None, 2.16),
        (2, 2, 20, 2.38),
        (3, 2, 20, 2.54),
        (4, 2, 20, 2.65),
    ],
)
def test_dunnett_critical_values_match_tables(
    treatments: int, sides: int, df: int | None, table: float
) -> None:
    assert dunnett_critical_value(0.05, treatments, 0.5, sides, df) == pytest.approx(
        table, abs=0.005
    )


def test_dunnett_exceedance_matches_scipy_dunnett() -> None:
    rng = np.random.default_rng(7)
    control = rng.normal(0, 1, 25)
    treatments = [rng.normal(mu, 1, 25) for mu in (0.8, 0.1, -0.2)]
    result = stats.dunnett(*treatments, control=control, rng=np.random.default_rng(3))
    df = 4 * 25 - 4
    for t_value, p_value in zip(result.statistic, result.pvalue, strict=True):
        # scipy integrates the multivariate t by randomised QMC (error ~1e-5): allow 1e-4.
        assert dunnett_exceedance(abs(t_value), 3, 0.5, 2, df) == pytest.approx(p_value, abs=1e-4)


def test_dunnett_with_many_degrees_of_freedom_tends_to_the_normal() -> None:
    """The t's exceedance decreases to the normal's as df grows (the gap is O(1/df): about
    4.8e-6 at df 1e5 and 4.8e-7 at 1e6); over [0, inf) the integral missed S's peak at 1e6 and
    returned 1, so sizing a t test with Dunnett failed as the solver probed large n."""
    normal = dunnett_exceedance(2.3, 3, 0.5, 2, None)
    gaps = [dunnett_exceedance(2.3, 3, 0.5, 2, df) - normal for df in (1e3, 1e4, 1e5, 1e6)]
    assert all(a > b > 0 for a, b in itertools.pairwise(gaps))
    assert [g * df for g, df in zip(gaps[1:], (1e4, 1e5, 1e6), strict=True)] == pytest.approx(
        [0.48] * 3, rel=0.05)
    assert dunnett_critical_value(0.05, 3, 0.5, 2, 1e9) == pytest.approx(
        dunnett_critical_value(0.05, 3, 0.5, 2, None), abs=1e-7)


def test_dunnett_unequal_allocation_matches_multivariate_normal() -> None:
    rho = 0.5 / 1.5  # n_t / n_c = 0.5
    cov = np.full((3, 3), rho) + np.eye(3) * (1 - rho)
    c = 2.3
    inside = stats.multivariate_normal(np.zeros(3), cov).cdf(
        np.full(3, c), lower_limit=np.full(3, -c), rng=np.random.default_rng(0)
    )
    # scipy's Genz integration default absolute tolerance is 1e-5.
    assert dunnett_exceedance(c, 3, rho, 2) == pytest.approx(1 - inside, abs=5e-5)


def test_optimal_ratio_is_neyman_and_minimises_total() -> None:
    metric = MeanMetric(1.0, sd_treatment=2.0)
    best = solve(metric, Design(treatment_ratio="optimal"), power=0.8, mde=0.3)
    assert best.treatment_ratio == pytest.approx(2.0)
    for ratio in (1.6, 2.4):
        other = solve(metric, Design(treatment_ratio=ratio), power=0.8, mde=0.3)
        assert other.n_control + other.n_treatment > best.n_control + best.n_treatment
    shared = solve(MeanMetric(1.0), Design(arms=5, treatment_ratio="optimal"), power=0.8, mde=0.3)
    assert shared.treatment_ratio == pytest.approx(1 / math.sqrt(4))


def test_guardrails_split_power_multiplicatively() -> None:
    guarded = solve(MeanMetric(1.0), Design(guardrails=2), power=0.8, mde=0.2)
    per_test = 0.8 ** (1 / 3)
    assert guarded.power_per_test == pytest.approx(per_test)
    direct = solve(MeanMetric(1.0), power=per_test, mde=0.2)
    assert guarded.n_control == pytest.approx(direct.n_control, rel=1e-8)
    back = solve(MeanMetric(1.0), Design(guardrails=2), n=guarded.n_control, mde=0.2)
    assert back.power == pytest.approx(0.8, abs=1e-8)


def test_spotify_guardrail_rule_powers_each_test_at_one_minus_beta_over_g_plus_one() -> None:
    """Schultzberg, Kjellin & Rydberg (2024), Spotify's confidence: with G guardrails every
    test gets power 1 - beta/(G + 1), so all pass with at least 1 - beta (Bonferroni on beta,
    no independence needed); more users than the multiplicative split."""
    spotify = solve(MeanMetric(1.0), Design(guardrails=2, guardrail_power="bonferroni"),
                    power=0.8, mde=0.2)
    assert spotify.power_per_test == pytest.approx(1 - 0.2 / 3)
    direct = solve(MeanMetric(1.0), power=1 - 0.2 / 3, mde=0.2)
    assert spotify.n_control == pytest.approx(direct.n_control, rel=1e-8)
    assert spotify.guardrail_power == "bonferroni" and spotify.power == pytest.approx(0.8)
    multiplicative = solve(MeanMetric(1.0), Design(guardrails=2), power=0.8, mde=0.2)
    assert spotify.n_control > multiplicative.n_control
