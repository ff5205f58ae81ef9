"""What `simctl ab` says a design's bias means, from constructed summary rows.

Spillover (the treatment reaching control users through friends) moves the comparison toward
zero: for a positive true effect the bias is negative, for a negative one positive; relative
bias in [-1, 0) either way. Only a bias beyond noise in that direction is put down to
interference; a bias within noise, away from zero, or past zero (the estimate of the other
sign) is said for what it is, and no users-needed figure sizes a test for the wrong sign.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from experiments.planning.ab_summary import bias_threshold, unit_reasons, users_needed
from experiments.report.language import use

Z = 4.0  # Monte Carlo tolerance in standard errors (a false alarm about once in 16,000 runs)


def design(unit: str, true: float, estimate: float, bias_se: float,
           replicates: int = 30) -> dict[str, object]:
    """A summary row of one design: bias = estimate - true, the users needed as `summarise`
    computes them (80% power, alpha 0.05, a standard error of 0.001 at 10,000 users)."""
    row = {"unit": unit, "size": 10000, "duration": 28, "users": 10000.0, "power": 0.5,
           "replicates": replicates, "true_effect": true, "estimate": estimate,
           "bias": estimate - true, "bias_se": bias_se,
           "relative_bias": (estimate - true) / true if true else math.nan, "mean_se": 0.001}
    return {**row, "users_needed": users_needed(row, 0.05, 0.8)}


def reason(unit: str, true: float, estimate: float, bias_se: float,
           replicates: int = 30) -> str:
    (out,) = unit_reasons(pd.DataFrame([design(unit, true, estimate, bias_se, replicates)]),
                          0.8, 0.1)
    return out


@pytest.mark.parametrize("true", [0.02, -0.02])
def test_a_significant_shrink_toward_zero_is_interference(true: float) -> None:
    """Half the true effect, 10 SE from it: the spillover story, for either sign of the
    effect (a negative effect's shrink is a positive bias)."""
    user = reason("user", true, true / 2, 0.001)
    assert user.startswith("user: bias -50%: it understates the launch effect")
    assert "(interference)" in user
    assert "about 785 for 80% at the effect it estimates" in user  # same sign: a figure
    cluster = reason("cluster", true, true / 2, 0.001)
    assert cluster.startswith("cluster: bias -50%: friends still cross its units")
    with use("zh"):
        assert "干扰" in reason("user", true, true / 2, 0.001)
        assert "低估了上线效应" in reason("cluster", true, true / 2, 0.001)


@pytest.mark.parametrize("true", [0.02, -0.02])
def test_a_significant_bias_away_from_zero_is_not_put_down_to_spillover(true: float) -> None:
    """1.5 x the true effect, 10 SE from it: spillover cannot do that, so no interference,
    no 'overstates' (the old contradiction)."""
    text = reason("cluster", true, 1.5 * true, 0.001)
    assert text.startswith("cluster: bias +50%: biased away from zero, not what spillover")
    assert "check the design" in text and "interference" not in text
    assert "overstates" not in text and "reaches control users" not in text
    with use("zh"):
        assert "偏离零" in reason("cluster", true, 1.5 * true, 0.001)


def test_an_estimate_of_the_other_sign_gets_no_users_needed_figure() -> None:
    """The shape of QA's case at 30 replicates (estimate -0.0071, truth 0.004), now 10 SE
    from the truth: not interference, and no sample size for the wrong direction."""
    text = reason("user", 0.004, -0.0071, 0.0011)
    assert text.startswith("user: bias -278%: the estimate has the opposite sign")
    assert "interference" not in text and "understates" not in text
    assert "for 80% at the effect it estimates" not in text
    with use("zh"):
        assert "符号相反" in reason("user", 0.004, -0.0071, 0.0011)


def test_users_needed_only_at_an_estimate_of_the_true_effects_sign() -> None:
    """users x ((z_0.975 + z_0.8) se / estimate)^2 = 10,000 x (2.8016 x 0.001 / 0.01)^2 =
    785 at a same-signed estimate; none at the other sign or at 0."""
    assert users_needed(design("user", 0.02, 0.01, 0.001), 0.05, 0.8) == pytest.approx(
        784.9, abs=0.1)
    assert math.isnan(design("user", 0.02, -0.01, 0.001)["users_needed"])
    assert math.isnan(design("user", -0.02, 0.01, 0.001)["users_needed"])
    assert math.isnan(design("user", 0.02, 0.0, 0.001)["users_needed"])


@pytest.mark.parametrize(("replicates", "bias_se"), [(1, math.nan), (2, 0.004364)])
def test_a_bias_within_noise_asks_for_replicates(replicates: int, bias_se: float) -> None:
    """QA's runs: one replicate (no SE at all) and two replicates whose bias is 2.5 SE (t
    with 1 degree of freedom: 2.5 SE is well within noise, the 95% point is 12.7)."""
    text = reason("user", 0.004, -0.0071, bias_se, replicates)
    assert text.startswith(f"user: bias -278% is not distinguishable from noise at "
                           f"{replicates} replicate(s); add replicates")
    assert "interference" not in text and "for 80% at the effect" not in text
    with use("zh"):
        assert "与噪声无法区分" in reason("user", 0.004, -0.0071, bias_se, replicates)


@pytest.mark.parametrize("replicates", [2, 5, 30])
def test_the_noise_threshold_is_a_95_percent_two_sided_test(replicates: int) -> None:
    """With no bias at all, |mean| > threshold x sd/sqrt(R) over R normal differences must
    happen 5% of the time (Student's t, R - 1 df), within Z Monte Carlo SEs; a flat factor 2
    would be far off at 2 replicates (29.5%)."""
    trials = 40000
    diffs = np.random.default_rng(replicates).normal(size=(trials, replicates))
    t_stat = np.abs(diffs.mean(axis=1)) / (diffs.std(axis=1, ddof=1) / math.sqrt(replicates))
    rate = float((t_stat > bias_threshold(replicates)).mean())
    assert abs(rate - 0.05) <= Z * math.sqrt(0.05 * 0.95 / trials)
    assert bias_threshold(1) == math.inf
