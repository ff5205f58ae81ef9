"""The registration funnel: a visit becomes a registered user, or bounces.

In a WeChat mini-program, login itself is silent (wx.login); "registering" is the moment the
user is asked for a phone number or profile. One-click phone authorisation (getPhoneNumber)
needs the user's consent and costs RMB 0.03 per success since 2023-08; a form asks for more and
loses more. Visitors who bounce stay potential users and can come back through any channel.
Visits that arrive after the funnel's stage (referral invites) are registered the next day.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import LedgerLine, Metric, col


class FunnelParams(MechanicParams):
    type: Literal["funnel"] = "funnel"
    login: Literal["one_click", "form"] = Field(
        "one_click", description="Registration: one-click phone authorisation or a form.")
    one_click_consent: float = Field(
        0.5, ge=0.0, le=1.0,
        description="Share of visitors who authorise their phone number when asked "
        "(ASSUMPTION; domain-facts register_consent_prob, range 0.2-0.8).")
    form_completion: float = Field(
        0.25, ge=0.0, le=1.0,
        description="Share of visitors who complete a registration form (ASSUMPTION: half of "
        "one-click; 24-26% of shoppers leave over forced account creation, Baymard).")
    cost_per_registration: float = Field(
        0.03, ge=0.0,
        description="Yuan per successful registration (getPhoneNumber: 0.03, real-time 0.04).")


METRICS: tuple[Metric, ...] = (
    Metric("register_cost", "yuan", "flow",
           "Phone-number authorisation fees for registrations (0.03 yuan each).",
           ("acquired",), compute=lambda c: col(c, "register_fee_amount"),
           zh="手机号验证费", good="down",
           ledger=LedgerLine("relative", 180), acquisition=True),
)


class Funnel(Mechanic[FunnelParams]):
    stage = StageOrder.FUNNEL
    substage = 0  # register today's visitors before anything acts on new users
    metrics = METRICS
    registers_visits = True
    events = ("register_fee",)

    def step(self, day: int) -> None:
        path = "one_click_consent" if self.params.base.login == "one_click" else "form_completion"
        visits, self.pop.visits = self.pop.visits, []
        for rows, channel, campaign in visits:
            rows = rows[self.pop.stage[rows] == 0]  # still potential (a user may visit twice)
            if not len(rows):
                continue
            prob = self.params.for_rows(path, self.pop.group[rows])
            joined = rows[self.rng.random(len(rows)) < prob]
            self.pop.acquire(joined, day, channel, campaign)
            fee = self.params.for_rows("cost_per_registration", self.pop.group[joined])
            self.ctx.recorder.event("register_fee", day, joined,
                                    np.broadcast_to(fee, joined.shape))

    def idle(self, day: int) -> None:
        """Switched off: nobody can register, every visit bounces."""
        self.pop.visits = []
