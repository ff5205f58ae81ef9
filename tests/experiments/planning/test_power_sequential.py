"""Power calculator, group-sequential designs: boundaries and inflation factors against
Jennison & Turnbull, DeMets & Lan and rpact; the false-positive rate of naive peeking
(Armitage et al.); sizing that inflates the fixed n; Lan-DeMets spending by simulation.

Every tolerance is the rounding of the published value or the stated precision of the
software that produced it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from experiments.planning.design import Design
from experiments.planning.metrics import MeanMetric
from experiments.planning.sequential import (
    crossing_probabilities,
    equally_spaced,
    group_sequential_boundaries,
    group_sequential_design,
    naive_peeking_false_positive_rate,
)
from experiments.planning.solver import solve


def test_obrien_fleming_k5_matches_jennison_turnbull() -> None:
    # J&T (2000) Table 2.3: C_B(5, 0.05) = 2.040, boundaries C_B sqrt(5/k); 3 decimals.
    bounds = group_sequential_boundaries("obrien-fleming", 5, 0.05, 2)
    assert bounds == pytest.approx((4.562, 3.226, 2.634, 2.281, 2.040), abs=5e-4)


def test_pocock_k5_matches_jennison_turnbull() -> None:
    # J&T (2000) Table 2.1: C_P(5, 0.05) = 2.413.
    bounds = group_sequential_boundaries("pocock", 5, 0.05, 2)
    assert bounds == pytest.approx((2.413,) * 5, abs=5e-4)


@pytest.mark.parametrize(
    ("method", "power", "published"),
    [
        # J&T Tables 2.1 / 2.3, two-sided alpha 0.05, K = 5; 3 decimals. (The often-quoted
        # Pocock 1.207 is the power-0.9 column; at power 0.8 it is 1.229.)
        ("obrien-fleming", 0.8, 1.028),
        ("obrien-fleming", 0.9, 1.026),
        ("pocock", 0.8, 1.229),
        ("pocock", 0.9, 1.207),
    ],
)
def test_inflation_factors_match_jennison_turnbull(
    method: str, power: float, published: float
) -> None:
    design = group_sequential_design(method, 5, 0.05, 2, power)
    assert design.inflation_factor == pytest.approx(published, abs=5e-4)


def test_lan_demets_boundaries_match_demets_lan_1994() -> None:
    # DeMets & Lan (1994), K = 5 equally spaced, two-sided 0.05; 3 decimals.
    obf = group_sequential_boundaries("lan-demets-obf", 5, 0.05, 2)
    pocock = group_sequential_boundaries("lan-demets-pocock", 5, 0.05, 2)
    assert obf == pytest.approx((4.877, 3.357, 2.680, 2.290, 2.031), abs=5e-4)
    assert pocock == pytest.approx((2.438, 2.427, 2.410, 2.397, 2.386), abs=5e-4)


def test_lan_demets_unequal_looks_match_rpact() -> None:
    # rpact tests/testthat/test-f_design_group_sequential_beta_spending.R, case (3):
    # getDesignGroupSequential(informationRates = c(.15, .25, .8, 1), alpha = 0.025,
    # typeOfDesign = "asOF", sided = 2): criticalValues 6.3431527, 4.8600403, 2.560259,
    # 2.292451 and alphaSpent 2.2511015e-10, 1.1742122e-06, 0.01045986, 0.025.
    t = (0.15, 0.25, 0.8, 1.0)
    bounds = group_sequential_boundaries("lan-demets-obf", 4, 0.025, 2, t)
    # rpact solves each look to an absolute alpha tolerance (1e-8 by default); at look 2,
    # where only 1.17e-6 is spent, that leaves its boundary loose by ~1e-4 (its value spends
    # 5e-10 less than the spending function asks).  The other looks agree to rpact's 1e-7.
    assert bounds[0] == pytest.approx(6.3431527, abs=1e-6)
    assert bounds[1] == pytest.approx(4.8600403, abs=1e-4)
    assert bounds[2:] == pytest.approx((2.560259, 2.292451), abs=1e-6)
    up, low = crossing_probabilities(bounds, [-b for b in bounds], t, 0.0)
    spent = np.cumsum(up + low)
    assert spent == pytest.approx([2.2511015e-10, 1.1742122e-06, 0.01045986, 0.025], rel=1e-6)


@pytest.mark.parametrize(
    ("looks", "published"),
    # Armitage, McPherson & Rowe (1969) / J&T Table 1.1, two-sided 0.05; 3 decimals.
    [(2, 0.083), (3, 0.107), (4, 0.126), (5, 0.142), (10, 0.193), (20, 0.248), (50, 0.320)],
)
def test_naive_peeking_false_positive_rate(looks: int, published: float) -> None:
    assert naive_peeking_false_positive_rate(looks, 0.05, 2) == pytest.approx(published, abs=5e-4)


def test_naive_peeking_two_looks_matches_multivariate_normal() -> None:
    c = stats.norm.ppf(0.975)
    rho = math.sqrt(0.5)
    inside = stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf(
        [c, c], lower_limit=[-c, -c]
    )
    assert naive_peeking_false_positive_rate(2) == pytest.approx(1 - inside, abs=1e-5)


def test_sequential_sizing_inflates_fixed_n() -> None:
    fixed = solve(MeanMetric(1.0), power=0.8, mde=0.2)
    seq = solve(MeanMetric(1.0), Design(sequential="obrien-fleming", looks=5), power=0.8, mde=0.2)
    assert seq.sequential is not None
    assert seq.n_control == pytest.approx(fixed.n_control * seq.sequential.inflation_factor)
    back = solve(
        MeanMetric(1.0), Design(sequential="obrien-fleming", looks=5), n=seq.n_control, mde=0.2
    )
    assert back.power == pytest.approx(0.8, abs=1e-6)
    mde = solve(
        MeanMetric(1.0), Design(sequential="obrien-fleming", looks=5), n=seq.n_control, power=0.8
    )
    assert mde.mde_absolute == pytest.approx(0.2, rel=1e-6)
    assert any("0.142" in w for w in seq.warnings)


def test_original_two_sided_lan_demets_spending_by_simulation() -> None:
    """Lan & DeMets (1983) as first written: the total two-sided alpha spent by
    alpha(t) = 2 - 2 Phi(z_{alpha/2} / sqrt t) over both tails (rpact and gsDesign spend alpha/2
    per tail instead). 400,000 simulated Brownian paths under H0 cross by each look with the
    cumulative spending, within 4 Monte Carlo standard errors."""
    from experiments.planning.sequential import spending  # the original total-alpha form

    t = equally_spaced(5)
    bounds = np.array(group_sequential_boundaries("lan-demets-obf-two-sided", 5, 0.05, 2))
    per_tail = group_sequential_boundaries("lan-demets-obf", 5, 0.05, 2)
    assert bounds[-1] > per_tail[-1] and bounds[0] < per_tail[0]  # spends earlier
    paths = 400_000
    rng = np.random.default_rng(11)
    steps = rng.normal(0.0, math.sqrt(0.2), (paths, 5)).cumsum(axis=1)
    z = steps / np.sqrt(np.array(t))
    crossed = np.logical_or.accumulate(np.abs(z) >= bounds, axis=1).mean(axis=0)
    for k, tk in enumerate(t):
        expected = spending("lan-demets-obf", tk, 0.05)
        assert abs(crossed[k] - expected) < 4 * math.sqrt(expected * (1 - expected) / paths) \
            + 1e-5, (k, crossed[k], expected)
