"""The reference model written the way object-per-user frameworks write it (one Python object
per user, a loop over users every day), as the baseline the vectorised engine is compared with.

Plain Python, no framework: it is faster than Mesa 3 or one SimPy process per user would be,
so the speed-up we report against it is a lower bound.
"""

from __future__ import annotations

import random

POTENTIAL, ALIVE, CHURNED = 0, 1, 2


class User:
    __slots__ = ("lam", "pdrop", "state")

    def __init__(self, rng: random.Random) -> None:
        self.state = POTENTIAL
        self.lam = min(1.0, rng.gammavariate(0.5, 0.1))  # daily purchase probability
        self.pdrop = rng.betavariate(1.0, 4.0)  # churn probability after a purchase


def run(users: int, days: int, seed: int = 1, p: float = 0.01, q: float = 0.30) -> dict:
    rng = random.Random(seed)
    population = [User(rng) for _ in range(users)]
    alive = purchases = 0
    revenue = 0.0
    for _ in range(days):
        hazard = min(1.0, p + q * alive / users)  # A_t at the start of the day
        for user in population:
            if user.state == POTENTIAL and rng.random() < hazard:
                user.state = ALIVE
                alive += 1
            if user.state == ALIVE and rng.random() < user.lam:
                purchases += 1
                revenue += rng.gammavariate(2.0, 50.0)
                if rng.random() < user.pdrop:
                    user.state = CHURNED
                    alive -= 1
    return {"alive": alive, "purchases": purchases, "revenue": revenue}
