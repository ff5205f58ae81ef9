"""The report says why an advertised mechanic stayed small, from its own settings."""

from __future__ import annotations

import math

from scipy import stats

from experiments.report.quiet_mechanics import quiet_mechanics, quiet_section
from sim.scenario import load_scenario
from tests.conftest import ROOT


def metrics(**means: float) -> dict:
    return {name: {"mean": value} for name, value in means.items()}


def test_small_mechanics_are_explained_and_busy_ones_are_not() -> None:
    growth = load_scenario(ROOT / "scenarios" / "growth.yaml")
    quiet = metrics(referral_share=0.006, bargain_completion_rate=0.0022, bargain_starts=14125,
                    distributors=1, distributor_sales=44.6, gmv=4.0e6)
    referral, bargain, distributors = quiet_mechanics(growth, quiet)
    assert referral.startswith("老带新 referral: 0.60% of acquired users")
    # the personas' share rates (12%, 9%, 5% at shares 0.4, 0.45, 0.15), not the base 7.7%
    assert "shares after 9.6% of orders" in referral and "(averaged over the personas)" in referral
    chance = stats.binom.sf(9, 12, 0.2)  # >= 10 of 12 friends, each helping with 0.2
    assert f"about 1 in {1 / chance:,.0f}" in bargain and "0.22% of 14,125" in bargain
    assert "starters with many more friends than the mean carry them" in bargain  # 0.22% >> p
    assert "300 yuan of own orders and 3 referrals" in distributors
    busy = metrics(referral_share=0.2, bargain_completion_rate=0.3, bargain_starts=100,
                   distributors=500, distributor_sales=4e5, gmv=4e6)
    assert quiet_mechanics(growth, busy) == [] and quiet_section(growth, busy) == ""
    reference = load_scenario(ROOT / "scenarios" / "reference.yaml")  # none of the three
    assert quiet_mechanics(reference, quiet) == []


def test_the_bargain_chance_is_the_binomial_tail() -> None:
    """The sum of terms equals scipy's survival function (to 1e-12 relative) over the degrees,
    help probabilities and thresholds a scenario can set, the edges (m <= 0, m > n) included."""
    from experiments.report.quiet_mechanics import binomial_tail

    for n in (0, 1, 5, 12, 40, 200, 500):  # mean_degree is at most 500
        for p in (0.0, 0.01, 0.2, 0.5, 0.93, 1.0):
            for m in (-1, 0, 1, n // 2, n, n + 1):
                expected = float(stats.binom.sf(m - 1, n, p))
                assert math.isclose(binomial_tail(n, p, m), expected, rel_tol=1e-12,
                                    abs_tol=1e-300), (n, p, m)
