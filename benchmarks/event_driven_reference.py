"""The reference model written event-driven in plain numpy, independently of the engine: the
yardstick the engine's day loop is measured against (issue 17).

Rules (those of `scenarios/reference.yaml`, stated in docs/model.md):
- Bass acquisition: each day every potential user joins with probability
  min(1, p + q * A_t / N), A_t = users acquired and still alive at the start of day t.
- Each user has a daily purchase probability lam = min(1, Gamma(r, rate alpha)) and a dropout
  probability pdrop ~ Beta(a, b). From the join day on, the user buys each day with
  probability lam; right after each order the user churns for good with probability pdrop.
- Every order is worth Gamma(shape, scale) yuan.

Event-driven: no day loop over users. Users are exchangeable, so the users who join are taken
in index order; each user's whole life (the days of their orders relative to the join day, and
the order after which they leave) is drawn at once with geometric gaps, in rounds over all
users still buying; only the Bass recursion, which needs the number alive each day, walks the
days, and it costs O(days + joiners).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from _machine import cpu_seconds


@dataclass(frozen=True)
class ReferenceRules:
    users: int = 100_000
    days: int = 365
    p: float = 0.01
    q: float = 0.30
    r: float = 0.5
    alpha: float = 10.0
    dropout_a: float = 1.0
    dropout_b: float = 4.0
    value_shape: float = 2.0
    value_scale: float = 50.0


def lives(rules: ReferenceRules, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                                      np.ndarray]:
    """Every user's orders relative to their join day (user, day offset), and the offset of
    the order after which each leaves (`days`, past any horizon, for those who stay)."""
    n, horizon = rules.users, rules.days
    lam = np.minimum(rng.gamma(rules.r, 1.0 / rules.alpha, size=n), 1.0)
    pdrop = rng.beta(rules.dropout_a, rules.dropout_b, size=n)
    leave_offset = np.full(n, horizon, dtype=np.int64)
    users = np.arange(n)
    offset = gaps(rng, lam) - 1  # the join day is the first day of trials
    order_users, order_offsets = [], []
    while len(users):
        within = offset < horizon
        users, offset = users[within], offset[within]
        order_users.append(users)
        order_offsets.append(offset)
        leaving = rng.random(len(users)) < pdrop[users]
        leave_offset[users[leaving]] = offset[leaving]
        users, offset = users[~leaving], offset[~leaving]
        offset = offset + gaps(rng, lam[users])
    return np.concatenate(order_users), np.concatenate(order_offsets), leave_offset


def gaps(rng: np.random.Generator, prob: np.ndarray) -> np.ndarray:
    """Days to the next success of daily Bernoulli(prob) trials (>= 1), by inversion."""
    u = 1.0 - rng.random(len(prob))
    with np.errstate(divide="ignore"):
        gap = np.floor(np.log(u) / np.log1p(-np.minimum(prob, 1.0 - 1e-16))) + 1.0
    return np.minimum(gap, 10**6).astype(np.int64)


def join_days(rules: ReferenceRules, leave_offset: np.ndarray,
              rng: np.random.Generator) -> np.ndarray:
    """The Bass recursion: the join day of each user (users join in index order; -1 = never)."""
    n, horizon = rules.users, rules.days
    joined_on = np.full(n, -1, dtype=np.int64)
    leaving_on = np.zeros(horizon + 1, dtype=np.int64)  # users who leave on each day
    joined = left = 0
    for day in range(horizon):
        prob = min(1.0, rules.p + rules.q * (joined - left) / n)
        k = int(rng.binomial(n - joined, prob))
        if k:
            joined_on[joined:joined + k] = day
            leave_day = np.minimum(day + leave_offset[joined:joined + k], horizon)
            leaving_on += np.bincount(leave_day, minlength=horizon + 1)
            joined += k
        left += int(leaving_on[day])
    return joined_on


def simulate(rules: ReferenceRules, seed: int) -> dict[str, np.ndarray]:
    """Daily acquired users, orders, revenue and churned users of one run."""
    rng = np.random.default_rng(seed)
    order_users, order_offsets, leave_offset = lives(rules, rng)
    joined_on = join_days(rules, leave_offset, rng)
    order_day = joined_on[order_users] + order_offsets
    booked = (joined_on[order_users] >= 0) & (order_day < rules.days)
    order_day = order_day[booked]
    values = rng.gamma(rules.value_shape, rules.value_scale, size=len(order_day))
    joiners = joined_on >= 0
    leave_day = joined_on[joiners] + leave_offset[joiners]
    days = rules.days
    return {
        "acquired": np.bincount(joined_on[joiners], minlength=days)[:days],
        "orders": np.bincount(order_day, minlength=days)[:days],
        "revenue": np.bincount(order_day, weights=values, minlength=days)[:days],
        "churned": np.bincount(leave_day[leave_day < days], minlength=days)[:days],
    }


def main(model: Callable[[ReferenceRules, int], dict[str, np.ndarray]] = simulate,
         description: str = __doc__, extra: Callable[[], dict] | None = None) -> None:
    """Run `model` once from the command line; print wall and CPU seconds and its totals
    (and `extra()`'s figures)."""
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    started, cpu = time.perf_counter(), cpu_seconds()
    out = model(ReferenceRules(users=args.users, days=args.days), args.seed)
    seconds, user, system = time.perf_counter() - started, *np.subtract(cpu_seconds(), cpu)
    print(json.dumps({"seconds": seconds, "user_seconds": user, "sys_seconds": system,
                      "users": args.users, "days": args.days,
                      **{k: float(v.sum()) for k, v in out.items()},
                      **(extra() if extra else {})}))


if __name__ == "__main__":
    main()
