"""Referral as the only channel behaves as a branching process (issue 4, section 8).

Every new user shares once on joining with probability s; a share reaches min(Zipf(2), 5) draws
of friends (with replacement) on a random graph (mixing 1: locally tree-like); each reached
friend who is not yet a user joins with probability c. Then each user's offspring count is
s * Binomial(distinct potential friends reached, c), and the total from S seeds is a
Galton-Watson total progeny: E[T] = S (1 + K0 / (1 - K1)) with K0 the seeds' mean offspring and
K1 that of referred users (whose degree is size-biased and whose referrer is not potential).
For K < 1 this is S / (1 - K) up to that distinction; for K > 1 growth is exponential at rate K
per generation until the graph saturates.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy import special

from sim.engine import build_graph
from sim.scenario import validate_scenario
from tests.conftest import daily

MAX_REACH, EXPONENT = 5, 2.0


def branching(size: int, seeds: int, share: float, convert: float, days: int) -> dict[str, Any]:
    return {
        "name": "branching", "days": days, "seed": 17,
        "market": {"size": size, "graph": {"model": "communities", "mean_degree": 40,
                                           "degree_tail": 10.0, "mixing": 1.0}},
        "mechanics": {
            "seed": {"type": "seed_users", "count": seeds},
            "referral": {"type": "referral", "share_on_join": share, "share_after_order": 0.0,
                         "share_steps": 1, "reward_referrer": 0.0, "reward_referee": 0.0,
                         "max_reach": MAX_REACH, "reach_exponent": EXPONENT,
                         "invite_conversion": convert},
        },
    }


def offspring_moments(degree: np.ndarray, share: float, convert: float,
                      with_parent: bool) -> tuple[float, float]:
    """Mean and variance of one user's referred friends, given the degree distribution."""
    k = np.arange(1, MAX_REACH + 1)
    pmf = k ** -EXPONENT / special.zeta(EXPONENT)
    pmf[-1] = 1.0 - pmf[:-1].sum()  # draws are capped at MAX_REACH
    d = degree[degree > 0].astype(float)[:, None]
    draws = np.minimum(k[None, :], d)
    # distinct friends hit by `draws` uniform draws among d; the referrer is not potential
    others = d - 1 if with_parent else d
    distinct = others * (1 - (1 - 1 / d) ** draws)
    weights = (d if with_parent else np.ones_like(d)) * pmf[None, :]  # size-biased for referees
    weights = weights / weights.sum()
    mean_d, mean_d2 = (weights * distinct).sum(), (weights * distinct**2).sum()
    mean = share * convert * mean_d
    second = share * (convert * (1 - convert) * mean_d + convert**2 * mean_d2)
    return mean, second - mean**2


def test_subcritical_referral_total_is_seeds_over_one_minus_k() -> None:
    size, seeds, share, convert = 300_000, 1000, 0.5, 0.5
    scenario = validate_scenario(branching(size, seeds, share, convert, days=40))
    degree = build_graph(scenario, 0).degree  # the very graph the run uses
    k0, v0 = offspring_moments(degree, share, convert, with_parent=False)
    k1, v1 = offspring_moments(degree, share, convert, with_parent=True)
    assert 0.3 < k1 < 0.7  # the setting really is subcritical, near K = 0.5
    expected = seeds * (1 + k0 / (1 - k1))
    # total progeny from one seed: 1 + sum of its children's trees
    tree_mean, tree_var = 1 / (1 - k1), v1 / (1 - k1) ** 3
    var_seed = k0 * tree_var + v0 * tree_mean**2
    d = daily(scenario)
    total = d["acquired_users"].iloc[-1]
    assert abs(total - expected) < 4 * math.sqrt(seeds * var_seed)
    assert d["new_users"].iloc[-5:].sum() == 0  # the process has died out
    assert d["referred_users"].sum() == total - seeds


def test_supercritical_referral_grows_exponentially_until_saturation() -> None:
    size, seeds, share, convert = 100_000, 50, 1.0, 0.8
    scenario = validate_scenario(branching(size, seeds, share, convert, days=60))
    k1, _ = offspring_moments(build_graph(scenario, 0).degree, share, convert,
                              with_parent=True)
    assert k1 > 1.3
    new = daily(scenario)["new_users"].to_numpy()
    # generation g joins on day g - 1: early daily ratios estimate K1 (counts are still small
    # next to the market); several days pooled, a 10% band is a few standard errors here
    early = slice(3, 8)
    ratio = new[early.start + 1: early.stop + 1].sum() / new[early].sum()
    assert abs(ratio - k1) < 0.1 * k1
    assert new.sum() > 0.3 * size  # it takes a large share of the market...
    peak = int(np.argmax(new))
    assert new[-10:].sum() < 0.01 * new[peak] * 10  # ... and stops when it runs out of friends


def test_first_generation_mean_offspring_is_k0() -> None:
    """A high-powered check of the offspring mean: many seeds, one generation. Seeds join on
    day 0 and share at once; their referees join the same day, so day 0 brings S + gen1 users.
    A reached friend is itself a seed with probability S / N (seeds are uniform), which lowers
    the mean by that share."""
    size, seeds, share, convert = 1_000_000, 20_000, 0.5, 0.5
    data = branching(size, seeds, share, convert, days=1)
    data["market"]["graph"]["mean_degree"] = 20
    scenario = validate_scenario(data)
    k0, v0 = offspring_moments(build_graph(scenario, 0).degree, share, convert,
                               with_parent=False)
    k0 *= 1 - seeds / size
    first = daily(scenario)["new_users"].iloc[0] - seeds
    assert abs(first - seeds * k0) < 4 * math.sqrt(seeds * v0)
