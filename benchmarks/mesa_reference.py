"""The reference model in Mesa 3: one Agent per user, `shuffle_do("step")` every day.

The baseline issue 2 asks the engine to beat by more than 100x. Same rules as
scenarios/reference.yaml; installed only for benchmarks (`pip install -e .[bench]`).
"""

from __future__ import annotations

import mesa

POTENTIAL, ALIVE, CHURNED = 0, 1, 2


class UserAgent(mesa.Agent):
    def __init__(self, model: ReferenceModel) -> None:
        super().__init__(model)
        self.state = POTENTIAL
        self.lam = min(1.0, model.random.gammavariate(0.5, 0.1))
        self.pdrop = model.random.betavariate(1.0, 4.0)

    def step(self) -> None:
        model = self.model
        if self.state == POTENTIAL and model.random.random() < model.hazard:
            self.state = ALIVE
            model.alive += 1
        if self.state == ALIVE and model.random.random() < self.lam:
            model.purchases += 1
            model.revenue += model.random.gammavariate(2.0, 50.0)
            if model.random.random() < self.pdrop:
                self.state = CHURNED
                model.alive -= 1


class ReferenceModel(mesa.Model):
    def __init__(self, users: int, p: float = 0.01, q: float = 0.30, seed: int = 1) -> None:
        super().__init__(seed=seed)
        self.users, self.p, self.q = users, p, q
        self.alive = self.purchases = 0
        self.revenue = 0.0
        self.hazard = 0.0
        UserAgent.create_agents(self, users)

    def step(self) -> None:
        self.hazard = min(1.0, self.p + self.q * self.alive / self.users)
        self.agents.shuffle_do("step")


def run(users: int, days: int, seed: int = 1) -> dict:
    model = ReferenceModel(users, seed=seed)
    for _ in range(days):
        model.step()
    return {"alive": model.alive, "purchases": model.purchases, "revenue": model.revenue}
