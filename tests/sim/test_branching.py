"""Supercritical referral grows exponentially at its branching rate until the graph saturates
(the subcritical total progeny and the first generation are validation checks,
tests/validation/checks.py, with the branching market and offspring moments used here)."""

from __future__ import annotations

import numpy as np

from sim.graph_cache import build_graph
from tests.conftest import daily
from tests.validation.checks import branching, offspring_moments


def test_supercritical_referral_grows_exponentially_until_saturation() -> None:
    size, seeds, share, convert = 100_000, 50, 1.0, 0.8
    scenario = branching(size, seeds, share, convert, days=60)
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
