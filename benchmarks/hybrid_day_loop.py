"""The other compiled design issue 17 could take: numpy's generator draws each day's random
numbers in bulk, as the engine does, and one numba kernel a day books every order's counters
(the fields of a user together, one 64-byte row), where the engine runs a dozen numpy passes.

Same rules and bookkeeping as `compiled_day_loop.py` (daily counters, cohort tables by
acquisition week and age, monthly growth accounting); same caveats: a prototype for the
author's decision, equal to the engine and the yardstick in distribution, not draw for draw
(checked by `bench_compiled.py`). Its wall time includes numba's load of the
cached kernels (`load_seconds`).

    python benchmarks/hybrid_day_loop.py --users 1000000 --days 365 --seed 1
"""

from __future__ import annotations

import time

import numba
import numpy as np
from compiled_day_loop import (
    ACQUIRED,
    ALIVE,
    CHURNED,
    COHORT_DAYS,
    FIRST,
    FIRST_DAY,
    JOINED,
    NEVER,
    ORDERS,
    PERIOD,
    REPURCHASES,
    REVENUE,
    WEEK,
    book,
    close_period,
)
from event_driven_reference import ReferenceRules, gaps, main


@numba.njit(cache=True)
def _book_day(due: np.ndarray, values: np.ndarray, leaving: np.ndarray, day: int, parity: int,
              user: np.ndarray, daily: np.ndarray, cohort_n: np.ndarray,
              cohort_amount: np.ndarray) -> None:
    """Today's orders: each due user's row gathered, booked and written back in turn."""
    rows = np.empty((len(due), user.shape[1]))
    for i in range(len(due)):  # gathered in one tight loop: the cache misses overlap
        rows[i] = user[due[i]]
    for i in range(len(due)):
        book(rows, i, day, parity, values[i], leaving[i], daily, cohort_n, cohort_amount)
    for i in range(len(due)):
        user[due[i]] = rows[i]


def simulate(rules: ReferenceRules, seed: int) -> dict[str, np.ndarray]:
    """Daily acquired users, orders, revenue and churned users (the yardstick's totals), plus
    the tables kept besides."""
    started = time.perf_counter()
    _load()
    LOAD_SECONDS.append(time.perf_counter() - started)
    rng = np.random.default_rng(seed)
    n, days = rules.users, rules.days
    lam = np.minimum(rng.gamma(rules.r, 1.0 / rules.alpha, size=n), 1.0)
    pdrop = rng.beta(rules.dropout_a, rules.dropout_b, size=n)
    user = np.zeros((n, 8))
    user[:, FIRST_DAY] = -1.0
    next_day = np.full(n, NEVER, dtype=np.int16)
    arrival = rng.permutation(n)
    daily, ga_users, ga_revenue = np.zeros((8, days)), np.zeros((7, days)), np.zeros((7, days))
    weeks = -(-days // WEEK)
    cohort_n, cohort_amount = np.zeros((3, weeks, COHORT_DAYS)), np.zeros((2, weeks, COHORT_DAYS))
    joined = alive = 0
    for day in range(days):
        k = int(rng.binomial(n - joined, min(1.0, rules.p + rules.q * alive / n)))
        joiners = arrival[joined:joined + k]
        user[joiners, JOINED] = day
        next_day[joiners] = np.minimum(day - 1 + gaps(rng, lam[joiners]), NEVER)
        joined, alive = joined + k, alive + k
        daily[ACQUIRED, day] = k
        cohort_n[0, day // WEEK, 0] += k
        due = np.flatnonzero(next_day == day)
        values = rng.gamma(rules.value_shape, rules.value_scale, size=len(due))
        leaving = rng.random(len(due)) < pdrop[due]
        parity = (day // PERIOD) % 2
        _book_day(due, values, leaving, day, parity, user, daily, cohort_n, cohort_amount)
        stay = due[~leaving]
        next_day[due[leaving]] = NEVER
        next_day[stay] = np.minimum(day + gaps(rng, lam[stay]), NEVER)
        alive -= int(leaving.sum())
        daily[ALIVE, day] = alive
        if (day + 1) % PERIOD == 0:
            close_period(day, parity, user, ga_users, ga_revenue)
    return {"acquired": daily[ACQUIRED], "orders": daily[ORDERS], "revenue": daily[REVENUE],
            "churned": daily[CHURNED], "first_orders": daily[FIRST],
            "repurchases_30d": daily[REPURCHASES], "cohort_orders": cohort_n[1],
            "ga_new": ga_users[1], "ga_churned": ga_users[4], "ga_revenue": ga_revenue[0]}


def _load() -> None:
    """Load (or compile, the first time) both kernels on a toy input."""
    user, daily = np.zeros((2, 8)), np.zeros((8, 2))
    empty = np.zeros(0, dtype=np.int64)
    _book_day(empty, np.zeros(0), np.zeros(0, dtype=bool), 0, 0, user, daily,
              np.zeros((3, 1, COHORT_DAYS)), np.zeros((2, 1, COHORT_DAYS)))
    close_period(0, 0, user, np.zeros((7, 2)), np.zeros((7, 2)))


LOAD_SECONDS: list[float] = []

if __name__ == "__main__":
    main(simulate, __doc__, extra=lambda: {"load_seconds": LOAD_SECONDS[-1]})
