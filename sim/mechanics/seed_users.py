"""Seed users: founders, staff, friends and family who are users from a given day (usually 0),
or an existing base (老用户) won in earlier stages (`existing: true`).

They skip the funnel (nobody has to persuade them) and are credited to channel `seed`. The day
is a SimPy timeout: the process marks the mechanic due and that day's step acquires them. An
existing base is neither visits nor new users (拉新): its users join as `base_joined`, which
`new_users` (and so the registration rate) leaves out, while `acquired_users` counts every
user; its first orders in the run are not new buyers (新客): `won_first_purchases`, and so CAC
and the market's unit economics, leave them out (its users' first order in the run is still
their `first_order`, as the model starts every order count at 0).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder


class SeedUsersParams(MechanicParams):
    type: Literal["seed_users"] = "seed_users"
    fixed_fields = frozenset({"count", "day"})  # one value for the whole market
    scaled_fields = frozenset({"count"})
    count: int = Field(ge=0, description="How many seed users join.")
    day: int = Field(0, ge=0, description="The day they join.")
    personas: list[str] = Field(default_factory=list,
                                description="Personas they are drawn from; empty = all.")
    channel: str = Field("seed", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel they are credited to.")
    existing: bool = Field(False, description="true: an existing base won before the run "
                           "(an earlier stage's users): their first orders in the run are not "
                           "new buyers, so CAC and the market's unit economics leave them out. "
                           "false: new users (founders, friends, first customers) counted as "
                           "any other new buyer.")

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        """More seed users than the market holds would be clipped silently at the run."""
        size = scenario.market.size
        if self.count > size:
            return [(("mechanics", name, "count"), f"{self.count:,} seed users but market.size "
                     f"is {size:,}; give a count of at most {size:,}, or raise market.size")]
        return []


class SeedUsers(Mechanic[SeedUsersParams]):
    stage = StageOrder.ACQUISITION
    events = ("base_joined",)  # an existing base's users: not visits, not new users (拉新)

    @classmethod
    def channels(cls, params: SeedUsersParams) -> list[str]:
        return [params.channel]

    @classmethod
    def base_channels(cls, params: SeedUsersParams) -> list[str]:
        return [params.channel] if params.existing else []

    def setup(self) -> None:
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)
        self.groups = self.targeted_groups(self.params.base.personas)
        self.due = False
        self.ctx.env.process(self._calendar())

    def _calendar(self) -> Iterator:
        if self.params.base.day > 0:
            yield self.ctx.env.timeout(self.params.base.day)
        self.due = True

    def step(self, day: int) -> None:
        if not self.due:
            return
        self.due = False
        potential = np.array([self.pop.potential_of_group(g) for g in self.groups], float)
        if potential.sum() == 0:
            return
        want = min(self.params.base.count, int(potential.sum()))
        per_group = self.rng.multivariate_hypergeometric(potential.astype(np.int64), want)
        for group, k in zip(self.groups, per_group, strict=True):
            rows = self.pop.draw_potential(int(group), int(k), self.rng)
            seen = "base_joined" if self.params.base.existing else "visit"
            self.ctx.recorder.event(seen, day, rows, channel=self.channel)
            self.pop.acquire(rows, day, self.channel)
