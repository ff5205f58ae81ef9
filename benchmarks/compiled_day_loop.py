"""What a compiled engine would cost: the reference model as a day-stepped loop compiled with
numba, keeping the bookkeeping the engine's full run keeps (issue 17's open question).

The engine's reference run is about 2x the event-driven yardstick (`event_driven_reference.py`)
and the measured cause is memory access (docs/performance.md, stop 38): each order touches a
dozen per-user columns at a scattered row, one numpy pass per column. Whether a compiled engine
would close the gap, and what its start-up costs, is the measurement the issue's author needs
before choosing between a compiled path for large runs and a looser target. This prototype
steps the same days as the engine and keeps what the engine's full run keeps for this
scenario: daily counters (acquired, orders and first orders with their amounts, 30-day
repurchases, churned, alive users), the cohort tables by acquisition week and age (acquired,
orders, first orders, counts and amounts) and monthly growth accounting (new, retained,
resurrected, churned, expansion and contraction, users and revenue). Each due user is visited
once and all of the user's fields are read and written together (one 64-byte row per user); the
day's due users come from a scan of a 2-byte column, as in the engine. (A calendar of linked
lists instead was slower: 3.4-3.6 s, each order a chain of dependent cache misses.)

It is a prototype for a decision, not a second engine: its random numbers are numba's, so it
agrees with the engine and the yardstick in distribution, not draw for draw (`bench_compiled.py`
runs it in turn with the engine and the yardstick and checks its totals against the
yardstick's). numba is not a dependency of the project: `pip install -e .[bench]`. Its wall
time includes numba's load of the cached kernel (about 0.2 s, printed as `load_seconds`); the
import of numba itself (about 0.2 s) is start-up, as the engine's imports are.

    python benchmarks/compiled_day_loop.py --users 1000000 --days 365 --seed 1
"""

from __future__ import annotations

import time

import numba
import numpy as np
from event_driven_reference import ReferenceRules, main

WEEK, COHORT_DAYS, PERIOD, REPURCHASE_DAYS = 7, 181, 30, 30
# daily counters, one row each
ACQUIRED, ORDERS, REVENUE, FIRST, FIRST_REVENUE, REPURCHASES, CHURNED, ALIVE = range(8)
# growth accounting, one row each (users, revenue), recorded on each period's last day
GA = ("active", "new", "retained", "resurrected", "churned", "expansion", "contraction")


# one row of 8 float64 per user (one 64-byte cache line): everything an order reads or writes
LAM, PDROP, JOINED, FIRST_DAY, COUNT, FLAGS, REV_EVEN, REV_ODD = range(8)
NEVER = 32767  # next_day of users with no order to come


