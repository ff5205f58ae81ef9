"""Each shipped scenario tells the same story at 20,000, 100,000 and 1,000,000 users (issue 19).

A user who writes `market.size=20000` gets the scenario's seeds, budgets, reach and stock scaled
with it (`market.reference_size`, sim/scaling.py), so every headline metric per potential user
(users, buyers, orders, money) and every headline ratio (AOV, CAC, DAU/MAU ...) should be the
same at every size up to Monte Carlo noise. The noise is measured, not assumed: 24 replicates
at 20,000 users give each metric's spread; a metric per user is an average over users (and the
seed users scale with them), so its standard deviation at size n is that spread times
sqrt(20,000 / n). A size passes when its difference from the 20,000-user mean is within the
Student-t quantile (23 degrees of freedom, the spread being estimated) of a two-sided level of
1e-5 times the standard error of that difference: the ~150 comparisons here together fail by
noise alone about once in 700 runs. Few replicates are not enough: growth that starts from a
handful of seed users (6 at 20,000 in cold_start) has a skewed spread that 8 replicates
underestimated. The horizon is 90 days, which also checks that every scenario runs when a user
shortens it on the command line.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import sim
from sim.metrics import HEADLINE, METRICS
from tests.conftest import ROOT

SCENARIOS = ("cold_start", "growth", "growth_baseline", "retention", "scale", "ab_referral",
             "reference")
SMALL, SIZES = 20_000, (100_000, 1_000_000)
SMALL_REPLICATES = 24
DAYS = 90
LEVEL = 1e-5  # two-sided, per comparison
T = float(stats.t.isf(LEVEL / 2, SMALL_REPLICATES - 1))


def replicate_values(result: sim.Result, size: int) -> dict[str, np.ndarray]:
    """Each replicate's headline metrics per potential user (counts, money) or as they are
    (ratios)."""
    table = result.horizon()
    return {name: table[name].to_numpy() / (size if METRICS[name].kind != "ratio" else 1)
            for name in HEADLINE if name in table.columns}


def run(name: str, size: int, replicates: int) -> sim.Result:
    scenario = sim.load_scenario(ROOT / "scenarios" / f"{name}.yaml", [
        f"market.size={size}", f"days={DAYS}", f"replicates={replicates}"])
    return sim.run(scenario)


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_story_per_user_is_the_same_at_every_size(name: str) -> None:
    reference = replicate_values(run(name, SMALL, SMALL_REPLICATES), SMALL)
    off = []
    for size in SIZES:
        big = replicate_values(run(name, size, 1), size)
        assert big, name
        for metric, values_big in big.items():
            value = float(values_big[0])
            if not math.isfinite(value):
                continue
            values = reference[metric]
            values = values[np.isfinite(values)]
            spread = float(np.std(values, ddof=1))
            se = spread * math.sqrt(1 / len(values) + SMALL / size)
            if abs(value - values.mean()) > T * se:
                off.append(f"{metric}: {value:.6g} at {size:,} against {values.mean():.6g} "
                           f"± {se:.3g} at {SMALL:,}")
    assert off == [], f"{name}: " + "; ".join(off)
