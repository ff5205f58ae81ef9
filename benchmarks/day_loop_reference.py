"""The reference model as the barest day loop in numpy: the floor for any engine that steps days.

Same rules as `event_driven_reference.py` (and `scenarios/reference.yaml`); written apart from
the engine. Each day it does only what stepping days cannot avoid: the Bass draw of today's
joiners (taken in index order: users are exchangeable), one scan of the next-checkout column for
who is due, their order values, their dropout draws and the next gap of those who stay. It keeps
no per-user counters, cohorts, recorder, parameter groups or stages: the engine does all of that
on top. So engine / this = what the engine's generality costs, and this / event-driven = what
stepping days costs (issue 17; `bench_speed.py` measures the three in turn).

    python benchmarks/day_loop_reference.py --users 1000000   # prints JSON: seconds, totals
"""

from __future__ import annotations

import numpy as np
from event_driven_reference import ReferenceRules, gaps, main

NEVER = np.iinfo(np.int32).max  # next checkout of users who will not buy again


def simulate(rules: ReferenceRules, seed: int) -> dict[str, np.ndarray]:
    """Daily acquired users, orders, revenue and churned users of one run."""
    rng = np.random.default_rng(seed)
    n, days = rules.users, rules.days
    lam = np.minimum(rng.gamma(rules.r, 1.0 / rules.alpha, size=n), 1.0)
    pdrop = rng.beta(rules.dropout_a, rules.dropout_b, size=n)
    next_checkout = np.full(n, NEVER, dtype=np.int32)
    out = {name: np.zeros(days) for name in ("acquired", "orders", "revenue", "churned")}
    joined = alive = 0
    for day in range(days):
        k = int(rng.binomial(n - joined, min(1.0, rules.p + rules.q * alive / n)))
        if k:  # the join day is the first day of trials: a gap of 1 means today
            next_checkout[joined:joined + k] = day - 1 + gaps(rng, lam[joined:joined + k])
            joined, alive = joined + k, alive + k
        due = np.flatnonzero(next_checkout == day)
        values = rng.gamma(rules.value_shape, rules.value_scale, size=len(due))
        leaving = rng.random(len(due)) < pdrop[due]
        next_checkout[due[leaving]] = NEVER
        stay = due[~leaving]
        next_checkout[stay] = day + gaps(rng, lam[stay])
        gone = int(np.count_nonzero(leaving))
        alive -= gone
        out["acquired"][day], out["orders"][day] = k, len(due)
        out["revenue"][day], out["churned"][day] = values.sum(), gone
    return out


if __name__ == "__main__":
    main(simulate, __doc__)