@numba.njit(cache=True)
def _day_loop(n: int, days: int, p: float, q: float, r: float, alpha: float, a: float, b: float,
              shape: float, scale: float, seed: int) -> tuple[np.ndarray, ...]:
    np.random.seed(seed)
    weeks = (days + WEEK - 1) // WEEK
    daily = np.zeros((8, days))
    cohort_n = np.zeros((3, weeks, COHORT_DAYS))  # acquired, orders, first orders
    cohort_amount = np.zeros((2, weeks, COHORT_DAYS))  # orders, first orders
    ga_users, ga_revenue = np.zeros((7, days)), np.zeros((7, days))
    user = np.zeros((n, 8))
    for u in range(n):
        user[u, LAM] = min(1.0, np.random.gamma(r, 1.0 / alpha))
        user[u, PDROP] = np.random.beta(a, b)
        user[u, FIRST_DAY] = -1.0
    arrival = np.random.permutation(n)  # Bass picks uniformly among the potential users
    next_day = np.full(n, NEVER, np.int16)  # scanned each day: the due users, ascending
    joined = alive = 0
    for day in range(days):
        k = np.random.binomial(n - joined, min(1.0, p + q * alive / n))
        for u in arrival[joined:joined + k]:
            user[u, JOINED] = day
            next_day[u] = min(day - 1 + _gap(user[u, LAM]), NEVER)
        joined += k
        alive += k
        daily[ACQUIRED, day] = k
        cohort_n[0, day // WEEK, 0] += k
        parity = (day // PERIOD) % 2
        due = np.flatnonzero(next_day == day)
        rows = np.empty((len(due), 8))  # gathered in one tight loop: the misses overlap
        for i in range(len(due)):
            for f in range(8):
                rows[i, f] = user[due[i], f]
        for i in range(len(due)):
            churned = _order(rows, i, day, parity, shape, scale, daily, cohort_n, cohort_amount)
            alive -= churned
            next_day[due[i]] = NEVER if churned else min(day + _gap(rows[i, LAM]), NEVER)
        for i in range(len(due)):
            for f in range(8):
                user[due[i], f] = rows[i, f]
        daily[ALIVE, day] = alive
        if (day + 1) % PERIOD == 0:
            close_period(day, parity, user, ga_users, ga_revenue)
    return daily, cohort_n, cohort_amount, ga_users, ga_revenue


@numba.njit(cache=True)
def _gap(prob: float) -> int:
    """Days to the next success of daily Bernoulli(prob) trials (>= 1), by inversion."""
    if prob >= 1.0:
        return 1
    return int(min(np.floor(np.log(1.0 - np.random.random()) / np.log1p(-prob)), 1e6)) + 1


@numba.njit(cache=True)
def _order(me: np.ndarray, i: int, day: int, parity: int, shape: float, scale: float,
           daily: np.ndarray, cohort_n: np.ndarray, cohort_amount: np.ndarray) -> int:
    """One order of user row i of `me`, its value and dropout drawn here; 1 if the user
    churns after it."""
    value = np.random.gamma(shape, scale)
    leaving = np.random.random() < me[i, PDROP]
    return book(me, i, day, parity, value, leaving, daily, cohort_n, cohort_amount)


@numba.njit(cache=True)
def book(me: np.ndarray, i: int, day: int, parity: int, value: float, leaving: bool,
         daily: np.ndarray, cohort_n: np.ndarray, cohort_amount: np.ndarray) -> int:
    """Every counter one order feeds (row i of `me`: the user's fields); 1 if the user
    churns after it (`leaving`)."""
    daily[ORDERS, day] += 1
    daily[REVENUE, day] += value
    joined = int(me[i, JOINED])
    week, age = joined // WEEK, day - joined
    if age < COHORT_DAYS:
        cohort_n[1, week, age] += 1
        cohort_amount[0, week, age] += value
    if me[i, COUNT] == 0:
        me[i, FIRST_DAY] = day
        daily[FIRST, day] += 1
        daily[FIRST_REVENUE, day] += value
        if age < COHORT_DAYS:
            cohort_n[2, week, age] += 1
            cohort_amount[1, week, age] += value
    elif me[i, COUNT] == 1 and day - me[i, FIRST_DAY] <= REPURCHASE_DAYS:
        daily[REPURCHASES, int(me[i, FIRST_DAY])] += 1
    me[i, COUNT] += 1
    me[i, REV_EVEN + parity] += value
    me[i, FLAGS] = int(me[i, FLAGS]) | (1 << parity)
    if leaving:
        daily[CHURNED, day] += 1
        return 1
    return 0


@numba.njit(cache=True)
def close_period(day: int, parity: int, user: np.ndarray, users: np.ndarray,
           amounts: np.ndarray) -> None:
    """Growth accounting at a period's end: classify every user of this or the last period."""
    bit, last_bit = 1 << parity, 1 << (1 - parity)
    for u in range(user.shape[0]):
        f = int(user[u, FLAGS])
        if not f & (bit | last_bit):
            continue
        now, before = user[u, REV_EVEN + parity], user[u, REV_EVEN + 1 - parity]
        if not f & bit:
            users[4, day] += 1
            amounts[4, day] += before
        else:
            users[0, day] += 1
            amounts[0, day] += now
            if f & last_bit:
                kept = min(now, before)
                users[2, day] += 1
                amounts[2, day] += kept
                if now > kept:
                    users[5, day] += 1
                    amounts[5, day] += now - kept
                if before > kept:
                    users[6, day] += 1
                    amounts[6, day] += before - kept
            elif f & 4:
                users[3, day] += 1
                amounts[3, day] += now
            else:
                users[1, day] += 1
                amounts[1, day] += now
        user[u, FLAGS] = (f & ~last_bit) | (4 if f & bit else 0) | (f & 4)
        user[u, REV_EVEN + 1 - parity] = 0.0


LOAD_SECONDS: list[float] = []


def simulate(rules: ReferenceRules, seed: int) -> dict[str, np.ndarray]:
    """Daily acquired users, orders, revenue and churned users of one run (the yardstick's
    totals), plus the tables the prototype keeps besides."""
    started = time.perf_counter()
    _day_loop(10, 2, rules.p, rules.q, rules.r, rules.alpha, rules.dropout_a,
              rules.dropout_b, rules.value_shape, rules.value_scale, seed)  # load the kernel
    LOAD_SECONDS.append(time.perf_counter() - started)
    daily, cohort_n, _, ga_users, ga_revenue = _day_loop(
        rules.users, rules.days, rules.p, rules.q, rules.r, rules.alpha, rules.dropout_a,
        rules.dropout_b, rules.value_shape, rules.value_scale, seed)
    return {"acquired": daily[ACQUIRED], "orders": daily[ORDERS], "revenue": daily[REVENUE],
            "churned": daily[CHURNED], "first_orders": daily[FIRST],
            "repurchases_30d": daily[REPURCHASES], "cohort_orders": cohort_n[1],
            "ga_new": ga_users[1], "ga_churned": ga_users[4], "ga_revenue": ga_revenue[0]}


if __name__ == "__main__":
    main(simulate, __doc__, extra=lambda: {"load_seconds": LOAD_SECONDS[-1]})
