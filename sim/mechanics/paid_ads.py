"""Paid ads: a daily budget buys impressions at a CPM; clicks bring visits.

Impressions are spread over the targeted audience (every user of the targeted personas,
potential or not), so each audience member sees Poisson(impressions / audience) of them and a
potential user clicks at least once with probability 1 - exp(-impressions * ctr / audience).
As the potential users of the audience are used up, the same budget brings fewer visits:
diminishing returns without a hand-tuned curve. The day's spend is a channel cost.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder


class PaidAdsParams(MechanicParams):
    type: Literal["paid_ads"] = "paid_ads"
    fixed_fields = frozenset({"campaign", "cpm", "daily_budget"})  # one value for the whole market
    scaled_fields = frozenset({"daily_budget"})
    daily_budget: float = Field(ge=0.0, description="Spend per day while switched on, yuan.")
    cpm: float = Field(gt=0.0, description="Cost per 1,000 impressions, yuan.")
    ctr: float = Field(ge=0.0, le=1.0, description="Clicks per impression.")
    landing_rate: float = Field(1.0, ge=0.0, le=1.0,
                                description="Share of clicks that load the mini-program.")
    personas: list[str] = Field(default_factory=list,
                                description="Personas targeted; empty = all.")
    channel: str = Field("ads", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel new users are credited to.")
    campaign: int = Field(0, ge=0, le=30000, description="Campaign id users remember.")


class PaidAds(Mechanic[PaidAdsParams]):
    stage = StageOrder.ACQUISITION
    channel_events = ("ad_spend", "impressions", "clicks")

    @classmethod
    def channels(cls, params: PaidAdsParams) -> list[str]:
        return [params.channel]

    def setup(self) -> None:
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)
        self.groups = self.targeted_groups(self.params.base.personas)
        group_sizes = np.bincount(self.pop.group, minlength=self.pop.n_groups)
        self.audience = int(group_sizes[self.groups].sum())

    def step(self, day: int) -> None:
        budget = float(self.params.base.daily_budget)
        if budget <= 0 or self.audience == 0:
            return
        impressions = budget / self.params.base.cpm * 1000.0
        rec = self.ctx.recorder
        rec.channel_event("ad_spend", day, self.channel, budget)
        rec.channel_event("impressions", day, self.channel, impressions)
        ctr = np.broadcast_to(self.params.get("ctr"), (self.pop.n_groups,))
        landing = np.broadcast_to(self.params.get("landing_rate"), (self.pop.n_groups,))
        clicks_total = 0.0
        for group in self.groups:
            reach_click = -np.expm1(-impressions * ctr[group] / self.audience)
            potential = self.pop.potential_of_group(int(group))
            clicked = int(self.rng.binomial(potential, reach_click))
            clicks_total += clicked
            visited = int(self.rng.binomial(clicked, landing[group]))
            if visited:
                rows = self.pop.draw_potential(int(group), visited, self.rng)
                self.bring(rows, day, self.channel, self.params.base.campaign)
        rec.channel_event("clicks", day, self.channel, clicks_total)
