"""Bass acquisition: organic word of mouth.

Each day, every potential user arrives with probability min(1, p + q * A_t / N), where A_t is the
number of acquired, alive users at the start of the day and N the market size. Only the count
is random per day: a Binomial draw per group, then a uniformly random subset of that size
(see Population.draw_potential), so the cost does not grow with the number of potential users.
Arrivals register at once, or go through the funnel when the scenario has one.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.population import Stage


class BassAcquisitionParams(MechanicParams):
    type: Literal["bass_acquisition"] = "bass_acquisition"
    p: float = Field(
        ge=0.0, le=1.0,
        description="Innovation: daily probability that a potential user joins on their own.",
    )
    q: float = Field(
        ge=0.0,
        description="Imitation: extra daily join probability per unit of alive-user share A_t/N.",
    )
    channel: str = Field("organic", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel new users are credited to.")


class BassAcquisition(Mechanic[BassAcquisitionParams]):
    stage = StageOrder.ACQUISITION

    @classmethod
    def channels(cls, params: BassAcquisitionParams) -> list[str]:
        return [params.channel]

    def setup(self) -> None:
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)

    def step(self, day: int) -> None:
        alive_share = self.pop.count(Stage.ALIVE).sum() / self.ctx.market_size
        hazard = np.minimum(1.0, self.params.get("p") + self.params.get("q") * alive_share)
        hazard = np.broadcast_to(hazard, (self.pop.n_groups,))
        for group in range(self.pop.n_groups):
            joined = int(self.rng.binomial(self.pop.potential_of_group(group), hazard[group]))
            if joined:
                self.bring(self.pop.draw_potential(group, joined, self.rng), day, self.channel)
